"""`broker stats` and `broker dlq` before any call: without the SDK, and with connection flags
the SDK refuses. (The commands against a broker: tests/e2e/test_cli_ops.py, test_cli_secured.py.)"""

from __future__ import annotations

import sys

import pytest

from broker import cli


def test_without_the_sdk_the_operator_commands_say_how_to_get_it(monkeypatch, capsys):
    for name in [m for m in sys.modules if m == "broker_client" or m.startswith("broker_client.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "broker_client", None)  # import fails as when not installed
    assert cli.main(["stats"]) == 2
    assert "pip install ./clients/python" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--tls-ca", "/nonexistent/ca.pem"], "No such file or directory: '/nonexistent/ca.pem'"),
    (["--tls-cert", __file__], "certificate_chain and private_key go together"),
])
def test_bad_connection_flags_are_one_line_and_exit_2(flags, message, capsys):
    assert cli.main(["dlq", "list", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("broker: ") and message in err and "Traceback" not in err
