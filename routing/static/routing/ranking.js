// The ranking editor: reorder rows by drag and drop (or the arrow buttons), add and remove entries, and
// ask the routing preview endpoint what `auto` would try with the unsaved order.
(function () {
  "use strict";
  const form = document.getElementById("ranking-form");
  if (!form) return;
  const body = document.querySelector("#ranking-table tbody");
  const previewUrl = form.dataset.previewUrl;
  const role = form.dataset.role;
  let dragged = null;

  function rows() { return Array.from(body.querySelectorAll("tr.ranking-row")); }

  let dirty = form.dataset.unsaved === "true";
  window.addEventListener("beforeunload", (event) => { if (dirty) { event.preventDefault(); event.returnValue = ""; } });
  form.addEventListener("submit", () => { dirty = false; });

  function changed() {
    dirty = true;
    rows().forEach((row, index) => { row.querySelector(".position").textContent = index + 1; });
    const empty = body.querySelector("tr.empty-row");
    if (empty) empty.hidden = rows().length > 0;
    schedulePreview();
  }

  function clearMarks() {
    body.querySelectorAll(".drop-before, .drop-after").forEach((row) => row.classList.remove("drop-before", "drop-after"));
  }

  function wire(row) {
    row.addEventListener("dragstart", (event) => {
      dragged = row;
      row.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", row.dataset.model);
    });
    row.addEventListener("dragend", () => { row.classList.remove("dragging"); clearMarks(); dragged = null; });
    row.addEventListener("dragover", (event) => {
      if (!dragged || dragged === row) return;
      event.preventDefault();
      const box = row.getBoundingClientRect();
      clearMarks();
      row.classList.add(event.clientY < box.top + box.height / 2 ? "drop-before" : "drop-after");
    });
    row.addEventListener("drop", (event) => {
      if (!dragged || dragged === row) return;
      event.preventDefault();
      const box = row.getBoundingClientRect();
      if (event.clientY < box.top + box.height / 2) row.before(dragged); else row.after(dragged);
      clearMarks();
      changed();
    });
    const up = row.querySelector(".move-up");
    const down = row.querySelector(".move-down");
    const remove = row.querySelector(".remove");
    if (up) up.addEventListener("click", () => { const prev = row.previousElementSibling; if (prev && prev.classList.contains("ranking-row")) { prev.before(row); changed(); } });
    if (down) down.addEventListener("click", () => { const next = row.nextElementSibling; if (next) { next.after(row); changed(); } });
    if (remove) remove.addEventListener("click", () => {
      const select = document.getElementById("add-model");
      if (select) {
        const option = document.createElement("option");
        option.value = row.dataset.model;
        option.textContent = row.dataset.model;
        Object.assign(option.dataset, row.dataset);
        select.appendChild(option);
      }
      row.remove();
      changed();
    });
    row.querySelectorAll("select, input").forEach((input) => input.addEventListener("change", () => { dirty = true; schedulePreview(); }));
  }

  function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }

  function addEntry() {
    const select = document.getElementById("add-model");
    const option = select.selectedOptions[0];
    if (!option || !option.value) return;
    const id = option.value;
    const row = document.createElement("tr");
    row.className = "ranking-row";
    row.draggable = true;
    row.dataset.model = id;
    const handle = cell("⋮⋮"); handle.className = "handle";
    const position = cell(""); position.className = "position";
    const model = document.createElement("td");
    const hidden = document.createElement("input");
    hidden.type = "hidden"; hidden.name = "order"; hidden.value = id;
    const strong = document.createElement("strong"); strong.textContent = id;
    model.append(hidden, strong);
    const kind = document.createElement("select");
    kind.name = "kind:" + id;
    kind.innerHTML = document.getElementById("kind-options").innerHTML;
    kind.value = "fallback";
    const kindCell = document.createElement("td"); kindCell.append(kind);
    const pinned = document.createElement("input"); pinned.type = "checkbox"; pinned.name = "pinned:" + id;
    const pinnedCell = document.createElement("td"); pinnedCell.append(pinned);
    const reason = document.createElement("input"); reason.type = "text"; reason.name = "reason:" + id; reason.size = 28;
    const reasonCell = document.createElement("td"); reasonCell.append(reason);
    const actions = document.createElement("td"); actions.className = "row-actions";
    actions.innerHTML = '<button type="button" class="move-up" title="Move up">↑</button>' +
      '<button type="button" class="move-down" title="Move down">↓</button>' +
      '<button type="button" class="remove" title="Remove from the ranking">✕</button>';
    row.append(handle, position, model, cell(option.dataset.provider || ""), cell(option.dataset.tier || ""),
      cell(option.dataset.prices || ""), cell(option.dataset.context && option.dataset.context !== "0" ? option.dataset.context : "—"),
      kindCell, pinnedCell, reasonCell, actions);
    body.appendChild(row);
    option.remove();
    wire(row);
    changed();
  }

  // --- The preview: what `auto` would try under each profile with this (unsaved) order.
  let timer = null;
  let sequence = 0;
  function schedulePreview() {
    if (!previewUrl) return;
    clearTimeout(timer);
    timer = setTimeout(refreshPreview, 150);
  }

  function renderPreview(data) {
    const target = document.getElementById("ranking-preview");
    target.replaceChildren();
    data.chains.filter((chain) => chain.role === role).forEach((chain) => {
      const box = document.createElement("div");
      box.className = "chain";
      box.dataset.profile = chain.profile;
      const title = document.createElement("h3");
      title.textContent = "Profile " + chain.profile;
      box.append(title);
      if (chain.error) {
        const error = document.createElement("p"); error.className = "chain-error"; error.textContent = chain.error;
        box.append(error);
      }
      const list = document.createElement("ol");
      chain.candidates.forEach((step) => {
        const item = document.createElement("li");
        item.className = "candidate";
        item.dataset.model = step.model;
        const name = document.createElement("strong"); name.textContent = step.model;
        const why = document.createElement("span"); why.className = "why"; why.textContent = step.reason;
        item.append(name, " (" + step.provider + ", " + step.tier + ")", why);
        list.append(item);
      });
      box.append(list);
      chain.skipped.forEach((skip) => {
        const line = document.createElement("p"); line.className = "skipped";
        line.textContent = "skipped " + skip.model + ": " + skip.reason;
        box.append(line);
      });
      target.append(box);
    });
  }

  async function refreshPreview() {
    const mine = ++sequence;
    const state = document.getElementById("preview-state");
    state.textContent = "(updating…)";
    const order = rows().map((row) => row.dataset.model);
    const response = await fetch(previewUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrftoken": form.querySelector("[name=csrfmiddlewaretoken]").value },
      body: JSON.stringify({ rankings: { [role]: order }, roles: [role] }),
    });
    if (mine !== sequence) return;
    if (!response.ok) { state.textContent = "(preview failed: " + response.status + ")"; return; }
    renderPreview(await response.json());
    state.textContent = "(" + (dirty ? "unsaved order" : "saved order") + ")";
  }

  rows().forEach(wire);
  const add = document.getElementById("add-entry");
  if (add) add.addEventListener("click", addEntry);
  if (previewUrl) refreshPreview();
})();
