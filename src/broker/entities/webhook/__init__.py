"""Inbound webhooks: the signature schemes (schemes.py), a source's configuration (sources.py)
and how a delivery is refused (errors.py)."""

from broker.entities.webhook.errors import (BadSignature, BodyTooLarge, MalformedDelivery, StaleDelivery,
                                            UnknownSource)
from broker.entities.webhook.schemes import (SCHEMES, GitHub, Scheme, Signed, StandardWebhooks, Stripe,
                                             check_fresh, check_text, raw)
from broker.entities.webhook.sources import (SOURCE_NAME, DeliveryId, WebhookSource, idempotency_key,
                                             longest_key)

__all__ = [
    "SCHEMES", "SOURCE_NAME", "BadSignature", "BodyTooLarge", "DeliveryId", "GitHub", "MalformedDelivery",
    "Scheme", "Signed", "StaleDelivery", "StandardWebhooks", "Stripe", "UnknownSource", "WebhookSource",
    "check_fresh", "check_text", "idempotency_key", "longest_key", "raw",
]
