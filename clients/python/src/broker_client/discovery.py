"""Finds the handlers of a module for ``brokerctl worker``."""

from __future__ import annotations

import importlib
import os
import sys

from .worker.registry import Registry
from .worker.worker import Worker


class NoHandlersFound(LookupError):
    """The module holds no Worker or Registry with handlers."""


def find_worker(spec: str) -> Worker:
    """Import ``module`` or ``module:attribute`` and return a Worker with its handlers.

    Without an attribute, every module-level Worker and Registry is collected: one Worker is
    used as is (its settings are the defaults the command line overrides); otherwise the
    handlers of all of them are merged into a new Worker.
    """
    module_name, _, attr = spec.partition(":")
    # A console script's sys.path lacks the working directory; `python -m` has it.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    if attr:
        found = [getattr(module, attr)]
    else:
        found = [v for v in vars(module).values() if isinstance(v, Worker | Registry)]
    found = list({id(v): v for v in found}.values())
    workers = [v for v in found if isinstance(v, Worker)]
    if len(workers) == 1 and len(found) == 1:
        return workers[0]
    merged = Registry()
    seen: set[int] = set()
    for item in found:
        registry = item.registry if isinstance(item, Worker) else item
        if id(registry) not in seen:
            seen.add(id(registry))
            merged.update(registry)
    if not len(merged):
        raise NoHandlersFound(f"no Worker or Registry with handlers found in {spec!r}")
    base = workers[0] if workers else Worker()
    return Worker.from_settings(base.settings, registry=merged, connection=base.connection)
