"""One TLS handshake = one call returning a plain record.

:func:`handshake` dials an address, offers exactly what a :class:`TLSOffer` says (SNI, protocol versions, cipher
lists, ALPN, an optional client certificate held in memory) and records what happened: the negotiated version,
cipher and ALPN, the peer chain as DER in the order the peer sent it, and whether and how the peer refused us.
It never verifies the chain or the host name (capture first, judge later: the ``x509`` judgements do that).

With TLS 1.3 a server that demands a client certificate can only refuse after the client's handshake has
completed, so after the handshake the probe takes one more step (``after_handshake``): send the HTTP/2 preface
and wait for SETTINGS, send an HTTP/1.1 GET, or just read. An alert, EOF or reset there is a *late rejection*.

Library split: pyOpenSSL (cryptography's bundled OpenSSL) does the handshake; the ``h2`` library builds the
HTTP/2 preface and recognises the server's SETTINGS frame. Alerts are taken from OpenSSL's info callback (the
alert code itself), not from error strings.

:func:`local_support` says which versions and weak cipher families this OpenSSL can offer at all, so that a
caller never reports as refused a suite that was never offered.
"""

from __future__ import annotations

import collections
import errno
import functools
import ipaddress
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from probes.errors import CertificateError
from probes.pki import PrivateKeyPEM
from probes.timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = [
    "TLSVersion",
    "WeakFamily",
    "ClientIdentity",
    "TLSOffer",
    "HandshakeOutcome",
    "Rejection",
    "HandshakeResult",
    "LocalSupport",
    "Dial",
    "AFTER_HANDSHAKE_STEPS",
    "DEFAULT_CIPHERS",
    "handshake",
    "local_support",
    "weak_cipher_offer",
    "alert_name",
    "close_abortively",
]


class TLSVersion(str, Enum):
    SSLv3 = "SSLv3"
    TLSv1 = "TLSv1"
    TLSv1_1 = "TLSv1.1"
    TLSv1_2 = "TLSv1.2"
    TLSv1_3 = "TLSv1.3"


_ORDER = list(TLSVersion)
_OPENSSL_VERSION = {
    TLSVersion.SSLv3: SSL.SSL3_VERSION,
    TLSVersion.TLSv1: SSL.TLS1_VERSION,
    TLSVersion.TLSv1_1: SSL.TLS1_1_VERSION,
    TLSVersion.TLSv1_2: SSL.TLS1_2_VERSION,
    TLSVersion.TLSv1_3: SSL.TLS1_3_VERSION,
}


class WeakFamily(str, Enum):
    """The weak cipher families of T-WEAK-CIPHERS-REFUSED, valued with the profile's names."""

    NULL = "NULL"
    ANONYMOUS = "aNULL"
    EXPORT = "EXPORT"
    RC4 = "RC4"
    DES = "DES"
    TRIPLE_DES = "3DES"


# The OpenSSL cipher-string alias of each family (eNULL: no encryption; aNULL: no authentication).
_FAMILY_ALIAS = {
    WeakFamily.NULL: "eNULL",
    WeakFamily.ANONYMOUS: "aNULL",
    WeakFamily.EXPORT: "EXPORT",
    WeakFamily.RC4: "RC4",
    WeakFamily.DES: "DES",
    WeakFamily.TRIPLE_DES: "3DES",
}


# The default offer for TLS <= 1.2: OpenSSL's DEFAULT list (no NULL, no anonymous suites), at security level 0 so
# that legacy versions, SHA-1 signatures and small keys are offered and accepted: the probe captures what the
# server does, and the key-strength and version controls judge it later.
DEFAULT_CIPHERS = "DEFAULT:@SECLEVEL=0"
# Before sending a request after a TLS 1.3 handshake, wait this long (at most) for the server's verdict on our
# Finished/certificate: a server that refuses sends an alert then, and if our request were already on its way,
# closing the connection with unread data would turn that alert into a bare TCP reset on our side.
_TLS13_SETTLE_SECONDS = 0.25
_READ_CHUNK = 65536
AFTER_HANDSHAKE_STEPS = ("auto", "h2", "http1", "read", "none")

