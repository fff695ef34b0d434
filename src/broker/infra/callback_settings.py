"""The outbound callbacks' settings (BROKER_CALLBACK_*), read into a DeliveryPolicy."""

from __future__ import annotations

from broker.entities.errors import InvalidArgument
from broker.entities.retry import RetryPolicy
from broker.infra.env import Env, SettingsError
from broker.infra.env import boolean
from broker.usecases.callbacks.define import MAX_ATTEMPTS, DeliveryPolicy


def read_callbacks(e: Env) -> DeliveryPolicy:
    d = DeliveryPolicy()
    timeout = e.get("BROKER_CALLBACK_TIMEOUT", d.timeout, float)
    if not 0 < timeout <= 300:
        raise SettingsError(f"BROKER_CALLBACK_TIMEOUT={timeout:g}: must be more than 0 and at most 300 seconds")
    concurrency = e.get("BROKER_CALLBACK_CONCURRENCY", d.concurrency, int)
    if concurrency < 1:
        raise SettingsError(f"BROKER_CALLBACK_CONCURRENCY={concurrency}: must be at least 1")
    attempts = e.get("BROKER_CALLBACK_MAX_ATTEMPTS", d.max_attempts, int)
    if not 1 <= attempts <= MAX_ATTEMPTS:
        raise SettingsError(f"BROKER_CALLBACK_MAX_ATTEMPTS={attempts}: must be 1 to {MAX_ATTEMPTS}")
    initial = e.get("BROKER_CALLBACK_RETRY_INITIAL", d.retry.initial_delay, float)
    most = e.get("BROKER_CALLBACK_RETRY_MAX", max(d.retry.max_delay, initial), float)
    try:
        retry = RetryPolicy(initial_delay=initial, max_delay=most)
    except InvalidArgument:
        raise SettingsError(f"BROKER_CALLBACK_RETRY_MAX={most:g}: must be at least "
                            f"BROKER_CALLBACK_RETRY_INITIAL ({initial:g})") from None
    return DeliveryPolicy(timeout=timeout, allow_private=e.get("BROKER_CALLBACK_ALLOW_PRIVATE", False, boolean),
                          concurrency=concurrency, max_attempts=attempts, retry=retry,
                          deliver=e.get("BROKER_CALLBACK_DELIVERY", True, boolean))
