// The dashboard: polls the JSON API under /api/ every two seconds and redraws. Every text from the
// server goes in through textContent, never as HTML.
"use strict";

const REFRESH_MS = 2000;
const MINUTES = 60;
const STATES = ["ready", "scheduled", "retrying", "running", "succeeded", "dead", "cancelled"];
const $ = (id) => document.getElementById(id);
let openJob = null;

// With BROKER_AUTH on, the API wants an admin key: asked for once (not again if declined, until
// the page reloads), kept for this tab only. Parallel polls share the answer.
const TOKEN_KEY = "broker-api-key";
let declined = false;

async function api(path, body, retried) {
  const headers = body === undefined ? {} : { "Content-Type": "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (response.status === 401 && !retried && !declined) {
    if (sessionStorage.getItem(TOKEN_KEY) === token) {
      const given = window.prompt("This broker needs an API key with the admin role:");
      if (given && given.trim()) sessionStorage.setItem(TOKEN_KEY, given.trim());
      else declined = true;
    }
    if (!declined) return api(path, body, true);
  }
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

function cell(row, text, cls, field) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  if (field) td.dataset.field = field;
  row.appendChild(td);
  return td;
}

function replaceRows(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function age(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  const hours = Math.floor(seconds / 3600);
  return hours < 48 ? `${hours}h ${Math.floor((seconds % 3600) / 60)}m` : `${Math.floor(hours / 24)}d`;
}

function since(iso, now) {
  return iso ? age((now - Date.parse(iso)) / 1000) + " ago" : "";
}

function percent(rate) {
  return (rate * 100).toFixed(rate > 0 && rate < 0.1 ? 1 : 0) + "%";
}

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

function renderQueues(view) {
  const rows = view.queues.map((q) => {
    const tr = document.createElement("tr");
    tr.dataset.queue = q.queue;
    cell(tr, q.queue, "", "queue");
    for (const state of STATES) cell(tr, String(q[state]), "num", state);
    cell(tr, q.ready ? age(q.oldest_ready_age_seconds) : "–", "num", "oldest_ready_age");
    cell(tr, `${q.last_minute.succeeded} / ${q.last_minute.failed}`, "num", "last_minute");
    cell(tr, percent(q.last_hour.failure_rate), "num", "failure_rate");
    cell(tr, controlsText(q), "", "controls");
    cell(tr, q.breaker ? q.breaker.replace("_", "-") : "–", q.breaker && q.breaker !== "closed" ? "warn" : "", "breaker");
    return tr;
  });
  replaceRows($("queue-table").tBodies[0], rows);
  $("no-queues").hidden = rows.length > 0;
}

function renderWorkers(view, now) {
  const rows = view.workers.map((w) => {
    const tr = document.createElement("tr");
    tr.dataset.worker = w.worker_id;
    cell(tr, w.worker_id, "", "worker");
    cell(tr, w.queue, "", "queue");
    cell(tr, String(w.leases), "num", "leases");
    cell(tr, since(w.last_heartbeat, now), "", "last_heartbeat");
    return tr;
  });
  replaceRows($("worker-table").tBodies[0], rows);
  $("no-workers").hidden = rows.length > 0;
}

function until(iso, now) {
  return iso ? "in " + age((Date.parse(iso) - now) / 1000) : "–";
}

function renderSchedules(list, now) {
  const rows = list.schedules.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.schedule = s.name;
    cell(tr, s.name, "", "name");
    cell(tr, s.cron, "", "cron");
    cell(tr, s.time_zone, "", "time_zone");
    cell(tr, `${s.queue} / ${s.kind}`, "", "target");
    cell(tr, s.paused ? "–" : until(s.next_fire_at, now), "", "next_fire_at");
    const last = cell(tr, "", "", "last_job");
    if (s.last_job_id) {
      const link = document.createElement("a");
      link.href = `#job/${s.last_job_id}`;
      link.className = "job-link";
      link.textContent = s.last_job_id.slice(0, 8);
      link.title = `${s.last_job_id}, fired ${since(s.last_fire_at, now)}`;
      last.appendChild(link);
    }
    cell(tr, (s.paused ? "paused" : "active") + (s.declared ? " (file)" : ""), "", "state");
    return tr;
  });
  replaceRows($("schedule-table").tBodies[0], rows);
  $("no-schedules").hidden = rows.length > 0;
}

