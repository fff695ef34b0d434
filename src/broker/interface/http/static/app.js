// The dashboard's loop: reads the JSON API under /api/ every two seconds and hands each part to
// its module (core.js, queues.js, charts.js, jobs.js, detail.js, workers.js, lists.js), which
// update their rows in place. Every text from the server goes in through textContent.
"use strict";

const Dashboard = (() => {
  let running = null, again = false;

  async function cycle(force) {
    const [view, workers, schedules, subscriptions] = await Promise.all([
      api("/api/queues"), api("/api/workers"), api("/api/schedules"), api("/api/subscriptions")]);
    const now = Date.parse(view.at);  // the broker's clock, not the browser's
    Queues.render(view.queues, force);
    Workers.render(workers, now, force);
    Lists.renderSchedules(schedules, now);
    Lists.renderSubscriptions(subscriptions);
    const names = view.queues.map((q) => q.queue).sort();
    await Promise.all([Jobs.refresh(view.queues, now, force), Charts.refresh(names, now, force), Detail.refresh()]);
  }

  // One refresh at a time; a forced one (after an action or a filter change) asked for while
  // another runs follows it.
  async function refresh(force) {
    if (running) {
      if (force) again = true;
      return running;
    }
    running = (async () => {
      try {
        await cycle(Boolean(force));
        $("status").dataset.state = "ok";
        setText($("status"), "live");
        setText($("updated"), `updated ${new Date().toLocaleTimeString()}`);
        window.dashboardRefreshes = (window.dashboardRefreshes || 0) + 1;  // the browser tests wait on it
      } catch (err) {
        $("status").dataset.state = "error";
        setText($("status"), `cannot reach the broker: ${err.message}`);
      } finally {
        running = null;
      }
    })();
    await running;
    if (again) {
      again = false;
      return refresh(true);
    }
  }

  function start() {
    Queues.init();
    Charts.init();
    Jobs.init();
    Workers.init();
    Detail.init();
    (async function loop() {
      await refresh();
      setTimeout(loop, REFRESH_MS);
    })();
  }

  return { start, refresh };
})();

Dashboard.start();
