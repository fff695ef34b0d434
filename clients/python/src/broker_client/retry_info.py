"""Reads the rich error details from the ``grpc-status-details-bin`` trailer: google.rpc.RetryInfo
(how long to wait), BadRequest (the fields at fault) and PreconditionFailure (what is in the way).

The SDK depends on protobuf only, so it declares the google.rpc messages it needs in a private
descriptor pool (no clash with googleapis-common-protos when that is installed too).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, duration_pb2, message_factory

DETAILS_KEY = "grpc-status-details-bin"
RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
PRECONDITION_FAILURE_TYPE = "type.googleapis.com/google.rpc.PreconditionFailure"


def _build_pool() -> tuple[Any, Any]:
    pool = descriptor_pool.DescriptorPool()
    for dep in (any_pb2, duration_pb2):
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(dep.DESCRIPTOR.serialized_pb))
    f = descriptor_pb2.FileDescriptorProto(
        name="broker_client/google_rpc_subset.proto",
        package="google.rpc",
        syntax="proto3",
        dependency=["google/protobuf/any.proto", "google/protobuf/duration.proto"],
    )
    status = f.message_type.add(name="Status")
    fdp = descriptor_pb2.FieldDescriptorProto
    status.field.add(name="code", number=1, type=fdp.TYPE_INT32, label=fdp.LABEL_OPTIONAL)
    status.field.add(name="message", number=2, type=fdp.TYPE_STRING, label=fdp.LABEL_OPTIONAL)
    status.field.add(name="details", number=3, type=fdp.TYPE_MESSAGE, label=fdp.LABEL_REPEATED,
                     type_name=".google.protobuf.Any")
    retry = f.message_type.add(name="RetryInfo")
    retry.field.add(name="retry_delay", number=1, type=fdp.TYPE_MESSAGE, label=fdp.LABEL_OPTIONAL,
                    type_name=".google.protobuf.Duration")
    _add_violations(f)
    pool.Add(f)
    get = message_factory.GetMessageClass
    return tuple(get(pool.FindMessageTypeByName(f"google.rpc.{name}"))
                 for name in ("Status", "RetryInfo", "BadRequest", "PreconditionFailure"))


def _add_violations(f: Any) -> None:
    """BadRequest {FieldViolation {field, description}} and PreconditionFailure {Violation {type,
    subject, description}}, with google.rpc's field numbers (the fields left out are skipped)."""
    fdp = descriptor_pb2.FieldDescriptorProto
    for name, nested, fields in (("BadRequest", "FieldViolation", ("field", "description")),
                                 ("PreconditionFailure", "Violation", ("type", "subject", "description"))):
        message = f.message_type.add(name=name)
        inner = message.nested_type.add(name=nested)
        for number, field in enumerate(fields, start=1):
            inner.field.add(name=field, number=number, type=fdp.TYPE_STRING, label=fdp.LABEL_OPTIONAL)
        message.field.add(name="field_violations" if name == "BadRequest" else "violations", number=1,
                          type=fdp.TYPE_MESSAGE, label=fdp.LABEL_REPEATED,
                          type_name=f".google.rpc.{name}.{nested}")


Status, RetryInfo, BadRequest, PreconditionFailure = _build_pool()


def status_details(trailing_metadata: Iterable[Any] | None) -> list[Any]:
    """The google.rpc.Status details (Any messages) of the trailer; [] without one, or when it
    does not parse (a malformed trailer is no reason to fail the caller)."""
    for key, value in trailing_metadata or ():
        if key == DETAILS_KEY and isinstance(value, bytes):
            try:
                return list(Status.FromString(value).details)
            except Exception:
                return []
    return []


def retry_delay(trailing_metadata: Iterable[Any] | None) -> float | None:
    """Seconds the server asked us to wait (RetryInfo.retry_delay), or None when it did not say.
    ``trailing_metadata`` holds (key, value) pairs, as `call.trailing_metadata()` returns."""
    for key, value in trailing_metadata or ():
        if key != DETAILS_KEY or not isinstance(value, bytes):
            continue
        try:
            status = Status.FromString(value)
        except Exception:  # a malformed trailer is no reason to fail the caller
            return None
        for detail in status.details:
            if detail.type_url == RETRY_INFO_TYPE:
                delay = RetryInfo.FromString(detail.value).retry_delay
                return max(0.0, float(delay.seconds + delay.nanos / 1e9))
    return None


def encode_retry_info(delay: float, code: int = 8, message: str = "") -> bytes:
    """A serialized google.rpc.Status carrying RetryInfo (for fakes and tests)."""
    info = RetryInfo()
    info.retry_delay.FromNanoseconds(int(delay * 1e9))
    status = Status(code=code, message=message)
    detail = status.details.add()
    detail.type_url = RETRY_INFO_TYPE
    detail.value = info.SerializeToString()
    return bytes(status.SerializeToString())
