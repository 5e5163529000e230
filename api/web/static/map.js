// The map: every image a point from its CLS vector (computed server-side, cached per index
// generation), drawn as pixels into one ImageData per frame — no DOM node per point, so
// 100k points redraw in a few milliseconds. Drag pans, the wheel zooms, the lasso selects;
// a selection is saved (POST /v1/selections) and opened in the search page as a filter.
"use strict";

(() => {
  const { api, el, thumb } = PX;
  const $ = (id) => document.getElementById(id);
  const canvas = $("map");
  const ctx = canvas.getContext("2d");
  const canSave = $("map-page").dataset.canSave === "yes";
  const PALETTE = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75],
    [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207], [57, 59, 121], [173, 73, 74]];
  const FADED = [205, 205, 205];
  const THUMBS_BELOW = 120; // pictures are drawn when at most this many points are in view
  let data = null; // {n, ids, x, y, cluster, group, tag, tags}
  let view = { scale: 1, tx: 0, ty: 0 };
  let mode = "pan";
  let drag = null;
  let lasso = [];
  let selected = null; // Uint8Array mask, or null
  let outline = []; // the last lasso, in map coordinates
  let pending = false;
  const pictures = new Map();

  function status(text) { $("map-status").textContent = text; }

  function fit() {
    const width = Math.max(320, Math.round(canvas.clientWidth || 960));
    canvas.width = width;
    canvas.height = Math.round(Math.min(window.innerHeight * 0.7, width * 0.65));
  }

  function resetView() {
    const size = Math.min(canvas.width, canvas.height) * 0.96;
    view = { scale: size, tx: (canvas.width - size) / 2, ty: (canvas.height - size) / 2 };
    redraw();
  }

  function colourOf(i) {
    const by = $("colour").value;
    const v = data[by][i];
    if (v < 0) return FADED;
    return PALETTE[(by === "group" ? (v * 2654435761) >>> 0 : v) % PALETTE.length];
  }

  function redraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  }

  // Colours packed as one little-endian RGBA word per point, redone when "colour by" changes.
  let colours = null;
  let image = null;
  let words = null;
  const pack = ([r, g, b]) => ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;

  function paint() {
    colours = new Uint32Array(data.n);
    for (let i = 0; i < data.n; i++) colours[i] = pack(colourOf(i));
  }

  function draw() {
    if (!data) return;
    const started = performance.now();
    const w = canvas.width;
    const h = canvas.height;
    if (!image || image.width !== w || image.height !== h) {
      image = ctx.createImageData(w, h);
      words = new Uint32Array(image.data.buffer);
    }
    words.fill(0);
    const { scale, tx, ty } = view;
    const dot = scale > 4000 ? 3 : 2;
    const faded = pack(FADED);
    let visible = 0;
    for (let i = 0; i < data.n; i++) {
      const sx = (data.x[i] * scale + tx) | 0;
      const sy = (data.y[i] * scale + ty) | 0;
      if (sx < 0 || sy < 0 || sx > w - dot || sy > h - dot) continue;
      visible++;
      const c = selected === null || selected[i] === 1 ? colours[i] : faded;
      for (let dy = 0, o = sy * w + sx; dy < dot; dy++, o += w) {
        for (let dx = 0; dx < dot; dx++) words[o + dx] = c;
      }
    }
    ctx.putImageData(image, 0, 0);
    if (visible <= THUMBS_BELOW) drawPictures();
    const path = lasso.length > 1 ? lasso : outline.map(([x, y]) => [x * scale + tx, y * scale + ty]);
    if (path.length > 1) {
      ctx.beginPath();
      ctx.moveTo(path[0][0], path[0][1]);
      for (const [x, y] of path) ctx.lineTo(x, y);
      ctx.closePath();
      ctx.strokeStyle = "#111";
      ctx.lineWidth = 1.5;
      ctx.stroke();
    }
    const ms = performance.now() - started;
    canvas.dataset.frames = String(Number(canvas.dataset.frames || 0) + 1);
    canvas.dataset.frameMs = ms.toFixed(1);
    canvas.dataset.visible = String(visible);
  }

  function drawPictures() {
    const { scale, tx, ty } = view;
    const side = 48;
    for (let i = 0; i < data.n; i++) {
      const sx = data.x[i] * scale + tx;
      const sy = data.y[i] * scale + ty;
      if (sx < -side || sy < -side || sx > canvas.width || sy > canvas.height) continue;
      let pic = pictures.get(data.ids[i]);
      if (!pic) {
        pic = new Image();
        pic.onload = redraw;
        pic.src = thumb(data.ids[i], 96);
        pictures.set(data.ids[i], pic);
      }
      if (pic.complete && pic.naturalWidth) ctx.drawImage(pic, sx - side / 2, sy - side / 2, side, side);
    }
  }

  function legend() {
    const by = $("colour").value;
    let items = [];
    const named = { tag: data.tags, bucket: data.buckets, year: data.years }[by];
    if (named) items = named.slice(0, PALETTE.length).map((t, i) => [String(t), PALETTE[i % PALETTE.length]]);
    else if (by === "cluster") items = [...new Set(data.cluster)].sort((a, b) => a - b).slice(0, PALETTE.length)
      .map((c) => [`cluster ${c}`, PALETTE[c % PALETTE.length]]);
    else items = [["in a duplicate group (one colour each)", PALETTE[0]], ["no copies", FADED]];
    $("legend").replaceChildren(...items.map(([label, [r, g, b]]) => {
      const swatch = el("span", { class: "swatch" });
      swatch.style.background = `rgb(${r},${g},${b})`;
      return el("li", {}, swatch, label);
    }));
  }

  // -- loading -------------------------------------------------------------------------
  async function load() {
    try {
      const m = await (await api("/v1/curation/map")).json();
      data = {
        n: m.ids.length, ids: m.ids, x: Float32Array.from(m.x), y: Float32Array.from(m.y),
        cluster: Int32Array.from(m.cluster), group: Int32Array.from(m.group.map((g) => (g < 0 ? -1 : g % 2147483647))),
        tag: Int32Array.from(m.tag), tags: m.tags,
        bucket: Int32Array.from(m.bucket), buckets: m.buckets,
        year: Int32Array.from(m.year), years: m.years,
      };
      canvas.dataset.points = String(data.n);
      status(`${data.n.toLocaleString()} images, laid out by ${m.method === "tsne" ? "t-SNE" : "PCA"}` +
        (m.stale ? " — the collection changed since: compute the map again" : ""));
      selected = null;
      outline = [];
      paint();
      legend();
      resetView();
    } catch (error) {
      status(error.status === 404 ? "No map yet: compute it (or run `pixseek curate map`)." : `Could not load the map: ${error.message}`);
    }
  }

  async function compute() {
    status("Computing the map…");
    try {
      await api("/v1/curation/map", { json: {} });
      await load();
    } catch (error) {
      status(`Not computed: ${error.message}`);
    }
  }

  // -- pan, zoom, lasso -------------------------------------------------------------------
  function at(event) {
    const r = canvas.getBoundingClientRect();
    return [(event.clientX - r.left) * (canvas.width / r.width), (event.clientY - r.top) * (canvas.height / r.height)];
  }

  function setMode(next) {
    mode = next;
    $("mode-pan").setAttribute("aria-pressed", String(next === "pan"));
    $("mode-lasso").setAttribute("aria-pressed", String(next === "lasso"));
    canvas.classList.toggle("lasso", next === "lasso");
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (!data) return;
    canvas.setPointerCapture(event.pointerId);
    const [x, y] = at(event);
    if (mode === "pan") drag = { x, y, tx: view.tx, ty: view.ty };
    else lasso = [[x, y]];
  });
  canvas.addEventListener("pointermove", (event) => {
    const [x, y] = at(event);
    if (drag) {
      view.tx = drag.tx + (x - drag.x);
      view.ty = drag.ty + (y - drag.y);
      redraw();
    } else if (lasso.length) {
      lasso.push([x, y]);
      redraw();
    }
  });
  canvas.addEventListener("pointerup", () => {
    drag = null;
    if (lasso.length > 2) select(lasso);
    lasso = [];
    redraw();
  });
  canvas.addEventListener("wheel", (event) => {
    if (!data) return;
    event.preventDefault();
    const [x, y] = at(event);
    const f = Math.exp(-event.deltaY * 0.0015);
    view = { scale: view.scale * f, tx: x - (x - view.tx) * f, ty: y - (y - view.ty) * f };
    redraw();
  }, { passive: false });

  function select(polygon) {
    const { scale, tx, ty } = view;
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const [x, y] of polygon) { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y); }
    selected = new Uint8Array(data.n);
    outline = polygon.map(([x, y]) => [(x - tx) / scale, (y - ty) / scale]);
    let count = 0;
    for (let i = 0; i < data.n; i++) {
      const sx = data.x[i] * scale + tx;
      const sy = data.y[i] * scale + ty;
      if (sx < x0 || sx > x1 || sy < y0 || sy > y1 || !inside(sx, sy, polygon)) continue;
      selected[i] = 1;
      count++;
    }
    canvas.dataset.selected = String(count);
    $("lasso-count").textContent = `${count.toLocaleString()} images in the lasso`;
    $("lasso-bar").hidden = count === 0;
    for (const id of ["lasso-search", "lasso-open"]) $(id).disabled = !canSave;
    if (!canSave) $("lasso-count").textContent += " (saving a selection needs an ingest key)";
  }

  function inside(x, y, polygon) {
    let hit = false;
    for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
      const [xi, yi] = polygon[i];
      const [xj, yj] = polygon[j];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
    }
    return hit;
  }

  async function openSelection(query) {
    const ids = [];
    for (let i = 0; i < data.n; i++) if (selected[i]) ids.push(data.ids[i]);
    const name = `lasso-${new Date().toISOString().replace(/[^0-9]/g, "").slice(0, 14)}`;
    try {
      await api("/v1/selections", { json: { name, ids, method: "lasso", params: { points: ids.length } } });
      const p = new URLSearchParams({ selection: name });
      if (query) p.set("q", query);
      location.assign(`/?${p}`);
    } catch (error) {
      $("lasso-count").textContent = `Not saved: ${error.message}`;
    }
  }

  $("lasso-search").addEventListener("click", () => openSelection($("lasso-q").value.trim()));
  $("lasso-q").addEventListener("keydown", (e) => { if (e.key === "Enter") openSelection($("lasso-q").value.trim()); });
  $("lasso-open").addEventListener("click", () => openSelection(""));
  $("mode-pan").addEventListener("click", () => setMode("pan"));
  $("mode-lasso").addEventListener("click", () => setMode("lasso"));
  $("reset").addEventListener("click", resetView);
  $("colour").addEventListener("change", () => { paint(); legend(); redraw(); });
  if ($("compute")) $("compute").addEventListener("click", compute);
  window.addEventListener("resize", () => { if (data) { fit(); resetView(); } });

  // -- curation commands as jobs, and the saved selections -----------------------------------
  async function listSelections() {
    try {
      const { selections } = await (await api("/v1/selections")).json();
      $("selections").replaceChildren(...selections.map((s) => el("li", {},
        el("a", { href: `/?${new URLSearchParams({ selection: s.name })}` }, s.name),
        ` — ${s.method}, ${s.count.toLocaleString()} images`)));
    } catch (error) {
      $("selections").replaceChildren(el("li", { text: `Could not list the selections: ${error.message}` }));
    }
  }

  async function runCommand() {
    const command = $("cmd").value;
    const n = Math.max(1, Number($("cmd-n").value) || 1);
    const params = command === "clusters" ? { k: Math.max(2, n) } : command === "splits" ? {} : { n };
    $("cmd-run").disabled = true;
    $("cmd-progress").hidden = false;
    try {
      let job = await (await api("/v1/curation/jobs", { json: { command, params } })).json();
      while (!["done", "failed", "cancelled"].includes(job.status)) {
        await new Promise((resolve) => setTimeout(resolve, 400));
        job = await (await api(`/v1/jobs/${job.job_id}`)).json();
        $("cmd-progress").max = Math.max(job.total, 1);
        $("cmd-progress").value = job.done;
        $("cmd-status").textContent = `${job.status}: ${(job.curation && job.curation.step) || ""}`;
      }
      if (job.status !== "done") throw new Error(job.error || job.status);
      const report = job.curation.report;
      const leaks = "leaked_pairs" in report
        ? `; ${report.leaked_pairs} linked pairs cross splits (a random split: ${report.random_split_leaked_pairs})` : "";
      const cover = "coverage" in report ? `; coverage ${report.coverage} (random ${report.random_coverage})` : "";
      $("cmd-status").textContent = `Saved ${report.selections.map((s) => s.name).join(", ")}${cover}${leaks}`;
      listSelections();
    } catch (error) {
      $("cmd-status").textContent = `Not done: ${error.message}`;
    } finally {
      $("cmd-run").disabled = false;
      $("cmd-progress").hidden = true;
    }
  }

  if ($("cmd-run")) $("cmd-run").addEventListener("click", runCommand);
  $("curate-panel").addEventListener("toggle", () => { if ($("curate-panel").open) listSelections(); });

  fit();
  load();
})();
