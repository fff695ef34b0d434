"""The dashboard's jobs in a real chromium: browsing with filters, search and paging (GET
/api/jobs), the detail drawer opening in view with tracebacks intact, and the actions: redrive
one, selected and all, purge behind a confirmation, cancel and retry now. Tests that need the
newer endpoints skip with the reason on a broker without them."""

from __future__ import annotations

import grpc
import pytest

from broker.v1 import admin_service_pb2 as apb, job_pb2
from tests.e2e.browser import browser, page, playwright_api, skip_unless  # noqa: F401 - fixtures
from tests.e2e.helpers import enqueue, lease, nack
from tests.e2e.observe import _future, wait_for_state
from tests.e2e.test_dashboard import in_view

expect = playwright_api.expect
TRACEBACK = 'Traceback (most recent call last):\n  File "worker.py", line 12, in run\nValueError: bad input'


def base_of(broker_server) -> str:
    return f"http://127.0.0.1:{broker_server.http_port}"


async def dead_jobs(jobs, queue: str, n: int, error: str = "fatal") -> list[str]:
    await enqueue(jobs, queue, n)
    leased = await lease(jobs, queue, n)
    for item in leased:
        await nack(jobs, item, error=error, permanent=True)
    return [item.job.id for item in leased]


async def show_dead(page, base: str, queue: str, n: int) -> None:
    await page.goto(base + "/")
    await page.select_option("#job-queue", queue)
    await page.select_option("#job-state", "dead")
    await expect(page.locator("#job-table tbody tr[data-key]")).to_have_count(n)


async def test_jobs_browse_with_filters_search_and_paging(page, jobs, queue, broker_server):
    base = base_of(broker_server)
    await skip_unless(base, "/api/jobs?limit=1", "h-jobs")
    bulk = await enqueue(jobs, queue, 55, kind="bulk")
    [special] = await enqueue(jobs, queue, 1, kind="special", idempotency_key=f"idem-{queue}")
    await page.goto(base + "/")
    await page.select_option("#job-queue", queue)
    rows = page.locator("#job-table tbody tr[data-key]")
    await expect(page.locator("#job-range")).to_have_text("1–50 of 56")
    await expect(rows).to_have_count(50)
    await page.locator("#job-next").click()
    await expect(page.locator("#job-range")).to_have_text("51–56 of 56")
    await expect(rows).to_have_count(6)
    await page.locator("#job-prev").click()
    await expect(page.locator("#job-range")).to_have_text("1–50 of 56")

    await page.fill("#job-kind", "special")
    await page.locator("#job-filters button[type=submit]").click()
    await expect(rows).to_have_count(1)
    await expect(page.locator(f'#job-table tr[data-job-id="{special}"] td[data-field="kind"]')).to_have_text("special")
    await page.fill("#job-kind", "")
    for term, expected in ((f"idem-{queue}", special), (bulk[7], bulk[7])):
        await page.fill("#job-search", term)
        await page.press("#job-search", "Enter")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-job-id", expected)
    await page.fill("#job-search", "")
    await page.select_option("#job-state", "ready")
    await expect(page.locator("#job-range")).to_have_text("1–50 of 56")
    await page.select_option("#job-state", "dead")
    await expect(rows).to_have_count(0)
    await expect(page.locator("#no-jobs")).to_be_visible()
    assert page.errors == []


async def test_job_detail_opens_in_view_and_keeps_the_tracebacks_lines(page, jobs, queue, broker_server):
    [job_id] = await dead_jobs(jobs, queue, 1, error=TRACEBACK)
    await show_dead(page, base_of(broker_server), queue, 1)
    row = page.locator(f'#job-table tr[data-job-id="{job_id}"]')
    # The table shows the first line, the whole text on demand (line breaks kept).
    await expect(row.locator(".first-line")).to_have_text("Traceback (most recent call last):")
    await row.get_by_role("button", name="more").click()
    expanded = page.locator("#job-table tr.expanded pre")
    await expect(expanded).to_have_text(TRACEBACK)
    assert await expanded.inner_text() == TRACEBACK
    await row.get_by_role("button", name="less").click()
    await expect(expanded).to_have_count(0)

    # Scrolled to the bottom of the page, the drawer still opens where the reader looks.
    await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    await row.locator("a.job-link").click()
    await expect(page.locator("#job-id")).to_have_text(job_id)
    await in_view(page, "#job-detail")
    await in_view(page, "#job-id")
    error = page.locator("#job-errors li pre")
    assert await error.inner_text() == TRACEBACK
    assert await error.evaluate("e => getComputedStyle(e).whiteSpace") == "pre"
    await page.keyboard.press("Escape")
    await expect(page.locator("#job-detail")).to_be_hidden()
    assert page.errors == []


async def test_purge_asks_first_and_redrive_takes_selected_and_all(page, jobs, admin, queue, broker_server):
    ids = await dead_jobs(jobs, queue, 4)
    await show_dead(page, base_of(broker_server), queue, 4)
    first = page.locator(f'#job-table tr[data-job-id="{ids[0]}"]')
    await first.get_by_role("button", name="Purge").click()
    await expect(page.locator("#confirm")).to_be_visible()
    await page.locator("#confirm-no").click()
    await expect(page.locator("#confirm")).to_be_hidden()
    await admin.GetJob(apb.GetJobRequest(job_id=ids[0]))  # kept
    await first.get_by_role("button", name="Purge").click()
    await page.locator("#confirm-yes").click()
    await expect(first).to_have_count(0)
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await admin.GetJob(apb.GetJobRequest(job_id=ids[0]))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND

    # Two chosen with their checkboxes, redriven together.
    for job_id in ids[1:3]:
        await page.locator(f'#job-table tr[data-job-id="{job_id}"] input[type=checkbox]').check()
    await expect(page.locator("#job-selected")).to_have_text("2 selected")
    await page.locator("#redrive-selected").click()
    for job_id in ids[1:3]:
        await wait_for_state(admin, job_id, job_pb2.JOB_STATE_PENDING)
    await expect(page.locator("#job-table tbody tr[data-key]")).to_have_count(1)
    # All of the queue, after a confirmation.
    await page.locator("#redrive-all").click()
    await expect(page.locator("#confirm-text")).to_contain_text(queue)
    await page.locator("#confirm-yes").click()
    await wait_for_state(admin, ids[3], job_pb2.JOB_STATE_PENDING)
    await expect(page.locator("#no-jobs")).to_be_visible()
    assert page.errors == []


async def test_cancel_and_retry_now_from_the_detail(page, jobs, admin, clock, queue, broker_server):
    base = base_of(broker_server)
    await skip_unless(base, "/api/jobs?limit=1", "h-jobs: cancel and retry endpoints")
    [job_id] = await enqueue(jobs, queue, 1, run_at=_future(clock))
    await page.goto(f"{base}/#/jobs/{job_id}")
    state = page.locator('#job-fields [data-field="state"]')
    await expect(state).to_have_text("scheduled")
    await page.locator("#job-retry").click()
    await expect(state).to_have_text("ready")
    await expect(page.locator('#job-events td[data-field="reason"]').last).to_have_text("retry_now")
    await page.locator("#job-cancel").click()
    await expect(state).to_have_text("cancelled")
    await wait_for_state(admin, job_id, job_pb2.JOB_STATE_CANCELLED)
    await expect(page.locator("#job-cancel")).to_be_hidden()
    assert page.errors == []