function renderSubscriptions(list) {
  const rows = list.subscriptions.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.subscription = s.name;
    cell(tr, s.name, "", "name");
    cell(tr, s.url, "", "url");
    cell(tr, s.events.join(", "), "", "events");
    cell(tr, `${s.queue || "*"} / ${s.kind || "*"}`, "", "filter");
    cell(tr, String(s.max_attempts), "num", "max_attempts");
    cell(tr, String(s.secret_count), "num", "secret_count");
    return tr;
  });
  replaceRows($("subscription-table").tBodies[0], rows);
  $("no-subscriptions").hidden = rows.length > 0;
}

function renderCharts(view, buckets, now) {
  const end = Math.floor(now / 60000) * 60000;
  const slot = (iso) => MINUTES - 1 - Math.round((end - Date.parse(iso)) / 60000);
  const byQueue = new Map(view.queues.map((q) => [q.queue, blankSeries()]));
  for (const b of buckets) {
    const i = slot(b.minute);
    if (i < 0 || i >= MINUTES) continue;
    if (!byQueue.has(b.queue)) byQueue.set(b.queue, blankSeries());
    const s = byQueue.get(b.queue);
    s.enqueued[i] = b.enqueued;
    s.succeeded[i] = b.succeeded;
    s.failed[i] = b.failed;
    s.rate[i] = b.succeeded + b.failed ? (100 * b.failed) / (b.succeeded + b.failed) : 0;
  }
  const cards = [...byQueue.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([queue, s]) => {
    const card = document.createElement("div");
    card.className = "chart-card";
    card.dataset.queue = queue;
    const title = document.createElement("h3");
    title.textContent = queue;
    card.append(title,
      lineChart([{ name: "enqueued", cls: "enqueued", values: s.enqueued },
                 { name: "succeeded", cls: "succeeded", values: s.succeeded },
                 { name: "failed attempts", cls: "failed", values: s.failed }],
                { labels: [`-${MINUTES}m`, "now"], unit: "/min" }),
      lineChart([{ name: "failure rate", cls: "rate", values: s.rate }],
                { height: 70, max: 100, unit: "%" }));
    return card;
  });
  $("chart-grid").replaceChildren(...cards);
}

function blankSeries() {
  const zeros = () => new Array(MINUTES).fill(0);
  return { enqueued: zeros(), succeeded: zeros(), failed: zeros(), rate: zeros() };
}

function renderDeadQueues(view) {
  const select = $("dead-queue");
  const chosen = select.value;
  const names = view.queues.filter((q) => q.dead > 0 || q.queue === chosen).map((q) => q.queue);
  const options = [new Option("all queues", "")].concat(names.map((n) => new Option(n, n)));
  select.replaceChildren(...options);
  select.value = chosen;
  $("redrive-all").disabled = !chosen;
}

function renderDead(page, now) {
  const rows = page.jobs.map((job) => {
    const tr = document.createElement("tr");
    tr.dataset.jobId = job.id;
    const link = document.createElement("a");
    link.href = `#job/${job.id}`;
    link.className = "job-link";
    link.textContent = job.id.slice(0, 8);
    link.title = job.id;
    const first = cell(tr, "", "", "id");
    first.appendChild(link);
    cell(tr, job.queue, "", "queue");
    cell(tr, job.kind, "", "kind");
    cell(tr, `${job.attempt} / ${job.max_attempts}`, "num", "attempts");
    cell(tr, job.last_error || "", "error", "last_error");
    cell(tr, since(job.finished_at, now), "", "died");
    const actions = cell(tr, "", "", "actions");
    actions.append(button("Redrive", "redrive", () => redrive([job.id])),
                   button("Purge", "purge danger", () => purge([job.id])));
    return tr;
  });
  replaceRows($("dead-table").tBodies[0], rows);
  $("no-dead").hidden = rows.length > 0;
}

