// The ingest page: start an ingest or a duplicate detection, follow every job live.
"use strict";

(() => {
  const { api, el } = PX;
  const $ = (id) => document.getElementById(id);
  const last = new Map(); // job id -> {done, t, rate}
  const open = new Set(); // job ids whose problems are shown
  let timer = null;

  function message(text) { $("ingest-message").textContent = text; }

  $("ingest-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const job = await (await api("/v1/jobs", { json: { path: $("path").value.trim() } })).json();
      message(`Ingest started: job ${job.job_id.slice(0, 8)}.`);
      refresh();
    } catch (error) {
      message(`Not started: ${error.message}`);
    }
  });
  $("detect-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const job = await (await api("/v1/duplicates/detect", { json: { full: $("detect-full").checked } })).json();
      message(`Duplicate detection started: job ${job.job_id.slice(0, 8)}.`);
      refresh();
    } catch (error) {
      message(`Not started: ${error.message}`);
    }
  });

  function rate(job) {
    const now = Date.now() / 1000;
    const seen = last.get(job.job_id);
    let value = seen ? seen.rate : null;
    if (seen && job.done > seen.done && now > seen.t) value = (job.done - seen.done) / (now - seen.t);
    if (job.status === "done" && job.created_at && job.finished_at) {
      const spent = (Date.parse(job.finished_at) - Date.parse(job.created_at)) / 1000;
      value = spent > 0 ? job.done / spent : null;
    }
    if (!seen || job.done !== seen.done) last.set(job.job_id, { done: job.done, t: now, rate: value });
    return value === null || value === undefined ? "–" : value.toFixed(1);
  }

  async function problems(job, cell) {
    try {
      const rows = await (await api(`/v1/jobs/${encodeURIComponent(job.job_id)}/problems?limit=50`)).json();
      cell.replaceChildren(el("ul", { class: "problems" },
        ...rows.map((p) => el("li", {}, el("span", { class: "wrap", text: p.key }), `: ${p.status}, ${p.reason}`))));
    } catch (error) {
      cell.textContent = error.message;
    }
  }

  function row(job) {
    const label = job.kind === "duplicates" ? "duplicate detection" : job.bucket;
    const finished = job.status === "done" || job.status === "failed";
    const bar = el("progress", { max: Math.max(job.total, 1), value: job.kind === "duplicates" ? (finished ? 1 : 0) : job.done,
      "aria-label": `progress of ${label}` });
    const counts = job.kind === "duplicates"
      ? (job.detection ? `${job.detection.pairs_found} pairs, ${Object.values(job.detection.groups).reduce((a, b) => a + b, 0)} groups` : "")
      : `${job.done} / ${job.total}`;
    const problemsCell = el("td", { class: "problems-cell" });
    const bad = job.failed + job.skipped;
    if (bad > 0) {
      const button = el("button", { type: "button", "aria-expanded": String(open.has(job.job_id)),
        onclick: () => {
          if (open.has(job.job_id)) open.delete(job.job_id); else open.add(job.job_id);
          refresh();
        } }, open.has(job.job_id) ? "Hide" : `Show ${bad}`);
      problemsCell.append(button);
      if (open.has(job.job_id)) { const list = el("div"); problemsCell.append(list); problems(job, list); }
    } else if (job.error) {
      problemsCell.append(el("span", { class: "wrap", text: job.error }));
    }
    return el("tr", { "data-job": job.job_id, "data-status": job.status },
      el("td", {}, el("span", { class: "wrap", text: label }), el("br"), el("small", { class: "mono", text: job.job_id.slice(0, 8) })),
      el("td", { class: `st st-${job.status}`, text: job.status }),
      el("td", {}, bar, " ", counts),
      el("td", { text: rate(job) }),
      el("td", { text: job.indexed }),
      el("td", { text: job.failed }),
      el("td", { text: job.skipped }),
      problemsCell);
  }

  async function refresh() {
    clearTimeout(timer);
    let busy = false;
    try {
      const jobs = await (await api("/v1/jobs?limit=20")).json();
      busy = jobs.some((j) => j.status === "queued" || j.status === "running");
      const body = jobs.length ? jobs.map(row) : [el("tr", {}, el("td", { colspan: 8, text: "No jobs yet." }))];
      document.querySelector("#jobs tbody").replaceChildren(...body);
    } catch (error) {
      message(`Jobs unavailable: ${error.message}`);
    }
    timer = setTimeout(refresh, busy ? 700 : 4000);
  }

  refresh();
})();
