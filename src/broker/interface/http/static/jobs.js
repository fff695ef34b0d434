// The jobs browser: every state, filters by queue and kind, search by id or idempotency key,
// pages with the total; rows keep their identity, selection and expanded error across refreshes.
// A broker without GET /api/jobs (an older one) gets the dead letters from GET /api/dead.
"use strict";

const Jobs = (() => {
  const LIMIT = 50;
  const FIELDS = [["select"], ["id"], ["state"], ["queue"], ["kind"], ["attempts", "num"],
    ["last_error", "error"], ["updated"], ["actions", "actions"]];
  const selected = new Set();
  let hold, fallback = false, tokens = [""], page = 0, nextToken = "", shown = [];

  function filters() {
    return { state: $("job-state").value, queue: $("job-queue").value,
      kind: $("job-kind").value.trim(), q: $("job-search").value.trim() };
  }

  function path(f) {
    const token = encodeURIComponent(tokens[page]);
    if (fallback) return `/api/dead?limit=${LIMIT}&queue=${encodeURIComponent(f.queue)}&page_token=${token}`;
    const query = Object.entries(f).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
    return `/api/jobs?${query}&limit=${LIMIT}&page_token=${token}`;
  }

  async function fetchPage() {
    const f = filters();
    if (!fallback) {
      try {
        return await api(path(f));
      } catch (err) {
        if (err.status !== 404 || !err.message.startsWith("404 ")) throw err;
        useFallback();
      }
    }
    return api(path(filters()));
  }

  function useFallback() {
    fallback = true;
    $("jobs-fallback").hidden = false;
    $("job-state").replaceChildren(new Option("dead", "dead"));
    $("job-kind").disabled = $("job-search").disabled = true;
  }

  function viewState(job) {
    return job.view_state || job.state;
  }

  function build(job) {
    const tr = fieldRow(FIELDS);
    tr.dataset.jobId = job.id;
    const box = el("input", { type: "checkbox", on: { change: () => choose(job.id, box.checked) } });
    box.setAttribute("aria-label", `select ${job.id}`);
    tr.cells_.select.appendChild(box);
    tr.cells_.id.appendChild(jobLink(job.id));
    tr.box_ = box;
    tr.error_ = el("span", { className: "first-line" });
    tr.more_ = button("more", "small expand", () => toggleError(tr));
    tr.more_.setAttribute("aria-expanded", "false");
    tr.cells_.last_error.append(tr.error_, tr.more_);
    return tr;
  }

  function update(tr, job, now) {
    const c = tr.cells_, state = viewState(job);
    tr.job_ = job;
    setText(c.state, state);
    c.state.dataset.state = state;
    setText(c.queue, job.queue);
    setText(c.kind, job.kind);
    setText(c.attempts, `${job.attempt} / ${job.max_attempts}`);
    setText(tr.error_, firstLine(job.last_error));
    tr.more_.hidden = !job.last_error || (firstLine(job.last_error) === job.last_error && job.last_error.length <= 80);
    if (tr.expanded_) setText(tr.expanded_.querySelector("pre"), job.last_error || "");
    setText(c.updated, since(job.finished_at || job.updated_at, now));
    if (tr.box_.checked !== selected.has(job.id)) tr.box_.checked = selected.has(job.id);
    rowActions(c.actions, job, state);
  }

  // The actions a job's state allows, rebuilt only when its state changes.
  function rowActions(td, job, state) {
    if (td.state_ === state) return;
    td.state_ = state;
    const id = [job.id], buttons = [];
    if (state === "dead") buttons.push(button("Redrive", "small", () => redrive(id)), button("Purge", "small danger", () => purge(id)));
    if (["scheduled", "retrying"].includes(state)) buttons.push(button("Retry now", "small", () => Detail.retry(job.id)));
    if (["ready", "scheduled", "retrying", "running", "pending"].includes(state)) buttons.push(button("Cancel", "small", () => Detail.cancel(job.id)));
    td.replaceChildren(...buttons);
  }

  function toggleError(tr) {
    if (tr.expanded_) {
      tr.expanded_.remove();
      tr.expanded_ = null;
      hold.expanded -= 1;
    } else {
      tr.expanded_ = el("tr", { className: "expanded" },
        el("td", { colSpan: FIELDS.length }, el("pre", { className: "traceback", textContent: tr.job_.last_error || "" })));
      tr.after(tr.expanded_);
      hold.expanded += 1;
    }
    tr.more_.setAttribute("aria-expanded", String(Boolean(tr.expanded_)));
    setText(tr.more_, tr.expanded_ ? "less" : "more");
    if (!tr.expanded_) hold.render();
  }

  function choose(id, on) {
    if (on) selected.add(id); else selected.delete(id);
    syncBulk();
  }

  function syncBulk() {
    const queue = $("job-queue").value;
    setText($("job-selected"), selected.size ? `${selected.size} selected` : "none selected");
    $("redrive-selected").disabled = $("purge-selected").disabled = selected.size === 0;
    $("redrive-all").disabled = $("purge-all").disabled = !queue;
    $("job-select-all").checked = shown.length > 0 && shown.every((j) => selected.has(j.id));
  }

  function rangeText(data, n) {
    const first = page * LIMIT + 1, last = page * LIMIT + n;
    const span = n ? `${count(first)}–${count(last)}` : "0";
    if (data.total === undefined) return nextToken ? `${span} of more` : `${span} of ${count(n ? last : 0)}`;
    return `${span} of ${count(data.total)}${data.total_capped ? "+" : ""}`;
  }

  function render(data, now, force) {
    hold.show(() => {
      shown = data.jobs;
      nextToken = data.next_page_token || "";
      const tbody = $("job-table").tBodies[0];
      syncRows(tbody, shown, (j) => j.id, build, (tr, j) => update(tr, j, now), (tr) => (tr.expanded_ ? [tr.expanded_] : []));
      $("no-jobs").hidden = shown.length > 0;
      setText($("job-range"), rangeText(data, shown.length));
      $("job-prev").disabled = page === 0;
      $("job-next").disabled = !nextToken;
      const kinds = [...new Set(shown.map((j) => j.kind))].sort();
      syncOptions($("job-kinds"), kinds, false);
      syncBulk();
    }, force);
  }

  // A select's (or datalist's) options after its first, fixed ones, replaced only when they change.
  function syncOptions(select, names, keepFirst) {
    const fixed = keepFirst ? 1 : 0;
    const have = [...select.options].slice(fixed).map((o) => o.value).join("\n");
    if (have === names.join("\n")) return;
    const chosen = select.value;
    const first = keepFirst ? [select.options[0]] : [];
    select.replaceChildren(...first, ...names.map((n) => new Option(n, n)));
    select.value = chosen;
  }

  // The state filter's options carry the count of jobs in that state (all queues, or the chosen one).
  function syncStates(queues) {
    if (fallback) return;
    const chosen = $("job-queue").value;
    const rows = queues.filter((q) => !chosen || q.queue === chosen);
    for (const option of $("job-state").options) {
      if (!option.value) continue;
      const n = rows.reduce((sum, q) => sum + (q[option.value] || 0), 0);
      setText(option, `${option.value} (${count(n)})`);
    }
  }

  async function refresh(queues, now, force) {
    const names = queues.map((q) => q.queue);
    const chosen = $("job-queue").value;
    syncOptions($("job-queue"), chosen && !names.includes(chosen) ? [...names, chosen] : names, true);
    syncStates(queues);
    if (hold.busy() && !force) return hold.show(() => {});
    render(await fetchPage(), now, force);
  }

  function restart() {
    tokens = [""];
    page = 0;
    selected.clear();
    Dashboard.refresh(true);
  }

  function redrive(ids) {
    return act((r) => `redriven: ${r.redriven}`, () => api("/api/redrive", { job_ids: ids }));
  }

  async function purge(ids) {
    const state = $("job-state").value;
    const extra = ["cancelled", "succeeded"].includes(state) ? { state } : {};
    if (!await confirmAction(`Purge ${ids.length} ${extra.state || "dead"} job(s) and their history for good?`, "Purge")) return;
    ids.forEach((id) => selected.delete(id));
    return act((r) => `purged: ${r.purged}`, () => api("/api/purge", { job_ids: ids, ...extra }));
  }

  async function allInQueue(verb) {
    const queue = $("job-queue").value;
    if (!queue || !await confirmAction(`${verb === "redrive" ? "Redrive" : "Purge"} every dead job of ${queue}?`, verb === "redrive" ? "Redrive all" : "Purge all")) return;
    return act((r) => (verb === "redrive" ? `redriven: ${r.redriven}` : `purged: ${r.purged}`), () => api(`/api/${verb}`, { queue }));
  }

  function init() {
    hold = holdWhileReading($("jobs"));
    for (const s of STATES) $("job-state").add(new Option(s, s));
    $("job-filters").addEventListener("submit", (e) => { e.preventDefault(); restart(); });
    $("job-state").addEventListener("change", restart);
    $("job-queue").addEventListener("change", restart);
    $("job-prev").addEventListener("click", () => { page = Math.max(0, page - 1); Dashboard.refresh(true); });
    $("job-next").addEventListener("click", () => {
      if (!nextToken) return;
      tokens[page + 1] = nextToken;
      page += 1;
      Dashboard.refresh(true);
    });
    $("job-select-all").addEventListener("change", (e) => {
      for (const j of shown) choose(j.id, e.target.checked);
      for (const tr of $("job-table").tBodies[0].rows) if (tr.box_) tr.box_.checked = selected.has(tr.dataset.key);
    });
    $("redrive-selected").addEventListener("click", () => redrive([...selected]).then(() => { selected.clear(); syncBulk(); }));
    $("purge-selected").addEventListener("click", () => purge([...selected]));
    $("redrive-all").addEventListener("click", () => allInQueue("redrive"));
    $("purge-all").addEventListener("click", () => allInQueue("purge"));
  }

  return { init, refresh, redrive, purge };
})();
