"""The dashboard in a real headless chromium: it loads offline, shows the scenario's numbers,
updates when jobs arrive, shows a dead job's timeline in a drawer that opens in view, and its
redrive button works; schedules, callbacks, flow controls and job details as before."""

from __future__ import annotations

from broker.v1 import admin_service_pb2 as apb, job_pb2
from broker.v1 import job_service_pb2 as pb
from tests.e2e.browser import ARTIFACTS, browser, page, playwright_api  # noqa: F401 - fixtures
from tests.e2e.helpers import enqueue, lease, ref
from tests.e2e.observe import run_scenario, wait_for_state

expect = playwright_api.expect


async def in_view(page, selector: str) -> None:
    """The element's box lies within the viewport (it opened where the reader looks)."""
    box = await page.locator(selector).bounding_box()
    size = page.viewport_size
    assert box is not None, f"{selector} has no box"
    assert box["x"] >= 0 and box["y"] >= 0, box
    assert box["x"] + box["width"] <= size["width"] + 1 and box["y"] < size["height"], (box, size)


async def test_dashboard_shows_updates_and_redrives(page, jobs, admin, clock, queue, broker_server):
    scenario = await run_scenario(jobs, admin, clock, queue)
    base = f"http://127.0.0.1:{broker_server.http_port}"
    await page.goto(base + "/")

    row = page.locator(f'#queue-table tr[data-queue="{queue}"]')
    for state, value in scenario.states.items():
        await expect(row.locator(f'td[data-field="{state}"]')).to_have_text(str(value))
    await expect(row.locator('td[data-field="failure_rate"]')).to_have_text("67%")
    await expect(page.locator("#chart-throughput .uplot canvas")).to_have_count(1)

    # New jobs show up without a reload.
    await enqueue(jobs, queue, 3)
    await expect(row.locator('td[data-field="ready"]')).to_have_text(str(scenario.states["ready"] + 3))

    # The dead job, among the dead jobs of its queue: its last error and attempts, then its timeline.
    await page.select_option("#job-queue", queue)
    await page.select_option("#job-state", "dead")
    dead_id = scenario.ids["D"]
    dead_row = page.locator(f'#job-table tr[data-job-id="{dead_id}"]')
    await expect(page.locator("#job-table tbody tr[data-key]")).to_have_count(1)
    await expect(dead_row.locator('td[data-field="last_error"] .first-line')).to_have_text("fatal-d")
    await expect(dead_row.locator('td[data-field="attempts"]')).to_have_text("1 / 2")
    await dead_row.locator("a.job-link").click()
    assert page.url.endswith(f"#/jobs/{dead_id}")
    await expect(page.locator("#job-detail")).to_be_visible()
    await expect(page.locator("#job-id")).to_have_text(dead_id)
    await in_view(page, "#job-detail")
    await expect(page.locator("#job-errors li")).to_have_count(1)
    await expect(page.locator("#job-errors li")).to_contain_text("fatal-d")
    await expect(page.locator('#job-events td[data-field="reason"]')).to_have_text(["enqueue", "lease", "nack"])
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard-job.png"))
    await page.locator("#close-job").click()
    await expect(page.locator("#job-detail")).to_be_hidden()
    await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # Redrive from its row: the job goes back to pending and leaves the list of dead jobs.
    await dead_row.get_by_role("button", name="Redrive").click()
    await wait_for_state(admin, dead_id, job_pb2.JOB_STATE_PENDING)
    await expect(dead_row).to_have_count(0)
    await expect(row.locator('td[data-field="dead"]')).to_have_text("0")
    got = await admin.GetJob(apb.GetJobRequest(job_id=dead_id))
    assert [e.reason for e in got.events][-1] == "redrive"

    # Everything came from the broker itself: the page works offline.
    assert page.requests and all(url.startswith(base + "/") for url in page.requests), page.requests
    assert any(url.endswith("/static/vendor/uPlot.iife.min.js") for url in page.requests)
    assert page.errors == []


async def test_dashboard_shows_each_queues_flow_controls(page, jobs, admin, queue, broker_server):
    await enqueue(jobs, queue, 3)
    await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, concurrency_limit=5, per_key_concurrency=1,
                                                   rate_limit=20, rate_burst=40))
    await lease(jobs, queue, 2)
    await page.goto(f"http://127.0.0.1:{broker_server.http_port}/")
    row = page.locator(f'#queue-table tr[data-queue="{queue}"]')
    await expect(row.locator('td[data-field="controls"]')).to_have_text("2/5 running · 1 per key · 20/s, burst 40")
    await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, paused=True, concurrency_limit=0,
                                                   per_key_concurrency=0, rate_limit=0))
    await expect(row.locator('td[data-field="controls"]')).to_have_text("paused")
    assert page.errors == []


