"""Throwaway certificates for the TLS tests, made with the openssl command line tool: a CA,
a server certificate for 127.0.0.1/localhost, a client certificate, and a stranger's CA."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Pki:
    ca: pathlib.Path
    server_cert: pathlib.Path
    server_key: pathlib.Path
    client_cert: pathlib.Path
    client_key: pathlib.Path
    other_ca: pathlib.Path
    other_cert: pathlib.Path
    other_key: pathlib.Path


def available() -> bool:
    return shutil.which("openssl") is not None


def _run(*args: str, cwd: pathlib.Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(name: str, d: pathlib.Path) -> None:
    _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
         "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=d)


def _signed(name: str, ca: str, d: pathlib.Path, san: str | None = None) -> None:
    _run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
         "-out", f"{name}.csr", cwd=d)
    ext = d / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    _run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
         "-days", "2", "-extfile", ext.name, "-out", f"{name}.pem", cwd=d)


def make(d: pathlib.Path) -> Pki:
    _ca("ca", d)
    _ca("other-ca", d)
    _signed("server", "ca", d, "IP:127.0.0.1,DNS:localhost")
    _signed("client", "ca", d)
    _signed("other", "other-ca", d)
    return Pki(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key",
               d / "other-ca.pem", d / "other.pem", d / "other.key")
