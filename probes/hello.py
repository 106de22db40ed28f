"""A ClientHello prober: whether a server accepts a protocol version or a cipher suite, judged from its first answer.

The pyOpenSSL probe (:mod:`probes.tls`) can only offer what the bundled OpenSSL still has: no SSLv3, EXPORT, RC4,
DES or 3DES. But whether a version or suite is *accepted* needs no cryptography: the server says so in its
ServerHello (or refuses with an alert) before any key is used. So this module writes the ClientHello itself, for
any version from SSLv3 to TLS 1.3 and any list of suite codes (:mod:`probes.cipher_suites` names them), reads the
answer up to the ServerHello, and closes. sslyze does the same job with its own legacy OpenSSL build (nassl),
testssl.sh with hand-built ClientHellos; this is the second way, in Python.

Why hand-written: the job is two messages of the TLS grammar (RFC 5246 7.4.1, RFC 8446 4.1.2-4.1.4) and the
record layer around them, and the point is to decide exactly what counts as an answer. tlslite-ng and scapy
carry whole TLS stacks (their own crypto, state machines and exception types) to get there. X25519 key shares
come from ``cryptography``.

What a real client checks, this one checks too: record framing and lengths, a ServerHello reassembled across
records, a version, suite, compression method or extension the server picks that was not offered, a
renegotiation_info that is not empty, a TLS 1.3 ServerHello that does not echo the session id or picks a key
share we did not send, the TLS 1.3 downgrade sentinel. Any of those is a *protocol error*, never an acceptance.
A HelloRetryRequest is an acceptance of the version and suite it names.

    build_client_hello(ClientHello) -> SentHello         the bytes, and what the answer is checked against
    AnswerReader(sent).feed(bytes) -> ServerAnswer|None  pure: classifies the server's bytes
    send_hello(address or socket, ClientHello) -> HelloResult      one connection
    accepted_suites / accepted_versions -> SuiteScan / VersionScan  as few connections as possible
    check_fallback_scsv / check_renegotiation_info / check_compression

Errors (the parser's own; :class:`AnswerReader` turns them into results and never raises):

    ProbeError
    └── TLSDecodeError          the server's bytes break the TLS grammar (carries the ProtocolFault)
        └── NotTLSError         the bytes are not TLS records at all (an HTTP response, garbage)

Deadlines: ``timeouts.connect`` bounds the TCP connect, ``timeouts.handshake`` the whole exchange from sending the
ClientHello to the complete ServerHello (``timeouts.read`` is not used: nothing is read after the ServerHello).
The scans stop after ``max_rounds`` connections and when a :class:`~probes.timeouts.Budget` is spent.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
import struct
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from probes.cipher_suites import (
    FALLBACK_SCSV, RENEGOTIATION_INFO_SCSV, CipherSuite, can_negotiate, cipher_suite, is_signalling, suite_name,
    suites_for_version,
)
from probes.errors import BudgetExhausted, ProbeError
from probes.timeouts import DEFAULT_TIMEOUTS, Budget, Timeouts
from probes.tls import Dial, TLSVersion, alert_name, close_abortively

__all__ = [
    "TLSDecodeError",
    "NotTLSError",
    "RenegotiationSignal",
    "ClientHello",
    "SentHello",
    "Record",
    "RecordReader",
    "AnswerKind",
    "ProtocolFault",
    "AlertLevel",
    "Alert",
    "ServerHello",
    "ServerAnswer",
    "AnswerReader",
    "HelloResult",
    "Verdict",
    "Attempt",
    "SuiteScan",
    "VersionScan",
    "FallbackVerdict",
    "FallbackCheck",
    "RenegotiationCheck",
    "CompressionCheck",
    "DEFAULT_GROUPS",
    "DEFAULT_SIGNATURE_ALGORITHMS",
    "DEFAULT_MAX_ROUNDS",
    "MAX_RECORD_LENGTH",
    "VERSION_CODES",
    "encode_records",
    "encode_handshake",
    "build_client_hello",
    "parse_server_hello",
    "send_hello",
    "judge",
    "accepted_suites",
    "accepted_versions",
    "check_fallback_scsv",
    "check_renegotiation_info",
    "check_compression",
]

# --- wire constants -------------------------------------------------------------------------------------------

VERSION_CODES: dict[TLSVersion, int] = {
    TLSVersion.SSLv3: 0x0300, TLSVersion.TLSv1: 0x0301, TLSVersion.TLSv1_1: 0x0302, TLSVersion.TLSv1_2: 0x0303,
    TLSVersion.TLSv1_3: 0x0304,
}
_VERSION_OF = {code: version for version, code in VERSION_CODES.items()}
_ORDER = list(TLSVersion)

_CHANGE_CIPHER_SPEC, _ALERT, _HANDSHAKE, _APPLICATION_DATA, _HEARTBEAT = 20, 21, 22, 23, 24
_CONTENT_TYPES = {_CHANGE_CIPHER_SPEC: "ChangeCipherSpec", _ALERT: "alert", _HANDSHAKE: "handshake",
                  _APPLICATION_DATA: "application data", _HEARTBEAT: "heartbeat"}
_CLIENT_HELLO, _SERVER_HELLO = 1, 2
_HANDSHAKE_NAMES = {0: "HelloRequest", 1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket",
                    8: "EncryptedExtensions", 11: "Certificate", 12: "ServerKeyExchange", 13: "CertificateRequest",
                    14: "ServerHelloDone", 15: "CertificateVerify", 16: "ClientKeyExchange", 20: "Finished"}

_SERVER_NAME, _SUPPORTED_GROUPS, _EC_POINT_FORMATS, _SIGNATURE_ALGORITHMS, _ALPN = 0, 10, 11, 13, 16
_EXTENDED_MASTER_SECRET, _PRE_SHARED_KEY, _SUPPORTED_VERSIONS, _COOKIE, _KEY_SHARE = 23, 41, 43, 44, 51
_RENEGOTIATION_INFO = 0xFF01
_EXTENSION_NAMES = {
    _SERVER_NAME: "server_name", _SUPPORTED_GROUPS: "supported_groups", _EC_POINT_FORMATS: "ec_point_formats",
    _SIGNATURE_ALGORITHMS: "signature_algorithms", _ALPN: "application_layer_protocol_negotiation",
    _EXTENDED_MASTER_SECRET: "extended_master_secret", 35: "session_ticket", _PRE_SHARED_KEY: "pre_shared_key",
    _SUPPORTED_VERSIONS: "supported_versions", _COOKIE: "cookie", _KEY_SHARE: "key_share",
    _RENEGOTIATION_INFO: "renegotiation_info", 5: "status_request", 18: "signed_certificate_timestamp",
    21: "padding", 22: "encrypt_then_mac",
}
# The only extensions a TLS 1.3 ServerHello (and, with cookie, a HelloRetryRequest) may carry (RFC 8446 4.2).
_TLS13_SERVER_HELLO_EXTENSIONS = frozenset({_SUPPORTED_VERSIONS, _KEY_SHARE, _PRE_SHARED_KEY})
_TLS13_RETRY_EXTENSIONS = frozenset({_SUPPORTED_VERSIONS, _KEY_SHARE, _COOKIE})

_X25519 = 0x001D
_X25519_KEY_LENGTH = 32
_GROUP_NAMES = {0x0017: "secp256r1", 0x0018: "secp384r1", 0x0019: "secp521r1", _X25519: "x25519", 0x001E: "x448",
                0x0100: "ffdhe2048", 0x0101: "ffdhe3072", 0x0102: "ffdhe4096"}

# RFC 8446 4.1.3: a HelloRetryRequest is a ServerHello with this random; a TLS 1.3 server that negotiates a lower
# version ends its random with a downgrade sentinel.
_RETRY_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()
_DOWNGRADE_SENTINELS = (b"DOWNGRD\x01", b"DOWNGRD\x00")

# Offer every common group, so that a server with any ECDHE or FFDHE configuration can pick its suites; x25519
# first, the one group we send a TLS 1.3 key share for.
DEFAULT_GROUPS: tuple[int, ...] = (_X25519, 0x0017, 0x0018, 0x0019, 0x001E, 0x0100, 0x0101)
# Every signature scheme a server certificate may need, SHA-1 and DSA included: the probe asks whether a version
# or suite is accepted, so the certificate's signature must never be the reason for a refusal.
DEFAULT_SIGNATURE_ALGORITHMS: tuple[int, ...] = (
    0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806, 0x0809, 0x080A, 0x080B,
    0x0401, 0x0501, 0x0601, 0x0203, 0x0201, 0x0402, 0x0202,
)
# RFC 8446 5.1: a plaintext record carries at most 2^14 bytes; a larger one is record_overflow.
MAX_RECORD_LENGTH = 2 ** 14
# A ServerHello is a few hundred bytes; with every extension a server could send it stays far below this.
_MAX_SERVER_HELLO = 2 ** 16
# Warning alerts tolerated before the ServerHello (OpenSSL's limit is 5, then it aborts).
_MAX_WARNING_ALERTS = 4
_READ_CHUNK = 16384
# The scans stop after this many connections: a server accepting more suites than this at one version is
# already beyond any profile, and each round costs a connection (through a port-forward, tens of milliseconds).
DEFAULT_MAX_ROUNDS = 64
# Bytes of a non-TLS answer kept, to quote its start in the detail.
_EXCERPT = 48


# --- errors ---------------------------------------------------------------------------------------------------


class TLSDecodeError(ProbeError):
    """The server's bytes break the TLS grammar; ``fault`` says how."""

    def __init__(self, fault: "ProtocolFault", message: str) -> None:
        self.fault = fault
        super().__init__(message)


