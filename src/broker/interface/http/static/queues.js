// The queues table: depth by state, health problems, workers, flow controls and breaker; each
// row opens an editor for its flow controls (pause, breaker, limits).
"use strict";

const Queues = (() => {
  const FIELDS = [["queue"], ["problems", "problems"], ...STATES.map((s) => [s, "num"]),
    ["oldest_ready_age", "num"], ["last_minute", "num"], ["failure_rate", "num"], ["workers", "num"],
    ["controls"], ["breaker"], ["actions"]];
  const LIMITS = [["concurrency_limit", "concurrency limit", "1"], ["per_key_concurrency", "per key", "1"],
    ["rate_limit", "rate /s", "any"], ["rate_burst", "burst", "1"]];
  let hold;
  const latest = new Map();  // queue name -> its last row from the server

  // A queue's flow controls in words: "paused · 3/5 running · 1 per key · 20/s, burst 40"; "–": none.
  function controlsText(q) {
    const c = q.controls || {};
    const parts = [];
    if (c.paused) parts.push("paused");
    if (c.concurrency_limit) parts.push(`${q.running}/${c.concurrency_limit} running`);
    if (c.per_key_concurrency) parts.push(`${c.per_key_concurrency} per key`);
    if (c.rate_limit) parts.push(`${c.rate_limit}/s, burst ${c.rate_burst}`);
    return parts.length ? parts.join(" · ") : "–";
  }

  function build(q) {
    const tr = fieldRow(FIELDS);
    tr.dataset.queue = q.queue;
    const toggle = button("flow ▸", "small", () => toggleEditor(tr));
    toggle.setAttribute("aria-expanded", "false");
    tr.cells_.actions.appendChild(toggle);
    tr.toggle_ = toggle;
    return tr;
  }

  function update(tr, q) {
    const c = tr.cells_;
    setText(c.queue, q.queue);
    for (const state of STATES) setText(c[state], q[state]);
    setText(c.oldest_ready_age, q.ready ? age(q.oldest_ready_age_seconds) : "–");
    setText(c.last_minute, `${q.last_minute.succeeded} / ${q.last_minute.failed}`);
    setText(c.failure_rate, percent(q.last_hour.failure_rate));
    setText(c.workers, q.workers === undefined ? "–" : q.workers);
    setText(c.controls, controlsText(q));
    setText(c.breaker, q.breaker ? q.breaker.replace("_", "-") : "–");
    c.breaker.classList.toggle("warn", Boolean(q.breaker && q.breaker !== "closed"));
    renderProblems(c.problems, q.problems);
    tr.classList.toggle("unhealthy", Boolean(q.problems && q.problems.length));
    if (tr.editor_) syncEditor(tr.editor_, q);
  }

  // The server's health problems: each its code (for styling and tests) and its message as text.
  function renderProblems(td, problems) {
    const sig = JSON.stringify(problems || null);
    if (td.sig_ === sig) return;
    td.sig_ = sig;
    if (!problems) { td.replaceChildren(document.createTextNode("–")); return; }
    if (!problems.length) { td.replaceChildren(el("span", { className: "ok", textContent: "ok" })); return; }
    td.replaceChildren(...problems.map((p) =>
      el("span", { className: "problem", textContent: p.message, title: p.code, dataset: { code: p.code } })));
  }

  function toggleEditor(tr) {
    if (tr.editor_) {
      tr.editor_.remove();
      tr.editor_ = null;
      hold.expanded -= 1;
      tr.toggle_.setAttribute("aria-expanded", "false");
      setText(tr.toggle_, "flow ▸");
      hold.render();
      return;
    }
    tr.editor_ = buildEditor(tr.dataset.queue);
    tr.after(tr.editor_);
    hold.expanded += 1;
    tr.toggle_.setAttribute("aria-expanded", "true");
    setText(tr.toggle_, "flow ▾");
    fillLimits(tr.editor_, latest.get(tr.dataset.queue));
    syncEditor(tr.editor_, latest.get(tr.dataset.queue));
  }

  function buildEditor(queue) {
    const row = el("tr", { className: "editor", dataset: { editorFor: queue } });
    const td = el("td", { colSpan: FIELDS.length });
    const pause = button("Pause", "", () => flow(queue, { paused: !row.paused_ }));
    pause.dataset.action = "pause";
    const close = button("Close breaker", "", () => breaker(queue, "close"));
    close.dataset.action = "breaker-close";
    const open = button("Open breaker", "danger", () => breaker(queue, "open"));
    open.dataset.action = "breaker-open";
    const auto = button("Breaker auto", "", () => breaker(queue, "auto"));
    auto.dataset.action = "breaker-auto";
    auto.title = "end an operator's hold: the failure rate decides again";
    const form = el("form", { className: "limits", on: { submit: (e) => { e.preventDefault(); saveLimits(queue, row); } } });
    for (const [name, label, step] of LIMITS) {
      const input = el("input", { type: "number", min: "0", step, name, size: 6, placeholder: "none" });
      form.append(el("label", {}, label + " ", input));
    }
    form.append(el("button", { type: "submit", textContent: "Save limits" }));
    row.pause_ = pause;
    td.append(el("div", { className: "toolbar" }, pause, close, open, auto), form,
      el("p", { className: "muted", textContent: "Empty clears a limit. Changes reach every replica at once." }));
    row.appendChild(td);
    return row;
  }

  function syncEditor(row, q) {
    if (!q) return;
    row.paused_ = Boolean(q.controls && q.controls.paused);
    setText(row.pause_, row.paused_ ? "Resume" : "Pause");
  }

  function fillLimits(row, q) {
    const c = (q && q.controls) || {};
    for (const [name] of LIMITS) row.querySelector(`input[name="${name}"]`).value = c[name] ?? "";
  }

  function saveLimits(queue, row) {
    const body = {};
    for (const [name] of LIMITS) {
      const raw = row.querySelector(`input[name="${name}"]`).value.trim();
      body[name] = raw === "" || Number(raw) === 0 ? null : Number(raw);
    }
    return flow(queue, body);
  }

  function flow(queue, body) {
    return act(() => `${queue}: controls saved`,
      () => api(`/api/queues/${encodeURIComponent(queue)}/controls`, body));
  }

  async function breaker(queue, action) {
    if (action === "open" && !await confirmAction(`Open the breaker of ${queue}? Nothing is leased from it until it closes.`, "Open breaker")) return;
    return act((r) => `${queue}: breaker ${r.breaker || action}`,
      () => api(`/api/queues/${encodeURIComponent(queue)}/breaker`, { action }));
  }

  function render(queues, force) {
    for (const q of queues) latest.set(q.queue, q);
    const tbody = $("queue-table").tBodies[0];
    hold.show(() => {
      syncRows(tbody, queues, (q) => q.queue, build, update, (tr) => (tr.editor_ ? [tr.editor_] : []));
      $("no-queues").hidden = queues.length > 0;
    }, force);
  }

  function init() {
    hold = holdWhileReading($("queues"));
  }

  return { init, render, controlsText };
})();