async def test_dashboard_lists_schedules_with_their_next_fire_and_state(page, admin, queue, broker_server):
    name = f"dash-{queue}"
    spec = apb.ScheduleSpec(name=name, cron="*/5 * * * *", time_zone="Europe/Berlin",
                            job=job_pb2.JobSpec(queue=queue, kind="report"))
    await admin.CreateSchedule(apb.CreateScheduleRequest(schedule=spec))
    await page.goto(f"http://127.0.0.1:{broker_server.http_port}/")
    row = page.locator(f'#schedule-table tr[data-schedule="{name}"]')
    await expect(row.locator('td[data-field="cron"]')).to_have_text("*/5 * * * *")
    await expect(row.locator('td[data-field="time_zone"]')).to_have_text("Europe/Berlin")
    await expect(row.locator('td[data-field="target"]')).to_have_text(f"{queue} / report")
    await expect(row.locator('td[data-field="next_fire_at"]')).to_contain_text("in ")
    await expect(row.locator('td[data-field="state"]')).to_have_text("active")

    # Paused and triggered: the row says so, and links the job the trigger made.
    await admin.PauseSchedule(apb.PauseScheduleRequest(name=name))
    triggered = await admin.TriggerSchedule(apb.TriggerScheduleRequest(name=name))
    await expect(row.locator('td[data-field="state"]')).to_have_text("paused")
    await expect(row.locator("a.job-link")).to_have_attribute("href", f"#/jobs/{triggered.job_id}")
    await admin.DeleteSchedule(apb.DeleteScheduleRequest(name=name))
    await expect(row).to_have_count(0)
    assert page.errors == []


async def test_a_succeeded_jobs_result_is_shown_in_its_detail(page, jobs, queue, broker_server):
    [job_id] = await enqueue(jobs, queue, 1)
    [leased] = await lease(jobs, queue)
    await jobs.Ack(pb.AckRequest(items=[pb.AckItem(lease=ref(leased), result=b'{"total": 42}')]))
    base = f"http://127.0.0.1:{broker_server.http_port}"
    await page.goto(f"{base}/#/jobs/{job_id}")

    await expect(page.locator("#job-id")).to_have_text(job_id)
    await expect(page.locator("#job-result-section")).to_be_visible()
    await expect(page.locator("#job-result")).to_have_text('{"total": 42}')
    # The earlier dashboard's links (#job/<id>) still open it.
    await page.goto(f"{base}/#job/{job_id}")
    await page.reload()
    await expect(page.locator("#job-id")).to_have_text(job_id)
    assert page.errors == []


async def test_a_running_jobs_progress_and_snoozes_are_shown_in_its_detail(page, jobs, queue, broker_server):
    [job_id] = await enqueue(jobs, queue, 1)
    [first] = await lease(jobs, queue)
    await jobs.Snooze(pb.SnoozeRequest(items=[pb.SnoozeItem(lease=ref(first))]))
    [leased] = await lease(jobs, queue)
    item = pb.HeartbeatItem(lease=ref(leased), progress=job_pb2.Progress(fraction=0.4, message="4 of 10"))
    await jobs.Heartbeat(pb.HeartbeatRequest(items=[item]))
    base = f"http://127.0.0.1:{broker_server.http_port}"
    await page.goto(f"{base}/#/jobs/{job_id}")

    await expect(page.locator("#job-id")).to_have_text(job_id)
    await expect(page.locator('#job-fields [data-field="progress"]')).to_have_text("40% 4 of 10")
    await expect(page.locator('#job-fields [data-field="snoozes"]')).to_have_text("1")
    await expect(page.locator('#job-events td[data-field="reason"]')).to_have_text(
        ["enqueue", "lease", "snooze", "lease", "progress"])
    await expect(page.locator('#job-events td[data-field="progress"]')).to_have_text(["40% 4 of 10"])
    assert page.errors == []
    await jobs.Ack(pb.AckRequest(leases=[ref(leased)]))


async def test_dashboard_lists_callback_subscriptions_without_their_secrets(page, admin, queue, broker_server):
    from broker.v1 import callback_pb2 as cpb
    from tests.callback_receiver import SECRET

    name = f"dash-{queue}"
    spec = cpb.SubscriptionSpec(name=name, url="https://hooks.example.com/broker", queue=queue, kind="report",
                                events=["job.succeeded", "job.dead"], secrets=[SECRET], max_attempts=4)
    await admin.CreateSubscription(cpb.CreateSubscriptionRequest(subscription=spec))
    await page.goto(f"http://127.0.0.1:{broker_server.http_port}/")
    row = page.locator(f'#subscription-table tr[data-subscription="{name}"]')
    await expect(row.locator('td[data-field="url"]')).to_have_text("https://hooks.example.com/broker")
    await expect(row.locator('td[data-field="events"]')).to_have_text("job.succeeded, job.dead")
    await expect(row.locator('td[data-field="filter"]')).to_have_text(f"{queue} / report")
    await expect(row.locator('td[data-field="max_attempts"]')).to_have_text("4")
    await expect(row.locator('td[data-field="secret_count"]')).to_have_text("1")
    assert SECRET not in await page.content()
    await admin.DeleteSubscription(cpb.DeleteSubscriptionRequest(name=name))
    await expect(row).to_have_count(0)
    assert page.errors == []
