// The duplicates page: open groups one at a time, side by side, decisions saved through
// the API; keyboard: j/k or arrows move, 1-9 toggle keeping, r resolve, d dismiss.
"use strict";

(() => {
  const { api, el, say } = PX;
  const $ = (id) => document.getElementById(id);
  const canDecide = $("dups").dataset.canDecide === "yes";
  const BATCH = 200;
  let groups = [];
  let total = 0;
  let decided = 0;
  let current = 0;
  let keep = new Set();
  const infos = new Map();

  async function load() {
    const tier = $("tier").value;
    const query = new URLSearchParams({ status: "open", limit: String(BATCH), offset: "0" });
    if (tier) query.set("kind", tier);
    try {
      const page = await (await api(`/v1/duplicates/groups?${query}`)).json();
      groups = page.groups;
      total = page.total;
      decided = 0;
      current = 0;
      renderList();
      show(0);
    } catch (error) {
      $("empty").textContent = `Could not load the groups: ${error.message}`;
    }
  }

  function progress() {
    const all = total + decided;
    $("progress").max = Math.max(all, 1);
    $("progress").value = decided;
    $("progress-text").textContent = groups.length
      ? `Group ${current + 1} of ${groups.length} open${total > groups.length ? ` (${total} in all)` : ""}; ${decided} decided`
      : `${decided} decided; none open`;
  }

  function renderList() {
    $("group-list").replaceChildren(...groups.map((g, i) =>
      el("li", {},
        el("button", { type: "button", class: "group-link", "aria-current": i === current ? "true" : false,
          onclick: () => show(i) }, `${g.kind} · ${g.images.length} images`))));
  }

  async function info(imageId) {
    if (!infos.has(imageId)) infos.set(imageId, api(`/v1/images/${imageId}`).then((r) => r.json()).catch(() => null));
    return infos.get(imageId);
  }

  const FIELDS = [
    ["Dimensions", (i) => (i && i.width ? `${i.width} × ${i.height}` : "unknown")],
    ["File size", (i) => (i ? PX.bytes(i.size) : "unknown")],
    ["Format", (i) => (i && i.format) || "unknown"],
    ["Captured", (i) => PX.when(i && i.captured_at)],
    ["Folder", (i) => (i ? i.key.split("/").slice(0, -1).join("/") || "(top)" : "")],
  ];

  async function show(index) {
    progress();
    if (!groups.length) {
      $("empty").hidden = false;
      $("empty").textContent = "No open duplicate groups. Run a detection from the Ingest page to find some.";
      $("group-title").hidden = true;
      $("compare").replaceChildren();
      $("decide").hidden = true;
      renderList();
      return;
    }
    current = Math.max(0, Math.min(index, groups.length - 1));
    const g = groups[current];
    keep = new Set([g.keep]);
    renderList();
    progress();
    $("empty").hidden = true;
    $("group-title").hidden = false;
    $("group-title").textContent = `${g.kind[0].toUpperCase()}${g.kind.slice(1)} duplicates: ${g.images.length} images`;
    $("decide").hidden = !canDecide;
    const details = await Promise.all(g.images.map((img) => info(img.id)));
    if (groups[current] !== g) return; // moved on meanwhile
    const values = FIELDS.map(([, fn]) => details.map(fn));
    $("compare").replaceChildren(...g.images.map((img, n) => {
      const d = details[n];
      const box = el("input", { type: "checkbox", id: `keep-${img.id}`, checked: keep.has(img.id), disabled: !canDecide,
        onchange: (e) => { if (e.target.checked) keep.add(img.id); else keep.delete(img.id); } });
      return el("li", { class: `cmp${img.id === g.keep ? " keeper" : ""}` },
        el("a", { href: `/images/${img.id}`, class: "pic" },
          el("img", { src: PX.thumb(img.id, 768, d && d.sha256 ? d.sha256.slice(0, 16) : null), alt: img.key || `image ${img.id}` })),
        el("p", { class: "role" }, img.id === g.keep ? "★ Suggested keeper" : `Duplicate (${img.reason})`),
        el("p", { class: "name wrap", text: img.key || `#${img.id}` }),
        el("dl", {}, ...FIELDS.flatMap(([label], f) => {
          const differs = new Set(values[f]).size > 1;
          return [el("dt", {}, label), el("dd", { class: differs ? "differs" : "" }, values[f][n], differs ? " (differs)" : "")];
        })),
        el("p", { class: "keep" }, box, el("label", { for: `keep-${img.id}` }, `Keep (${n + 1})`)));
    }));
  }

  async function decide(kind) {
    if (!canDecide || !groups.length) return;
    const g = groups[current];
    try {
      if (kind === "resolve") {
        if (!keep.size) { say("Check at least one image to keep."); return; }
        await api(`/v1/duplicates/groups/${g.id}/resolve`, { json: { keep: [...keep], action: $("action").value } });
        say(`Group resolved: kept ${keep.size}, others ${$("action").value === "hide" ? "hidden" : "marked to remove"}.`);
      } else {
        await api(`/v1/duplicates/groups/${g.id}/dismiss`, { method: "POST" });
        say("Marked as not duplicates.");
      }
      groups.splice(current, 1);
      total -= 1;
      decided += 1;
      show(current);
      $("group-view").focus();
    } catch (error) {
      say(`Not saved: ${error.message}`);
    }
  }

  // Carrying the decisions out: a dry run first, then the move on a second click.
  async function apply(dryRun) {
    try {
      const r = await (await api("/v1/duplicates/apply", { json: { dry_run: dryRun } })).json();
      const left = r.skipped.length ? `; ${r.skipped.length} left where they are` : "";
      if (dryRun) {
        $("apply-result").textContent = `${r.planned} file(s) would move to the quarantine${left}.`;
        $("apply-moves").replaceChildren(...r.moves.slice(0, 200).map((m) => el("li", { text: `${m.from} → ${m.to}` })));
        $("apply-run").hidden = r.planned === 0;
      } else {
        $("apply-result").textContent = `Run ${r.run}: ${r.moved} of ${r.planned} file(s) moved${left}. Undo: pixseek duplicates undo ${r.run}`;
        $("apply-moves").replaceChildren();
        $("apply-run").hidden = true;
      }
    } catch (error) {
      $("apply-result").textContent = `Not carried out: ${error.message}`;
    }
  }
  if ($("apply-preview")) {
    $("apply-preview").addEventListener("click", () => apply(true));
    $("apply-run").addEventListener("click", () => apply(false));
  }

  $("resolve").addEventListener("click", () => decide("resolve"));
  $("dismiss").addEventListener("click", () => decide("dismiss"));
  $("tier").addEventListener("change", load);
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.target.closest("input[type=text], input[type=search], select, textarea")) return;
    const key = event.key;
    if (key === "j" || key === "ArrowRight") show(current + 1);
    else if (key === "k" || key === "ArrowLeft") show(current - 1);
    else if (key === "r") decide("resolve");
    else if (key === "d") decide("dismiss");
    else if (/^[1-9]$/.test(key) && canDecide) {
      const box = $("compare").querySelectorAll("input[type=checkbox]")[Number(key) - 1];
      if (box) { box.checked = !box.checked; box.dispatchEvent(new Event("change")); }
    } else return;
    event.preventDefault();
  });

  load();
})();
