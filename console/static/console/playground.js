// The playground: a real client of the gateway's /v1/chat/completions. It gets a short-lived ticket from the
// admin (session + CSRF), calls the API with it as a bearer token (no cookies), streams the answer into the
// page, then shows what the gateway recorded: the upstream requests, each attempt and the usage row.
(function () {
  "use strict";
  const form = document.getElementById("playground-form");
  if (!form) return;
  const $ = (id) => document.getElementById(id);

  function cells(row, values) {
    values.forEach((value) => { const td = document.createElement("td"); td.textContent = value == null ? "" : String(value); row.append(td); });
  }

  async function ticketFor(as) {
    const [kind, value] = [as.slice(0, as.indexOf(":")), as.slice(as.indexOf(":") + 1)];
    const response = await fetch(form.dataset.ticketUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrftoken": form.querySelector("[name=csrfmiddlewaretoken]").value },
      body: JSON.stringify(kind === "key" ? { key: value } : { profile: value }),
    });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || ("ticket refused: " + response.status));
    return data.ticket;
  }

  async function readStream(response, answer) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        event.split("\n").filter((line) => line.startsWith("data:")).forEach((line) => {
          const data = line.slice(5).trim();
          if (!data || data === "[DONE]") return;
          const chunk = JSON.parse(data);
          if (chunk.error) { $("pg-error").hidden = false; $("pg-error").textContent = JSON.stringify(chunk.error, null, 2); return; }
          const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
          if (delta && delta.content) answer.textContent += delta.content;
        });
      }
    }
  }

  function showExchange(data) {
    const attempts = $("pg-attempts").querySelector("tbody");
    attempts.replaceChildren();
    const log = (data.usage && data.usage.attempt_log) || (data.capture && data.capture.attempts) || [];
    log.forEach((attempt, index) => {
      const row = document.createElement("tr"); row.className = "attempt";
      cells(row, [index + 1, attempt.provider, attempt.model, attempt.status, attempt.ms, attempt.error]);
      attempts.append(row);
    });
    const upstream = $("pg-upstream");
    upstream.replaceChildren();
    ((data.capture && data.capture.upstream_requests) || []).forEach((request, index) => {
      const title = document.createElement("h3");
      title.textContent = (index + 1) + ". " + request.method + " " + request.url;
      const pre = document.createElement("pre"); pre.className = "upstream-request";
      let body = request.body;
      try { body = JSON.stringify(JSON.parse(body), null, 2); } catch (e) { /* not JSON: as sent */ }
      pre.textContent = Object.entries(request.headers).map(([k, v]) => k + ": " + v).join("\n") + "\n\n" + body;
      upstream.append(title, pre);
    });
    if (!data.capture) upstream.textContent = "Not captured (the capture is kept 15 minutes, for the staff member who sent the request).";
    const usage = $("pg-usage").querySelector("tbody");
    usage.replaceChildren();
    if (data.usage) Object.entries(data.usage).filter(([k]) => k !== "attempt_log").forEach(([name, value]) => {
      const row = document.createElement("tr"); row.dataset.field = name;
      const th = document.createElement("th"); th.textContent = name; row.append(th);
      cells(row, [value]);
      usage.append(row);
    });
  }

  async function pollExchange(requestId) {
    const url = form.dataset.exchangeUrl.replace("REQUEST_ID", encodeURIComponent(requestId));
    for (let i = 0; i < 50; i++) {
      const response = await fetch(url, { credentials: "same-origin" });
      if (response.ok) {
        const data = await response.json();
        showExchange(data);
        if (data.usage && data.capture) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = $("pg-answer");
    answer.textContent = "";
    $("pg-error").hidden = true;
    $("pg-status").textContent = "(sending…)";
    const body = { model: $("pg-model").value, messages: [{ role: "user", content: $("pg-message").value }],
                   stream: $("pg-stream").checked };
    $("pg-request").textContent = "POST " + form.dataset.chatUrl + "\n\n" + JSON.stringify(body, null, 2);
    try {
      const ticket = await ticketFor($("pg-as").value);
      const response = await fetch(form.dataset.chatUrl, {
        method: "POST", credentials: "omit",
        headers: { "content-type": "application/json", authorization: "Bearer " + ticket },
        body: JSON.stringify(body),
      });
      const requestId = response.headers.get("x-request-id");
      const chosen = response.headers.get("x-gateway-model");
      $("pg-status").textContent = "(" + response.status + (chosen ? ", " + chosen + " via " + response.headers.get("x-gateway-provider") : "") + ", " + requestId + ")";
      if (!response.ok) {
        $("pg-error").hidden = false;
        $("pg-error").textContent = await response.text();
      } else if (body.stream) {
        answer.classList.add("streaming");
        await readStream(response, answer);
        answer.classList.remove("streaming");
      } else {
        const data = await response.json();
        answer.textContent = data.choices[0].message.content || "";
      }
      answer.dataset.done = "true";
      if (requestId) await pollExchange(requestId);
    } catch (error) {
      $("pg-error").hidden = false;
      $("pg-error").textContent = String(error);
      $("pg-status").textContent = "(failed)";
    }
  });
})();
