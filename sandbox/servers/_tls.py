"""TLS policy and pyOpenSSL: what a Go-like or Envoy-like server negotiates and demands of client certificates.

Records: :class:`ClientAuth` (Go's tls.ClientAuthType), :class:`VerifyErrorKind` (what a lax client verifier may
ignore), :class:`ServerTLS` (a ``kubernetes.io/tls`` secret as a server loads it) and :class:`TLSPolicy`
(versions, suites, ALPN). Below them, the server context built from those records and a server-side TLS stream
over a non-blocking socket.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Iterable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto

from probes.pki import IssuedCertificate, PrivateKeyPEM
from sandbox.servers._listeners import _drain_and_close, _wait_io

_log = logging.getLogger(__name__)

# Go 1.15 crypto/tls defaultCipherSuites (TLS 1.0-1.2), in Go's order, as OpenSSL names. The two 3DES suites are
# Go defaults too; the OpenSSL bundled here has no 3DES and silently leaves them out.
GO_1_15_CIPHERS = ":".join([
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-RSA-AES256-SHA",
    "AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA", "AES256-SHA",
    "ECDHE-RSA-DES-CBC3-SHA", "DES-CBC3-SHA",
])
# Contour's default cipher list for Envoy listeners (BoringSSL's [a|b] groups flattened).
ENVOY_CIPHERS = ":".join([
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
])
# Weak suites for a misconfiguration scenario: append to a policy's ciphers, keep security_level 0. OpenSSL here
# offers the NULL and anonymous ones; it has no 3DES, DES or RC4, so those names match nothing.
WEAK_CIPHERS = ":".join([
    "NULL-SHA256", "NULL-SHA", "ECDHE-ECDSA-NULL-SHA", "ECDHE-RSA-NULL-SHA", "AECDH-AES128-SHA", "ADH-AES128-SHA",
    "DES-CBC3-SHA", "RC4-SHA",
])

_VERSIONS = {
    "TLSv1": SSL.TLS1_VERSION,
    "TLSv1.1": SSL.TLS1_1_VERSION,
    "TLSv1.2": SSL.TLS1_2_VERSION,
    "TLSv1.3": SSL.TLS1_3_VERSION,
}


# --- records -----------------------------------------------------------------------------------------------


class ClientAuth(str, Enum):
    """What a server asks of the client's certificate (Go's tls.ClientAuthType)."""

    NONE = "none"  # tls.NoClientCert
    REQUEST = "request"  # tls.RequestClientCert: asked for, never verified
    REQUIRE_ANY = "require-any"  # tls.RequireAnyClientCert: required, never verified
    VERIFY_IF_GIVEN = "verify-if-given"  # tls.VerifyClientCertIfGiven
    REQUIRE_AND_VERIFY = "require-and-verify"  # tls.RequireAndVerifyClientCert (Direktiv's mTLS)


# The modes that verify a client certificate against ``client_ca_pem``.
_VERIFYING = (ClientAuth.VERIFY_IF_GIVEN, ClientAuth.REQUIRE_AND_VERIFY)


class VerifyErrorKind(str, Enum):
    """A kind of X.509 verification error that a lax client-certificate verifier ignores (a custom Go
    VerifyPeerCertificate that lets one error through)."""

    UNKNOWN_ISSUER = "unknown-issuer"  # 'unable to get local issuer certificate': a foreign CA's client passes
    SELF_SIGNED = "self-signed"  # 'self-signed certificate': a clone of the client certificate passes
    EXPIRED = "expired"  # 'certificate has expired' (or is not yet valid)
    WRONG_PURPOSE = "wrong-purpose"  # 'unsupported certificate purpose': a client without the clientAuth EKU passes


# OpenSSL's X509_V_ERR_* numbers for each kind.
_OPENSSL_ERRORS: dict[VerifyErrorKind, frozenset[int]] = {
    # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
    VerifyErrorKind.UNKNOWN_ISSUER: frozenset({20, 21}),
    # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
    VerifyErrorKind.SELF_SIGNED: frozenset({18, 19}),
    # X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CERT_NOT_YET_VALID
    VerifyErrorKind.EXPIRED: frozenset({10, 9}),
    # X509_V_ERR_INVALID_PURPOSE
    VerifyErrorKind.WRONG_PURPOSE: frozenset({26}),
}


@dataclass(frozen=True)
class ServerTLS:
    """A server's TLS identity and its demand on clients, from a ``kubernetes.io/tls`` secret.

    Attributes:
        cert_pem: ``tls.crt``: the leaf, then any intermediates.
        key: ``tls.key`` (masked in repr).
        client_ca_pem: ``ca.crt``, the pool client certificates are verified against (Go's ClientCAs).
        client_auth: what is asked of clients; verifying modes need ``client_ca_pem``.
        ignore_errors: verification errors of these kinds count as passed (a lax verifier); only with a verifying
            ``client_auth``. Any iterable of :class:`VerifyErrorKind` (or their values) is taken.
    """

    cert_pem: bytes
    key: PrivateKeyPEM = field(repr=False)
    client_ca_pem: bytes | None = None
    client_auth: ClientAuth = ClientAuth.NONE
    ignore_errors: frozenset[VerifyErrorKind] = frozenset()

    def __post_init__(self) -> None:
        if self.client_auth in _VERIFYING and not self.client_ca_pem:
            raise ValueError(f"client_auth {self.client_auth.value!r} needs client_ca_pem (the secret's ca.crt)")
        object.__setattr__(self, "ignore_errors", frozenset(VerifyErrorKind(e) for e in self.ignore_errors))
        if self.ignore_errors and self.client_auth not in _VERIFYING:
            raise ValueError(f"ignore_errors needs a verifying client_auth (verify-if-given or require-and-verify); "
                             f"{self.client_auth.value!r} verifies nothing")

    @classmethod
    def from_secret(cls, data: Mapping[str, bytes], *, mtls: bool = False) -> "ServerTLS":
        """What Direktiv loads from a mounted secret: tls.crt/tls.key, and with mTLS ca.crt as ClientCAs."""
        return cls(
            cert_pem=data["tls.crt"],
            key=PrivateKeyPEM(data["tls.key"]),
            client_ca_pem=data.get("ca.crt"),
            client_auth=ClientAuth.REQUIRE_AND_VERIFY if mtls else ClientAuth.NONE,
        )

    @classmethod
    def from_issued(cls, issued: IssuedCertificate, *, mtls: bool = False) -> "ServerTLS":
        return cls.from_secret(issued.secret_data(), mtls=mtls)


@dataclass(frozen=True)
class TLSPolicy:
    """How a pyOpenSSL-based server negotiates.

    Attributes:
        min_version: lowest accepted version, a TLSVersion value ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3").
        max_version: highest accepted version.
        ciphers: OpenSSL cipher list for TLS 1.2 and below (TLS 1.3 suites are OpenSSL's defaults, as in Go).
        security_level: OpenSSL's @SECLEVEL; 0 is needed for TLS 1.0/1.1 (SHA-1 handshake signatures) and for
            NULL or anonymous suites.
        alpn: protocols the server selects from, in its own order of preference; no overlap means no ALPN
            (Go 1.15 and OpenSSL both go on without it).
    """

    min_version: str = "TLSv1"
    max_version: str = "TLSv1.3"
    ciphers: str = GO_1_15_CIPHERS
    security_level: int = 0
    alpn: tuple[str, ...] = ("h2",)

    def __post_init__(self) -> None:
        for name in (self.min_version, self.max_version):
            if name not in _VERSIONS:
                raise ValueError(f"TLS version must be one of {sorted(_VERSIONS)}, given: {name!r}")
        if _VERSIONS[self.min_version] > _VERSIONS[self.max_version]:
            raise ValueError(f"min_version {self.min_version} is above max_version {self.max_version}")


# Direktiv's gRPC servers: Go 1.15 defaults; grpc-go's credentials.NewTLS sets NextProtos to ["h2"].
GO_GRPC_POLICY = TLSPolicy()
# Direktiv's API/UI: Go 1.15 net/http advertises h2 and http/1.1.
GO_HTTP_POLICY = TLSPolicy(alpn=("h2", "http/1.1"))
# Contour's Envoy listeners: TLS 1.2 minimum (Contour's default), TLS 1.3, h2 and http/1.1.
ENVOY_POLICY = TLSPolicy(min_version="TLSv1.2", ciphers=ENVOY_CIPHERS, security_level=1, alpn=("h2", "http/1.1"))


# --- the server context ------------------------------------------------------------------------------------


def _looks_like_tls(head: bytes) -> bool:
    """Go's first-record check: an alert or handshake record with a plausible version (crypto/tls conn.go)."""
    if not head or head[0] not in (0x15, 0x16):
        return False
    return len(head) < 2 or head[1] < 0x10


def _load_certs(pem: bytes, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise ValueError(f"{what} is not a PEM certificate bundle") from None
    return certs


def _server_context(tls: ServerTLS | None, policy: TLSPolicy) -> SSL.Context:
    """A server context from PEM bytes; without ``tls`` it has no certificate and fails every handshake with
    a handshake_failure alert (used for 'no certificate for this SNI')."""
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_min_proto_version(_VERSIONS[policy.min_version])
    ctx.set_max_proto_version(_VERSIONS[policy.max_version])
    ctx.set_cipher_list(f"{policy.ciphers}:@SECLEVEL={policy.security_level}".encode())
    ctx.set_session_id(b"direktiv-sandbox")  # needed once client certificates are verified
    if policy.alpn:
        ctx.set_alpn_select_callback(_alpn_selector(policy.alpn))
    if tls is None:
        return ctx
    leaf, *extra = _load_certs(tls.cert_pem, "tls.crt")
    ctx.use_certificate(leaf)
    for cert in extra:
        ctx.add_extra_chain_cert(cert)
    try:
        key = serialization.load_pem_private_key(tls.key.bytes(), password=None)
    except (ValueError, TypeError):
        raise ValueError("tls.key is not an unencrypted PEM private key") from None
    try:
        ctx.use_privatekey(key)
        ctx.check_privatekey()
    except SSL.Error:
        raise ValueError("tls.key is not the private key of tls.crt (Go's tls.X509KeyPair refuses it)") from None
    _configure_client_auth(ctx, tls)
    return ctx


def _accept_any(*_) -> bool:
    return True


def _ignoring(kinds: Iterable[VerifyErrorKind]) -> Callable[..., bool]:
    """A verify callback that passes what OpenSSL passed, and the errors of ``kinds`` as well."""
    ignored = frozenset().union(*(_OPENSSL_ERRORS[kind] for kind in kinds))

    def verify(_conn, _cert, errnum: int, _depth: int, ok: int) -> bool:
        return bool(ok) or errnum in ignored

    return verify


def _configure_client_auth(ctx: SSL.Context, tls: ServerTLS) -> None:
    if tls.client_auth is ClientAuth.NONE:
        return
    cas = _load_certs(tls.client_ca_pem, "ca.crt") if tls.client_ca_pem else []
    store = ctx.get_cert_store()
    for ca in cas:
        store.add_cert(crypto.X509.from_cryptography(ca))
        ctx.add_client_ca(ca)  # the certificate_authorities of the CertificateRequest, as Go sends them
    if tls.client_auth is ClientAuth.REQUEST:
        ctx.set_verify(SSL.VERIFY_PEER, _accept_any)
        return
    if tls.client_auth is ClientAuth.REQUIRE_ANY:
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, _accept_any)
        return
    # OpenSSL checks the chain and, as Go does, the clientAuth EKU (purpose ssl_client). With TLS 1.3 a client
    # without a certificate finishes its side of the handshake and then reads the alert "certificate required"
    # (Go 1.19 sends "bad certificate" there).
    flags = SSL.VERIFY_PEER
    if tls.client_auth is ClientAuth.REQUIRE_AND_VERIFY:
        flags |= SSL.VERIFY_FAIL_IF_NO_PEER_CERT
    if tls.ignore_errors:
        ctx.set_verify(flags, _ignoring(tls.ignore_errors))
    else:
        ctx.set_verify(flags)


def _alpn_selector(preference: tuple[str, ...]):
    ours = [p.encode() for p in preference]

    def select_protocol(_conn: SSL.Connection, offered: list[bytes]):
        for proto in ours:  # server preference, as Go's mutualProtocol
            if proto in offered:
                return proto
        return SSL.NO_OVERLAPPING_PROTOCOLS

    return select_protocol


# --- the server side of a connection -----------------------------------------------------------------------


class _TlsStream:
    """A pyOpenSSL server connection over a non-blocking socket; every operation has ``timeout`` seconds."""

    def __init__(self, sock: socket.socket, ctx: SSL.Context, *, timeout: float) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.timeout = timeout
        self.conn = SSL.Connection(ctx, sock)
        self.conn.set_accept_state()

    def _io(self, operation: Callable[[], object]):
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return operation()
            except SSL.WantReadError:
                _wait_io(self.sock, write=False, deadline=deadline)
            except SSL.WantWriteError:
                _wait_io(self.sock, write=True, deadline=deadline)

    def handshake(self) -> None:
        self._io(self.conn.do_handshake)

    @property
    def alpn(self) -> str | None:
        proto = self.conn.get_alpn_proto_negotiated()
        return proto.decode() if proto else None

    def recv(self, size: int) -> bytes:
        """Decrypted bytes; b"" once the peer closed (close_notify or EOF)."""
        try:
            return self._io(lambda: self.conn.recv(size))
        except (SSL.ZeroReturnError, SSL.SysCallError):
            return b""

    def recv_ready(self, size: int) -> bytes | None:
        """What can be read without waiting: bytes, b"" at the end, or None for 'nothing yet'."""
        try:
            return self.conn.recv(size)
        except (SSL.WantReadError, SSL.WantWriteError):
            return None
        except (SSL.ZeroReturnError, SSL.SysCallError):
            return b""

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            chunk = bytes(view[:16384])
            sent = self._io(lambda: self.conn.send(chunk))
            view = view[sent:]

    def close_notify(self) -> None:
        try:
            self.conn.shutdown()
        except SSL.Error:
            pass


def _accept_tls(sock: socket.socket, ctx: SSL.Context, timeout: float) -> _TlsStream | None:
    """Handshake as the server; on failure OpenSSL has sent its alert, and the connection is wound down."""
    stream = _TlsStream(sock, ctx, timeout=timeout)
    try:
        stream.handshake()
    except (SSL.Error, TimeoutError, OSError) as exc:
        _log.debug("handshake refused: %r", exc)
        _drain_and_close(sock)
        return None
    return stream