class NotTLSError(TLSDecodeError):
    """The server's bytes are not TLS records at all (an HTTP response, an SSLv2 header, garbage)."""

    def __init__(self, message: str) -> None:
        super().__init__(ProtocolFault.MALFORMED, message)


# --- records --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One TLS record.

    Attributes:
        content_type: 20 ChangeCipherSpec, 21 alert, 22 handshake, 23 application data, 24 heartbeat.
        version: the record-layer version (e.g. 0x0301).
        payload: the fragment (plaintext: nothing here is encrypted).
    """

    content_type: int
    version: int
    payload: bytes


def _u8(n: int) -> bytes:
    return n.to_bytes(1, "big")


def _u16(n: int) -> bytes:
    return n.to_bytes(2, "big")


def _vector(data: bytes, length_bytes: int) -> bytes:
    if len(data) >= 1 << (8 * length_bytes):
        raise ValueError(f"{len(data)} bytes do not fit a vector with a {length_bytes}-byte length")
    return len(data).to_bytes(length_bytes, "big") + data


def encode_records(content_type: int, version: int, payload: bytes) -> bytes:
    """``payload`` as records of at most :data:`MAX_RECORD_LENGTH` bytes (one empty record for an empty payload)."""
    chunks = [payload[i:i + MAX_RECORD_LENGTH] for i in range(0, len(payload), MAX_RECORD_LENGTH)] or [b""]
    return b"".join(struct.pack("!BHH", content_type, version, len(chunk)) + chunk for chunk in chunks)


def encode_handshake(message_type: int, body: bytes) -> bytes:
    """A handshake message: type, 24-bit length, body."""
    return _u8(message_type) + _vector(body, 3)


class RecordReader:
    """Splits a byte stream into records, checking each header as its bytes arrive: a stream that does not start
    like TLS raises :class:`NotTLSError` at its first wrong byte; a later bad header or an oversized record raises
    :class:`TLSDecodeError`."""

    def __init__(self, max_length: int = MAX_RECORD_LENGTH) -> None:
        self.max_length = max_length
        self._buffer = bytearray()
        self._records_read = 0

    @property
    def pending(self) -> int:
        """Bytes of a record not yet complete."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Record]:
        self._buffer += data
        records = []
        while True:
            self._check_header()
            if len(self._buffer) < 5:
                return records
            content_type, version, length = struct.unpack_from("!BHH", self._buffer)
            if len(self._buffer) < 5 + length:
                return records
            records.append(Record(content_type, version, bytes(self._buffer[5:5 + length])))
            del self._buffer[:5 + length]
            self._records_read += 1

    def _check_header(self) -> None:
        head = self._buffer[:5]
        first = self._records_read == 0
        if head and head[0] not in _CONTENT_TYPES:
            raise _bad_header(first, f"a record of unknown content type {head[0]}")
        if len(head) >= 2 and head[1] != 3:
            raise _bad_header(first, f"a record with version {head[1]}.{head[2] if len(head) > 2 else '?'}")
        if len(head) == 5:
            length = int.from_bytes(head[3:5], "big")
            if length > self.max_length:
                raise TLSDecodeError(ProtocolFault.RECORD_OVERFLOW,
                                     f"a record of {length} bytes (at most {self.max_length} are allowed)")


def _bad_header(first: bool, what: str) -> TLSDecodeError:
    return NotTLSError(what) if first else TLSDecodeError(ProtocolFault.MALFORMED, what)


# --- the ClientHello ------------------------------------------------------------------------------------------


class RenegotiationSignal(str, Enum):
    """How the ClientHello says it supports secure renegotiation (RFC 5746 3.3)."""

    EXTENSION = "extension"  # an empty renegotiation_info extension
    SCSV = "scsv"  # TLS_EMPTY_RENEGOTIATION_INFO_SCSV in the suite list
    NONE = "none"  # neither, as a client from before RFC 5746


def _check_codes(values: Iterable[int], what: str, limit: int = 0xFFFF) -> tuple[int, ...]:
    values = tuple(values)
    for value in values:
        if not isinstance(value, int) or not 0 <= value <= limit:
            raise ValueError(f"{what} must be numbers from 0 to {limit:#x}, given: {value!r}")
    return values


