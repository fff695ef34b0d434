"""How an inbound webhook is refused."""

from __future__ import annotations

from broker.entities.errors import BrokerError, InvalidArgument, NotFound, Unauthenticated


class UnknownSource(NotFound):
    """No webhook source has this name."""

    def __init__(self) -> None:  # the name is not echoed: it is the caller's text
        super().__init__("no webhook source has this name")


class BadSignature(Unauthenticated):
    """The webhook's signature does not match its body under any of the source's secrets."""


class MalformedDelivery(InvalidArgument):
    """A header the scheme needs is missing or not of its form (or the delivery id is absent)."""


class StaleDelivery(InvalidArgument):
    """The signed timestamp is outside the tolerance: a replay, or a sender's clock far off."""

    def __init__(self, skew: float, tolerance: float) -> None:
        side = "old" if skew < 0 else "in the future"
        super().__init__("timestamp", f"{abs(skew):.0f} s {side}; at most {tolerance:.0f} s is accepted")


class BodyTooLarge(BrokerError):
    """The body is over the webhook body limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the body is over the limit of {limit} bytes")
