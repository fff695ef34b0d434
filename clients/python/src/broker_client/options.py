"""Connection settings shared by the producer clients and the worker (TLS in tls.py, call retries
in call_retry.py; both importable from here)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .call_retry import CallRetry
from .tls import TlsOptions

__all__ = ["CallRetry", "ConnectionOptions", "TlsOptions", "resolve"]

DEFAULT_TARGET = "127.0.0.1:50051"
# The broker answers pings more often than every 5 s with GOAWAY; stay well above it.
MIN_KEEPALIVE_TIME = 10.0
INITIAL_RECONNECT_MS = 200
CONNECT_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class ConnectionOptions:
    """Where the broker is and how to talk to it.

    ``timeout`` is the deadline (seconds) of every call unless the call says otherwise;
    ``token`` is sent as ``authorization: Bearer <token>`` metadata on every call.
    """

    target: str = DEFAULT_TARGET
    token: str | None = None
    tls: TlsOptions | None = None
    timeout: float = 10.0
    retry: CallRetry = field(default_factory=CallRetry)
    # Pings keep idle connections through NATs and load balancers and find a dead connection
    # (a peer gone without closing it) within keepalive_time + keepalive_timeout. The broker
    # allows a ping every 5 s; more often, it closes the connection (GOAWAY too_many_pings).
    keepalive_time: float = 10.0
    keepalive_timeout: float = 5.0
    # The reconnect bound: while the broker is away the channel tries to connect at least this
    # often (gRPC's own default backs off to 2 minutes), so a worker resumes within about this
    # long of the broker answering again. Keep outage + this under lease - heartbeat interval.
    max_reconnect_backoff: float = 1.0
    # Room for a Lease of many large payloads (the gRPC default is 4 MiB).
    max_receive_message_length: int = 64 * 1024 * 1024
    metadata: tuple[tuple[str, str], ...] = ()
    channel_options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not self.target:
            raise ValueError("ConnectionOptions.target must be 'host:port'")
        if self.timeout <= 0:
            raise ValueError(f"ConnectionOptions.timeout must be positive, got {self.timeout}")
        if self.max_reconnect_backoff < 0.1:
            raise ValueError("ConnectionOptions.max_reconnect_backoff must be at least 0.1 s (gRPC's floor),"
                             f" got {self.max_reconnect_backoff}")
        if self.keepalive_time < MIN_KEEPALIVE_TIME or self.keepalive_timeout <= 0:
            raise ValueError(f"ConnectionOptions: keepalive_time must be at least {MIN_KEEPALIVE_TIME:g} s "
                             f"(the broker allows no more pings) and keepalive_timeout positive, got "
                             f"{self.keepalive_time} and {self.keepalive_timeout}")

    def call_metadata(self) -> tuple[tuple[str, str], ...]:
        """Metadata sent with every call: the bearer token and any extra pairs."""
        auth = (("authorization", f"Bearer {self.token}"),) if self.token else ()
        return auth + tuple(self.metadata)

    def grpc_options(self) -> list[tuple[str, Any]]:
        """Channel arguments for grpc (keepalive, reconnect backoff, message size, TLS name)."""
        bound = int(self.max_reconnect_backoff * 1000)
        opts: list[tuple[str, Any]] = [
            ("grpc.keepalive_time_ms", int(self.keepalive_time * 1000)),
            ("grpc.keepalive_timeout_ms", int(self.keepalive_timeout * 1000)),
            # Ping between calls too (a producer's idle connection), and without a limit on pings
            # while no data flows (a worker's long poll).
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
            # Connection attempts: the first retry soon, then growing x1.6 up to the bound.
            ("grpc.initial_reconnect_backoff_ms", min(bound, INITIAL_RECONNECT_MS)),
            ("grpc.max_reconnect_backoff_ms", bound),
            # How long one attempt (TCP and TLS handshakes) may take: gRPC's name for it is
            # min_reconnect_backoff; its default of 20 s kept a worker waiting on a broker host
            # that drops packets long after the host was back.
            ("grpc.min_reconnect_backoff_ms", max(bound, CONNECT_TIMEOUT_MS)),
            ("grpc.max_receive_message_length", self.max_receive_message_length),
        ]
        if self.tls and self.tls.server_name_override:
            opts.append(("grpc.ssl_target_name_override", self.tls.server_name_override))
        return opts + list(self.channel_options)


def resolve(
    target: str | None = None,
    options: ConnectionOptions | None = None,
    **overrides: Any,
) -> ConnectionOptions:
    """``options`` (or the defaults) with ``target`` and every non-None override applied."""
    base = options or ConnectionOptions()
    changes = {k: v for k, v in overrides.items() if v is not None}
    if target is not None:
        changes["target"] = target
    return replace(base, **changes) if changes else base