@dataclass(frozen=True)
class ClientHello:
    """What one ClientHello offers.

    Attributes:
        version: the highest version offered. Up to TLS 1.2 it is the hello's client_version. TLS 1.3 is offered
            in supported_versions, with client_version 0x0303 and record version 0x0301, as real clients send.
        suites: cipher-suite codes, in preference order (the signals below are appended when asked for); not in
            repr (hundreds of numbers): :meth:`describe` counts them.
        server_name: the SNI, sent whenever a name is given (an IP literal is never sent, per RFC 6066).
        lowest: the lowest version this client accepts (None: ``version`` only, and stored as ``version``). A
            ServerHello below it is a protocol error; a TLS 1.3 hello lists every version from ``version`` down
            to it in supported_versions.
        groups: supported_groups, by code; x25519 in it also gets a TLS 1.3 key share (a real public key).
        signature_algorithms: sent when the hello offers TLS 1.2 or 1.3.
        renegotiation: the RFC 5746 signal: the extension (not in a TLS 1.3-only hello), the SCSV, or none.
        fallback_scsv: append TLS_FALLBACK_SCSV (RFC 7507): "this connection is a fallback".
        compression_methods: offered compression methods, e.g. (1, 0) for DEFLATE, then none.
        point_formats: ec_point_formats (0: uncompressed); () leaves the extension out. Not in a TLS 1.3-only hello.
        alpn: ALPN protocol names; () leaves the extension out.
        extended_master_secret: send the empty extended_master_secret extension (RFC 7627) in TLS 1.0-1.2 hellos.
        extra_extensions: further (type, body) extensions, appended as given.
    """

    version: TLSVersion
    suites: tuple[int, ...] = field(repr=False)
    server_name: str | None = None
    lowest: TLSVersion | None = None
    groups: tuple[int, ...] = field(default=DEFAULT_GROUPS, repr=False)
    signature_algorithms: tuple[int, ...] = field(default=DEFAULT_SIGNATURE_ALGORITHMS, repr=False)
    renegotiation: RenegotiationSignal = RenegotiationSignal.EXTENSION
    fallback_scsv: bool = False
    compression_methods: tuple[int, ...] = (0,)
    point_formats: tuple[int, ...] = (0,)
    alpn: tuple[str, ...] = ()
    extended_master_secret: bool = True
    extra_extensions: tuple[tuple[int, bytes], ...] = ()

    def __post_init__(self) -> None:
        version = TLSVersion(self.version)
        lowest = TLSVersion(self.lowest) if self.lowest is not None else version
        if _ORDER.index(lowest) > _ORDER.index(version):
            raise ValueError(f"the lowest version offered ({lowest.value}) is above the highest ({version.value})")
        suites = _check_codes(self.suites, "cipher suites")
        if not suites or len(suites) > 0x7FFF:
            raise ValueError(f"a ClientHello offers 1 to 32767 cipher suites, given: {len(suites)}")
        compression = _check_codes(self.compression_methods, "compression methods", 0xFF)
        if not compression:
            raise ValueError("a ClientHello offers at least one compression method (0: none)")
        if self.server_name is not None and not self.server_name:
            raise ValueError("server_name is a host name or None, given: ''")
        for name in self.alpn:
            if not 0 < len(name.encode()) < 256:
                raise ValueError(f"an ALPN protocol name has 1 to 255 bytes, given: {name!r}")
        for attribute, value in (("version", version), ("lowest", lowest), ("suites", suites),
                                 ("compression_methods", compression),
                                 ("groups", _check_codes(self.groups, "groups")),
                                 ("signature_algorithms", _check_codes(self.signature_algorithms, "signatures")),
                                 ("point_formats", _check_codes(self.point_formats, "point formats", 0xFF)),
                                 ("renegotiation", RenegotiationSignal(self.renegotiation)),
                                 ("alpn", tuple(self.alpn)), ("extra_extensions", tuple(self.extra_extensions))):
            object.__setattr__(self, attribute, value)

    @property
    def versions(self) -> tuple[TLSVersion, ...]:
        """Every version this hello accepts, highest first."""
        return tuple(reversed(_ORDER[_ORDER.index(self.lowest):_ORDER.index(self.version) + 1]))

    @property
    def offers_tls13(self) -> bool:
        return self.version is TLSVersion.TLSv1_3

    @property
    def offers_below_tls13(self) -> bool:
        return self.lowest is not TLSVersion.TLSv1_3

    def describe(self) -> str:
        """E.g. "a TLSv1 ClientHello (2 suites)", "an SSLv3-TLSv1.2 ClientHello (350 suites)"."""
        span = self.version.value if self.lowest is self.version else f"{self.lowest.value}-{self.version.value}"
        count = f"{len(self.suites)} suite{'' if len(self.suites) == 1 else 's'}"
        return f"{'an' if span.startswith('S') else 'a'} {span} ClientHello ({count})"


@dataclass(frozen=True)
class SentHello:
    """A built ClientHello: its bytes and what the server's answer is checked against.

    Attributes:
        hello: what was asked for.
        wire: the records to send.
        random: the client random.
        session_id: the legacy session id (32 random bytes when offering TLS 1.3, as real clients do, else empty).
        suites: the suite list as sent, signals included.
        extensions: the extension types sent, in order.
        key_share_groups: the groups a TLS 1.3 key share was sent for.
    """

    hello: ClientHello
    wire: bytes = field(repr=False)
    random: bytes = field(repr=False)
    session_id: bytes = field(repr=False)
    suites: tuple[int, ...] = field(repr=False)
    extensions: tuple[int, ...]
    key_share_groups: tuple[int, ...]


def _host_name(name: str | None) -> bytes | None:
    if name is None:
        return None
    try:
        ipaddress.ip_address(name)
        return None
    except ValueError:
        return name.encode("idna")


def _client_extensions(hello: ClientHello, key_shares: dict[int, bytes]) -> list[tuple[int, bytes]]:
    """The extensions of a hello, in the order OpenSSL and Go put them."""
    tls12_possible = hello.offers_below_tls13
    signatures = _ORDER.index(hello.version) >= _ORDER.index(TLSVersion.TLSv1_2)
    host = _host_name(hello.server_name)
    entries = [
        (_SERVER_NAME, _vector(b"\x00" + _vector(host, 2), 2) if host else None),
        (_EC_POINT_FORMATS, _vector(bytes(hello.point_formats), 1) if hello.point_formats and tls12_possible
         else None),
        (_SUPPORTED_GROUPS, _vector(b"".join(map(_u16, hello.groups)), 2) if hello.groups else None),
        (_SIGNATURE_ALGORITHMS, _vector(b"".join(map(_u16, hello.signature_algorithms)), 2)
         if signatures and hello.signature_algorithms else None),
        (_ALPN, _vector(b"".join(_vector(p.encode(), 1) for p in hello.alpn), 2) if hello.alpn else None),
        (_EXTENDED_MASTER_SECRET, b"" if hello.extended_master_secret and tls12_possible
         and hello.version is not TLSVersion.SSLv3 else None),
        (_RENEGOTIATION_INFO, b"\x00" if hello.renegotiation is RenegotiationSignal.EXTENSION and tls12_possible
         else None),
        (_SUPPORTED_VERSIONS, _vector(b"".join(_u16(VERSION_CODES[v]) for v in hello.versions), 1)
         if hello.offers_tls13 else None),
        (_KEY_SHARE, _vector(b"".join(_u16(g) + _vector(k, 2) for g, k in key_shares.items()), 2)
         if hello.offers_tls13 else None),
    ]
    extensions = [(kind, body) for kind, body in entries if body is not None] + list(hello.extra_extensions)
    kinds = [kind for kind, _ in extensions]
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"extension types appear twice in the ClientHello: {kinds}")
    return extensions


def build_client_hello(hello: ClientHello) -> SentHello:
    """The ClientHello records for ``hello``, with a fresh random, session id and key share."""
    random = os.urandom(32)
    session_id = os.urandom(32) if hello.offers_tls13 else b""
    key_shares = {}
    if hello.offers_tls13 and _X25519 in hello.groups:
        key_shares[_X25519] = X25519PrivateKey.generate().public_key().public_bytes_raw()
    suites = hello.suites
    if hello.renegotiation is RenegotiationSignal.SCSV:
        suites += (RENEGOTIATION_INFO_SCSV,)
    if hello.fallback_scsv:
        suites += (FALLBACK_SCSV,)
    extensions = _client_extensions(hello, key_shares)
    legacy_version = min(VERSION_CODES[hello.version], VERSION_CODES[TLSVersion.TLSv1_2])
    body = (_u16(legacy_version) + random + _vector(session_id, 1) + _vector(b"".join(map(_u16, suites)), 2)
            + _vector(bytes(hello.compression_methods), 1))
    if extensions:
        body += _vector(b"".join(_u16(kind) + _vector(data, 2) for kind, data in extensions), 2)
    record_version = VERSION_CODES[TLSVersion.SSLv3 if hello.version is TLSVersion.SSLv3 else TLSVersion.TLSv1]
    wire = encode_records(_HANDSHAKE, record_version, encode_handshake(_CLIENT_HELLO, body))
    return SentHello(hello, wire, random, session_id, suites, tuple(k for k, _ in extensions), tuple(key_shares))


# --- the server's answer --------------------------------------------------------------------------------------


class AnswerKind(str, Enum):
    SERVER_HELLO = "server-hello"  # a ServerHello (or HelloRetryRequest) that fits the offer: accepted
    ALERT = "alert"  # a fatal alert (or close_notify) before any ServerHello
    CLOSED = "closed"  # the server closed the connection (FIN) before answering
    RESET = "reset"  # TCP reset before a complete answer
    TIMEOUT = "timeout"  # no complete answer within the deadline (connect or handshake)
    UNREACHABLE = "unreachable"  # the TCP connect failed
    NOT_TLS = "not-tls"  # the answer is not TLS (an HTTP response, garbage)
    PROTOCOL_ERROR = "protocol-error"  # TLS, but broken or outside the offer: see ServerAnswer.fault


