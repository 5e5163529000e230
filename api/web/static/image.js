// The image page: heatmap and box for a text, drawing a region and searching for more of
// it, the duplicate group, similar images.
"use strict";

(() => {
  const { api, el, say } = PX;
  const $ = (id) => document.getElementById(id);
  const page = $("image-page");
  const id = Number(page.dataset.id);
  const W = Number(page.dataset.width);
  const H = Number(page.dataset.height);
  const stage = $("stage");
  let heatmapUrl = null;

  // -- similar images and the duplicate group -----------------------------------------
  async function similar() {
    try {
      const answer = await (await api(`/v1/images/${id}/similar?k=12`)).json();
      $("similar").replaceChildren(...answer.results.map((hit) => PX.card(hit, { score: hit.score })));
      if (!answer.results.length) $("similar").replaceChildren(el("li", { text: "No other images yet." }));
    } catch (error) {
      $("similar").replaceChildren(el("li", { text: `Similar images unavailable: ${error.message}` }));
    }
  }

  async function group() {
    const gid = page.dataset.group;
    if (!gid) return;
    try {
      const g = await (await api(`/v1/duplicates/groups/${encodeURIComponent(gid)}`)).json();
      $("group-section").hidden = false;
      $("group-summary").textContent = `${g.kind} duplicates, ${g.status}` + (g.action ? ` (others: ${g.action})` : "");
      $("group").replaceChildren(...g.images.map((img) => {
        const c = PX.card({ id: img.id, key: img.key || `#${img.id}` });
        const role = img.role === "keep" ? "Keeper" : img.role === "duplicate" ? "Duplicate" : "Member";
        c.querySelector(".caption").append(el("span", { class: `role role-${img.role}`, text: role }));
        if (img.id === id) c.querySelector(".caption").append(el("span", { class: "role", text: "(this image)" }));
        return c;
      }));
    } catch (error) {
      say(`Duplicate group unavailable: ${error.message}`);
    }
  }

  // -- where is <text>: heatmap overlay and box ---------------------------------------
  function clearBoxes(kind) {
    for (const b of [...$("boxes").querySelectorAll(`.${kind}`)]) b.remove();
  }
  function stageBox(box, kind, label) {
    clearBoxes(kind);
    PX.drawBox($("boxes"), box, W, H, label);
    const added = $("boxes").lastElementChild;
    if (added) added.classList.add(kind);
  }
  async function where(text) {
    clearBoxes("text-box");
    $("heatmap").hidden = true;
    if (heatmapUrl) URL.revokeObjectURL(heatmapUrl);
    heatmapUrl = null;
    if (!text) { $("where-result").textContent = ""; return; }
    $("where-result").textContent = "Looking…";
    const q = encodeURIComponent(text);
    try {
      const [png, info] = await Promise.all([
        api(`/v1/images/${id}/heatmap?text=${q}`).then((r) => r.blob()),
        api(`/v1/images/${id}/heatmap?text=${q}&format=json`).then((r) => r.json()),
      ]);
      heatmapUrl = URL.createObjectURL(png);
      $("heatmap").src = heatmapUrl;
      $("heatmap").alt = `Heatmap of where "${text}" matches`;
      $("heatmap").hidden = !$("show-heatmap").checked;
      stageBox(info.box, "text-box", `best region for ${text}`);
      $("boxes").classList.toggle("hide-text-box", !$("show-box").checked);
      $("where-result").textContent =
        `Best region for "${text}": [${info.box.join(", ")}], score ${Number(info.region_score).toFixed(3)}.`;
    } catch (error) {
      $("where-result").textContent = `No heatmap: ${error.message}`;
    }
  }
  $("where").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("where-q").value.trim();
    const url = new URL(location.href);
    if (text) url.searchParams.set("q", text); else url.searchParams.delete("q");
    history.replaceState(null, "", url);
    where(text);
  });
  $("show-heatmap").addEventListener("change", (e) => { if (heatmapUrl) $("heatmap").hidden = !e.target.checked; });
  $("show-box").addEventListener("change", (e) => $("boxes").classList.toggle("hide-text-box", !e.target.checked));

  // -- drawing a region -----------------------------------------------------------------
  const draw = $("draw");
  const inputs = ["rx0", "ry0", "rx1", "ry1"].map($);
  let start = null;
  let selection = null;
  $("draw-toggle").addEventListener("click", () => {
    const on = draw.hidden;
    draw.hidden = !on;
    $("draw-hint").hidden = !on;
    $("draw-toggle").setAttribute("aria-pressed", String(on));
  });
  function point(event) {
    const rect = stage.getBoundingClientRect();
    const x = Math.min(Math.max(event.clientX - rect.left, 0), rect.width);
    const y = Math.min(Math.max(event.clientY - rect.top, 0), rect.height);
    return [(x * W) / rect.width, (y * H) / rect.height];
  }
  function setSelection(box) {
    selection = box.map(Math.round);
    inputs.forEach((input, i) => { input.value = selection[i]; });
    stageBox(selection, "sel-box", "selected region");
  }
  draw.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    draw.setPointerCapture(event.pointerId);
    start = point(event);
  });
  draw.addEventListener("pointermove", (event) => {
    if (!start) return;
    const [x, y] = point(event);
    setSelection([Math.min(start[0], x), Math.min(start[1], y), Math.max(start[0], x), Math.max(start[1], y)]);
  });
  draw.addEventListener("pointerup", (event) => {
    if (!start) return;
    const [x, y] = point(event);
    setSelection([Math.min(start[0], x), Math.min(start[1], y), Math.max(start[0], x), Math.max(start[1], y)]);
    start = null;
    if (selection[2] - selection[0] >= 2 && selection[3] - selection[1] >= 2) searchRegion(selection);
  });
  for (const input of inputs) {
    input.addEventListener("change", () => {
      const box = inputs.map((i) => Number(i.value));
      if (box.every((v) => Number.isFinite(v))) stageBox(box, "sel-box", "selected region");
    });
  }
  $("region-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const box = inputs.map((i) => Number(i.value));
    setSelection(box);
    searchRegion(box);
  });

  const sizes = new Map();
  async function sizeOf(imageId) {
    if (!sizes.has(imageId)) sizes.set(imageId, api(`/v1/images/${imageId}`).then((r) => r.json()));
    return sizes.get(imageId);
  }

  async function searchRegion(box) {
    $("region-results-section").hidden = false;
    $("region-summary").textContent = "Searching for this region…";
    try {
      const answer = await (await api("/v1/search/regions", { json: { region: { image_id: id, box }, k: 24 } })).json();
      const cards = answer.results.map((hit) => PX.card(hit, {
        score: hit.score,
        boxFor: (frame) => {
          sizeOf(hit.id).then((info) => PX.drawBox(frame, hit.box, info.width, info.height, `matching region in ${hit.key}`))
            .catch(() => {});
        },
      }));
      $("region-results").replaceChildren(...cards);
      $("region-summary").textContent = `${answer.results.length} images with a region like [${box.join(", ")}].`;
    } catch (error) {
      $("region-results").replaceChildren();
      $("region-summary").textContent = `Region search failed: ${error.message}`;
    }
  }

  // -- text read in the picture: the words, and boxes on those the query names -----------
  const fold = (word) => word.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase().replace(/[^\p{L}\p{N}]/gu, "");
  async function words() {
    let body;
    try {
      body = await (await api(`/v1/images/${id}/text`)).json();
    } catch (error) {
      return;
    }
    if (body.status !== "read" || !body.words.length) return;
    const wanted = new Set((page.dataset.query || "").split(/\s+/).map(fold).filter(Boolean));
    const matched = body.words.filter((w) => wanted.has(fold(w.text)));
    clearBoxes("word-box");
    for (const w of matched) {
      PX.drawBox($("boxes"), w.box, W, H, `the word ${w.text}`);
      $("boxes").lastElementChild.classList.add("word-box");
    }
    $("text-section").hidden = false;
    $("text-words").replaceChildren(...body.words.flatMap((w, i) => [
      i ? " " : "",
      el("span", { class: wanted.has(fold(w.text)) ? "word match" : "word", text: w.text, title: `confidence ${w.confidence}` }),
    ]));
    $("text-summary").textContent = `${body.words.length} word${body.words.length === 1 ? "" : "s"} read` +
      (wanted.size ? `; ${matched.length} of them match the query, boxed on the picture.` : ".");
  }

  const bytes = document.querySelector("dd.bytes");
  if (bytes) bytes.textContent = PX.bytes(Number(bytes.dataset.bytes));
  similar();
  group();
  words();
  where(page.dataset.query);
})();
