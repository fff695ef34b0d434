// The schedules and the callback subscriptions, updated in place like every table.
"use strict";

const Lists = (() => {
  const SCHEDULE = [["name"], ["cron"], ["time_zone"], ["target"], ["next_fire_at"], ["last_job"], ["state"]];
  const SUBSCRIPTION = [["name"], ["url"], ["events"], ["filter"], ["max_attempts", "num"], ["secret_count", "num"]];

  function updateSchedule(tr, s, now) {
    const c = tr.cells_;
    setText(c.name, s.name);
    setText(c.cron, s.cron);
    setText(c.time_zone, s.time_zone);
    setText(c.target, `${s.queue} / ${s.kind}`);
    setText(c.next_fire_at, s.paused ? "–" : until(s.next_fire_at, now));
    if (c.last_job.dataset.id !== (s.last_job_id || "")) {
      c.last_job.dataset.id = s.last_job_id || "";
      c.last_job.replaceChildren(...(s.last_job_id ? [jobLink(s.last_job_id)] : []));
    }
    const link = c.last_job.firstChild;
    if (link) setAttr(link, "title", `${s.last_job_id}, fired ${since(s.last_fire_at, now)}`);
    setText(c.state, (s.paused ? "paused" : "active") + (s.declared ? " (file)" : ""));
  }

  function renderSchedules(list, now) {
    syncRows($("schedule-table").tBodies[0], list.schedules, (s) => s.name,
      (s) => { const tr = fieldRow(SCHEDULE); tr.dataset.schedule = s.name; return tr; },
      (tr, s) => updateSchedule(tr, s, now));
    $("no-schedules").hidden = list.schedules.length > 0;
  }

  function updateSubscription(tr, s) {
    const c = tr.cells_;
    setText(c.name, s.name);
    setText(c.url, s.url);
    setText(c.events, s.events.join(", "));
    setText(c.filter, `${s.queue || "*"} / ${s.kind || "*"}`);
    setText(c.max_attempts, s.max_attempts);
    setText(c.secret_count, s.secret_count);
  }

  function renderSubscriptions(list) {
    syncRows($("subscription-table").tBodies[0], list.subscriptions, (s) => s.name,
      (s) => { const tr = fieldRow(SUBSCRIPTION); tr.dataset.subscription = s.name; return tr; },
      updateSubscription);
    $("no-subscriptions").hidden = list.subscriptions.length > 0;
  }

  return { renderSchedules, renderSubscriptions };
})();