class ProtocolFault(str, Enum):
    MALFORMED = "malformed"  # lengths or fields do not parse, a record or message was cut short
    RECORD_OVERFLOW = "record-overflow"  # a record longer than 2^14 bytes
    UNEXPECTED_MESSAGE = "unexpected-message"  # something other than a ServerHello or an alert came first
    VERSION_NOT_OFFERED = "version-not-offered"  # the server chose a version outside the offered range
    SUITE_NOT_OFFERED = "suite-not-offered"
    SUITE_NOT_FOR_VERSION = "suite-not-for-version"  # e.g. a TLS 1.3 suite in a TLS 1.2 ServerHello
    COMPRESSION_NOT_OFFERED = "compression-not-offered"
    EXTENSION_NOT_OFFERED = "extension-not-offered"
    MISSING_EXTENSION = "missing-extension"  # e.g. a TLS 1.3 ServerHello without key_share
    ILLEGAL_PARAMETER = "illegal-parameter"  # a value no client accepts (see the detail)


class AlertLevel(str, Enum):
    WARNING = "warning"
    FATAL = "fatal"


@dataclass(frozen=True)
class Alert:
    """A TLS alert the server sent.

    Attributes:
        level: warning or fatal.
        code: the description code, e.g. 70.
        name: its name as OpenSSL spells it, e.g. "protocol version".
    """

    level: AlertLevel
    code: int
    name: str


@dataclass(frozen=True)
class ServerHello:
    """A parsed ServerHello (or HelloRetryRequest).

    Attributes:
        version: the negotiated version (supported_versions for TLS 1.3, else legacy_version); None when the
            code is no known version.
        version_code: the negotiated version as sent, e.g. 0x0301.
        legacy_version: the legacy_version field.
        cipher_suite: the chosen suite's code.
        compression_method: the chosen compression method (0: none, 1: DEFLATE).
        extensions: the extension types, in the order sent.
        renegotiation_info: the server sent the renegotiation_info extension (RFC 5746 secure renegotiation).
        hello_retry_request: the message is a HelloRetryRequest (TLS 1.3): the server accepts the version and
            suite but wants another key share or a cookie first.
        key_share_group: the group of the server's key share (for a HelloRetryRequest: the group it asks for).
        alpn: the ALPN protocol the server chose, None when none.
        downgrade_sentinel: the random ends with the TLS 1.3 downgrade sentinel: the server supports a higher
            version than it negotiated (RFC 8446 4.1.3).
        session_id: the session id (not shown in repr).
        random: the server random (not shown in repr).
    """

    version: TLSVersion | None
    version_code: int
    legacy_version: int
    cipher_suite: int
    compression_method: int
    extensions: tuple[int, ...]
    renegotiation_info: bool
    hello_retry_request: bool
    key_share_group: int | None
    alpn: str | None
    downgrade_sentinel: bool
    session_id: bytes = field(repr=False)
    random: bytes = field(repr=False)

    @property
    def suite(self) -> CipherSuite:
        return cipher_suite(self.cipher_suite)

    @property
    def suite_name(self) -> str:
        return suite_name(self.cipher_suite)

    @property
    def version_name(self) -> str:
        return self.version.value if self.version else f"version 0x{self.version_code:04X}"

    @property
    def extension_names(self) -> tuple[str, ...]:
        return tuple(_extension_name(kind) for kind in self.extensions)


@dataclass(frozen=True)
class ServerAnswer:
    """How the server answered one ClientHello.

    Attributes:
        kind: what came back (see :class:`AnswerKind`).
        server_hello: the parsed ServerHello, also for a protocol error that concerns its content (which version
            or suite the server picked); None when none parsed.
        alert: the alert, for kind ALERT.
        fault: what was wrong, for kind PROTOCOL_ERROR.
        warnings: warning alerts that came before the answer (e.g. 'unrecognized name').
        received: bytes read from the server.
        detail: one readable sentence.
    """

    kind: AnswerKind
    server_hello: ServerHello | None
    alert: Alert | None
    fault: ProtocolFault | None
    warnings: tuple[Alert, ...]
    received: int
    detail: str


def _extension_name(kind: int) -> str:
    return _EXTENSION_NAMES.get(kind, f"extension {kind}")


def _excerpt(data: bytes) -> str:
    """The start of a non-TLS answer, as an operator would want to see it."""
    head = data[:_EXCERPT]
    text = head.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
    if text and all(32 <= b < 127 for b in text):
        return repr(text.decode("ascii"))
    return head[:16].hex(" ")


class _Cursor:
    """Reads a ServerHello body; every overrun or leftover raises TLSDecodeError(MALFORMED)."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.at, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise TLSDecodeError(ProtocolFault.MALFORMED, f"the {self.what} is cut short at byte {len(self.data)}")
        chunk = self.data[self.at:self.at + n]
        self.at += n
        return chunk

    def number(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, length_bytes: int) -> bytes:
        return self.take(self.number(length_bytes))

    @property
    def left(self) -> int:
        return len(self.data) - self.at

    def end(self) -> None:
        if self.left:
            raise TLSDecodeError(ProtocolFault.MALFORMED, f"the {self.what} has {self.left} bytes too many")


def _parse_extensions(cursor: _Cursor) -> dict[int, bytes]:
    """The ServerHello's extensions (absent when nothing follows the compression method, as SSLv3 servers send)."""
    if not cursor.left:
        return {}
    block = _Cursor(cursor.vector(2), "ServerHello extensions block")
    cursor.end()
    extensions: dict[int, bytes] = {}
    while block.left:
        kind = block.number(2)
        if kind in extensions:
            raise TLSDecodeError(ProtocolFault.ILLEGAL_PARAMETER,
                                 f"the ServerHello carries {_extension_name(kind)} twice")
        extensions[kind] = block.vector(2)
    return extensions


def _single(data: bytes, size: int, what: str) -> int:
    cursor = _Cursor(data, what)
    value = cursor.number(size)
    cursor.end()
    return value


def _alpn_choice(data: bytes) -> str:
    cursor = _Cursor(data, "ALPN extension")
    names = _Cursor(cursor.vector(2), "ALPN protocol list")
    cursor.end()
    name = names.vector(1)
    names.end()
    if not name:
        raise TLSDecodeError(ProtocolFault.MALFORMED, "the server chose an empty ALPN protocol name")
    return name.decode("latin-1")


def _key_share_group(data: bytes, retry: bool) -> tuple[int, int | None]:
    """(group, key length) of a ServerHello key share; a HelloRetryRequest names only the group."""
    cursor = _Cursor(data, "key_share extension")
    group = cursor.number(2)
    key_length = None if retry else len(cursor.vector(2))
    cursor.end()
    return group, key_length


def parse_server_hello(body: bytes) -> tuple[ServerHello, dict[int, bytes]]:
    """A ServerHello body (after the handshake header) and its raw extensions; TLSDecodeError if it does not
    parse. Whether it fits what was offered is for :class:`AnswerReader` to judge."""
    cursor = _Cursor(body, "ServerHello")
    legacy_version = cursor.number(2)
    random = cursor.take(32)
    session_id = cursor.vector(1)
    if len(session_id) > 32:
        raise TLSDecodeError(ProtocolFault.MALFORMED, f"the ServerHello's session id has {len(session_id)} bytes")
    suite, compression = cursor.number(2), cursor.number(1)
    extensions = _parse_extensions(cursor)
    retry = random == _RETRY_RANDOM
    version_code = legacy_version
    if _SUPPORTED_VERSIONS in extensions:
        version_code = _single(extensions[_SUPPORTED_VERSIONS], 2, "supported_versions extension")
    group = _key_share_group(extensions[_KEY_SHARE], retry)[0] if _KEY_SHARE in extensions else None
    alpn = _alpn_choice(extensions[_ALPN]) if _ALPN in extensions else None
    hello = ServerHello(
        version=_VERSION_OF.get(version_code), version_code=version_code, legacy_version=legacy_version,
        cipher_suite=suite, compression_method=compression, extensions=tuple(extensions),
        renegotiation_info=_RENEGOTIATION_INFO in extensions, hello_retry_request=retry, key_share_group=group,
        alpn=alpn, downgrade_sentinel=random[-8:] in _DOWNGRADE_SENTINELS, session_id=session_id, random=random,
    )
    return hello, extensions


