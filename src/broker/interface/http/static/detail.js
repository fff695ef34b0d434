// A job's detail in a drawer that opens in view, at its own route (#/jobs/<id>): fields, every
// attempt's error (line breaks kept), the event timeline, payload and result, and its actions.
"use strict";

const Detail = (() => {
  const FIELDS = [["state"], ["queue"], ["kind"], ["attempts"], ["priority"], ["run at", "run_at"],
    ["created"], ["updated"], ["finished"], ["lease expires", "lease_expires_at"], ["worker"],
    ["idempotency key", "idempotency_key"], ["concurrency key", "concurrency_key"], ["headers"],
    ["progress"], ["snoozes"], ["last error", "last_error"]];
  const PENDING = ["ready", "scheduled", "retrying", "pending"];
  let openId = null, loaded = null;
  const dd = {};

  function values(job) {
    return { state: job.view_state || job.state, queue: job.queue, kind: job.kind,
      attempts: `${job.attempt} / ${job.max_attempts}`, priority: job.priority, run_at: stamp(job.run_at),
      created: stamp(job.created_at), updated: stamp(job.updated_at), finished: stamp(job.finished_at),
      lease_expires_at: stamp(job.lease_expires_at), worker: job.worker_id, idempotency_key: job.idempotency_key,
      concurrency_key: job.concurrency_key, headers: JSON.stringify(job.headers || {}),
      progress: progressText(job.progress), snoozes: job.snoozes, last_error: job.last_error };
  }

  function fill(data) {
    const job = data.job, state = job.view_state || job.state;
    loaded = job;
    $("job-detail").dataset.state = state;
    setText($("job-id"), job.id);
    for (const [field, value] of Object.entries(values(job))) setText(dd[field], value);
    syncErrors(job.errors || []);
    syncRows($("job-events").tBodies[0], data.events, (e) => e.id, buildEvent, updateEvent);
    setText($("job-payload"), job.payload_ref
      ? `object ${job.payload_ref.key} (${job.payload_ref.size} bytes, SHA-256 ${job.payload_ref.sha256})`
      : job.payload_preview + (job.payload_bytes > job.payload_preview.length ? `\n… (${job.payload_bytes} bytes)` : ""));
    const noResult = job.result_bytes === null || job.result_bytes === undefined;
    $("job-result-section").hidden = noResult;
    setText($("job-result"), noResult ? "" : job.result_preview +
      (job.result_bytes > job.result_preview.length ? `\n… (${job.result_bytes} bytes)` : ""));
    $("job-cancel").hidden = !(PENDING.includes(state) || state === "running");
    $("job-retry").hidden = !["scheduled", "retrying"].includes(state);
    $("job-redrive").hidden = state !== "dead";
    $("job-purge").hidden = !["dead", "cancelled", "succeeded"].includes(state);
  }

  function syncErrors(errors) {
    const list = $("job-errors");
    const build = () => el("li", {}, el("span", { className: "muted" }), el("pre", { className: "traceback" }));
    const update = (li, e) => {
      setText(li.firstChild, `attempt ${e.attempt} at ${stamp(e.at)}`);
      setText(li.lastChild, e.error);
    };
    const have = [...list.children];
    errors.forEach((e, i) => {
      let li = have[i];
      if (!li) { li = build(e); list.appendChild(li); }
      update(li, e);
    });
    have.slice(errors.length).forEach((li) => li.remove());
  }

  function buildEvent() {
    return fieldRow([["at"], ["change"], ["reason"], ["attempt", "num"], ["worker"], ["error", "error"]]);
  }

  function updateEvent(tr, e) {
    const c = tr.cells_;
    setText(c.at, stamp(e.at));
    c.at.title = e.at;
    setText(c.change, `${e.from || "∅"} → ${e.to}`);
    setText(c.reason, e.reason);
    setText(c.attempt, e.attempt);
    setText(c.worker, e.worker_id);
    c.error.dataset.field = e.progress ? "progress" : "error";
    setText(c.error, e.progress ? progressText(e.progress) : e.error);
  }

  async function show(id) {
    const first = openId !== id;
    openId = id;
    let data;
    try {
      data = await api(`/api/jobs/${encodeURIComponent(id)}`);
    } catch (err) {
      setText($("action-result"), `job ${id}: ${err.message}`);
      return close();
    }
    if (openId !== id) return;
    if (first) clear();
    fill(data);
    const drawer = $("job-detail");
    if (drawer.hidden) {
      drawer.hidden = false;
      drawer.scrollTop = 0;
      $("close-job").focus({ preventScroll: true });
    }
  }

  function clear() {
    $("job-events").tBodies[0].replaceChildren();
    $("job-errors").replaceChildren();
  }

  function close() {
    openId = loaded = null;
    $("job-detail").hidden = true;
    if (route()) history.replaceState(null, "", location.pathname + location.search + "#jobs");
  }

  // #/jobs/<id>; #job/<id> as the earlier dashboard linked it.
  function route() {
    const match = location.hash.match(/^#(?:\/jobs\/|job\/)([0-9a-fA-F-]{36})$/);
    return match ? match[1] : null;
  }

  function onHash() {
    const id = route();
    if (id) show(id);
    else if (openId) close();
  }

  function cancel(id) {
    return act(() => `cancelled ${id.slice(0, 8)}`, () => api(`/api/jobs/${encodeURIComponent(id)}/cancel`, {}));
  }

  function retry(id) {
    return act(() => `${id.slice(0, 8)} is ready now`, () => api(`/api/jobs/${encodeURIComponent(id)}/retry`, {}));
  }

  function init() {
    const list = $("job-fields");
    for (const [label, field] of FIELDS) {
      const key = field || label;
      dd[key] = el(key === "last_error" ? "pre" : "dd", { dataset: { field: key }, className: key === "last_error" ? "traceback" : "" });
      list.append(el("dt", { textContent: label }), key === "last_error" ? el("dd", {}, dd[key]) : dd[key]);
    }
    $("close-job").addEventListener("click", close);
    document.addEventListener("keydown", (e) => { if (e.key === "Escape" && openId) close(); });
    $("job-cancel").addEventListener("click", () => openId && cancel(openId));
    $("job-retry").addEventListener("click", () => openId && retry(openId));
    $("job-redrive").addEventListener("click", () => openId && Jobs.redrive([openId]));
    $("job-purge").addEventListener("click", async () => {
      if (!openId || !loaded) return;
      const state = loaded.view_state || loaded.state;
      if (!await confirmAction(`Purge job ${openId} and its history for good?`, "Purge")) return;
      const body = state === "dead" ? { job_ids: [openId] } : { job_ids: [openId], state };
      await act((r) => { if (r.purged) close(); return `purged: ${r.purged}`; }, () => api("/api/purge", body));
    });
    window.addEventListener("hashchange", onHash);
    onHash();
  }

  // Called by every refresh: the open job's detail follows its changes in place.
  function refresh() {
    return openId ? show(openId) : null;
  }

  return { init, refresh, cancel, retry };
})();
