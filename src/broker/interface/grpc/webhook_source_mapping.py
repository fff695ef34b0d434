"""Webhook sources: wire <-> use-case types. Secrets go in, never out."""

from __future__ import annotations

from broker.interface.grpc import mapping
from broker.usecases.webhook_sources.define import SourceSpec
from broker.v1 import webhook_source_pb2 as pb


def spec_from_wire(spec: pb.WebhookSourceSpec) -> SourceSpec:
    return SourceSpec(spec.name, spec.scheme, spec.queue, spec.kind, tuple(spec.secrets), spec.delivery_id,
                      tuple(spec.headers))


def source_to_wire(s: SourceSpec, out: pb.WebhookSource) -> pb.WebhookSource:
    spec = out.spec
    spec.name, spec.scheme, spec.queue, spec.kind, spec.delivery_id = s.name, s.scheme, s.queue, s.kind, s.delivery_id
    spec.headers.extend(s.headers)
    out.secret_count, out.declared = s.secret_count, s.declared
    mapping.set_time(out.created_at, s.created_at)
    mapping.set_time(out.updated_at, s.updated_at)
    return out


def response(kind, s: SourceSpec):
    out = kind()
    source_to_wire(s, out.source)
    return out