# --- does the ServerHello fit the offer? ----------------------------------------------------------------------


def _version_fault(sh: ServerHello, sent: SentHello) -> tuple[ProtocolFault, str] | None:
    hello = sent.hello
    offered = {VERSION_CODES[v] for v in hello.versions}
    if _SUPPORTED_VERSIONS in sh.extensions:
        if _SUPPORTED_VERSIONS not in sent.extensions:
            return ProtocolFault.EXTENSION_NOT_OFFERED, "the server sent supported_versions, which was not offered"
        if sh.legacy_version != 0x0303 or sh.version_code < 0x0304:
            return ProtocolFault.ILLEGAL_PARAMETER, (
                f"the server selected {sh.version_name} in supported_versions with legacy_version "
                f"0x{sh.legacy_version:04X} (TLS 1.3 requires 0x0303 and a selection of TLS 1.3 or above)")
    elif sh.hello_retry_request:
        return ProtocolFault.ILLEGAL_PARAMETER, "the server sent a HelloRetryRequest without supported_versions"
    elif sh.version_code >= 0x0304:
        return ProtocolFault.ILLEGAL_PARAMETER, (
            f"the server put {sh.version_name} in legacy_version; TLS 1.3 is only negotiated in supported_versions")
    if sh.version_code not in offered:
        low, high = hello.lowest.value, hello.version.value
        span = high if low == high else f"{low} to {high}"
        return ProtocolFault.VERSION_NOT_OFFERED, f"the server chose {sh.version_name}, but only {span} was offered"
    if hello.offers_tls13 and sh.version_code < 0x0304 and sh.downgrade_sentinel:
        return ProtocolFault.ILLEGAL_PARAMETER, (
            f"the server chose {sh.version_name} with the TLS 1.3 downgrade sentinel in its random, although "
            "TLS 1.3 was offered (a downgrade)")
    return None


def _suite_fault(sh: ServerHello, sent: SentHello) -> tuple[ProtocolFault, str] | None:
    if sh.cipher_suite not in sent.hello.suites:
        return ProtocolFault.SUITE_NOT_OFFERED, f"the server chose {sh.suite_name}, which was not offered"
    if sh.version is not None and not can_negotiate(sh.cipher_suite, sh.version):
        return ProtocolFault.SUITE_NOT_FOR_VERSION, f"the server chose {sh.suite_name}, which {sh.version_name} " \
                                                    "cannot use"
    if sh.compression_method not in sent.hello.compression_methods:
        return ProtocolFault.COMPRESSION_NOT_OFFERED, (
            f"the server chose compression method {sh.compression_method}, which was not offered")
    if sh.version is TLSVersion.TLSv1_3 and sh.compression_method != 0:
        return ProtocolFault.ILLEGAL_PARAMETER, "the server chose compression in TLS 1.3, which has none"
    return None


def _solicited(kind: int, sent: SentHello) -> bool:
    if kind in sent.extensions:
        return True
    return kind == _RENEGOTIATION_INFO and RENEGOTIATION_INFO_SCSV in sent.suites


def _extension_fault(sh: ServerHello, raw: dict[int, bytes], sent: SentHello) -> tuple[ProtocolFault, str] | None:
    for kind in sh.extensions:
        if not _solicited(kind, sent) and not (kind == _COOKIE and sh.hello_retry_request):
            return ProtocolFault.EXTENSION_NOT_OFFERED, (
                f"the server sent the {_extension_name(kind)} extension, which was not offered")
    if sh.version is TLSVersion.TLSv1_3:
        allowed = _TLS13_RETRY_EXTENSIONS if sh.hello_retry_request else _TLS13_SERVER_HELLO_EXTENSIONS
        extra = [_extension_name(k) for k in sh.extensions if k not in allowed]
        if extra:
            return ProtocolFault.ILLEGAL_PARAMETER, f"a TLS 1.3 ServerHello may not carry {', '.join(extra)}"
        return _tls13_fault(sh, raw, sent)
    if sh.renegotiation_info and raw[_RENEGOTIATION_INFO] != b"\x00":
        return ProtocolFault.ILLEGAL_PARAMETER, "the server's renegotiation_info is not empty on a first handshake"
    if sh.alpn is not None and sh.alpn not in sent.hello.alpn:
        return ProtocolFault.ILLEGAL_PARAMETER, f"the server chose the ALPN protocol {sh.alpn!r}, which was not offered"
    return None


def _tls13_fault(sh: ServerHello, raw: dict[int, bytes], sent: SentHello) -> tuple[ProtocolFault, str] | None:
    if sh.session_id != sent.session_id:
        return ProtocolFault.ILLEGAL_PARAMETER, "the server's TLS 1.3 ServerHello does not echo our session id"
    group = sh.key_share_group
    if sh.hello_retry_request:
        if group is None and _COOKIE not in sh.extensions:
            return ProtocolFault.ILLEGAL_PARAMETER, "the HelloRetryRequest asks for neither a key share nor a cookie"
        if group is None:
            return None
        if group not in sent.hello.groups or group in sent.key_share_groups:
            return ProtocolFault.ILLEGAL_PARAMETER, (
                f"the HelloRetryRequest asks for a key share for {_GROUP_NAMES.get(group, group)}, which was "
                "not offered or was already sent")
        return None
    if group is None:
        return ProtocolFault.MISSING_EXTENSION, "the server's TLS 1.3 ServerHello has no key_share"
    _, key_length = _key_share_group(raw[_KEY_SHARE], retry=False)
    if group not in sent.key_share_groups:
        return ProtocolFault.ILLEGAL_PARAMETER, (
            f"the server's key share is for {_GROUP_NAMES.get(group, group)}, which we sent no share for")
    if group == _X25519 and key_length != _X25519_KEY_LENGTH:
        return ProtocolFault.ILLEGAL_PARAMETER, f"the server's x25519 key share has {key_length} bytes, not 32"
    return None


def _offer_fault(sh: ServerHello, raw: dict[int, bytes], sent: SentHello) -> tuple[ProtocolFault, str] | None:
    """Why a real client would abort on this ServerHello, or None when it fits the offer."""
    return _version_fault(sh, sent) or _suite_fault(sh, sent) or _extension_fault(sh, raw, sent)


def _accepted_detail(sh: ServerHello) -> str:
    if sh.hello_retry_request:
        asks = (f"asking for a key share for {_GROUP_NAMES.get(sh.key_share_group, sh.key_share_group)}"
                if sh.key_share_group is not None else "asking for a cookie")
        return f"the server chose {sh.suite_name} for {sh.version_name} in a HelloRetryRequest ({asks})"
    extras = [] if sh.compression_method == 0 else [f"compression method {sh.compression_method}"]
    if sh.renegotiation_info:
        extras.append("renegotiation_info")
    return (f"the server chose {sh.suite_name} in a {sh.version_name} ServerHello"
            + (f" (with {', '.join(extras)})" if extras else ""))


# --- reading the answer ---------------------------------------------------------------------------------------


