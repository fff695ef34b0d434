"""The fault harness's accounts (faults/ledger.py): lost jobs, duplicates explained or not by a
lapsed lease, bad status codes, redelivery times. Fed by hand, so each rule is seen to bite."""

from collections import Counter
from types import SimpleNamespace

from faults.ledger import Records, tally
from faults.scenarios import passed


def producer(acknowledged: dict, codes=None):
    return SimpleNamespace(acknowledged=acknowledged, enqueued=len(acknowledged), codes=Counter(codes or {"OK": 1}),
                           first_answers=Counter(), gave_up=0, answers=[])


def records(*executions, codes=None) -> Records:
    r = Records()
    for uid, attempt, job_id, at in executions:
        r.executions[uid].append((attempt, job_id, at))
    r.codes.update(codes or {("Ack", "OK"): 1})
    return r


def event(job_id, reason, attempt, worker="w1", at=0.0):
    return {"job_id": job_id, "reason": reason, "attempt": attempt, "worker_id": worker, "at": at}


def run(rows, events, prod, recs, faults=()):
    return tally(rows, events, prod, recs, list(faults), until=0.0)


def test_a_clean_run_counts_every_job_once():
    rows = [{"id": "j1", "uid": "u1", "state": "succeeded"}, {"id": "j2", "uid": "u2", "state": "succeeded"}]
    r = run(rows, [], producer({"u1": "j1", "u2": "j2"}), records(("u1", 1, "j1", 1.0), ("u2", 1, "j2", 1.0)))
    assert (r["acknowledged"], r["stored"], r["succeeded"], r["lost"], r["duplicates"]) == (2, 2, 2, 0, 0)
    assert r["bad_codes"] == 0 and r["succeeded_without_record"] == 0


def test_an_acknowledged_job_that_did_not_succeed_or_is_missing_is_lost():
    rows = [{"id": "j1", "uid": "u1", "state": "pending"}]
    r = run(rows, [], producer({"u1": "j1", "u2": "j2"}), records())
    assert r["lost"] == 2 and r["lost_sample"] == ["u1", "u2"]


def test_a_second_run_after_a_lapsed_lease_is_an_explained_duplicate():
    rows = [{"id": "j1", "uid": "u1", "state": "succeeded"}]
    events = [event("j1", "lease", 1, "w1", 10.0), event("j1", "expire", 1, None, 13.0),
              event("j1", "lease", 2, "w2", 14.0), event("j1", "ack", 2, "w2", 15.0)]
    faults = [{"what": "kill -9 w1", "at": 11.0, "worker_id": "w1"}]
    r = run(rows, events, producer({"u1": "j1"}), records(("u1", 1, "j1", 10.5), ("u1", 2, "j1", 14.5)), faults)
    assert (r["duplicates"], r["duplicates_explained"], r["duplicates_unexplained"]) == (1, 1, 0)
    redelivery = r["recovery"]["redelivery_s"]
    assert (redelivery["lapsed"]["max"], redelivery["leased_again"]["max"], redelivery["acked"]["max"]) == (2.0, 3.0, 4.0)


def test_a_second_run_without_a_lapsed_lease_is_unexplained():
    rows = [{"id": "j1", "uid": "u1", "state": "succeeded"}]
    events = [event("j1", "lease", 1), event("j1", "lease", 2), event("j1", "ack", 2)]
    r = run(rows, events, producer({"u1": "j1"}), records(("u1", 1, "j1", 1.0), ("u1", 2, "j1", 2.0)))
    assert r["duplicates_unexplained"] == 1


def test_two_runs_under_one_lease_are_unexplained_even_after_a_lapse():
    rows = [{"id": "j1", "uid": "u1", "state": "succeeded"}]
    events = [event("j1", "lease", 1), event("j1", "expire", 1), event("j1", "lease", 2), event("j1", "ack", 2)]
    r = run(rows, events, producer({"u1": "j1"}), records(("u1", 2, "j1", 1.0), ("u1", 2, "j1", 2.0)))
    assert r["duplicates_unexplained"] == 1


def test_codes_other_than_ok_unavailable_resource_exhausted_are_bad():
    prod = producer({}, codes={"OK": 5, "UNAVAILABLE": 2, "RESOURCE_EXHAUSTED": 1, "CANCELLED": 3})
    recs = records(codes={("Lease", "INTERNAL"): 1, ("Ack", "OK"): 4})
    r = run([], [], prod, recs)
    assert r["bad_codes"] == 4 and r["bad_codes_by_code"] == {"CANCELLED": 3, "INTERNAL": 1}


def test_a_success_without_an_execution_record_fails_the_scenario():
    rows = [{"id": "j1", "uid": "u1", "state": "succeeded"}]
    r = run(rows, [], producer({"u1": "j1"}), records())
    r.update(drained=True)
    assert r["succeeded_without_record"] == 1 and not passed(r)
    clean = run(rows, [], producer({"u1": "j1"}), records(("u1", 1, "j1", 1.0)))
    clean.update(drained=True)
    assert passed(clean)


def test_records_are_read_back_from_the_worker_file(tmp_path):
    path = tmp_path / "w.records"
    path.write_text("X u1 j1 1 123 10.5\nC Ack OK 7\nE Lease UNAVAILABLE 11.0 connection refused\n"
                    "O Ack LEASE_OUTCOME_LOST 2\nX u1 j1 2 124 12.0\n")
    r = Records()
    r.read(str(path))
    assert r.executions["u1"] == [(1, "j1", 10.5), (2, "j1", 12.0)]
    assert r.codes == Counter({("Ack", "OK"): 7, ("Lease", "UNAVAILABLE"): 1})
    assert r.outcomes == Counter({("Ack", "LEASE_OUTCOME_LOST"): 2})
