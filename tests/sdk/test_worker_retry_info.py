"""The worker's loops wait as long as a rate-limited broker's RetryInfo says, not their own
backoff."""

from __future__ import annotations

import grpc

from broker_client.retry_info import encode_retry_info
from broker_client.retrying import MAX_HINT, Backoff


class Refused(grpc.RpcError):
    def __init__(self, trailers=()):
        self._trailers = trailers

    def code(self):
        return grpc.StatusCode.RESOURCE_EXHAUSTED

    def trailing_metadata(self):
        return self._trailers


def test_backoff_waits_the_retry_info_delay():
    backoff = Backoff(initial=0.1, maximum=5.0)
    hinted = Refused((("grpc-status-details-bin", encode_retry_info(2.5)),))
    assert backoff.next(hinted) == 2.5
    assert backoff.next(Refused((("grpc-status-details-bin", encode_retry_info(3600)),))) == MAX_HINT
    assert backoff.failures == 2


def test_backoff_without_a_hint_is_exponential():
    backoff = Backoff(initial=0.1, maximum=5.0)
    delays = [backoff.next(Refused()) for _ in range(3)] + [backoff.next()]
    assert all(0.05 <= d <= 0.1 * 2 ** i for i, d in enumerate(delays))