class AnswerReader:
    """Reads what a server sends after our ClientHello, up to the first ServerHello or alert, and classifies it
    against ``sent``. :meth:`feed` returns None while more bytes are needed; once it has an answer it keeps
    returning it. It never raises on the server's bytes."""

    def __init__(self, sent: SentHello) -> None:
        self.sent = sent
        self._records = RecordReader()
        self._handshake = bytearray()
        self._warnings: list[Alert] = []
        self._received = 0
        self._head = b""
        self._answer: ServerAnswer | None = None

    def feed(self, data: bytes) -> ServerAnswer | None:
        if self._answer is not None:
            return self._answer
        self._received += len(data)
        self._head = (self._head + data)[:_EXCERPT]
        try:
            for record in self._records.feed(data):
                self._answer = self._record(record)
                if self._answer is not None:
                    break
        except NotTLSError as exc:
            self._answer = self._result(AnswerKind.NOT_TLS, detail=(
                f"the server did not answer in TLS ({exc}); its answer starts {_excerpt(self._head)}"))
        except TLSDecodeError as exc:
            self._answer = self._result(AnswerKind.PROTOCOL_ERROR, fault=exc.fault, detail=f"the server sent {exc}"
                                        if exc.fault is ProtocolFault.RECORD_OVERFLOW else str(exc))
        return self._answer

    def eof(self) -> ServerAnswer:
        """The server closed the connection: the answer so far, or how it closed."""
        if self._answer is not None:
            return self._answer
        if self._records.pending or self._handshake:
            return self._result(AnswerKind.PROTOCOL_ERROR, fault=ProtocolFault.MALFORMED, detail=(
                f"the server closed the connection in the middle of a record or message ({self._received} bytes "
                "received)"))
        warned = f" after the warning alert(s) {self._warning_names()}" if self._warnings else ""
        return self._result(AnswerKind.CLOSED, detail=f"the server closed the connection without answering{warned}")

    def interrupted(self, kind: AnswerKind, detail: str) -> ServerAnswer:
        """The answer when the connection broke (reset) or the deadline passed before an answer was complete."""
        return self._answer or self._result(kind, detail=detail)

    @property
    def received(self) -> int:
        return self._received

    def _warning_names(self) -> str:
        return ", ".join(repr(a.name) for a in self._warnings)

    def _result(self, kind: AnswerKind, *, server_hello: ServerHello | None = None, alert: Alert | None = None,
                fault: ProtocolFault | None = None, detail: str) -> ServerAnswer:
        return ServerAnswer(kind, server_hello, alert, fault, tuple(self._warnings), self._received, detail)

    def _record(self, record: Record) -> ServerAnswer | None:
        if record.content_type == _ALERT:
            return self._alerts(record.payload)
        if record.content_type != _HANDSHAKE:
            return self._result(AnswerKind.PROTOCOL_ERROR, fault=ProtocolFault.UNEXPECTED_MESSAGE, detail=(
                f"the server sent a {_CONTENT_TYPES[record.content_type]} record before its ServerHello"))
        if not record.payload:
            raise TLSDecodeError(ProtocolFault.MALFORMED, "the server sent an empty handshake record")
        self._handshake += record.payload
        return self._handshake_message()

    def _alerts(self, payload: bytes) -> ServerAnswer | None:
        if not payload or len(payload) % 2:
            raise TLSDecodeError(ProtocolFault.MALFORMED, f"the server sent an alert record of {len(payload)} bytes")
        for level, code in zip(payload[::2], payload[1::2]):
            if level not in (1, 2):
                raise TLSDecodeError(ProtocolFault.ILLEGAL_PARAMETER, f"the server sent an alert of level {level}")
            alert = Alert(AlertLevel.WARNING if level == 1 else AlertLevel.FATAL, code, alert_name(code))
            if alert.level is AlertLevel.FATAL or code == 0:
                warned = f" (after the warning alert(s) {self._warning_names()})" if self._warnings else ""
                return self._result(AnswerKind.ALERT, alert=alert, detail=(
                    f"the server refused with the {alert.level.value} alert '{alert.name}'{warned}"))
            self._warnings.append(alert)
            if len(self._warnings) > _MAX_WARNING_ALERTS:
                raise TLSDecodeError(ProtocolFault.UNEXPECTED_MESSAGE,
                                     f"the server sent {len(self._warnings)} warning alerts before any ServerHello")
        return None

    def _handshake_message(self) -> ServerAnswer | None:
        if len(self._handshake) < 4:
            return None
        kind, length = self._handshake[0], int.from_bytes(self._handshake[1:4], "big")
        if kind != _SERVER_HELLO:
            name = _HANDSHAKE_NAMES.get(kind, f"handshake message {kind}")
            return self._result(AnswerKind.PROTOCOL_ERROR, fault=ProtocolFault.UNEXPECTED_MESSAGE,
                                detail=f"the server sent a {name} where a ServerHello belongs")
        if length > _MAX_SERVER_HELLO:
            raise TLSDecodeError(ProtocolFault.MALFORMED, f"the server announced a ServerHello of {length} bytes")
        if len(self._handshake) < 4 + length:
            return None
        sh, raw = parse_server_hello(bytes(self._handshake[4:4 + length]))
        fault = _offer_fault(sh, raw, self.sent)
        if fault is not None:
            return self._result(AnswerKind.PROTOCOL_ERROR, server_hello=sh, fault=fault[0], detail=fault[1])
        return self._result(AnswerKind.SERVER_HELLO, server_hello=sh, detail=_accepted_detail(sh))


# --- one connection -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HelloResult:
    """One ClientHello sent and its answer.

    Attributes:
        hello: what was offered.
        answer: how the server answered (or how the connection failed).
        detail: one readable sentence: what was sent where, and what came back.
        elapsed: seconds from dialing to the answer (monotonic clock).
    """

    hello: ClientHello
    answer: ServerAnswer
    detail: str
    elapsed: float

    @property
    def kind(self) -> AnswerKind:
        return self.answer.kind

    @property
    def accepted(self) -> bool:
        """A ServerHello that fits the offer came back."""
        return self.answer.kind is AnswerKind.SERVER_HELLO

    @property
    def server_hello(self) -> ServerHello | None:
        return self.answer.server_hello


class _OutOfTime(Exception):
    """The exchange's deadline passed."""


