"""The security settings (BROKER_AUTH*, BROKER_TLS_*, BROKER_HTTP_ALLOW_PLAINTEXT): API keys, and
the PEM files of TLS and mutual TLS, each read and checked at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from broker.infra.env import Env, SettingsError, boolean


@dataclass(frozen=True)
class SecuritySettings:
    auth: bool = False               # require API keys (bearer tokens) on every RPC
    key_cache_ttl: float = 5.0       # seconds a looked-up key is trusted: the revocation delay
    tls_cert: str | None = None      # PEM files; with both, gRPC is served over TLS
    tls_key: str | None = None
    tls_client_ca: str | None = None  # PEM CA file: require client certificates it signed (mTLS)
    # Serve the authenticated dashboard API over plain HTTP on a non-loopback address anyway
    # (behind a proxy that terminates TLS); refused at start-up otherwise.
    http_allow_plaintext: bool = False


def _pem_file(e: Env, name: str, marker: str) -> str | None:
    path = e.get(name, None)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as exc:
        raise SettingsError(f"{name}={path!r}: cannot read it ({exc.strerror})") from None
    if b"-----BEGIN " not in text or marker.encode() not in text:
        raise SettingsError(f"{name}={path!r}: not a PEM file with a {marker}")
    return path


def read_security(e: Env) -> SecuritySettings:
    d = SecuritySettings()
    security = SecuritySettings(
        auth=e.get("BROKER_AUTH", d.auth, boolean),
        key_cache_ttl=e.get("BROKER_AUTH_CACHE_TTL", d.key_cache_ttl, float),
        tls_cert=_pem_file(e, "BROKER_TLS_CERT", "CERTIFICATE"),
        tls_key=_pem_file(e, "BROKER_TLS_KEY", "PRIVATE KEY"),
        tls_client_ca=_pem_file(e, "BROKER_TLS_CLIENT_CA", "CERTIFICATE"),
        http_allow_plaintext=e.get("BROKER_HTTP_ALLOW_PLAINTEXT", d.http_allow_plaintext, boolean),
    )
    if (security.tls_cert is None) != (security.tls_key is None):
        raise SettingsError("BROKER_TLS_CERT and BROKER_TLS_KEY go together: set both or neither")
    if security.tls_client_ca and not security.tls_cert:
        raise SettingsError("BROKER_TLS_CLIENT_CA needs BROKER_TLS_CERT and BROKER_TLS_KEY (mTLS is TLS first)")
    return security
