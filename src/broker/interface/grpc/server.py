"""The grpc.aio server: interceptors, services, health and reflection."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from broker.interface.grpc.admin_service import AdminService, AdminUseCases
from broker.interface.grpc.job_service import JobService, JobUseCases
from broker.interface.grpc.interceptors.unary import PipelineInterceptor
from broker.interface.grpc.session import WorkerSessions
from broker.v1 import admin_service_pb2, admin_service_pb2_grpc, job_service_pb2, job_service_pb2_grpc

SERVICES = (
    job_service_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
    admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
)
# Payloads may be 1 MiB each and batches 1,000 jobs: allow large messages.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# gRPC core queues the calls that arrived before the server asked for the next one. Past
# grpc.server.max_pending_requests (default 1,000) it cancels some of them at random, past its
# hard limit (3,000) all: the client sees CANCELLED and the broker never hears of the call (a
# burst of 5,000 unary calls lost ~40 % that way). Both limits are set to one high value, so
# that the broker, which takes calls off that queue quickly, decides: the in-flight stage
# (interceptors/in_flight.py) answers the excess with RESOURCE_EXHAUSTED and RetryInfo. Each
# queued call costs core about 14 KiB; past this many a burst is still cancelled by core.
MIN_PENDING_CALLS = 20_000


class _HealthServicer(HealthServicer):
    """grpcio-health-checking's servicer, plus the List method it leaves unimplemented."""

    def __init__(self, statuses: Callable[[], dict[str, int]]) -> None:
        super().__init__()
        self._statuses = statuses

    async def List(self, request: health_pb2.HealthListRequest, context) -> health_pb2.HealthListResponse:
        response = health_pb2.HealthListResponse()
        for name, status in self._statuses().items():
            response.statuses[name].status = status
        return response


class Health:
    """The standard health service, tied to the database by the health loop."""

    def __init__(self) -> None:
        # What the servicer was told, for List: its own start (SERVING for ""), then set's.
        self._statuses = {"": health_pb2.HealthCheckResponse.SERVING}
        self.servicer = _HealthServicer(lambda: dict(self._statuses))
        self.serving = False
        self.shutting_down = False
        self._on_shutdown: list[Callable[[], None]] = []

    def on_shutdown(self, callback: Callable[[], None]) -> None:
        """Call `callback` (synchronous) when shutdown begins."""
        self._on_shutdown.append(callback)

    async def set(self, serving: bool) -> None:
        if self.shutting_down:  # the health loop must not bring a stopping broker back
            return
        self.serving = serving
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", *SERVICES):
            self._statuses[name] = status
            await self.servicer.set(name, status)

    def begin_shutdown(self) -> None:
        """NOT_SERVING for good, at once (the HTTP /healthz reads `serving`); worker sessions
        stop taking calls."""
        self.shutting_down, self.serving = True, False
        for callback in self._on_shutdown:
            callback()

    async def shutdown(self) -> None:
        self.begin_shutdown()
        self._statuses = dict.fromkeys(self._statuses, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.servicer.enter_graceful_shutdown()


def pending_calls(max_in_flight: int, max_long_polls: int) -> int:
    """How many calls gRPC core may hold before the broker takes them: well above the bounds."""
    return max(MIN_PENDING_CALLS, 4 * (max_in_flight + max_long_polls))


def build_server(jobs: JobUseCases, admin: AdminUseCases, health: Health, interceptors=(),
                 reflection_enabled: bool = True, pending: int = MIN_PENDING_CALLS) -> grpc.aio.Server:
    """`interceptors`, outermost first: grpc.aio ServerInterceptors, if any, then the request
    pipeline's stages (interceptors.build_chain), which run for unary calls (PipelineInterceptor)
    and for each call on a worker session alike; `pending`: the calls gRPC core may queue before
    the server takes them (pending_calls)."""
    outer = [i for i in interceptors if isinstance(i, grpc.aio.ServerInterceptor)]
    pipeline = PipelineInterceptor([i for i in interceptors if not isinstance(i, grpc.aio.ServerInterceptor)])
    server = grpc.aio.server(
        interceptors=[*outer, pipeline],
        options=[("grpc.server.max_pending_requests", pending),
                 ("grpc.server.max_pending_requests_hard_limit", pending),
                 ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                 ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                 ("grpc.so_reuseport", 0),
                 # The SDK pings every 10 s, also between calls, to keep long polls alive through
                 # proxies and find dead connections well within a lease: allow a ping every 5 s
                 # (the default answers pings more often than every 5 min with GOAWAY).
                 ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
                 ("grpc.keepalive_permit_without_calls", 1)],
    )
    sessions = WorkerSessions(pipeline.run)
    job_service_pb2_grpc.add_JobServiceServicer_to_server(JobService(jobs, sessions), server)
    health.on_shutdown(sessions.close)
    admin_service_pb2_grpc.add_AdminServiceServicer_to_server(AdminService(admin), server)
    health_pb2_grpc.add_HealthServicer_to_server(health.servicer, server)
    if reflection_enabled:
        reflection.enable_server_reflection(
            (*SERVICES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME), server)
    return server


def listen(server: grpc.aio.Server, address: str, cert: bytes | None = None, key: bytes | None = None,
           client_ca: bytes | None = None) -> int:
    """Bind `address`: plaintext, TLS with `cert` and `key` (PEM), and mutual TLS when
    `client_ca` is given (clients must present a certificate it signed). Returns the port."""
    if cert is None:
        port = server.add_insecure_port(address)
    else:
        credentials = grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None)
        port = server.add_secure_port(address, credentials)
    if port == 0:
        raise OSError(f"cannot listen for gRPC on {address}")
    return port
