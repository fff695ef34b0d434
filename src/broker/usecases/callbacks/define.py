"""A subscription as asked for (SubscriptionSpec), checked field by field into a Subscription."""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.entities.callback import Subscription, check_events, check_kind, check_secrets, check_url
from broker.entities.errors import InvalidArgument
from broker.entities.queue import Limits
from broker.entities.retry import RetryPolicy
from broker.entities.schedule import check_name

MAX_ATTEMPTS = 1000


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    """The fields of CreateSubscription and UpdateSubscription. Empty `secrets` on an update keep
    the secrets the subscription has; `max_attempts` 0 takes the default."""

    name: str
    url: str
    events: tuple[str, ...]
    secrets: tuple[str, ...] = ()
    queue: str | None = None
    kind: str | None = None
    max_attempts: int = 0


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """The settings of deliveries (BROKER_CALLBACK_*): the defaults a new subscription takes, the
    request timeout, whether private addresses may be targets, and how many go out at once."""

    timeout: float = 10.0
    allow_private: bool = False
    concurrency: int = 16
    max_attempts: int = 12
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(initial_delay=5.0, max_delay=3600.0))
    deliver: bool = True  # this broker runs the delivery worker (off: other replicas deliver)


class Definitions:
    """Checks a spec against the rules (bad input: InvalidArgument naming the field)."""

    def __init__(self, limits: Limits, policy: DeliveryPolicy) -> None:
        self._limits, self._policy = limits, policy

    def check(self, spec: SubscriptionSpec, secrets_required: bool = True) -> Subscription:
        check_name(spec.name)
        url = check_url(spec.url, self._policy.allow_private)
        events = check_events(spec.events)
        secrets = check_secrets(spec.secrets) if spec.secrets or secrets_required else ()
        queue = self._limits.check_queue_name(spec.queue, "queue") if spec.queue else None
        if not 0 <= spec.max_attempts <= MAX_ATTEMPTS:
            raise InvalidArgument("max_attempts", f"{spec.max_attempts} is outside 1 to {MAX_ATTEMPTS} (0: the default)")
        return Subscription(spec.name, url, events, secrets, queue, check_kind(spec.kind),
                            spec.max_attempts or self._policy.max_attempts, self._policy.retry)
