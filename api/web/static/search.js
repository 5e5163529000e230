// The search page: the whole query lives in the URL (shareable, reload restores it); an
// example image is kept in sessionStorage (bytes do not fit a URL) and marked `upload=1`.
"use strict";

(() => {
  const { api, el, say } = PX;
  const PAGE = 48;
  const MAX_OFFSET = 10000;
  const $ = (id) => document.getElementById(id);
  const form = $("search-form");
  const FILTERS = [
    ["bucket", "f-bucket"], ["prefix", "f-prefix"], ["minw", "f-minw"], ["minh", "f-minh"],
    ["minkb", "f-minkb"], ["maxkb", "f-maxkb"], ["cafter", "f-cafter"], ["cbefore", "f-cbefore"],
    ["iafter", "f-iafter"], ["ibefore", "f-ibefore"], ["camera", "f-camera"], ["lens", "f-lens"],
    ["country", "f-country"], ["city", "f-city"], ["near", "f-near"], ["km", "f-km"], ["bbox", "f-bbox"],
    ["located", "f-located"], ["selection", "f-selection"], ["media", "f-media"], ["maxdur", "f-maxdur"],
  ];
  // Facets shown beside the results, and the filter a click on one of their values sets.
  const FACETS = [["cameras", "Cameras", "f-camera"], ["countries", "Countries", "f-country"],
    ["cities", "Cities", "f-city"], ["lenses", "Lenses", "f-lens"]];
  let chips = []; // {kind: "plus"|"minus"|"like"|"unlike", value}
  let example = null; // {name, dataUrl}

  // -- URL <-> form -----------------------------------------------------------------
  function readUrl() {
    const p = new URLSearchParams(location.search);
    $("q").value = p.get("q") || "";
    chips = [];
    for (const kind of ["plus", "minus", "like", "unlike"]) for (const v of p.getAll(kind)) chips.push({ kind, value: v });
    $("mode").value = ["semantic", "keyword", "hybrid"].includes(p.get("mode")) ? p.get("mode") : "semantic";
    const order = p.get("order") === "newest" ? "newest" : "relevance";
    form.querySelector(`input[name=order][value=${order}]`).checked = true;
    for (const [key, id] of FILTERS) $(id).value = p.get(key) || "";
    const fmts = p.getAll("fmt");
    for (const box of form.querySelectorAll("input[name=fmt]")) box.checked = fmts.includes(box.value);
    if (FILTERS.some(([key]) => p.get(key)) || fmts.length) $("filters").open = true;
    example = null;
    if (p.get("upload") === "1") {
      try { example = JSON.parse(sessionStorage.getItem("pixseek.example") || "null"); } catch (e) { example = null; }
    }
    showExample();
    renderChips();
    return Math.max(1, parseInt(p.get("page") || "1", 10) || 1);
  }

  function toUrl(page) {
    const p = new URLSearchParams();
    const q = $("q").value.trim();
    if (q) p.set("q", q);
    for (const c of chips) p.append(c.kind, c.value);
    if ($("mode").value !== "semantic") p.set("mode", $("mode").value);
    const order = form.querySelector("input[name=order]:checked").value;
    if (order !== "relevance") p.set("order", order);
    for (const [key, id] of FILTERS) if ($(id).value.trim()) p.set(key, $(id).value.trim());
    for (const box of form.querySelectorAll("input[name=fmt]:checked")) p.append("fmt", box.value);
    if (example) p.set("upload", "1");
    if (page > 1) p.set("page", String(page));
    return p.toString() ? `/?${p}` : "/";
  }

  // -- chips ------------------------------------------------------------------------
  const LABEL = { plus: "also", minus: "without", like: "like image", unlike: "unlike image" };
  function renderChips() {
    $("chips").replaceChildren(...chips.map((c, i) =>
      el("li", { class: `chip chip-${c.kind}` },
        el("span", { class: "chip-kind", text: c.kind === "minus" || c.kind === "unlike" ? "−" : "+" }),
        el("span", { text: `${LABEL[c.kind]} ${c.kind.endsWith("like") ? "#" : ""}${c.value}` }),
        el("button", { type: "button", "aria-label": `Remove ${LABEL[c.kind]} ${c.value}`,
          onclick: () => { chips.splice(i, 1); renderChips(); run(1); } }, "×"))));
  }
  for (const kind of ["plus", "minus"]) {
    $(kind).addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      const value = event.target.value.trim();
      if (!value) return;
      chips.push({ kind, value });
      event.target.value = "";
      renderChips();
      run(1);
    });
  }

  // -- example image: drop, paste or choose ------------------------------------------
  function showExample() {
    $("example").hidden = !example;
    if (example) $("example-img").src = example.dataUrl;
  }
  function takeFile(file) {
    if (!file || !file.type.startsWith("image/")) { say("That is not an image."); return; }
    const reader = new FileReader();
    reader.onload = () => {
      example = { name: file.name || "pasted image", dataUrl: reader.result };
      try { sessionStorage.setItem("pixseek.example", JSON.stringify(example)); } catch (e) { /* too large to keep */ }
      showExample();
      run(1);
    };
    reader.readAsDataURL(file);
  }
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    takeFile(event.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (event) => {
    const item = [...(event.clipboardData || { items: [] }).items].find((i) => i.kind === "file" && i.type.startsWith("image/"));
    if (item) { event.preventDefault(); takeFile(item.getAsFile()); }
  });
  $("upload").addEventListener("change", (event) => takeFile(event.target.files[0]));
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("upload").click(); }
  });
  $("example-remove").addEventListener("click", () => {
    example = null;
    sessionStorage.removeItem("pixseek.example");
    $("upload").value = "";
    showExample();
    run(1);
  });

  // -- the request --------------------------------------------------------------------
  function day(value, end) {
    return value ? `${value}T${end ? "23:59:59" : "00:00:00"}Z` : undefined;
  }
  function number(id, scale = 1) {
    const v = $(id).value.trim();
    return v === "" ? undefined : Math.round(Number(v) * scale);
  }
  function numbers(id, count) {
    const v = $(id).value.trim();
    if (!v) return undefined;
    const parts = v.split(/[\s,]+/).filter(Boolean).map(Number);
    return parts.length === count && parts.every(Number.isFinite) ? parts : undefined;
  }
  function near() {
    const point = numbers("f-near", 2);
    if (!point) return undefined;
    return { latitude: point[0], longitude: point[1], km: Number($("f-km").value) || 1 };
  }
  function request(page) {
    const parts = [];
    const q = $("q").value.trim();
    if (q) parts.push({ text: q, weight: 1.0 });
    for (const c of chips) {
      if (c.kind === "plus") parts.push({ text: c.value, weight: 1.0 });
      if (c.kind === "minus") parts.push({ text: c.value, weight: -0.5 });
      if (c.kind === "like") parts.push({ image_id: Number(c.value), weight: 1.0 });
      if (c.kind === "unlike") parts.push({ image_id: Number(c.value), weight: -0.5 });
    }
    if (example) parts.push({ upload: 0, weight: 1.0 });
    const filtered = FILTERS.some(([, id]) => $(id).value.trim()) || form.querySelector("input[name=fmt]:checked");
    // Filters alone (a camera, a city from the image page): every image that passes them.
    if (!parts.length && filtered) parts.push({ text: "a photo", weight: 1.0 });
    const fmts = [...form.querySelectorAll("input[name=fmt]:checked")].map((b) => b.value);
    const filters = {
      bucket: $("f-bucket").value.trim() || undefined,
      key_prefix: $("f-prefix").value.trim() || undefined,
      formats: fmts.length ? fmts : undefined,
      min_width: number("f-minw"), min_height: number("f-minh"),
      min_size: number("f-minkb", 1024), max_size: number("f-maxkb", 1024),
      captured_after: day($("f-cafter").value), captured_before: day($("f-cbefore").value, true),
      ingested_after: day($("f-iafter").value), ingested_before: day($("f-ibefore").value, true),
      cameras: $("f-camera").value.trim() ? [$("f-camera").value.trim()] : undefined,
      lenses: $("f-lens").value.trim() ? [$("f-lens").value.trim()] : undefined,
      countries: $("f-country").value.trim() ? [$("f-country").value.trim()] : undefined,
      cities: $("f-city").value.trim() ? [$("f-city").value.trim()] : undefined,
      near: near(),
      bbox: numbers("f-bbox", 4),
      has_location: { yes: true, no: false }[$("f-located").value],
      selection: $("f-selection").value.trim() || undefined,
      media: $("f-media").value || undefined,
      max_duration: number("f-maxdur"),
    };
    return {
      parts,
      filters,
      mode: $("mode").value,
      order: form.querySelector("input[name=order]:checked").value,
      limit: PAGE,
      offset: (page - 1) * PAGE,
      facets: true,
    };
  }

  function showFacets(facets) {
    const box = $("facets");
    const groups = FACETS.filter(([key]) => facets && Object.keys(facets[key] || {}).length)
      .map(([key, label, input]) => el("div", { class: "facet-group" },
        el("span", { class: "facet-name", text: `${label}:` }),
        ...Object.entries(facets[key]).map(([value, n]) => el("button", {
          type: "button", class: "facet", "aria-label": `${label}: ${value}, ${n} images`,
          onclick: () => { $(input).value = value; $("filters").open = true; run(1); },
        }, `${value} (${n})`))));
    box.replaceChildren(...groups);
    box.hidden = !groups.length;
  }

  function dataUrlBlob(dataUrl) {
    // Decoded here: the page's CSP lets fetch() reach this site only, not data: URLs.
    const [head, b64] = dataUrl.split(",", 2);
    const raw = atob(b64);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return new Blob([bytes], { type: head.slice(5).split(";")[0] || "application/octet-stream" });
  }

  let generation = 0;
  async function run(page, push = true) {
    const url = toUrl(page);
    if (push && url !== location.pathname + location.search) history.pushState(null, "", url);
    const body = request(page);
    const results = $("results");
    if (!body.parts.length) {
      results.replaceChildren();
      $("summary").textContent = "Type what you are looking for, add terms, or drop an example image.";
      $("facets").hidden = true;
      $("pager").hidden = true;
      return;
    }
    const mine = ++generation;
    $("summary").textContent = "Searching…";
    results.setAttribute("aria-busy", "true");
    try {
      let response;
      if (example) {
        const data = new FormData();
        data.append("query", JSON.stringify(body));
        data.append("images", dataUrlBlob(example.dataUrl), example.name);
        response = await api("/v1/search/multipart", { method: "POST", body: data });
      } else {
        response = await api("/v1/search", { json: body });
      }
      const answer = await response.json();
      if (mine !== generation) return; // a newer search started meanwhile
      const q = $("q").value.trim();
      results.replaceChildren(...answer.results.map((hit) => PX.card(hit, { query: q, score: hit.score })));
      showFacets(answer.facets);
      const first = body.offset + 1;
      const last = body.offset + answer.results.length;
      const total = answer.total;
      $("summary").textContent = answer.results.length
        ? `Results ${first}–${last}${total !== null && total !== undefined ? ` of ${total}${answer.total_exact === false ? "+" : ""}` : ""}`
          + (body.order === "newest" ? ", relevant ones newest first" : ", best first")
        : "No results.";
      const more = answer.results.length === PAGE && body.offset + PAGE <= MAX_OFFSET
        && (total === null || total === undefined || answer.total_exact === false || last < total);
      pager(page, more);
    } catch (error) {
      if (mine !== generation) return;
      results.replaceChildren();
      $("summary").textContent = `Search failed: ${error.message}`;
      $("pager").hidden = true;
    } finally {
      results.removeAttribute("aria-busy");
    }
  }

  function pager(page, more) {
    const prev = $("prev");
    const next = $("next");
    $("pager").hidden = page === 1 && !more;
    $("page-of").textContent = `Page ${page}`;
    for (const [link, target, enabled] of [[prev, page - 1, page > 1], [next, page + 1, more]]) {
      if (enabled) {
        link.href = toUrl(target);
        link.removeAttribute("aria-disabled");
        link.onclick = (event) => { event.preventDefault(); run(target); window.scrollTo(0, 0); };
      } else {
        link.removeAttribute("href");
        link.setAttribute("aria-disabled", "true");
        link.onclick = null;
      }
    }
  }

  PX.searchRequest = () => (example ? null : request(1)); // for the saved-search sidebar (saved.js)
  form.addEventListener("submit", (event) => { event.preventDefault(); run(1); });
  $("mode").addEventListener("change", () => run(1));
  for (const radio of form.querySelectorAll("input[name=order]")) radio.addEventListener("change", () => run(1));
  for (const input of form.querySelectorAll("#filters input, #filters select")) input.addEventListener("change", () => run(1));
  window.addEventListener("popstate", () => run(readUrl(), false));

  run(readUrl(), false);
})();
