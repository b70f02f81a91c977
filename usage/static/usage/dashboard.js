/* The usage dashboard: each panel fetches its own JSON endpoint and draws with Chart.js (vendored, see
   vendor/README.md). A failing or slow panel shows its own state and never holds the others.
   Charts are kept in window.usageDashboard.charts (by canvas id) for inspection. */
(function () {
  "use strict";
  const root = document.getElementById("usage-dashboard");
  if (!root) return;
  const dataUrl = root.dataset.dataUrl;
  const form = document.getElementById("dashboard-filters");
  const charts = {};
  const state = { charts, loaded: {}, live: [] };
  window.usageDashboard = state;

  const FILTERS = ["since", "until", "model", "provider", "role", "key", "profile", "role_source", "status_class"];
  const params = new URLSearchParams(window.location.search);
  for (const name of FILTERS) {
    const field = form.elements[name];
    if (field && params.get(name)) {
      if (field.tagName === "SELECT") addOption(field, params.get(name));
      field.value = params.get(name);
    }
  }

  function filterQuery(extra) {
    const query = new URLSearchParams();
    for (const name of FILTERS) if (params.get(name)) query.set(name, params.get(name));
    for (const [name, value] of Object.entries(extra || {})) query.set(name, value);
    return query;
  }

  function panelUrl(panel, extra) {
    return dataUrl + panel + "/?" + filterQuery(extra).toString();
  }

  function addOption(select, value) {
    if ([...select.options].some((option) => option.value === value)) return;
    const option = document.createElement("option");
    option.value = value;
    option.textContent = value === "" ? "(none)" : value;
    if (value === "") option.value = "(none)";
    select.appendChild(option);
  }

  const number = new Intl.NumberFormat("en-US");
  const money = (value) => "$" + Number(value || 0).toFixed(value >= 100 ? 2 : 4);
  const percent = (value) => (100 * (value || 0)).toFixed(1) + "%";
  const ms = (value) => (value === null || value === undefined ? "—" : Number(value).toFixed(0) + " ms");

  function el(tag, attributes, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function load(section, panel, extra, draw) {
    const status = section.querySelector(".dash-status");
    status.textContent = "loading…";
    status.classList.remove("dash-error");
    const started = performance.now();
    try {
      const response = await fetch(panelUrl(panel, extra), { credentials: "same-origin",
                                                             headers: { accept: "application/json" } });
      const body = await response.json();
      if (!response.ok) throw new Error((body.error && body.error.message) || response.statusText);
      draw(body);
      status.textContent = "";
      section.dataset.loadedMs = String(Math.round(performance.now() - started));
      state.loaded[section.dataset.panel] = body;
    } catch (error) {
      status.textContent = "could not load: " + error.message;
      status.classList.add("dash-error");
    }
  }

  function chart(id, config) {
    if (!window.Chart) return null;
    if (charts[id]) charts[id].destroy();
    const canvas = document.getElementById(id);
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options);
    charts[id] = new window.Chart(canvas, config);
    return charts[id];
  }

  function table(node, columns, rows, formats) {
    node.replaceChildren();
    const head = node.createTHead().insertRow();
    columns.forEach((column, index) => head.appendChild(el("th", formats[index] ? { class: "num" } : {}, column)));
    const body = node.createTBody();
    if (!rows.length) {
      const cell = body.insertRow().insertCell();
      cell.colSpan = columns.length;
      cell.textContent = "no requests in this range";
    }
    for (const row of rows) {
      const tr = body.insertRow();
      row.forEach((value, index) => {
        const td = tr.insertCell();
        const format = formats[index];
        if (format) td.className = "num";
        td.textContent = format ? format(value) : (value === "" ? "(none)" : String(value));
      });
    }
  }

  function totals(node, data) {
    node.replaceChildren();
    const items = [["requests", number.format(data.requests)], ["tokens", number.format(data.total_tokens)],
      ["cost", money(data.cost)], ["errors", percent(data.error_rate)], ["fallbacks", percent(data.fallback_rate)],
      ["avg latency", ms(data.avg_latency_ms)], ["avg TTFT", ms(data.avg_ttft_ms)]];
    for (const [label, value] of items) {
      node.appendChild(el("dt", {}, label));
      node.appendChild(el("dd", { "data-value": label }, value));
    }
  }

  function column(data, name) {
    const index = data.columns.indexOf(name);
    return data.rows.map((row) => row[index]);
  }

  function csvLinks() {
    for (const link of root.querySelectorAll("a[data-csv]")) {
      const extra = { format: "csv" };
      if (link.dataset.by) extra.by = link.dataset.by;
      else if (link.dataset.csv === "breakdown") extra.by = document.getElementById("breakdown-by").value;
      link.href = panelUrl(link.dataset.csv, extra);
      link.setAttribute("download", "");
    }
  }

  const section = (name) => root.querySelector(`[data-panel="${name}"]`);

  function loadOverview() {
    return load(section("overview"), "overview", {}, (data) => {
      for (const name of ["since", "until"]) {
        if (!form.elements[name].value) form.elements[name].value = data.filters[name];
      }
      for (const name of ["today", "month", "range"]) totals(root.querySelector(`[data-totals="${name}"]`), data[name]);
      const labels = column(data, "time");
      chart("chart-requests", { type: "bar", data: { labels, datasets: [
        { label: "requests", data: column(data, "requests") },
        { label: "errors", data: column(data, "errors") },
        { label: "fallbacks", data: column(data, "fallbacks") }] } });
      chart("chart-tokens", { type: "bar", data: { labels, datasets: [
        { label: "prompt tokens", data: column(data, "prompt_tokens") },
        { label: "completion tokens", data: column(data, "completion_tokens") }] },
        options: { scales: { x: { stacked: true }, y: { stacked: true } } } });
      chart("chart-cost", { type: "line", data: { labels, datasets: [
        { label: "cost ($)", data: column(data, "cost"), fill: true }] } });
    });
  }

  function loadQuota() {
    const target = section("quota");
    return load(target, "quota", {}, (data) => {
      const box = target.querySelector(".dash-quota");
      box.replaceChildren();
      if (!data.configured) {
        box.appendChild(el("p", { class: "dash-note" }, "no quota configured"));
        return;
      }
      const datasets = [];
      let labels = [];
      for (const provider of data.providers) {
        const line = el("p", {}, `${provider.provider}: ${number.format(provider.used)} of ` +
          `${number.format(provider.monthly_tokens)} tokens (${provider.percent}%), ` +
          `${number.format(provider.remaining)} left. `);
        line.appendChild(el("span", {}, provider.runs_out_on
          ? (provider.runs_out_this_month ? `Runs out on ${provider.runs_out_on} at this pace.`
            : `Lasts the month at this pace (${number.format(provider.tokens_per_day)} tokens/day).`)
          : "Unused this month."));
        for (const level of provider.alerts) {
          line.appendChild(el("span", { class: `dash-alert dash-alert-${level}` }, `${level}%`));
        }
        box.appendChild(line);
        labels = provider.burn_down.map((row) => row[0]);
        datasets.push({ label: `${provider.provider} remaining`, data: provider.burn_down.map((row) => row[2]) });
      }
      chart("chart-quota", { type: "line", data: { labels, datasets }, options: { scales: { y: { min: 0 } } } });
      const first = data.providers[0];  // the gauge: the first quota'd provider's month so far
      chart("chart-quota-gauge", { type: "doughnut", data: { labels: ["used", "remaining"],
        datasets: [{ label: `${first.provider} tokens`, data: [Math.min(first.used, first.monthly_tokens), first.remaining] }] },
        options: { circumference: 180, rotation: -90, plugins: { title: { display: true, text: `${first.percent}% used` } } } });
    });
  }

  function loadLatency() {
    const target = section("latency");
    return load(target, "latency", { by: "model" }, (data) => {
      target.querySelector(".dash-window").textContent = windowNote(data.window);
      table(target.querySelector("[data-table=latency]"),
        ["model", "requests", "p50", "p95", "p99", "TTFT n", "TTFT p50", "TTFT p95", "TTFT p99"], data.rows,
        [null, (v) => number.format(v || 0), ms, ms, ms, (v) => number.format(v || 0), ms, ms, ms]);
    });
  }

  function windowNote(window_) {
    return `From raw rows ${window_.since.slice(0, 16)} – ${window_.until.slice(0, 16)} UTC` +
      (window_.rows_capped ? ` (the range's newest ${number.format(window_.max_rows)} requests)`
        : window_.truncated ? ` (the range's last ${window_.max_days} days)` : "");
  }

  function breakdownTable(node, data, limit) {
    const keep = ["value", "requests", "total_tokens", "cost", "error_rate", "fallback_rate", "avg_latency_ms"];
    const rows = data.rows.slice(0, limit).map((row) => keep.map((name) => row[data.columns.indexOf(name)]));
    table(node, [data.by, "requests", "tokens", "cost", "errors", "fallbacks", "avg latency"], rows,
      [null, (v) => number.format(v), (v) => number.format(v), money, percent, percent, ms]);
  }

  function loadBreakdown() {
    const target = section("breakdown");
    const by = document.getElementById("breakdown-by").value;
    csvLinks();
    return load(target, "breakdown", { by }, (data) => {
      const labels = column(data, "value").map((value) => value || "(none)");
      chart("chart-breakdown", { type: "bar", data: { labels, datasets: [
        { label: "cost ($)", data: column(data, "cost"), yAxisID: "y" },
        { label: "requests", data: column(data, "requests"), yAxisID: "y1" }] },
        options: { scales: { y: { position: "left" }, y1: { position: "right", grid: { drawOnChartArea: false } } } } });
      breakdownTable(target.querySelector("[data-table=breakdown]"), data, 100);
    });
  }

  function loadRoles() {
    return load(section("roles"), "breakdown", { by: "role" }, (data) => {
      chart("chart-roles", { type: "doughnut", data: {
        labels: column(data, "value").map((value) => value || "(none)"),
        datasets: [{ label: "cost ($)", data: column(data, "cost") }] } });
    });
  }

  function loadRoleSource() {
    const target = section("role_source");
    return load(target, "breakdown", { by: "role_source", order: "requests" }, (data) => {
      const found = Object.fromEntries(data.rows.map((row) => [row[0] || "unknown", row[1]]));
      const labels = [...data.known_sources, ...Object.keys(found).filter((key) => !data.known_sources.includes(key))];
      chart("chart-role-source", { type: "bar", data: { labels,
        datasets: [{ label: "requests", data: labels.map((label) => found[label] || 0) }] } });
      target.querySelector("[data-role-source-note]").textContent = data.recorded ? ""
        : "Usage rows do not record how the role was decided yet: every request counts as unknown.";
    });
  }

  function loadKeys() {
    return load(section("keys"), "breakdown", { by: "key" }, (data) => {
      breakdownTable(section("keys").querySelector("[data-table=keys]"), data, 10);
    });
  }

  function loadConversations() {
    const target = section("conversations");
    return load(target, "conversations", {}, (data) => {
      target.querySelector(".dash-window").textContent = windowNote(data.window);
      table(target.querySelector("[data-table=conversations]"), ["conversation", "requests", "tokens", "cost",
        "models", "last (UTC)"], data.rows.slice(0, 20).map((row) => [row[0], row[1], row[2], row[3], row[4],
        row[6].slice(5, 16).replace("T", " ")]),
        [null, (v) => number.format(v), (v) => number.format(v), money, (v) => String(v), null]);
    });
  }

  async function loadOptions() {
    try {
      const response = await fetch(panelUrl("options", {}), { credentials: "same-origin" });
      if (!response.ok) return;
      const data = await response.json();
      for (const select of form.querySelectorAll("select[data-option]")) {
        for (const value of data.options[select.dataset.option] || []) addOption(select, value);
        if (params.get(select.name)) select.value = params.get(select.name);
      }
    } catch (error) { /* the menus keep "all" */ }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const name of FILTERS) if (form.elements[name] && form.elements[name].value) query.set(name, form.elements[name].value);
    window.location.search = query.toString();
  });
  document.getElementById("breakdown-by").addEventListener("change", loadBreakdown);

  // --- live feed: a WebSocket the server pushes completed requests to (staff only) ---
  const LIVE_ROWS = 50;
  function connectLive(delay) {
    const stateLabel = document.getElementById("live-state");
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${window.location.host}${root.dataset.livePath}`);
    socket.onopen = () => { stateLabel.textContent = "connected"; delay = 1000; };
    socket.onclose = (event) => {
      stateLabel.textContent = event.code === 4403 ? "refused (staff only)" : "disconnected; reconnecting…";
      if (event.code !== 4403) setTimeout(() => connectLive(Math.min(delay * 2, 30000)), delay);
    };
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      const body = document.querySelector("#live-feed tbody");
      for (const item of data.requests || []) {
        state.live.push(item);
        const tr = el("tr", { class: "dash-new", "data-request-id": item.request_id });
        const cells = [item.time.slice(11, 23), item.key || "—", item.model || "—", item.provider || "—",
          item.role || "—", number.format(item.tokens), Number(item.cost).toFixed(6), Number(item.latency_ms).toFixed(0),
          `${item.status_code} ${item.status}`];
        for (const value of cells) tr.appendChild(el("td", {}, value));
        body.prepend(tr);
      }
      while (body.rows.length > LIVE_ROWS) body.deleteRow(body.rows.length - 1);
      if (state.live.length > LIVE_ROWS) state.live.splice(0, state.live.length - LIVE_ROWS);
    };
    state.socket = socket;
  }

  function start() {
    csvLinks();
    loadOptions();
    // independent: each panel renders when its own answer arrives
    [loadOverview, loadQuota, loadLatency, loadBreakdown, loadRoles, loadRoleSource, loadKeys, loadConversations]
      .forEach((loader) => loader());
    connectLive(1000);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
