"""The jobs every system gets: kind `noop`, ~100-byte JSON payloads."""

from __future__ import annotations

QUEUE = "bench"
KIND = "noop"


def payload(n: int) -> bytes:
    body = f'{{"n":{n},"pad":"'.encode()
    return body + b"x" * (98 - len(body)) + b'"}'


assert len(payload(1)) == 100