function button(text, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

async function act(label, call) {
  try {
    const result = await call();
    $("action-result").textContent = label(result);
  } catch (err) {
    $("action-result").textContent = `failed: ${err.message}`;
  }
  await refresh();
  if (openJob) await showJob(openJob);
}

function redrive(ids) {
  return act((r) => `redriven: ${r.redriven}`, () => api("/api/redrive", { job_ids: ids }));
}

function purge(ids) {
  if (!confirm(`Purge ${ids.length} dead job(s) and their history for good?`)) return;
  return act((r) => `purged: ${r.purged}`, () => api("/api/purge", { job_ids: ids }));
}

async function showJob(id) {
  openJob = id;
  let data;
  try {
    data = await api(`/api/jobs/${encodeURIComponent(id)}`);
  } catch (err) {
    $("action-result").textContent = `job ${id}: ${err.message}`;
    return closeJob();
  }
  const job = data.job;
  $("job-detail").hidden = false;
  $("job-detail").dataset.state = job.state;
  $("job-id").textContent = job.id;
  const fields = [["state", job.state], ["queue", job.queue], ["kind", job.kind],
                  ["attempts", `${job.attempt} / ${job.max_attempts}`], ["priority", job.priority],
                  ["run at", job.run_at], ["created", job.created_at], ["finished", job.finished_at || ""],
                  ["worker", job.worker_id || ""], ["idempotency key", job.idempotency_key || ""],
                  ["concurrency key", job.concurrency_key || ""],
                  ["headers", JSON.stringify(job.headers)], ["last error", job.last_error || ""],
                  ["progress", progressText(job.progress)], ["snoozes", job.snoozes]];
  $("job-fields").replaceChildren(...fields.flatMap(([k, v]) => {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = String(v);
    dd.dataset.field = k.replace(/ /g, "_");
    return [dt, dd];
  }));
  $("job-errors").replaceChildren(...job.errors.map((e) => {
    const li = document.createElement("li");
    li.textContent = `attempt ${e.attempt} at ${e.at}: ${e.error}`;
    return li;
  }));
  replaceRows($("job-events").tBodies[0], data.events.map((e) => {
    const tr = document.createElement("tr");
    cell(tr, e.at);
    cell(tr, `${e.from || "∅"} → ${e.to}`, "", "change");
    cell(tr, e.reason, "", "reason");
    cell(tr, String(e.attempt), "num");
    cell(tr, e.worker_id || "");
    if (e.progress) cell(tr, progressText(e.progress), "", "progress");
    else cell(tr, e.error || "", "error");
    return tr;
  }));
  $("job-payload").textContent = job.payload_ref
    ? `object ${job.payload_ref.key} (${job.payload_ref.size} bytes, SHA-256 ${job.payload_ref.sha256})`
    : job.payload_preview +
      (job.payload_bytes > job.payload_preview.length ? `\n… (${job.payload_bytes} bytes)` : "");
  $("job-result-section").hidden = job.result_bytes === null;
  $("job-result").textContent = job.result_bytes === null ? "" : job.result_preview +
    (job.result_bytes > job.result_preview.length ? `\n… (${job.result_bytes} bytes)` : "");
  $("job-actions").hidden = job.state !== "dead";
}

// "40% 4 of 10 files" (empty without progress).
function progressText(p) {
  return p ? `${Math.round(p.fraction * 1000) / 10}% ${p.message}`.trim() : "";
}

function closeJob() {
  openJob = null;
  $("job-detail").hidden = true;
  if (location.hash.startsWith("#job/")) history.replaceState(null, "", location.pathname);
}

let refreshing = null;

async function refresh() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const queue = $("dead-queue").value;
      const deadPath = "/api/dead?limit=100" + (queue ? `&queue=${encodeURIComponent(queue)}` : "");
      const [view, dead, history, schedules, subscriptions] = await Promise.all([
        api("/api/overview"), api(deadPath), api(`/api/throughput?minutes=${MINUTES}`), api("/api/schedules"),
        api("/api/subscriptions")]);
      const now = Date.parse(view.at);  // the broker's clock, not the browser's
      renderQueues(view);
      renderWorkers(view, now);
      renderSchedules(schedules, now);
      renderSubscriptions(subscriptions);
      renderCharts(view, history.buckets, now);
      renderDeadQueues(view);
      renderDead(dead, now);
      $("status").dataset.state = "ok";
      $("status").textContent = "live";
      $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      $("status").dataset.state = "error";
      $("status").textContent = `cannot reach the broker: ${err.message}`;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function onHash() {
  const match = location.hash.match(/^#job\/([0-9a-fA-F-]{36})$/);
  if (match) showJob(match[1]);
}

$("dead-queue").addEventListener("change", refresh);
$("redrive-all").addEventListener("click", () => {
  const queue = $("dead-queue").value;
  if (queue) act((r) => `redriven: ${r.redriven}`, () => api("/api/redrive", { queue }));
});
$("close-job").addEventListener("click", closeJob);
$("job-redrive").addEventListener("click", () => openJob && redrive([openJob]));
$("job-purge").addEventListener("click", async () => {
  if (openJob) { await purge([openJob]); }
});
window.addEventListener("hashchange", onHash);

(async function loop() {
  await refresh();
  setTimeout(loop, REFRESH_MS);
})();
onHash();
