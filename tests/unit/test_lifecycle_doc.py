"""docs/request-lifecycle.md must match the code: the files it names exist, the names it gives
them are defined there, and its stage list is the order build_chain builds."""

from __future__ import annotations

import pathlib
import re

from broker.entities.rate import Rate
from broker.interface.grpc.interceptors import InFlightStage, build_chain
from broker.usecases.rate_limit import RateLimiter

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "request-lifecycle.md").read_text()
INTERCEPTORS = "src/broker/interface/grpc/interceptors/"


def test_every_named_file_exists():
    paths = set(re.findall(r"`((?:src|tests|docs)/[\w/.-]+)`", DOC))
    paths |= {INTERCEPTORS + p for p in re.findall(r"`interceptors/([\w.]+\.py)`", DOC)}
    assert len(paths) > 20
    assert [p for p in paths if not (ROOT / p).exists()] == []


def test_named_code_is_defined_where_the_document_says():
    for name, path in re.findall(r"`(\w+)`, `((?:src|interceptors)/[\w/.-]+\.py)`", DOC):
        path = path if path.startswith("src/") else INTERCEPTORS + path.split("/", 1)[1]
        assert re.search(rf"^\s*(class|def|async def) {name}\b", (ROOT / path).read_text(), re.M), (name, path)


def test_the_stage_list_is_the_chain_order():
    section = DOC.split("## 4.")[1].split("## 5.")[0]
    documented = re.findall(r"^\d\. \*\*[\w ]+\*\* — `(\w+)`", section, re.M)

    async def authenticate(token):
        raise AssertionError

    chain = build_chain(authenticate=authenticate, limiter=RateLimiter({"lease": Rate(1, 1)}),
                        in_flight=InFlightStage(1, 1))
    assert documented == [type(stage).__name__ for stage in chain]
