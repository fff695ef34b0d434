"""Builds gRPC channels (sync and asyncio) from ConnectionOptions."""

from __future__ import annotations

import grpc
import grpc.aio

from .options import ConnectionOptions


def _credentials(options: ConnectionOptions) -> grpc.ChannelCredentials | None:
    tls = options.tls
    if tls is None:
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=tls.root_certificates,
        private_key=tls.private_key,
        certificate_chain=tls.certificate_chain,
    )


def sync_channel(options: ConnectionOptions) -> grpc.Channel:
    """A blocking channel: TLS when ``options.tls`` is set, plaintext otherwise."""
    creds = _credentials(options)
    if creds is None:
        return grpc.insecure_channel(options.target, options=options.grpc_options())
    return grpc.secure_channel(options.target, creds, options=options.grpc_options())


def aio_channel(options: ConnectionOptions) -> grpc.aio.Channel:
    """An asyncio channel: TLS when ``options.tls`` is set, plaintext otherwise."""
    creds = _credentials(options)
    if creds is None:
        return grpc.aio.insecure_channel(options.target, options=options.grpc_options())
    return grpc.aio.secure_channel(options.target, creds, options=options.grpc_options())
