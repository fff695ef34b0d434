"""The grpc.aio server: interceptors, services, health and reflection."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from broker.interface.grpc.admin_service import AdminService, AdminUseCases
from broker.interface.grpc.job_service import JobService, JobUseCases
from broker.interface.grpc.status import ErrorInterceptor
from broker.v1 import admin_service_pb2, admin_service_pb2_grpc, job_service_pb2, job_service_pb2_grpc

SERVICES = (
    job_service_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
    admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
)
# Payloads may be 1 MiB each and batches 1,000 jobs: allow large messages.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class Health:
    """The standard health service, tied to the database by the health loop."""

    def __init__(self) -> None:
        self.servicer = HealthServicer()
        self.serving = False

    async def set(self, serving: bool) -> None:
        self.serving = serving
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", *SERVICES):
            await self.servicer.set(name, status)

    async def shutdown(self) -> None:
        self.serving = False
        await self.servicer.enter_graceful_shutdown()


def build_server(jobs: JobUseCases, admin: AdminUseCases, health: Health, interceptors=(),
                 reflection_enabled: bool = True) -> grpc.aio.Server:
    """`interceptors` run outermost first, before the error mapping."""
    server = grpc.aio.server(
        interceptors=[*interceptors, ErrorInterceptor()],
        options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                 ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                 ("grpc.so_reuseport", 0),
                 # Clients ping every 30 s to keep long polls alive through proxies: allow it
                 # (the default answers pings more often than every 5 min with GOAWAY).
                 ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                 ("grpc.keepalive_permit_without_calls", 1)],
    )
    job_service_pb2_grpc.add_JobServiceServicer_to_server(JobService(jobs), server)
    admin_service_pb2_grpc.add_AdminServiceServicer_to_server(AdminService(admin), server)
    health_pb2_grpc.add_HealthServicer_to_server(health.servicer, server)
    if reflection_enabled:
        reflection.enable_server_reflection(
            (*SERVICES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME), server)
    return server
