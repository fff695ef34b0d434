"""Handlers by job kind."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Handler:
    """A registered handler: the function, how to run it and its per-job time limit."""

    kind: str
    func: Callable[..., Any]
    is_async: bool
    # Run in the worker's process pool (CPU-bound work); needs a module-level sync function.
    cpu_bound: bool = False
    # Seconds; None means no limit beyond the worker's default.
    timeout: float | None = None


class Registry:
    """Maps job kinds to handlers. A ``Worker`` has one; a module can also declare a bare
    ``Registry`` for ``brokerctl worker`` to find.

    >>> registry = Registry()
    >>> @registry.handler("send_email")
    ... async def send_email(ctx): ...
    """

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def handler(self, kind: str, *, timeout: float | None = None,
                cpu_bound: bool = False) -> Callable[[F], F]:
        """Decorator: register the function (async or sync) for jobs of ``kind``.

        Sync functions run on the worker's thread pool, or its process pool when
        ``cpu_bound=True``. The function is returned unchanged, so it stays callable and
        picklable. ``timeout`` (seconds) fails an attempt that runs longer.
        """

        def register(func: F) -> F:
            self.add(kind, func, timeout=timeout, cpu_bound=cpu_bound)
            return func

        return register

    def add(self, kind: str, func: Callable[..., Any], *, timeout: float | None = None,
            cpu_bound: bool = False) -> Handler:
        """Register ``func`` for ``kind`` without the decorator syntax."""
        if not kind:
            raise ValueError("a handler needs a non-empty kind")
        if kind in self._handlers:
            raise ValueError(f"a handler for kind {kind!r} is already registered "
                             f"({self._handlers[kind].func.__qualname__})")
        is_async = inspect.iscoroutinefunction(func)
        if cpu_bound and is_async:
            raise ValueError(f"handler for {kind!r}: cpu_bound handlers must be sync functions")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"handler for {kind!r}: timeout must be positive, got {timeout}")
        handler = Handler(kind, func, is_async, cpu_bound, timeout)
        self._handlers[kind] = handler
        return handler

    def get(self, kind: str) -> Handler | None:
        """The handler for ``kind``, or None."""
        return self._handlers.get(kind)

    def update(self, other: Registry) -> None:
        """Take every handler of ``other``; a kind registered in both is an error."""
        for h in other:
            self.add(h.kind, h.func, timeout=h.timeout, cpu_bound=h.cpu_bound)

    @property
    def kinds(self) -> list[str]:
        return sorted(self._handlers)

    @property
    def needs_process_pool(self) -> bool:
        return any(h.cpu_bound for h in self._handlers.values())

    def __iter__(self) -> Iterator[Handler]:
        return iter(list(self._handlers.values()))

    def __len__(self) -> int:
        return len(self._handlers)

    def __contains__(self, kind: object) -> bool:
        return kind in self._handlers
