"""Worker's settings keywords are typed parameters that mirror WorkerSettings, one for one: the
dataclass holds the defaults and the checks, the signatures must neither drop nor add one."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from broker_client import Worker, WorkerSettings

FIELDS = [f for f in dataclasses.fields(WorkerSettings) if f.name != "queues"]
# A value other than the default for every field, all valid together.
CHANGED = {"concurrency": 3, "lease_duration": 7.0, "poll_wait": 1.5, "shutdown_grace": 2.0,
           "handler_timeout": 9.0, "processes": 2, "flush_interval": 0.01, "flush_size": 50,
           "session": False, "max_result_bytes": 1000, "worker_id": "w-7", "lease_calls": 3}


@pytest.mark.parametrize("method", [Worker.__init__, Worker.configured], ids=["Worker", "configured"])
def test_every_setting_is_a_typed_keyword(method):
    params = inspect.signature(method).parameters
    assert not [p for p in params.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
    for f in FIELDS:
        assert params[f.name].kind is inspect.Parameter.KEYWORD_ONLY, f.name
        assert params[f.name].annotation != inspect.Parameter.empty, f.name
    assert set(CHANGED) == {f.name for f in FIELDS}


def test_the_defaults_are_the_dataclass_defaults():
    params = inspect.signature(Worker.__init__).parameters
    for f in FIELDS:
        expected = None if f.default is dataclasses.MISSING else f.default  # worker_id: generated
        assert params[f.name].default == expected, f.name
    assert Worker("q").settings.worker_id != Worker("q").settings.worker_id


def test_every_keyword_reaches_the_settings():
    worker = Worker(["a", "b"], **CHANGED)
    assert worker.settings == WorkerSettings(queues=("a", "b"), **CHANGED)
    assert Worker("one").settings.queues == ("one",)


def test_configured_changes_what_it_is_given_and_keeps_the_rest():
    base = Worker("q", concurrency=4)
    assert base.configured(**CHANGED).settings == WorkerSettings(queues=("q",), **CHANGED)
    kept = base.configured(queues=["r"], concurrency=None)
    assert (kept.settings.queues, kept.settings.concurrency, kept.registry) == (("r",), 4, base.registry)


def test_bad_settings_are_refused_when_the_worker_is_made():
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        Worker("q", concurrency=0)
    with pytest.raises(TypeError):
        Worker("q", concurency=3)  # type: ignore[call-arg]
