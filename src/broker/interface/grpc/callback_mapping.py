"""Callback subscriptions: wire <-> use-case types. Secrets go in, never out."""

from __future__ import annotations

from broker.entities.callback import Subscription
from broker.interface.grpc import mapping
from broker.usecases.callbacks.define import SubscriptionSpec
from broker.v1 import callback_pb2 as pb


def spec_from_wire(spec: pb.SubscriptionSpec) -> SubscriptionSpec:
    return SubscriptionSpec(name=spec.name, url=spec.url, events=tuple(spec.events), secrets=tuple(spec.secrets),
                            queue=spec.queue or None, kind=spec.kind or None, max_attempts=spec.max_attempts)


def subscription_to_wire(s: Subscription, out: pb.Subscription) -> pb.Subscription:
    spec = out.spec
    spec.name, spec.url, spec.queue, spec.kind = s.name, s.url, s.queue or "", s.kind or ""
    spec.events.extend(e.value for e in s.events)
    spec.max_attempts, out.secret_count = s.max_attempts, len(s.secrets)
    mapping.set_time(out.created_at, s.created_at)
    mapping.set_time(out.updated_at, s.updated_at)
    return out


def response(kind, s: Subscription):
    """`kind` (a Create/Update/GetSubscriptionResponse) holding `s`."""
    out = kind()
    subscription_to_wire(s, out.subscription)
    return out