# TLS alert descriptions (RFC 8446 section 6, RFC 5246 7.2, RFC 7301), as OpenSSL spells them.
_ALERTS = {
    0: "close notify", 10: "unexpected message", 20: "bad record mac", 21: "decryption failed",
    22: "record overflow", 30: "decompression failure", 40: "handshake failure", 41: "no certificate",
    42: "bad certificate", 43: "unsupported certificate", 44: "certificate revoked", 45: "certificate expired",
    46: "certificate unknown", 47: "illegal parameter", 48: "unknown ca", 49: "access denied", 50: "decode error",
    51: "decrypt error", 60: "export restriction", 70: "protocol version", 71: "insufficient security",
    80: "internal error", 86: "inappropriate fallback", 90: "user canceled", 100: "no renegotiation",
    109: "missing extension", 110: "unsupported extension", 111: "certificate unobtainable",
    112: "unrecognized name", 113: "bad certificate status response", 114: "bad certificate hash value",
    115: "unknown psk identity", 116: "certificate required", 120: "no application protocol",
}


# The alert level of a fatal alert (RFC 5246 7.2), as OpenSSL's info callback reports it in the high byte.
_FATAL = 2


def alert_name(code: int) -> str:
    """The name of a TLS alert description code, e.g. 116 -> 'certificate required'."""
    return _ALERTS.get(code, f"alert {code}")


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate to present, held in memory only.

    Attributes:
        cert_pem: the leaf, optionally followed by intermediates (PEM); not shown in repr (long, not secret).
        key: the leaf's private key (masked in repr).
        label: what this identity stands for: "configured", "foreign-ca", "self-signed-clone", "expired",
            "no-clientauth".
    """

    cert_pem: bytes = field(repr=False)
    key: PrivateKeyPEM = field(repr=False)
    label: str = "configured"


@dataclass(frozen=True)
class TLSOffer:
    """What the client offers in one handshake.

    Attributes:
        server_name: the SNI to send (None: none; an IP literal is never sent as SNI, per RFC 6066).
        versions: the protocol versions offered; must be contiguous (OpenSSL offers a range).
        ciphers: OpenSSL cipher string for TLS <= 1.2 (None: :data:`DEFAULT_CIPHERS`). ``@SECLEVEL=0`` is added
            when the string has no ``@SECLEVEL`` of its own, so legacy and weak suites are really offered.
        tls13_ciphers: TLS 1.3 suites, colon separated (None: the library default).
        alpn: ALPN protocols offered, e.g. ("h2",).
        client: the client certificate to present, or None.
        after_handshake: "h2" (send the HTTP/2 preface, wait for SETTINGS), "http1" (send GET / with the SNI as
            Host), "read" (just read), "none"; "auto" means h2 if ALPN negotiated h2, http1 if it negotiated
            http/1.1, otherwise read under TLS 1.3 (where a late rejection is possible) and none below it.
    """

    server_name: str | None
    versions: tuple[TLSVersion, ...] = (TLSVersion.TLSv1_2, TLSVersion.TLSv1_3)
    ciphers: str | None = None
    tls13_ciphers: str | None = None
    alpn: tuple[str, ...] = ()
    client: ClientIdentity | None = None
    after_handshake: str = "auto"


class HandshakeOutcome(str, Enum):
    ACCEPTED = "accepted"  # completed, and no rejection arrived after it
    REJECTED = "rejected"  # peer refused: alert, reset, EOF, during or right after the handshake
    TIMEOUT = "timeout"  # connect, handshake or post-handshake read exceeded its limit without a verdict
    UNREACHABLE = "unreachable"  # TCP connect refused (or the port-forward failed)


class Rejection(str, Enum):
    ALERT = "alert"  # the peer sent a TLS alert (see HandshakeResult.alert)
    RESET = "reset"  # TCP reset
    EOF = "eof"  # the peer closed the connection (no alert, or a bare close_notify)
    NOT_TLS = "not-tls"  # the peer answered with something that is not TLS
    VERSION = "version-mismatch"  # the peer chose a protocol version we did not offer
    NO_SHARED_CIPHER = "no-shared-cipher"  # the peer chose a suite we did not offer
    PROTOCOL = "protocol-error"  # our side aborted for another reason; HandshakeResult.detail has OpenSSL's words


@dataclass(frozen=True)
class HandshakeResult:
    """What one handshake observed.

    Attributes:
        offer: what was offered.
        outcome: accepted, rejected, timeout or unreachable.
        completed: the TLS handshake itself finished (True also for a late rejection).
        late_rejection: rejected only after the handshake completed (the TLS 1.3 client-certificate case).
        version: the negotiated version (e.g. "TLSv1.3"), None when no handshake completed.
        cipher: the negotiated suite in OpenSSL's name (e.g. "TLS_AES_128_GCM_SHA256").
        alpn: the negotiated ALPN protocol, None when none.
        peer_chain_der: the certificates the peer sent, DER, in the order sent (leaf first); not in repr.
        offered_ciphers: the TLS <= 1.2 suites actually offered (OpenSSL names), for the evidence.
        rejection: how the peer refused, None unless outcome is REJECTED.
        alert: the alert the peer sent (e.g. "certificate required"), None when none.
        detail: one readable sentence.
        elapsed: seconds from dialing to the verdict (monotonic clock).
    """

    offer: TLSOffer
    outcome: HandshakeOutcome
    completed: bool
    late_rejection: bool
    version: str | None
    cipher: str | None
    alpn: str | None
    peer_chain_der: tuple[bytes, ...] = field(repr=False)
    offered_ciphers: tuple[str, ...] = field(repr=False)
    rejection: Rejection | None
    alert: str | None
    detail: str
    elapsed: float


@dataclass(frozen=True)
class LocalSupport:
    """What the local OpenSSL (pyOpenSSL's) can offer at all.

    Attributes:
        library: the OpenSSL version string.
        versions: the protocol versions it can put in a ClientHello.
        weak_ciphers: per weak family (by :class:`WeakFamily` value), the TLS <= 1.2 suites it has; an empty
            tuple means the family is compiled out and can never be offered.
    """

    library: str
    versions: tuple[TLSVersion, ...]
    weak_ciphers: dict[str, tuple[str, ...]]

    def can_offer_version(self, version: TLSVersion) -> bool:
        return version in self.versions

    def can_offer_family(self, family: WeakFamily) -> bool:
        return bool(self.weak_ciphers.get(WeakFamily(family).value))


# A dial function opens a TCP connection: (address, connect timeout) -> connected socket.
Dial = Callable[[tuple[str, int], float], socket.socket]


# --- what the local library can do --------------------------------------------------------------------------


def _clienthello_possible(version: TLSVersion) -> bool:
    """Whether OpenSSL writes a ClientHello offering only ``version`` (in memory, no network)."""
    try:
        ctx = SSL.Context(SSL.TLS_METHOD)
        ctx.set_min_proto_version(_OPENSSL_VERSION[version])
        ctx.set_max_proto_version(_OPENSSL_VERSION[version])
        ctx.set_cipher_list(b"ALL:@SECLEVEL=0")
        conn = SSL.Connection(ctx, None)
        conn.set_connect_state()
        conn.do_handshake()
    except SSL.WantReadError:
        return len(conn.bio_read(_READ_CHUNK)) > 0
    except SSL.Error:
        return False
    return False


def _family_ciphers(family: WeakFamily) -> tuple[str, ...]:
    """The TLS <= 1.2 suites of a family that this OpenSSL has (PSK/SRP suites left out: never offered)."""
    try:
        ctx = SSL.Context(SSL.TLS_METHOD)
        ctx.set_cipher_list(f"{_FAMILY_ALIAS[family]}:@SECLEVEL=0".encode())
        names = SSL.Connection(ctx, None).get_cipher_list()
    except SSL.Error:
        return ()
    return tuple(n for n in names if not n.startswith("TLS_") and "PSK" not in n and "SRP" not in n)


@functools.lru_cache(maxsize=1)
def local_support() -> LocalSupport:
    """Which versions and weak cipher families this OpenSSL can offer (computed once, no network)."""
    library = SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()
    versions = tuple(v for v in TLSVersion if _clienthello_possible(v))
    return LocalSupport(library, versions, {f.value: _family_ciphers(f) for f in WeakFamily})


def weak_cipher_offer(family: WeakFamily | str) -> str | None:
    """The cipher string that offers exactly the suites of ``family`` this OpenSSL has, or None when it has
    none (then the family cannot be tested from here and must not be reported as refused).

    Offer it with TLS <= 1.2 only: with TLS 1.3 in the offer the server would pick a TLS 1.3 suite instead.
    """
    names = local_support().weak_ciphers.get(WeakFamily(family).value, ())
    return ":".join(names) + ":@SECLEVEL=0" if names else None


# --- building the client context ------------------------------------------------------------------------------


def _version_range(versions: tuple[TLSVersion, ...]) -> tuple[TLSVersion, TLSVersion]:
    if not versions:
        raise ValueError("a TLS offer needs at least one protocol version")
    indexes = sorted({_ORDER.index(TLSVersion(v)) for v in versions})
    if indexes != list(range(indexes[0], indexes[-1] + 1)):
        raise ValueError(f"offered versions must be contiguous (OpenSSL offers a range), given: {versions}")
    support = local_support()
    missing = [v.value for v in (_ORDER[i] for i in indexes) if not support.can_offer_version(v)]
    if missing:
        raise ValueError(f"{support.library} cannot offer {', '.join(missing)}; check local_support() first")
    return _ORDER[indexes[0]], _ORDER[indexes[-1]]


def _cipher_string(ciphers: str | None) -> str:
    if ciphers is None:
        return DEFAULT_CIPHERS
    return ciphers if "@SECLEVEL" in ciphers else f"{ciphers}:@SECLEVEL=0"


def _load_identity(ctx: SSL.Context, identity: ClientIdentity) -> None:
    where = f"the client certificate {identity.label!r}"
    try:
        certs = x509.load_pem_x509_certificates(identity.cert_pem)
    except ValueError:
        raise CertificateError(f"{where} is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(identity.key.bytes(), password=None)
    except (ValueError, TypeError):
        raise CertificateError(f"the private key of {where} cannot be loaded (not an unencrypted PEM key)") from None
    ctx.use_certificate(certs[0])
    for extra in certs[1:]:
        ctx.add_extra_chain_cert(extra)
    try:
        ctx.use_privatekey(key)
        ctx.check_privatekey()
    except SSL.Error:
        raise CertificateError(f"the private key of {where} does not belong to its certificate") from None


class _Observer:
    """Collects what OpenSSL's info callback reports for one connection: the alerts received, and session tickets
    read after the handshake (a TLS 1.3 server sends them only once it has accepted our Finished and certificate).
    It is the connection's app data; the context's callback (:func:`_info_callback`) finds it there."""

    def __init__(self) -> None:
        self.alerts_received: list[int] = []
        self.tickets = 0

    def __call__(self, conn: SSL.Connection, where: int, ret: int) -> None:
        if where & SSL.SSL_CB_READ_ALERT == SSL.SSL_CB_READ_ALERT:
            level, code = ret >> 8, ret & 0xFF
            if level == _FATAL or code == 0:  # a warning (e.g. unrecognized_name) refuses nothing; close_notify ends
                self.alerts_received.append(code)
        elif where & SSL.SSL_CB_LOOP and b"session ticket" in (conn.get_state_string() or b""):
            self.tickets += 1

    @property
    def last_alert(self) -> int | None:
        return self.alerts_received[-1] if self.alerts_received else None


def _info_callback(conn: SSL.Connection, where: int, ret: int) -> None:
    observer = conn.get_app_data()
    if observer is not None:
        observer(conn, where, ret)


# Contexts without a client certificate are shared between handshakes with the same offer (apart from the SNI, which
# is set per connection): building one costs more than a loopback handshake, and a thousand SNI handshakes differ
# only in the name. A context is never changed after it is built, so threads share it safely. Contexts with a client
# certificate are not kept: each identity is offered in a handful of shapes at most, and its key should not outlive
# the handshakes that use it.
_CONTEXT_CACHE_SIZE = 32
_contexts: "collections.OrderedDict[tuple, SSL.Context]" = collections.OrderedDict()
_contexts_lock = threading.Lock()


def _build_context(offer: TLSOffer, low: TLSVersion, high: TLSVersion) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_min_proto_version(_OPENSSL_VERSION[low])
    ctx.set_max_proto_version(_OPENSSL_VERSION[high])
    try:
        ctx.set_cipher_list(_cipher_string(offer.ciphers).encode())
    except SSL.Error:
        raise ValueError(f"no suite of the cipher string {offer.ciphers!r} exists in this OpenSSL") from None
    if offer.tls13_ciphers is not None:
        try:
            ctx.set_tls13_ciphersuites(offer.tls13_ciphers.encode())
        except SSL.Error:
            raise ValueError(f"no TLS 1.3 suite of {offer.tls13_ciphers!r} exists in this OpenSSL") from None
    ctx.set_verify(SSL.VERIFY_NONE)  # capture only: the chain and names are judged elsewhere
    ctx.set_options(SSL.OP_NO_TICKET)  # no resumption (TLS 1.3 servers still send tickets: see _settle)
    if offer.alpn:
        ctx.set_alpn_protos([p.encode() for p in offer.alpn])
    if offer.client is not None:
        _load_identity(ctx, offer.client)
    ctx.set_info_callback(_info_callback)
    return ctx


def _context(offer: TLSOffer) -> SSL.Context:
    """The client context for ``offer`` (without a client certificate: cached by everything in the offer but the
    SNI); ValueError for a malformed offer, CertificateError for an unusable client certificate."""
    if offer.after_handshake not in AFTER_HANDSHAKE_STEPS:
        raise ValueError(f"after_handshake must be one of {AFTER_HANDSHAKE_STEPS}, given: {offer.after_handshake!r}")
    low, high = _version_range(offer.versions)
    if offer.client is not None:
        return _build_context(offer, low, high)
    key = (low, high, offer.ciphers, offer.tls13_ciphers, tuple(offer.alpn))
    with _contexts_lock:
        ctx = _contexts.get(key)
        if ctx is not None:
            _contexts.move_to_end(key)
            return ctx
    ctx = _build_context(offer, low, high)
    with _contexts_lock:
        _contexts[key] = ctx
        while len(_contexts) > _CONTEXT_CACHE_SIZE:
            _contexts.popitem(last=False)
    return ctx


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


# --- driving a non-blocking connection ------------------------------------------------------------------------


class _OutOfTime(Exception):
    """The deadline passed while waiting for the socket."""


def _wait(sock: socket.socket, *, write: bool, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _OutOfTime
    with selectors.DefaultSelector() as sel:  # not select(): it fails for descriptors >= 1024
        sel.register(sock, selectors.EVENT_WRITE if write else selectors.EVENT_READ)
        if not sel.select(left):
            raise _OutOfTime


def _drive(op: Callable[[], object], sock: socket.socket, deadline: float):
    """Run a pyOpenSSL operation on a non-blocking socket until it finishes or the deadline passes."""
    while True:
        try:
            return op()
        except SSL.WantReadError:
            _wait(sock, write=False, deadline=deadline)
        except SSL.WantWriteError:
            _wait(sock, write=True, deadline=deadline)


def _send_all(conn: SSL.Connection, sock: socket.socket, data: bytes, deadline: float) -> None:
    view = memoryview(data)
    while view:
        sent = _drive(lambda: conn.send(view), sock, deadline)
        view = view[sent:]


# --- classifying failures -------------------------------------------------------------------------------------

_NOT_TLS = ("wrong version number", "packet length too long", "http request", "https proxy request",
            "unknown protocol", "record layer failure", "length too long", "bad record type")
_VERSION = ("unsupported protocol", "version too low", "version too high", "wrong ssl version",
            "unknown ssl version", "no protocols available", "tlsv1 alert protocol version")
_CIPHER = ("wrong cipher returned", "no shared cipher", "unknown cipher returned", "no ciphers available")


def _reasons(exc: SSL.Error) -> str:
    parts = []
    for item in exc.args[0] if exc.args and isinstance(exc.args[0], list) else []:
        if isinstance(item, tuple) and item:
            parts.append(str(item[-1]))
    return "; ".join(p for p in parts if p) or str(exc)


@dataclass(frozen=True)
class _Refusal:
    rejection: Rejection
    alert: str | None
    words: str


def _classify(exc: Exception, observer: _Observer) -> _Refusal:
    """Turn a pyOpenSSL/socket failure into how the peer refused us."""
    code = observer.last_alert
    if code is not None and code != 0:
        return _Refusal(Rejection.ALERT, alert_name(code), f"the peer sent the TLS alert '{alert_name(code)}'")
    if isinstance(exc, SSL.ZeroReturnError) or code == 0:
        return _Refusal(Rejection.EOF, None, "the peer closed the TLS connection (close_notify)")
    if isinstance(exc, SSL.SysCallError):
        number = exc.args[0] if exc.args else -1
        if number in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
            return _Refusal(Rejection.RESET, None, "the peer reset the TCP connection")
        return _Refusal(Rejection.EOF, None, "the peer closed the TCP connection")
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return _Refusal(Rejection.RESET, None, "the peer reset the TCP connection")
    words = _reasons(exc) if isinstance(exc, SSL.Error) else str(exc)
    low = words.lower()
    if "unexpected eof" in low:
        return _Refusal(Rejection.EOF, None, "the peer closed the TCP connection")
    if any(s in low for s in _NOT_TLS):
        return _Refusal(Rejection.NOT_TLS, None, f"the peer did not answer in TLS (OpenSSL: {words})")
    if any(s in low for s in _VERSION):
        return _Refusal(Rejection.VERSION, None,
                        f"the peer chose a protocol version we did not offer (OpenSSL: {words})")
    if any(s in low for s in _CIPHER):
        return _Refusal(Rejection.NO_SHARED_CIPHER, None, f"no suite we offered was chosen (OpenSSL: {words})")
    return _Refusal(Rejection.PROTOCOL, None, f"the handshake failed (OpenSSL: {words})")


# --- after the handshake --------------------------------------------------------------------------------------


def _step(offer: TLSOffer, version: str | None, alpn: str | None) -> str:
    if offer.after_handshake != "auto":
        return offer.after_handshake
    if alpn == "h2":
        return "h2"
    if alpn == "http/1.1":
        return "http1"
    return "read" if version == TLSVersion.TLSv1_3.value else "none"


def _h2_state() -> tuple[h2.connection.H2Connection, bytes]:
    state = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    state.initiate_connection()
    return state, state.data_to_send()


def _h2_settings(state: h2.connection.H2Connection, data: bytes) -> str | None:
    """'settings' when the server's SETTINGS arrived, 'other' for a non-HTTP/2 answer, None: need more bytes."""
    try:
        events = state.receive_data(data)
    except h2.exceptions.ProtocolError:
        return "other"
    return "settings" if any(isinstance(e, h2.events.RemoteSettingsChanged) for e in events) else None


@dataclass(frozen=True)
class _After:
    accepted: bool
    refusal: _Refusal | None
    detail: str
    silent: bool = False  # nothing came back and the connection stayed open: no verdict under TLS 1.3


@dataclass(frozen=True)
class _Answer:
    data: bytes
    ending: str  # "done": ``done`` said so; "timeout": the deadline passed; "closed": data, then the peer closed


def _read_until(conn, sock, deadline: float, done: Callable[[bytes], bool]) -> _Answer:
    """Read until ``done(new bytes)`` is true, the deadline passes, or the peer closes after sending something.
    A close or error before any byte came back raises (it is the peer's verdict)."""
    got = b""
    while True:
        try:
            chunk = _drive(lambda: conn.recv(_READ_CHUNK), sock, deadline)
        except _OutOfTime:
            return _Answer(got, "timeout")
        except (SSL.Error, OSError):
            if got:
                return _Answer(got, "closed")
            raise
        if not chunk:  # pyOpenSSL raises on EOF; an empty read means EOF all the same
            if got:
                return _Answer(got, "closed")
            raise SSL.ZeroReturnError()
        got += chunk
        if done(chunk):
            return _Answer(got, "done")


def _settle(conn, sock, observer: _Observer, seconds: float) -> tuple[bytes, str]:
    """Wait (without writing) for a TLS 1.3 server's verdict on our Finished and certificate.

    Returns (application data, "data") when the server spoke on its own (it accepted us), (b"", "ticket") when a
    session ticket came (OpenSSL, Go and BoringSSL servers that request a certificate send tickets only once they
    have accepted it), (b"", "timeout") when nothing came; an alert or a close raises."""
    seen = observer.tickets
    deadline = time.monotonic() + seconds
    while True:
        try:
            chunk = conn.recv(_READ_CHUNK)
        except SSL.WantReadError:
            if observer.tickets != seen:
                return b"", "ticket"
            try:
                _wait(sock, write=False, deadline=deadline)
            except _OutOfTime:
                return b"", "timeout"
            continue
        if not chunk:
            raise SSL.ZeroReturnError()
        return chunk, "data"


def _first_bytes(data: bytes) -> str:
    return repr(data[:24])


def _after_h2(conn, sock, early: bytes, read_timeout: float) -> _After:
    state, preface = _h2_state()
    verdict: list[str | None] = [None]

    def settings(chunk: bytes) -> bool:
        verdict[0] = _h2_settings(state, chunk)
        return verdict[0] is not None

    if early:
        what = "HTTP/2 SETTINGS" if settings(early) and verdict[0] == "settings" else "data"
        return _After(True, None, f"the server sent {what} right after the handshake")
    deadline = time.monotonic() + read_timeout
    _send_all(conn, sock, preface, deadline)
    answer = _read_until(conn, sock, deadline, settings)
    if verdict[0] == "settings":
        return _After(True, None, "the server answered the HTTP/2 preface with SETTINGS")
    if answer.data:
        return _After(True, None, f"the server answered the HTTP/2 preface, but not with SETTINGS "
                                  f"({_first_bytes(answer.data)})")
    return _After(True, None, f"nothing came back to the HTTP/2 preface within {read_timeout:.1f}s and the "
                              "connection stayed open", silent=True)


def _http1_request(host: str) -> bytes:
    name = host if host.isascii() else host.encode("idna").decode("ascii")
    return (f"GET / HTTP/1.1\r\nHost: {name}\r\nUser-Agent: direktiv-tls-conformance\r\nAccept: */*\r\n"
            "Connection: close\r\n\r\n").encode("ascii")


def _after_http1(conn, sock, early: bytes, read_timeout: float, host: str) -> _After:
    if early:
        return _After(True, None, "the server sent data right after the handshake")
    deadline = time.monotonic() + read_timeout
    _send_all(conn, sock, _http1_request(host), deadline)
    answer = _read_until(conn, sock, deadline, lambda chunk: True)
    if answer.data:
        first = answer.data.split(b"\r\n", 1)[0][:60].decode("latin-1")
        return _After(True, None, f"the server answered the HTTP request ({first!r})")
    return _After(True, None, f"nothing came back to the HTTP request within {read_timeout:.1f}s and the "
                              "connection stayed open", silent=True)


def _after_read(conn, sock, observer: _Observer, read_timeout: float) -> _After:
    data, how = _settle(conn, sock, observer, read_timeout)
    if how == "data":
        return _After(True, None, "the server sent data after the handshake")
    if how == "ticket":
        return _After(True, None, "the server sent a session ticket after our Finished, so it accepted the handshake")
    return _After(True, None, f"nothing came back within {read_timeout:.1f}s after the handshake and the "
                              "connection stayed open", silent=True)


def _after_handshake(step: str, conn, sock, observer: _Observer, version: str | None,
                     read_timeout: float, host: str) -> _After:
    """The step after a completed handshake that lets a late (TLS 1.3) rejection show."""
    if step == "none":
        return _After(True, None, "no step after the handshake was asked for")
    try:
        early = b""
        if version == TLSVersion.TLSv1_3.value and step in ("h2", "http1"):
            early, _ = _settle(conn, sock, observer, min(_TLS13_SETTLE_SECONDS, read_timeout))
        if step == "h2":
            return _after_h2(conn, sock, early, read_timeout)
        if step == "http1":
            return _after_http1(conn, sock, early, read_timeout, host)
        return _after_read(conn, sock, observer, read_timeout)
    except (SSL.Error, OSError) as exc:
        refusal = _classify(exc, observer)
        return _After(False, refusal, refusal.words)
    except _OutOfTime:
        return _After(True, None, f"the server did not take our request within {read_timeout:.1f}s "
                                  "and the connection stayed open", silent=True)


# --- the probe ------------------------------------------------------------------------------------------------


def _default_dial(address: tuple[str, int], timeout: float) -> socket.socket:
    return socket.create_connection(address, timeout=timeout)


def close_abortively(sock: socket.socket) -> None:
    """Close with a TCP reset instead of a FIN: the probe has its verdict and reads nothing more. Through a
    port-forward this matters: the websocket protocol has no half-close, so a forwarder that sees a FIN must keep the
    stream open for a while in case an answer is still to come; a reset tells it at once that nobody will read it.
    What was already sent still arrives (the reset only follows it)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def _where(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"


def handshake(
    address: tuple[str, int],
    offer: TLSOffer,
    *,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    dial: Dial | None = None,
) -> HandshakeResult:
    """Dial ``address``, perform one TLS handshake as ``offer`` says, take the post-handshake step, and record
    what happened. Network failures become outcomes, never exceptions; a malformed offer raises ValueError,
    an unusable client certificate raises :class:`~probes.errors.CertificateError`."""
    observer = _Observer()
    ctx = _context(offer)  # before dialing: a bad offer is the caller's error
    start = time.monotonic()
    where = _where(address)

    def result(outcome, *, completed=False, late=False, version=None, cipher=None, alpn=None, chain=(),
               offered=(), refusal: _Refusal | None = None, detail: str) -> HandshakeResult:
        return HandshakeResult(
            offer=offer, outcome=outcome, completed=completed, late_rejection=late, version=version,
            cipher=cipher, alpn=alpn, peer_chain_der=tuple(chain), offered_ciphers=tuple(offered),
            rejection=refusal.rejection if refusal else None, alert=refusal.alert if refusal else None,
            detail=detail, elapsed=time.monotonic() - start,
        )

    try:
        sock = (dial or _default_dial)(address, timeouts.connect)
    except (socket.timeout, TimeoutError):
        return result(HandshakeOutcome.TIMEOUT,
                      detail=f"TCP connect to {where} timed out after {timeouts.connect:.1f}s")
    except OSError as exc:
        return result(HandshakeOutcome.UNREACHABLE,
                      detail=f"TCP connect to {where} failed: {exc.strerror or exc}")
    try:
        sock.setblocking(False)
        conn = SSL.Connection(ctx, sock)
        conn.set_app_data(observer)
        conn.set_connect_state()
        if offer.server_name and not _is_ip(offer.server_name):
            conn.set_tlsext_host_name(offer.server_name.encode("idna"))
        offered = tuple(n for n in conn.get_cipher_list() if not n.startswith("TLS_"))
        deadline = time.monotonic() + timeouts.handshake
        try:
            _drive(conn.do_handshake, sock, deadline)
        except _OutOfTime:
            return result(HandshakeOutcome.TIMEOUT, offered=offered,
                          detail=f"the TLS handshake with {where} got no verdict within {timeouts.handshake:.1f}s")
        except (SSL.Error, OSError) as exc:
            refusal = _classify(exc, observer)
            return result(HandshakeOutcome.REJECTED, offered=offered, refusal=refusal,
                          detail=f"{refusal.words} during the handshake with {where}")
        version = conn.get_protocol_version_name()
        cipher = conn.get_cipher_name()
        alpn = (conn.get_alpn_proto_negotiated() or b"").decode("ascii", "replace") or None
        chain = tuple(c.public_bytes(serialization.Encoding.DER)
                      for c in (conn.get_peer_cert_chain(as_cryptography=True) or []))
        done = dict(completed=True, version=version, cipher=cipher, alpn=alpn, chain=chain, offered=offered)
        step = _step(offer, version, alpn)
        host = offer.server_name or address[0]
        after = _after_handshake(step, conn, sock, observer, version, timeouts.read, host)
        if after.silent and version == TLSVersion.TLSv1_3.value:
            # A TLS 1.3 server judges our certificate after the handshake: silence is no verdict, neither way.
            return result(HandshakeOutcome.TIMEOUT, **done,
                          detail=f"{version} handshake with {where} completed, then {after.detail}: no verdict")
        if after.accepted:
            return result(HandshakeOutcome.ACCEPTED, **done,
                          detail=f"{version} handshake with {where} completed ({cipher}); {after.detail}")
        return result(HandshakeOutcome.REJECTED, **done, late=True, refusal=after.refusal,
                      detail=f"{version} handshake with {where} completed, then {after.detail}")
    finally:
        close_abortively(sock)