def _settimeout(sock: socket.socket, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _OutOfTime
    sock.settimeout(left)


def _exchange(sock: socket.socket, sent: SentHello, seconds: float) -> ServerAnswer:
    """Send the hello and read until the answer is complete, the server closes or resets, or time runs out."""
    reader = AnswerReader(sent)
    deadline = time.monotonic() + seconds
    try:
        _settimeout(sock, deadline)
        sock.sendall(sent.wire)
        while True:
            _settimeout(sock, deadline)
            try:
                chunk = sock.recv(_READ_CHUNK)
            except (socket.timeout, TimeoutError):
                raise _OutOfTime from None
            if not chunk:
                return reader.eof()
            answer = reader.feed(chunk)
            if answer is not None:
                return answer
    except (_OutOfTime, socket.timeout, TimeoutError):
        got = f" ({reader.received} bytes of it arrived)" if reader.received else ""
        return reader.interrupted(AnswerKind.TIMEOUT, f"no complete answer within {seconds:.1f}s{got}")
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        got = f" after {reader.received} bytes" if reader.received else " before answering"
        return reader.interrupted(AnswerKind.RESET, f"the server reset the connection{got}")
    except OSError as exc:
        return reader.interrupted(AnswerKind.RESET, f"the connection failed: {exc.strerror or exc}")


def _peer(sock: socket.socket) -> str:
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return "the connected socket"
    return f"{host}:{port}"


def _network_answer(kind: AnswerKind, detail: str) -> ServerAnswer:
    return ServerAnswer(kind, None, None, None, (), 0, detail)


def send_hello(
    target: tuple[str, int] | socket.socket,
    hello: ClientHello,
    *,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    dial: Dial | None = None,
) -> HelloResult:
    """Send ``hello`` and classify the answer. ``target`` is an address (dialled with ``dial``, by default a
    plain TCP connect, and closed afterwards) or a connected socket (left open for its owner; its timeout is
    changed). Network failures are results, never exceptions; a malformed hello raises ValueError."""
    sent = build_client_hello(hello)
    start = time.monotonic()
    if isinstance(target, socket.socket):
        where = _peer(target)
        answer = _exchange(target, sent, timeouts.handshake)
    else:
        where = f"{target[0]}:{target[1]}"
        answer = _dial_and_exchange(target, sent, timeouts, dial)
    detail = f"{hello.describe()} to {where}: {answer.detail}"
    return HelloResult(hello, answer, detail[0].upper() + detail[1:], time.monotonic() - start)


def _dial_and_exchange(address: tuple[str, int], sent: SentHello, timeouts: Timeouts, dial: Dial | None):
    try:
        sock = (dial or _default_dial)(address, timeouts.connect)
    except (socket.timeout, TimeoutError):
        return _network_answer(AnswerKind.TIMEOUT, f"the TCP connect timed out after {timeouts.connect:.1f}s")
    except OSError as exc:
        return _network_answer(AnswerKind.UNREACHABLE, f"the TCP connect failed: {exc.strerror or exc}")
    try:
        return _exchange(sock, sent, timeouts.handshake)
    finally:
        close_abortively(sock)


def _default_dial(address: tuple[str, int], timeout: float) -> socket.socket:
    return socket.create_connection(address, timeout=timeout)


# --- judging one attempt --------------------------------------------------------------------------------------


class Verdict(str, Enum):
    ACCEPTED = "accepted"  # a ServerHello that fits the offer
    REFUSED = "refused"  # an alert, a close, or a ServerHello for a lower version than any offered
    UNDETERMINED = "undetermined"  # timeout, reset, unreachable, not TLS, or a broken ServerHello: no verdict


def judge(result: HelloResult) -> Verdict:
    """Whether the server accepted what ``result.hello`` offered.

    A server that negotiates a version below everything offered is saying it speaks none of it (that is how
    version negotiation works below TLS 1.3), so that counts as refused. Anything the server did not clearly say
    (no answer in time, a reset before any answer, an answer that is not TLS, a ServerHello outside the offer in
    any other way) stays undetermined and is never reported as a refusal."""
    answer = result.answer
    if answer.kind is AnswerKind.SERVER_HELLO:
        return Verdict.ACCEPTED
    if answer.kind in (AnswerKind.ALERT, AnswerKind.CLOSED):
        return Verdict.REFUSED
    if answer.fault is ProtocolFault.VERSION_NOT_OFFERED and answer.server_hello is not None:
        if answer.server_hello.version_code < VERSION_CODES[result.hello.lowest]:
            return Verdict.REFUSED
    return Verdict.UNDETERMINED


@dataclass(frozen=True)
class Attempt:
    """One connection of a scan.

    Attributes:
        result: the hello sent and the answer.
        verdict: what the answer says about the offer (see :func:`judge`).
    """

    result: HelloResult
    verdict: Verdict

    @property
    def offered(self) -> tuple[int, ...]:
        return self.result.hello.suites


def _limited(timeouts: Timeouts, budget: Budget | None) -> Timeouts:
    """Per-step limits cut to what the budget has left; BudgetExhausted once it is spent."""
    if budget is None:
        return timeouts
    return timeouts.scaled(connect=budget.limit(timeouts.connect), handshake=budget.limit(timeouts.handshake))


def _attempt(address, hello: ClientHello, timeouts: Timeouts, dial: Dial | None, budget: Budget | None) -> Attempt:
    result = send_hello(address, hello, timeouts=_limited(timeouts, budget), dial=dial)
    return Attempt(result, judge(result))


# --- suites ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteScan:
    """Which of the candidate suites a server accepts at one version.

    Attributes:
        version: the version every hello offered (and only it).
        candidates: the suites asked about, in the order offered.
        accepted: the suites the server chose, in the order it chose them (its preference, as far as it has one).
        refused: candidates offered in a hello the server refused: it accepts none of them at this version.
        unjudged: candidates no attempt could judge: an attempt was undetermined (see :func:`judge`), the round
            cap was reached, or the budget was spent. Never counted as refused.
        attempts: every connection made, in order.
        detail: one readable sentence.
    """

    version: TLSVersion
    candidates: tuple[int, ...]
    accepted: tuple[CipherSuite, ...]
    refused: tuple[int, ...]
    unjudged: tuple[int, ...]
    attempts: tuple[Attempt, ...]
    detail: str

    @property
    def complete(self) -> bool:
        """Every candidate was judged accepted or refused."""
        return not self.unjudged

    @property
    def accepted_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.accepted)


def accepted_suites(
    address: tuple[str, int],
    version: TLSVersion | str,
    candidates: Iterable[int] | None = None,
    *,
    server_name: str | None = None,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    dial: Dial | None = None,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    budget: Budget | None = None,
) -> SuiteScan:
    """Which ``candidates`` (default: every known suite usable at ``version``) the server accepts at ``version``.

    Offers all remaining candidates, notes the suite the server picks, removes it and offers the rest again,
    until the server refuses (then every remaining candidate is refused) or an attempt cannot be judged (then
    they stay unjudged). At most ``max_rounds`` connections."""
    version = TLSVersion(version)
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be at least 1, given: {max_rounds}")
    wanted = tuple(dict.fromkeys(suites_for_version(version) if candidates is None else candidates))
    remaining = [code for code in wanted if not is_signalling(code)]
    accepted: list[CipherSuite] = []
    attempts: list[Attempt] = []
    refused: list[int] = []
    stop = "every candidate was judged"
    while remaining:
        if len(attempts) >= max_rounds:
            stop = f"the scan stopped at its cap of {max_rounds} connections"
            break
        try:
            attempt = _attempt(address, ClientHello(version, tuple(remaining), server_name), timeouts, dial, budget)
        except BudgetExhausted as exc:
            stop = str(exc)
            break
        attempts.append(attempt)
        if attempt.verdict is Verdict.ACCEPTED:
            chosen = attempt.result.server_hello.cipher_suite
            accepted.append(cipher_suite(chosen))
            remaining.remove(chosen)
        elif attempt.verdict is Verdict.REFUSED:
            refused, remaining = remaining, []
        else:
            stop = f"an attempt could not be judged: {attempt.result.detail}"
            break
    names = ", ".join(s.name for s in accepted) or "none"
    detail = (f"{version.value}: accepted {names} of {len(wanted)} candidates in {len(attempts)} connection(s); "
              f"{len(remaining)} unjudged ({stop})" if remaining else
              f"{version.value}: accepted {names} of {len(wanted)} candidates in {len(attempts)} connection(s)")
    return SuiteScan(version, wanted, tuple(accepted), tuple(refused), tuple(remaining), tuple(attempts), detail)


# --- versions -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionScan:
    """Which protocol versions a server accepts, one hello per version offering only that version and every
    known suite usable at it.

    Attributes:
        accepted: versions the server answered with a fitting ServerHello.
        refused: versions it refused (alert, close, or a lower version).
        undetermined: versions no attempt could judge (or that the budget left unprobed).
        attempts: every connection made, in order.
        detail: one readable sentence.
    """

    accepted: tuple[TLSVersion, ...]
    refused: tuple[TLSVersion, ...]
    undetermined: tuple[TLSVersion, ...]
    attempts: tuple[Attempt, ...]
    detail: str

    def verdict(self, version: TLSVersion | str) -> Verdict | None:
        """The verdict for ``version``; None when it was not asked about."""
        version = TLSVersion(version)
        for verdict, versions in ((Verdict.ACCEPTED, self.accepted), (Verdict.REFUSED, self.refused),
                                  (Verdict.UNDETERMINED, self.undetermined)):
            if version in versions:
                return verdict
        return None

    @property
    def highest(self) -> TLSVersion | None:
        return max(self.accepted, key=_ORDER.index) if self.accepted else None


def accepted_versions(
    address: tuple[str, int],
    *,
    server_name: str | None = None,
    versions: Iterable[TLSVersion | str] = tuple(TLSVersion),
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    dial: Dial | None = None,
    budget: Budget | None = None,
) -> VersionScan:
    """Which of ``versions`` (default SSLv3 to TLS 1.3) the server accepts: one connection per version."""
    found: dict[Verdict, list[TLSVersion]] = {v: [] for v in Verdict}
    attempts: list[Attempt] = []
    for version in map(TLSVersion, versions):
        try:
            attempt = _attempt(address, ClientHello(version, suites_for_version(version), server_name), timeouts, dial,
                               budget)
        except BudgetExhausted:
            found[Verdict.UNDETERMINED].append(version)
            continue
        attempts.append(attempt)
        found[attempt.verdict].append(version)
    parts = [f"{verdict.value}: {', '.join(v.value for v in found[verdict])}" for verdict in Verdict if found[verdict]]
    return VersionScan(tuple(found[Verdict.ACCEPTED]), tuple(found[Verdict.REFUSED]),
                       tuple(found[Verdict.UNDETERMINED]), tuple(attempts), "; ".join(parts) or "no version asked")


