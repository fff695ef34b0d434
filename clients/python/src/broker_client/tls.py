"""TLS for the SDK's channels (part of ConnectionOptions)."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass


@dataclass(frozen=True)
class TlsOptions:
    """TLS for the channel; add a client certificate and key for mutual TLS.

    All fields are PEM bytes. ``root_certificates=None`` uses the system roots.
    """

    root_certificates: bytes | None = None
    certificate_chain: bytes | None = None
    private_key: bytes | None = None
    # Checks the server certificate against this name instead of the target's host.
    server_name_override: str | None = None

    def __post_init__(self) -> None:
        if (self.certificate_chain is None) != (self.private_key is None):
            raise ValueError("TlsOptions: certificate_chain and private_key go together (mTLS needs both)")

    @classmethod
    def from_files(
        cls,
        ca: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        server_name_override: str | None = None,
    ) -> TlsOptions:
        """Read the PEM files at the given paths (each optional)."""

        def read(path: str | None) -> bytes | None:
            return pathlib.Path(path).read_bytes() if path else None

        return cls(read(ca), read(cert), read(key), server_name_override)
