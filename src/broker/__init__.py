"""broker: a PostgreSQL-backed job broker with a gRPC API (distribution `pgjobbroker`).

`__version__` is the one version source: pyproject.toml reads it (setuptools' `attr:`), so do
the `--version` flags, the `broker_build_info` metric and the SDK (tests/unit/test_release.py
checks that they and CHANGELOG.md agree)."""

__version__ = "0.2.0"
