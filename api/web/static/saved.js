// The search page's sidebar of saved searches: each with its new matches since last viewed;
// a click shows its current matches (new ones marked), "Save this search" keeps the query.
"use strict";

(() => {
  const { api, el } = PX;
  const $ = (id) => document.getElementById(id);

  async function load() {
    let searches;
    try {
      searches = await (await api("/v1/saved-searches")).json();
    } catch (error) {
      return; // a key without access, or an older server: no sidebar
    }
    $("saved").hidden = false;
    $("saved-list").replaceChildren(...searches.map((s) => el("li", {},
      el("button", { type: "button", class: "saved-search", "data-id": s.id, onclick: () => show(s) },
        s.name, el("span", { class: "saved-new", text: s.new_matches ? ` ${s.new_matches} new` : "" })))));
  }

  async function show(saved) {
    const view = await (await api(`/v1/saved-searches/${saved.id}`)).json();
    const fresh = new Set(view.new);
    $("results").replaceChildren(...view.results.map((hit) => {
      const card = PX.card(hit, { score: hit.score });
      if (fresh.has(hit.id)) card.classList.add("new-match");
      return card;
    }));
    $("summary").textContent = `${view.name}: ${view.matches} match(es), ${fresh.size} new since last viewed`;
    $("facets").hidden = true;
    $("pager").hidden = true;
    load();
  }

  $("save-search").addEventListener("click", async () => {
    const request = PX.searchRequest && PX.searchRequest();
    if (!request || !request.parts.length) {
      $("summary").textContent = "Search for something first, then save it.";
      return;
    }
    const name = window.prompt("Name this saved search");
    if (!name || !name.trim()) return;
    const query = { ...request, offset: 0, facets: false, limit: 100 };
    try {
      await api("/v1/saved-searches", { json: { name: name.trim(), query } });
      load();
    } catch (error) {
      $("summary").textContent = `Could not save: ${error.message}`;
    }
  });

  load();
})();
