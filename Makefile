# The two commands a newcomer needs: `make run` (a broker on 127.0.0.1:50051 / :8080) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SDK := clients/python
NODE_SDK := clients/node

.PHONY: install install-test run test test-fast test-tools lint proto proto-check buf node-install node-build bench bench-quick soak bench-install faults faults-quick compose-check clean

# What running needs (the server, its embedded PostgreSQL, the SDK that `broker worker`, `broker
# stats` and friends call); `make test` adds the test tools (the `dev` extras) on top.
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(wildcard $(SDK)/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[embedded]" $(if $(wildcard $(SDK)/pyproject.toml),-e "$(SDK)",)
	touch $@

install-test: $(VENV)/.test-installed

$(VENV)/.test-installed: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[dev,embedded]" $(if $(wildcard $(SDK)/pyproject.toml),-e "$(SDK)[dev]",)
	touch $@

run: install  ## the broker; embedded PostgreSQL unless DATABASE_URL is set
	@# Large payloads need object storage: point it at any S3-compatible server (README, "Large
	@# payloads"), e.g. BROKER_S3_ENDPOINT=http://127.0.0.1:9000 BROKER_S3_BUCKET=jobs
	@# BROKER_S3_ACCESS_KEY_ID=... BROKER_S3_SECRET_ACCESS_KEY=... make run
	@$(if $(BROKER_S3_BUCKET),echo "object storage: bucket $(BROKER_S3_BUCKET) at $(or $(BROKER_S3_ENDPOINT),AWS S3)",echo "object storage: off (set BROKER_S3_BUCKET and BROKER_S3_ENDPOINT for large payloads; see README)")
	$(VENV)/bin/broker serve

test: install-test lint buf node-build test-tools  ## the whole suite against a fresh database
	$(PY) -m pytest -q

test-tools:  ## Debian's chromium (dashboard test), promtool (metrics and alert rules) and docker-compose (compose.yaml), when missing
	@# Best effort on a developer's machine (the tests that need them skip); required in CI.
	bash tools/install-chromium.sh || [ -z "$$CI" ]
	bash tools/install-promtool.sh || [ -z "$$CI" ]
	bash tools/install-compose.sh || [ -z "$$CI" ]

test-fast: install-test node-build  ## skip the slow multi-process scenarios
	$(PY) -m pytest -q -m "not slow"

lint: install-test proto-check
	$(VENV)/bin/lint-imports

proto: install-test node-install
	$(PY) tools/gen_proto.py
	bash tools/gen_node_proto.sh

proto-check: install-test node-install
	$(PY) tools/gen_proto.py --check
	bash tools/gen_node_proto.sh --check

buf: node-install  ## the contract: buf lint (STANDARD) and buf breaking against the last release
	bash tools/buf_check.sh

# The Node SDK (clients/node): npm ci from its lockfile, only when the lockfile changed.
node-install: $(NODE_SDK)/node_modules/.installed

$(NODE_SDK)/node_modules/.installed: $(NODE_SDK)/package.json $(NODE_SDK)/package-lock.json
	cd $(NODE_SDK) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

node-build: node-install  ## compile the Node SDK and its tests (tsc) into clients/node/dist
	cd $(NODE_SDK) && ./node_modules/.bin/tsc -p .

bench-install: $(VENV)/.bench-installed

$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e ".[bench]"
	touch $@

bench: bench-install node-build  ## the benchmark (~8-10 min): table on stdout, JSON in bench/results/
	$(PY) -m bench

bench-quick: bench-install node-build  ## a one-minute smoke of the benchmark
	$(PY) -m bench --quick

soak: bench-install  ## the soak (~10 min, SOAK_SECONDS=300 for 5): steady load with a short retention, table/index/dead-tuple sizes, RSS and connections sampled; JSON in bench/results/
	$(PY) -m bench.soak

faults: install-test  ## the fault scenarios (~3 min) on a private PostgreSQL: table on stdout, JSON in faults/results/
	$(PY) -m faults

faults-quick: install-test  ## their short round (~40 s; the test suite runs it too: tests/e2e/test_faults.py)
	$(PY) -m faults --quick

compose-check:  ## validate compose.yaml and lint the Dockerfile offline (images cannot be built here)
	$(PY) -m pytest -q tests/unit/test_release.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .tools test-artifacts $(NODE_SDK)/node_modules $(NODE_SDK)/dist
