"""Just enough of Kubernetes' protobuf encoding to read the review requests kubectl sends.

kubectl's typed clients (``kubectl auth can-i``) POST built-in objects as ``application/vnd.kubernetes.protobuf``:
the magic ``k8s\\0``, then a ``runtime.Unknown`` whose field 2 holds the object's own protobuf message. A real API
server accepts that for every built-in kind; the sandbox decodes the one part it needs, a review's ``spec``, into
the JSON shape (``{"resourceAttributes": {"namespace": ..., "verb": ..., ...}}``), and answers in JSON (which the
client also accepts).
"""

from __future__ import annotations

__all__ = ["PROTOBUF", "review_spec"]

PROTOBUF = "application/vnd.kubernetes.protobuf"

_MAGIC = b"k8s\x00"
_UNKNOWN_RAW = 2  # runtime.Unknown: 1 typeMeta, 2 raw, 3 contentEncoding, 4 contentType
_OBJECT_SPEC = 2  # every review: 1 metadata, 2 spec, 3 status
# The string fields of the review specs (k8s.io/api/authorization/v1 generated.proto), by message.
_RESOURCE_ATTRIBUTES = {1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource", 6: "subresource",
                        7: "name"}
_NON_RESOURCE_ATTRIBUTES = {1: "path", 2: "verb"}
# kind -> {spec field number: (JSON name, the string fields of its message, or None for a plain string)}
_SPECS = {
    "SelfSubjectAccessReview": {1: ("resourceAttributes", _RESOURCE_ATTRIBUTES),
                                2: ("nonResourceAttributes", _NON_RESOURCE_ATTRIBUTES)},
    "SelfSubjectRulesReview": {1: ("namespace", None)},
}


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data):
            raise ValueError("truncated varint")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def _fields(data: bytes) -> dict[int, bytes]:
    """The length-delimited fields of a message (the last of a repeated one); other wire types are skipped."""
    fields: dict[int, bytes] = {}
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, at = _varint(data, at)
        elif wire == 2:
            size, at = _varint(data, at)
            if at + size > len(data):
                raise ValueError("truncated field")
            fields[number], at = data[at:at + size], at + size
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return fields


def _strings(data: bytes, names: dict[int, str]) -> dict[str, str]:
    return {names[n]: value.decode("utf-8") for n, value in _fields(data).items() if n in names}


def review_spec(body: bytes, kind: str) -> dict:
    """A review's ``spec`` as JSON from its protobuf encoding; ``ValueError`` when the body is not one."""
    if not body.startswith(_MAGIC):
        raise ValueError("not a Kubernetes protobuf message (no k8s magic)")
    raw = _fields(body[len(_MAGIC):]).get(_UNKNOWN_RAW, b"")
    spec: dict = {}
    for number, value in _fields(_fields(raw).get(_OBJECT_SPEC, b"")).items():
        if number in _SPECS[kind]:
            name, strings = _SPECS[kind][number]
            spec[name] = _strings(value, strings) if strings else value.decode("utf-8")
    return spec
