// Shared by every page: API calls (session cookie + CSRF header), safe element building
// (text only ever goes through textContent: no user content is parsed as HTML), thumbnails.
"use strict";

const PX = (() => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";

  class ApiError extends Error {
    constructor(status, detail) {
      super(typeof detail === "string" ? detail : JSON.stringify(detail));
      this.status = status;
    }
  }

  async function api(path, { method, json, body, headers } = {}) {
    const h = new Headers(headers || {});
    if (csrf) h.set("X-CSRF-Token", csrf);
    if (json !== undefined) {
      h.set("Content-Type", "application/json");
      body = JSON.stringify(json);
    }
    const response = await fetch(path, {
      method: method || (body !== undefined ? "POST" : "GET"),
      headers: h,
      body,
      credentials: "same-origin",
    });
    if (response.status === 401) {
      location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
      throw new ApiError(401, "sign in again");
    }
    if (!response.ok) {
      let detail = response.statusText;
      try {
        detail = (await response.json()).detail;
      } catch (e) { /* not JSON */ }
      throw new ApiError(response.status, detail);
    }
    return response;
  }

  // el("a", {href: "/x", class: "y"}, "text", child) — strings become text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
    }
    return node;
  }

  function thumb(id, size, sha) {
    return `/v1/images/${encodeURIComponent(id)}/thumbnail?size=${size}` + (sha ? `&v=${encodeURIComponent(sha)}` : "");
  }

  function say(message) {
    const box = document.getElementById("status");
    if (box) box.textContent = message;
  }

  function bytes(n) {
    if (n === null || n === undefined) return "unknown";
    const units = ["bytes", "KB", "MB", "GB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
  }

  function when(iso) {
    if (!iso) return "unknown";
    return iso.replace("T", " ").replace(/:\d\d(\.\d+)?(\+00:00|Z)?$/, "");
  }

  function name(key) {
    const parts = String(key).split("/");
    return parts[parts.length - 1];
  }

  // Seconds as m:ss.s, for video moments.
  function clock(seconds) {
    const s = Math.max(0, Number(seconds) || 0);
    const m = Math.floor(s / 60);
    const rest = (s - 60 * m).toFixed(1).padStart(4, "0");
    return `${m}:${rest}`;
  }

  // A video hit's moments: a strip of its segments' frames, each opening that moment.
  function moments(hit) {
    if (hit.media !== "video") return null;
    return el("ol", { class: "moments", "aria-label": "Moments" },
      ...(hit.moments || []).map((m) => el("li", {},
        el("a", { href: `/images/${m.id}?t=${m.start}`, title: `${clock(m.start)}–${clock(m.end)}` },
          el("img", { src: thumb(m.id, 256), alt: `moment at ${clock(m.start)}`, loading: "lazy" }),
          el("span", { text: clock(m.start) })))));
  }

  // A result card: picture (linked to its page), its name and score, and "more like this";
  // a video's moment opens the player there, with the video's other moments below.
  function card(hit, { query = "", score = null, boxFor = null } = {}) {
    const params = new URLSearchParams();
    if (query) params.set("q", query);
    if (hit.media === "video") params.set("t", String(hit.start));
    const href = `/images/${hit.id}` + (params.toString() ? `?${params}` : "");
    const img = el("img", { src: thumb(hit.id, 256), alt: hit.key, loading: "lazy", decoding: "async" });
    const frame = el("div", { class: "frame" }, img);
    if (boxFor) boxFor(frame, img);
    return el(
      "li",
      { class: "card", "data-id": hit.id },
      el("a", { href, class: "pic" }, frame),
      el("div", { class: "caption" },
        el("span", { class: "name", title: hit.key, text: name(hit.key) }),
        score !== null ? el("span", { class: "score", text: `score ${Number(score).toFixed(3)}` }) : null),
      hit.media === "video"
        ? el("span", { class: "moment", text: `▶ ${clock(hit.start)}–${clock(hit.end)}` })
        : null,
      moments(hit),
      el("a", { href: `/?like=${hit.id}`, class: "more" }, "More like this"),
    );
  }

  // Draw [x0, y0, x1, y1] (pixels of an image `width` x `height`) over a frame, in percent.
  // In a square result frame the picture is letterboxed ("contain"): the box goes in a layer
  // laid exactly over the picture, so it lines up whatever the picture's shape.
  function drawBox(frame, box, width, height, label) {
    if (!box || !width || !height) return;
    let layer = frame;
    if (frame.classList.contains("frame")) {
      layer = frame.querySelector(".layer");
      if (!layer) {
        layer = el("div", { class: "layer" });
        const w = width >= height ? 100 : (100 * width) / height;
        const h = height >= width ? 100 : (100 * height) / width;
        layer.style.width = `${w}%`;
        layer.style.height = `${h}%`;
        layer.style.left = `${(100 - w) / 2}%`;
        layer.style.top = `${(100 - h) / 2}%`;
        frame.append(layer);
      }
    }
    const b = el("div", { class: "box", role: "img", "aria-label": label || "matching region" });
    b.style.left = `${(100 * box[0]) / width}%`;
    b.style.top = `${(100 * box[1]) / height}%`;
    b.style.width = `${(100 * (box[2] - box[0])) / width}%`;
    b.style.height = `${(100 * (box[3] - box[1])) / height}%`;
    layer.append(b);
  }

  return { api, el, thumb, say, bytes, when, name, card, clock, drawBox, ApiError };
})();
