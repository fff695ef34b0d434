// The workers: every connected worker (idle ones too) with the jobs it holds, and workers per
// queue. An older broker's GET /api/workers lists lease holders only (one row per worker and
// queue): they are folded into one row per worker and the page says what is missing.
"use strict";

const Workers = (() => {
  const FIELDS = [["worker"], ["queues"], ["leases", "num"], ["state"], ["last_seen"], ["holds", "holds"]];
  let hold;

  // The older shape, as the newer one: one worker per id, its queues, leases summed.
  function fold(data) {
    const byId = new Map(), queues = {};
    for (const w of data.workers) {
      const row = byId.get(w.worker_id) || { worker_id: w.worker_id, queues: [], leases: 0, held: null,
        last_seen: null, waiting: false, idle: false };
      row.queues.push(w.queue);
      row.leases += w.leases;
      if (!row.last_seen || w.last_heartbeat > row.last_seen) row.last_seen = w.last_heartbeat;
      byId.set(w.worker_id, row);
      const q = queues[w.queue] || (queues[w.queue] = { workers: 0, leases: 0 });
      q.workers += 1;
      q.leases += w.leases;
    }
    return { workers: [...byId.values()], queues };
  }

  function stateText(w) {
    if (w.idle) return w.waiting ? "idle, waiting for jobs" : "idle";
    return w.waiting ? "working, waiting for more" : "working";
  }

  function build(w) {
    const tr = fieldRow(FIELDS);
    tr.dataset.worker = w.worker_id;
    return tr;
  }

  function update(tr, w, now) {
    const c = tr.cells_;
    setText(c.worker, w.worker_id);
    setText(c.queues, w.queues.join(", "));
    setText(c.leases, w.leases);
    setText(c.state, stateText(w));
    tr.classList.toggle("idle", Boolean(w.idle));
    setText(c.last_seen, since(w.last_seen, now));
    holds(c.holds, w.held);
  }

  // The jobs a worker holds, each a link to its detail (the server sends at most 20).
  function holds(td, held) {
    const sig = JSON.stringify(held);
    if (td.sig_ === sig) return;
    td.sig_ = sig;
    if (!held) { td.replaceChildren(document.createTextNode("–")); return; }
    td.replaceChildren(...held.map((h) => {
      const link = jobLink(h.job_id);
      link.title = `${h.job_id}: ${h.queue} / ${h.kind}, lease until ${h.lease_expires_at}`;
      return el("span", { className: "held-job" }, link, ` ${h.kind}`);
    }));
  }

  function render(data, now, force) {
    const full = data && Object.prototype.hasOwnProperty.call(data, "queues");
    const view = full ? data : fold(data);
    $("workers-fallback").hidden = full;
    hold.show(() => {
      const workers = [...view.workers].sort((a, b) => a.worker_id.localeCompare(b.worker_id));
      syncRows($("worker-table").tBodies[0], workers, (w) => w.worker_id, build, (tr, w) => update(tr, w, now));
      $("no-workers").hidden = workers.length > 0;
      const queues = Object.entries(view.queues).sort(([a], [b]) => a.localeCompare(b))
        .map(([queue, q]) => ({ queue, ...q }));
      syncRows($("worker-queue-table").tBodies[0], queues, (q) => q.queue,
        (q) => { const tr = fieldRow([["queue"], ["workers", "num"], ["leases", "num"]]); tr.dataset.queue = q.queue; return tr; },
        (tr, q) => { setText(tr.cells_.queue, q.queue); setText(tr.cells_.workers, q.workers); setText(tr.cells_.leases, q.leases); });
      $("worker-queues-box").hidden = queues.length === 0;
    }, force);
  }

  function init() {
    hold = holdWhileReading($("workers"));
  }

  return { init, render };
})();
