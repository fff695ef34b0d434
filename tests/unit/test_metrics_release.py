"""The metrics every release carries: broker_build_info from the one version source, the
process's own metrics (CPU, memory, descriptors) on the broker's registry, and the per-worker
label as a setting."""

from __future__ import annotations

from datetime import datetime, timezone

from prometheus_client.parser import text_string_to_metric_families

import broker
from broker.entities.stats import QueueStats, WorkerLeases
from broker.infra import settings as settings_mod
from broker.infra.metrics import BrokerMetrics
from broker.usecases.overview import Overview

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)


async def overview() -> Overview:
    return Overview(NOW, (QueueStats("q", ready=3),),
                    (WorkerLeases("w1", "q", 4, NOW), WorkerLeases("w2", "q", 1, NOW)))


async def samples(metrics: BrokerMetrics) -> dict:
    body, _ = await metrics.render()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(body.decode()) for s in f.samples}


async def test_build_info_carries_the_version():
    found = await samples(BrokerMetrics(overview))
    assert found[("broker_build_info", (("version", broker.__version__),))] == 1


async def test_process_metrics_are_on_the_brokers_registry():
    names = {name for name, _ in await samples(BrokerMetrics(overview))}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
            "python_info"} <= names


async def test_the_worker_label_is_on_by_default_and_can_be_dropped():
    with_label = await samples(BrokerMetrics(overview))
    assert with_label[("broker_worker_leases", (("queue", "q"), ("worker", "w1")))] == 4
    without = await samples(BrokerMetrics(overview, worker_label=False))
    assert without[("broker_worker_leases", (("queue", "q"),))] == 5
    assert not any(dict(labels).get("worker") for _, labels in without)


def test_the_worker_label_setting():
    assert settings_mod.load({}).observe.worker_label is True
    assert settings_mod.load({"BROKER_METRICS_WORKER_LABEL": "false"}).observe.worker_label is False
