"""Hypothesis strategies for any protobuf message, built from its descriptor, and for gRPC
metadata. Values lean towards the edges: empty, huge, negative, unknown enum numbers,
malformed ids, and a few values the broker knows (so some calls get past validation)."""

from __future__ import annotations

from hypothesis import strategies as st

from google.protobuf.descriptor import FieldDescriptor as F

INT_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1), F.TYPE_SINT32: (-(2**31), 2**31 - 1), F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1), F.TYPE_SINT64: (-(2**63), 2**63 - 1), F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1), F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1), F.TYPE_FIXED64: (0, 2**64 - 1),
}


def integers(lo: int, hi: int):
    edges = [v for v in (0, 1, -1, 2, 100, 1000, 1001, 86400, lo, hi, lo + 1, hi - 1) if lo <= v <= hi]
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def scalar(field, known_strings):
    t = field.type
    if t == F.TYPE_STRING:
        known = st.sampled_from(known_strings)
        return st.one_of(known, known, st.text(max_size=20), st.text(min_size=120, max_size=300))
    if t == F.TYPE_BYTES:
        return st.binary(max_size=64)
    if t == F.TYPE_BOOL:
        return st.booleans()
    if t == F.TYPE_DOUBLE:
        return st.floats(allow_nan=True, allow_infinity=True)
    if t == F.TYPE_FLOAT:
        return st.floats(allow_nan=True, allow_infinity=True, width=32)
    if t == F.TYPE_ENUM:
        return integers(-2, 12)  # proto3 enums are open: unknown numbers reach the server
    return integers(*INT_RANGES[t])


def message(descriptor, known_strings, depth: int = 0, base=None):
    """Strategy for a message of this descriptor. Without `base`, each field is unset or filled
    at random. With a (valid) `base`, most fields keep its value and a few are cleared, replaced
    or, for nested messages, mutated in turn: requests that fail on one field at a time."""
    fields = {field.name: _field_strategy(field, known_strings, depth) for field in descriptor.fields}
    fields = {k: v for k, v in fields.items() if v is not None}
    cls = descriptor._concrete_class

    @st.composite
    def build(draw):
        msg = cls()
        if base is not None:
            msg.CopyFrom(base)
        for name, strategy in fields.items():
            field = descriptor.fields_by_name[name]
            if base is None:
                if draw(st.booleans()):
                    _assign(msg, field, draw(strategy))
                continue
            choice = draw(st.integers(0, 9))
            if choice == 8:
                msg.ClearField(name)
            elif choice == 9:
                msg.ClearField(name)
                _assign(msg, field, draw(strategy))
            elif _nested(field) and not field.is_repeated and base.HasField(name) and choice >= 6:
                inner = draw(message(field.message_type, known_strings, depth + 1, getattr(base, name)))
                getattr(msg, name).CopyFrom(inner)
            elif _nested(field) and field.is_repeated and len(getattr(base, name)) and choice >= 6:
                items = [draw(message(field.message_type, known_strings, depth + 1, item))
                         for item in getattr(base, name)]
                msg.ClearField(name)
                _assign(msg, field, items)
        return msg

    return build()


def _nested(field) -> bool:
    return field.message_type is not None and not field.message_type.GetOptions().map_entry


def _field_strategy(field, known_strings, depth: int):
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
        return st.dictionaries(scalar(key, known_strings), scalar(value, known_strings), max_size=3)
    if field.message_type is not None:
        if depth >= 3:
            return None
        inner = message(field.message_type, known_strings, depth + 1)
        return st.lists(inner, max_size=3) if field.is_repeated else inner
    value = scalar(field, known_strings)
    return st.lists(value, max_size=4) if field.is_repeated else value


def _assign(msg, field, value) -> None:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        getattr(msg, field.name).update(value)
    elif field.message_type is not None:
        if field.is_repeated:
            for item in value:
                getattr(msg, field.name).add().CopyFrom(item)
        else:
            getattr(msg, field.name).CopyFrom(value)
    elif field.is_repeated:
        getattr(msg, field.name).extend(value)
    else:
        setattr(msg, field.name, value)


_KEY = st.from_regex(r"[a-z][a-z0-9_.-]{0,19}", fullmatch=True).filter(
    lambda k: not k.startswith("grpc-") and not k.endswith("-bin") and k not in ("te", "content-type", "user-agent"))
_VALUE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=80)


def metadata(tokens: dict[str, str]):
    """Arbitrary extra metadata, an arbitrary x-request-id, and one of: a real key of some role,
    no key, or garbage."""
    admin = tokens.get("admin")
    others = st.sampled_from([*tokens.values(), None, "garbage", "brk_0123456789abcdef_nope"])
    junk = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60)
    # Mostly the admin key, so that most calls get past authentication to the servicer.
    auth = st.one_of(st.just(admin), st.just(admin), st.just(admin), others, junk) if admin else st.one_of(others, junk)
    return st.tuples(
        st.lists(st.tuples(_KEY, _VALUE), max_size=3),
        st.one_of(st.none(), _VALUE),
        auth,
    ).map(_pairs)


def _pairs(parts) -> tuple[tuple[str, str], ...]:
    extra, rid, token = parts
    pairs = [(k, v) for k, v in extra if k not in ("authorization", "x-request-id")]
    if rid is not None:
        pairs.append(("x-request-id", rid))
    if token is not None:
        pairs.append(("authorization", f"Bearer {token}"))
    return tuple(pairs)