# --- single-question checks -----------------------------------------------------------------------------------


class FallbackVerdict(str, Enum):
    PROTECTED = "protected"  # the lower-version hello with TLS_FALLBACK_SCSV got 'inappropriate fallback'
    UNPROTECTED = "unprotected"  # the server accepted the fallback hello: a downgrade would go unnoticed
    NOT_APPLICABLE = "not-applicable"  # nothing to fall back to: one version only, or the lower one is refused anyway
    UNDETERMINED = "undetermined"  # an attempt could not be judged


@dataclass(frozen=True)
class FallbackCheck:
    """RFC 7507: a server that supports a higher version must answer a lower-version hello carrying
    TLS_FALLBACK_SCSV with the alert inappropriate_fallback.

    Attributes:
        verdict: see :class:`FallbackVerdict`.
        highest: the highest version the server accepts (given, or learnt from one modern hello); None if unknown.
        fallback_version: the version of the fallback hello (one below ``highest``); None when none was sent.
        attempts: every connection made.
        detail: one readable sentence.
    """

    verdict: FallbackVerdict
    highest: TLSVersion | None
    fallback_version: TLSVersion | None
    attempts: tuple[Attempt, ...]
    detail: str


_INAPPROPRIATE_FALLBACK = 86


def _all_versions_hello(server_name: str | None) -> ClientHello:
    """A modern client's hello: TLS 1.3 down to TLS 1.0, every suite usable at any of them."""
    suites = tuple(dict.fromkeys(suites_for_version(TLSVersion.TLSv1_3) + suites_for_version(TLSVersion.TLSv1_2)))
    return ClientHello(TLSVersion.TLSv1_3, suites, server_name, lowest=TLSVersion.TLSv1)


def check_fallback_scsv(
    address: tuple[str, int],
    *,
    server_name: str | None = None,
    highest: TLSVersion | str | None = None,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    dial: Dial | None = None,
    budget: Budget | None = None,
) -> FallbackCheck:
    """Send a hello one version below the server's highest, with TLS_FALLBACK_SCSV, and see whether the server
    objects. ``highest`` (e.g. :attr:`VersionScan.highest`) saves one connection; without it a modern hello
    (TLS 1.3 down to 1.0) finds it."""
    attempts: list[Attempt] = []
    try:
        if highest is None:
            attempts.append(_attempt(address, _all_versions_hello(server_name), timeouts, dial, budget))
            sh = attempts[0].result.server_hello
            if attempts[0].verdict is not Verdict.ACCEPTED or sh is None or sh.version is None:
                return FallbackCheck(FallbackVerdict.UNDETERMINED, None, None, tuple(attempts),
                                     f"the server's highest version is unknown: {attempts[0].result.detail}")
            highest = sh.version
        highest = TLSVersion(highest)
        if highest is TLSVersion.SSLv3:
            return FallbackCheck(FallbackVerdict.NOT_APPLICABLE, highest, None, tuple(attempts),
                                 "the server's highest version is SSLv3: there is nothing lower to fall back to")
        lower = _ORDER[_ORDER.index(highest) - 1]
        hello = ClientHello(lower, suites_for_version(lower), server_name, fallback_scsv=True)
        attempts.append(_attempt(address, hello, timeouts, dial, budget))
    except BudgetExhausted as exc:
        return FallbackCheck(FallbackVerdict.UNDETERMINED, None, None, tuple(attempts), str(exc))
    return _fallback_verdict(highest, lower, tuple(attempts))


def _fallback_verdict(highest: TLSVersion, lower: TLSVersion, attempts: tuple[Attempt, ...]) -> FallbackCheck:
    last = attempts[-1]
    answer = last.result.answer
    what = f"{lower.value} hello with TLS_FALLBACK_SCSV (the server's highest is {highest.value})"
    if answer.kind is AnswerKind.ALERT and answer.alert.code == _INAPPROPRIATE_FALLBACK:
        verdict, says = FallbackVerdict.PROTECTED, "was refused with 'inappropriate fallback'"
    elif last.verdict is Verdict.ACCEPTED:
        verdict, says = FallbackVerdict.UNPROTECTED, f"was accepted: {answer.detail}"
    elif last.verdict is Verdict.REFUSED:
        verdict, says = FallbackVerdict.NOT_APPLICABLE, f"was refused without the RFC 7507 alert, so {lower.value} " \
                                                        f"is not available to fall back to: {answer.detail}"
    else:
        verdict, says = FallbackVerdict.UNDETERMINED, f"could not be judged: {answer.detail}"
    return FallbackCheck(verdict, highest, lower, attempts, f"The {what} {says}")


@dataclass(frozen=True)
class RenegotiationCheck:
    """RFC 5746: a server that supports secure renegotiation answers renegotiation_info.

    Attributes:
        secure_renegotiation: renegotiation_info came back; None when no ServerHello came back (undetermined or
            refused: the question has no answer at this version).
        attempt: the connection made (None when the budget was spent before it).
        detail: one readable sentence.
    """

    secure_renegotiation: bool | None
    attempt: Attempt | None
    detail: str


@dataclass(frozen=True)
class CompressionCheck:
    """TLS compression (CRIME): offered DEFLATE, then none; did the server pick DEFLATE?

    Attributes:
        compression_accepted: the server chose a compression method other than none; None when no ServerHello
            came back.
        method: the method chosen (0 none, 1 DEFLATE), None when no ServerHello came back.
        attempt: the connection made (None when the budget was spent before it).
        detail: one readable sentence.
    """

    compression_accepted: bool | None
    method: int | None
    attempt: Attempt | None
    detail: str


def _tls12_or_lower(version: TLSVersion | str, server_name: str | None, **options) -> ClientHello:
    """A hello up to ``version`` (TLS 1.2 at most) that takes any lower version the server picks."""
    version = TLSVersion(version)
    if version is TLSVersion.TLSv1_3:
        raise ValueError("this check is about TLS 1.2 and below (TLS 1.3 has no renegotiation or compression)")
    return ClientHello(version, suites_for_version(version), server_name, lowest=TLSVersion.SSLv3, **options)


def _single_attempt(address, hello, timeouts, dial, budget) -> tuple[Attempt | None, str]:
    try:
        attempt = _attempt(address, hello, timeouts, dial, budget)
    except BudgetExhausted as exc:
        return None, str(exc)
    return attempt, attempt.result.detail


def check_renegotiation_info(
    address: tuple[str, int],
    *,
    server_name: str | None = None,
    version: TLSVersion | str = TLSVersion.TLSv1_2,
    signal: RenegotiationSignal = RenegotiationSignal.EXTENSION,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    dial: Dial | None = None,
    budget: Budget | None = None,
) -> RenegotiationCheck:
    """Whether the server answers a hello (up to ``version``, signalling with ``signal``) with renegotiation_info."""
    hello = _tls12_or_lower(version, server_name, renegotiation=signal)
    attempt, detail = _single_attempt(address, hello, timeouts, dial, budget)
    sh = attempt.result.server_hello if attempt and attempt.verdict is Verdict.ACCEPTED else None
    return RenegotiationCheck(sh.renegotiation_info if sh else None, attempt, detail)


def check_compression(
    address: tuple[str, int],
    *,
    server_name: str | None = None,
    version: TLSVersion | str = TLSVersion.TLSv1_2,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    dial: Dial | None = None,
    budget: Budget | None = None,
) -> CompressionCheck:
    """Whether the server picks DEFLATE when a hello (up to ``version``) offers it before no compression."""
    hello = _tls12_or_lower(version, server_name, compression_methods=(1, 0))
    attempt, detail = _single_attempt(address, hello, timeouts, dial, budget)
    sh = attempt.result.server_hello if attempt and attempt.verdict is Verdict.ACCEPTED else None
    method = sh.compression_method if sh else None
    return CompressionCheck(None if sh is None else method != 0, method, attempt, detail)
