"""Real servers on 127.0.0.1 that stand in for Direktiv's pods, its two Contours and broken peers.

Every server listens on an ephemeral port from the moment it is built, exposes ``address`` (host, port), is a
context manager, and ``stop()`` releases everything it holds: listening and accepted sockets closed, its
threads joined. One thread accepts per listening port (a selector with a wake-up socket) and one thread serves
each connection; every accepted socket has a timeout, and ``stop()`` shuts accepted sockets down so that
blocked reads return at once.

    GrpcHealthServer    grpcio with grpc.health.v1 (insecure, TLS, or TLS requiring a client certificate);
                        grpcio's own TLS (BoringSSL) starts at TLS 1.2: the conformant option.
    TLSTerminator       a Go 1.15 crypto/tls-like front (pyOpenSSL) that forwards decrypted bytes to a backend.
    GoTLSGrpcServer     TLSTerminator + insecure GrpcHealthServer: what Direktiv's gRPC ports really do
                        (TLS 1.0 accepted, RequireAndVerifyClientCert against the secret's ca.crt).
    GoHttpsServer       Direktiv API/UI on 8080: HTTPS with Go net/http's answers, or plaintext HTTP.
    LoadBalancer        the external Contour/Envoy: HTTPS by SNI, and port 80 with force-ssl-redirect.
    SniRouter           the internal Contour: HTTPS, certificate by SNI, with or without a default.
    SilentServer, ResetServer, GarbageServer, TricklingServer, RefusingPort: peers that misbehave.

Libraries: pyOpenSSL does the TLS of the Go-like and Envoy-like servers (it takes keys as bytes, and offers
TLS 1.0 and NULL/anonymous suites at security level 0), grpcio the gRPC servers, h11 and h2 the HTTP/1.1 and
HTTP/2 framing. Hand-written here: only Go's and Envoy's choices (which bytes count as TLS, the 400 texts, the
redirect), and the socket plumbing. Private keys stay in memory.
"""

from __future__ import annotations

import email.utils
import logging
import random
import select
import selectors
import socket
import struct
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Mapping, Protocol, runtime_checkable

import grpc
import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h11
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from OpenSSL import SSL, crypto

from probes.pki import IssuedCertificate, PrivateKeyPEM, self_signed_certificate

__all__ = [
    "Server",
    "ClientAuth",
    "ServerTLS",
    "TLSPolicy",
    "Trickle",
    "GO_1_15_CIPHERS",
    "ENVOY_CIPHERS",
    "WEAK_CIPHERS",
    "GO_GRPC_POLICY",
    "GO_HTTP_POLICY",
    "ENVOY_POLICY",
    "GO_HTTPS_PLAINTEXT_REPLY",
    "GO_BAD_REQUEST_REPLY",
    "DEFAULT_SERVICE_NAME",
    "GrpcHealthServer",
    "TLSTerminator",
    "GoTLSGrpcServer",
    "GoHttpsServer",
    "LoadBalancer",
    "SniRouter",
    "SilentServer",
    "ResetServer",
    "GarbageServer",
    "TricklingServer",
    "RefusingPort",
]

_log = logging.getLogger(__name__)

# --- constants ---------------------------------------------------------------------------------------------

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

# What Go's net/http writes, verbatim, when a plaintext HTTP request reaches its TLS port (server.go).
GO_HTTPS_PLAINTEXT_REPLY = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
# What Go's net/http writes, verbatim, when it cannot parse a request.
GO_BAD_REQUEST_REPLY = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
    b"400 Bad Request"
)
_ENVOY_BAD_REQUEST_REPLY = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\ncontent-type: text/plain\r\nserver: envoy\r\n"
    b"connection: close\r\n\r\nBad Request"
)
# Go's tlsRecordHeaderLooksLikeHTTP: the first five bytes it recognizes as a plaintext request.
_GO_HTTP_PREFIXES = (b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO")
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DEFAULT_SERVICE_NAME = "direktiv"  # the named health service registered besides "" (overall health)
DEFAULT_IO_TIMEOUT = 10.0  # per read/write on an accepted socket; stop() does not wait for it
_ACCEPT_POLL = 1.0  # accept loop's select timeout; the wake-up socket makes stop() immediate anyway
_JOIN_TIMEOUT = 5.0  # stop() waits this long per thread before logging a leak
_LINGER_DRAIN = 0.5  # after a refusal, read what the peer still sends this long, so close() is a FIN, not a RST

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
    VERIFY_IF_GIVEN = "verify-if-given"  # tls.VerifyClientCertIfGiven
    REQUIRE_AND_VERIFY = "require-and-verify"  # tls.RequireAndVerifyClientCert (Direktiv's mTLS)


@dataclass(frozen=True)
class ServerTLS:
    """A server's TLS identity and its demand on clients, from a ``kubernetes.io/tls`` secret.

    Attributes:
        cert_pem: ``tls.crt``: the leaf, then any intermediates.
        key: ``tls.key`` (masked in repr).
        client_ca_pem: ``ca.crt``, the pool client certificates are verified against (Go's ClientCAs).
        client_auth: what is asked of clients; verifying modes need ``client_ca_pem``.
    """

    cert_pem: bytes
    key: PrivateKeyPEM = field(repr=False)
    client_ca_pem: bytes | None = None
    client_auth: ClientAuth = ClientAuth.NONE

    def __post_init__(self) -> None:
        verifying = (ClientAuth.VERIFY_IF_GIVEN, ClientAuth.REQUIRE_AND_VERIFY)
        if self.client_auth in verifying and not self.client_ca_pem:
            raise ValueError(f"client_auth {self.client_auth.value!r} needs client_ca_pem (the secret's ca.crt)")

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


class Trickle(str, Enum):
    """What a :class:`TricklingServer` sends, one byte at a time."""

    SERVER_HELLO = "server-hello"  # a real ServerHello (and the rest of the server's flight) for the client's hello
    GARBAGE = "garbage"


@runtime_checkable
class Server(Protocol):
    """What every sandbox server offers."""

    address: tuple[str, int]

    def stop(self) -> None: ...

    def __enter__(self): ...

    def __exit__(self, *exc_info) -> None: ...


class _Base:
    """Context management and repr for the servers below; subclasses set ``address`` and implement _close()."""

    address: tuple[str, int]
    _stopped = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        """Close every socket and join every thread; calling it again does nothing."""
        if self._stopped:
            return
        self._stopped = True
        self._close()

    def _close(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        host, port = getattr(self, "address", ("?", 0))
        return f"{type(self).__name__}({host}:{port})"


# --- sockets and listeners ---------------------------------------------------------------------------------


def _wait_io(sock: socket.socket, *, write: bool, deadline: float) -> None:
    """Block until ``sock`` is readable (or writable), or raise TimeoutError at ``deadline`` (poll: no fd limit)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("socket wait timed out")
    poller = select.poll()
    poller.register(sock, (select.POLLOUT if write else select.POLLIN) | select.POLLERR | select.POLLHUP)
    if not poller.poll(left * 1000):
        raise TimeoutError("socket wait timed out")


def _peek(sock: socket.socket, size: int, timeout: float, *, enough: Callable[[bytes], bool] = lambda _: False):
    """Up to ``size`` first bytes without consuming them; fewer on EOF, on timeout, or once ``enough(head)``."""
    deadline = time.monotonic() + timeout
    head = b""
    while True:
        try:
            _wait_io(sock, write=False, deadline=deadline)
            head = sock.recv(size, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (TimeoutError, BlockingIOError):
            return head
        if len(head) >= size or not head or enough(head):
            return head
        if time.monotonic() >= deadline:
            return head
        time.sleep(0.005)  # a partial record: let the rest arrive


def _looks_like_tls(head: bytes) -> bool:
    """Go's first-record check: an alert or handshake record with a plausible version (crypto/tls conn.go)."""
    if not head or head[0] not in (0x15, 0x16):
        return False
    return len(head) < 2 or head[1] < 0x10


def _drain_and_close(sock: socket.socket) -> None:
    """Send FIN, read what the peer still sends for a moment, so that our last bytes (an alert) are not lost to
    a RST; the caller's close() follows."""
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + _LINGER_DRAIN
        sock.setblocking(False)
        while True:
            _wait_io(sock, write=False, deadline=deadline)
            if not sock.recv(65536):
                return
    except (OSError, TimeoutError):
        return


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


_Handler = Callable[[socket.socket, threading.Event], None]
_QUIET_ERRORS = (OSError, TimeoutError, SSL.Error, h11.ProtocolError, h2.exceptions.ProtocolError, EOFError)


class _Listener:
    """One listening port: an accept thread, and a thread per connection running ``handler(sock, stopping)``."""

    def __init__(self, handler: _Handler, *, name: str, io_timeout: float = DEFAULT_IO_TIMEOUT) -> None:
        self._handler = handler
        self._io_timeout = io_timeout
        self.stopping = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._wake_r, self._wake_w = socket.socketpair()
        try:
            self._sock.bind(("127.0.0.1", 0))
            self._sock.listen(64)
            self._sock.setblocking(False)
        except OSError:
            self._close_sockets()
            raise
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._name = f"{name}:{self.address[1]}"
        self._lock = threading.Lock()
        self._connections: dict[threading.Thread, socket.socket] = {}
        self._thread = threading.Thread(target=self._accept_loop, name=f"{self._name}-accept", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        with _selector(self._sock, self._wake_r) as selector:
            while not self.stopping.is_set():
                for key, _ in selector.select(timeout=_ACCEPT_POLL):
                    if key.fileobj is self._wake_r:
                        return
                    try:
                        conn, _ = self._sock.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        return
                    conn.settimeout(self._io_timeout)
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    thread = threading.Thread(target=self._serve, args=(conn,), name=f"{self._name}-conn", daemon=True)
                    with self._lock:
                        if self.stopping.is_set():
                            conn.close()
                            return
                        self._connections[thread] = conn
                    thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._handler(conn, self.stopping)
        except _QUIET_ERRORS as exc:
            _log.debug("%s: connection ended: %r", self._name, exc)
        except Exception:  # a bug in a handler: keep the server up, say so
            _log.warning("%s: connection handler failed", self._name, exc_info=True)
        finally:
            with self._lock:
                self._connections.pop(threading.current_thread(), None)
            conn.close()

    def stop(self) -> None:
        self.stopping.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(_JOIN_TIMEOUT)
        with self._lock:
            connections = list(self._connections.items())
        for _, conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread, _ in connections:
            thread.join(_JOIN_TIMEOUT)
            if thread.is_alive():
                _log.warning("%s: a connection thread did not stop within %.0fs", self._name, _JOIN_TIMEOUT)
        self._close_sockets()

    def _close_sockets(self) -> None:
        for sock in (self._sock, self._wake_r, self._wake_w):
            sock.close()


def _selector(*socks: socket.socket) -> selectors.BaseSelector:
    selector = selectors.DefaultSelector()
    for sock in socks:
        selector.register(sock, selectors.EVENT_READ)
    return selector


class _ListenerServer(_Base):
    """A server made of one listener and a handler method ``_handle(sock, stopping)``."""

    def __init__(self, *, io_timeout: float = DEFAULT_IO_TIMEOUT) -> None:
        self._io_timeout = io_timeout
        self._listener = _Listener(self._handle, name=type(self).__name__, io_timeout=io_timeout)
        self.address = self._listener.address

    def _handle(self, sock: socket.socket, stopping: threading.Event) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        self._listener.stop()


# --- TLS with pyOpenSSL ------------------------------------------------------------------------------------


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


def _configure_client_auth(ctx: SSL.Context, tls: ServerTLS) -> None:
    if tls.client_auth is ClientAuth.NONE:
        return
    cas = _load_certs(tls.client_ca_pem, "ca.crt") if tls.client_ca_pem else []
    store = ctx.get_cert_store()
    for ca in cas:
        store.add_cert(crypto.X509.from_cryptography(ca))
        ctx.add_client_ca(ca)  # the certificate_authorities of the CertificateRequest, as Go sends them
    if tls.client_auth is ClientAuth.REQUEST:
        ctx.set_verify(SSL.VERIFY_PEER, lambda *_: True)
    elif tls.client_auth is ClientAuth.VERIFY_IF_GIVEN:
        ctx.set_verify(SSL.VERIFY_PEER)
    else:
        # OpenSSL checks the chain and, as Go does, the clientAuth EKU (purpose ssl_client). With TLS 1.3 a client
        # without a certificate finishes its side of the handshake and then reads the alert "certificate required".
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT)


def _alpn_selector(preference: tuple[str, ...]):
    ours = [p.encode() for p in preference]

    def select_protocol(_conn: SSL.Connection, offered: list[bytes]):
        for proto in ours:  # server preference, as Go's mutualProtocol
            if proto in offered:
                return proto
        return SSL.NO_OVERLAPPING_PROTOCOLS

    return select_protocol


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


class _PlainStream:
    """The plaintext counterpart of :class:`_TlsStream` (the socket already carries its timeout)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def recv(self, size: int) -> bytes:
        return self.sock.recv(size)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)


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


# --- HTTP answers (h11, h2) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Response:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


_Responder = Callable[[str, str, str], _Response]  # (method, target, host) -> response


def _http_date() -> str:
    return email.utils.formatdate(usegmt=True)


def _serve_http1(stream, respond: _Responder, *, bad_request: bytes, max_requests: int = 100) -> None:
    conn = h11.Connection(h11.SERVER)
    for _ in range(max_requests):
        request = None
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                stream.sendall(bad_request)
                return
            if event is h11.NEED_DATA:
                conn.receive_data(stream.recv(65536))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers}
        response = respond(request.method.decode(), request.target.decode("latin-1"), headers.get("host", ""))
        out_headers = [*response.headers, ("content-length", str(len(response.body)))]
        stream.sendall(
            conn.send(h11.Response(status_code=response.status, headers=out_headers))
            + (conn.send(h11.Data(data=response.body)) if request.method != b"HEAD" else b"")
            + conn.send(h11.EndOfMessage())
        )
        if conn.our_state is h11.MUST_CLOSE:
            return
        conn.start_next_cycle()


def _serve_http2(stream, respond: _Responder) -> None:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    conn.initiate_connection()
    stream.sendall(conn.data_to_send())
    pending: dict[int, dict[str, str]] = {}
    while True:
        data = stream.recv(65536)
        if not data:
            return
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            stream.sendall(conn.data_to_send())  # the GOAWAY h2 queued
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                pending[event.stream_id] = dict(event.headers)
                if event.stream_ended is None:
                    continue
                _answer_h2(conn, event.stream_id, pending.pop(event.stream_id), respond)
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id in pending:
                _answer_h2(conn, event.stream_id, pending.pop(event.stream_id), respond)
            elif isinstance(event, h2.events.ConnectionTerminated):
                stream.sendall(conn.data_to_send())
                return
        out = conn.data_to_send()
        if out:
            stream.sendall(out)


def _answer_h2(conn, stream_id: int, headers: dict[str, str], respond: _Responder) -> None:
    response = respond(headers.get(":method", "GET"), headers.get(":path", "/"), headers.get(":authority", ""))
    conn.send_headers(
        stream_id,
        [(":status", str(response.status)), *response.headers, ("content-length", str(len(response.body)))],
        end_stream=not response.body,
    )
    if response.body:
        conn.send_data(stream_id, response.body, end_stream=True)


def _serve_http(stream, respond: _Responder, *, h2: bool, bad_request: bytes) -> None:
    if h2:
        _serve_http2(stream, respond)
    else:
        _serve_http1(stream, respond, bad_request=bad_request)


def _ok(body: bytes, content_type: str, server: str | None) -> _Responder:
    def respond(_method: str, _target: str, _host: str) -> _Response:
        headers = [("content-type", content_type), ("date", _http_date())]
        if server:
            headers.append(("server", server))
        return _Response(200, tuple(headers), body)

    return respond


# --- gRPC --------------------------------------------------------------------------------------------------


class GrpcHealthServer(_Base):
    """A grpcio server with the grpc.health.v1 Health service, as a Direktiv gRPC port.

    ``tls=None`` serves insecure gRPC. With ``tls``, grpcio's own TLS (TLS 1.2 minimum, whatever the caller
    wishes); ``ClientAuth.REQUIRE_AND_VERIFY`` demands a client certificate chaining to ``client_ca_pem``.
    grpcio has no 'request' or 'verify if given' mode: use :class:`TLSTerminator` for those.
    With ``health_service=False`` no service is registered, so every call gets UNIMPLEMENTED (a server that
    is reached but has no health service, like Direktiv's own). ``delay`` holds every Check that long before
    answering (a slow server; stop() releases held calls).
    """

    def __init__(
        self,
        tls: ServerTLS | None = None,
        *,
        service_name: str = DEFAULT_SERVICE_NAME,
        health_service: bool = True,
        delay: float = 0.0,
        max_workers: int = 2,
    ) -> None:
        if tls is not None and tls.client_auth not in (ClientAuth.NONE, ClientAuth.REQUIRE_AND_VERIFY):
            raise ValueError(f"grpcio cannot do client_auth {tls.client_auth.value!r}; use TLSTerminator")
        self._executor = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc-health")
        self._server = grpc.server(self._executor, options=[("grpc.so_reuseport", 0)])
        if health_service:
            self._release = threading.Event()
            servicer = _SlowHealthServicer(delay, self._release) if delay > 0 else health.HealthServicer()
            servicer.set("", health_pb2.HealthCheckResponse.SERVING)
            servicer.set(service_name, health_pb2.HealthCheckResponse.SERVING)
            health_pb2_grpc.add_HealthServicer_to_server(servicer, self._server)
        try:
            if tls is None:
                port = self._server.add_insecure_port("127.0.0.1:0")
            else:
                credentials = grpc.ssl_server_credentials(
                    [(tls.key.bytes(), tls.cert_pem)],
                    root_certificates=tls.client_ca_pem if tls.client_auth is not ClientAuth.NONE else None,
                    require_client_auth=tls.client_auth is ClientAuth.REQUIRE_AND_VERIFY,
                )
                port = self._server.add_secure_port("127.0.0.1:0", credentials)
            if not port:
                raise OSError("grpcio could not bind a port on 127.0.0.1")
            self._server.start()
        except BaseException:
            self._server.stop(None)
            self._executor.shutdown(wait=True)
            raise
        self.address = ("127.0.0.1", port)

    def _close(self) -> None:
        if hasattr(self, "_release"):
            self._release.set()
        self._server.stop(grace=None).wait(_JOIN_TIMEOUT)
        self._executor.shutdown(wait=True)


class _SlowHealthServicer(health.HealthServicer):
    def __init__(self, delay: float, release: threading.Event) -> None:
        super().__init__()
        self._delay = delay
        self._release_event = release

    def Check(self, request, context):  # noqa: N802 (the gRPC method name)
        self._release_event.wait(self._delay)
        return super().Check(request, context)


class TLSTerminator(_ListenerServer):
    """Terminates TLS the way Go 1.15's crypto/tls does and forwards the decrypted bytes to ``backend``.

    Go-like choices: a first record that is not a TLS handshake (or alert) closes the connection without an
    answer ("first record does not look like a TLS handshake"); versions, suites, ALPN come from ``policy``
    (default: Go 1.15, TLS 1.0 to 1.3); client certificates as ``tls.client_auth`` says, verified against
    ``tls.client_ca_pem`` with the clientAuth usage. A client without a certificate: under TLS 1.3 it finishes
    its side of the handshake and then reads the alert certificate_required (as Go sends); under TLS 1.2 the
    handshake fails with OpenSSL's handshake_failure where Go sends bad_certificate.
    """

    def __init__(
        self,
        backend: tuple[str, int],
        tls: ServerTLS,
        *,
        policy: TLSPolicy = GO_GRPC_POLICY,
        io_timeout: float = DEFAULT_IO_TIMEOUT,
        idle_timeout: float = 60.0,
    ) -> None:
        self.backend = backend
        self.policy = policy
        self._idle_timeout = idle_timeout
        self._ctx = _server_context(tls, policy)
        super().__init__(io_timeout=io_timeout)

    def _handle(self, sock: socket.socket, stopping: threading.Event) -> None:
        if not _looks_like_tls(_peek(sock, 3, self._io_timeout)):
            _drain_and_close(sock)  # Go: "first record does not look like a TLS handshake", no answer
            return
        stream = _accept_tls(sock, self._ctx, self._io_timeout)
        if stream is None:
            return
        with socket.create_connection(self.backend, timeout=self._io_timeout) as upstream:
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._pump(stream, upstream, stopping)

    def _pump(self, stream: _TlsStream, upstream: socket.socket, stopping: threading.Event) -> None:
        poller = select.poll()
        poller.register(stream.sock, select.POLLIN | select.POLLERR | select.POLLHUP)
        poller.register(upstream, select.POLLIN | select.POLLERR | select.POLLHUP)
        last = time.monotonic()
        while not stopping.is_set():
            ready = {fd for fd, _ in poller.poll(1000)}
            if not ready and not stream.conn.pending():
                if time.monotonic() - last > self._idle_timeout:
                    return
                continue
            last = time.monotonic()
            if stream.sock.fileno() in ready or stream.conn.pending():
                while True:
                    data = stream.recv_ready(65536)
                    if data is None:
                        break
                    if not data:
                        return
                    upstream.sendall(data)
            if upstream.fileno() in ready:
                data = upstream.recv(65536)
                if not data:
                    stream.close_notify()
                    return
                stream.sendall(data)


class GoTLSGrpcServer(_Base):
    """A Direktiv gRPC port as it really is: an insecure grpcio health server behind a Go-like TLS front.

    ``tls=None`` is the port with TLS off (plain gRPC). ``backend`` is the grpcio server behind the front.
    """

    def __init__(
        self,
        tls: ServerTLS | None,
        *,
        policy: TLSPolicy = GO_GRPC_POLICY,
        service_name: str = DEFAULT_SERVICE_NAME,
        health_service: bool = True,
        delay: float = 0.0,
        io_timeout: float = DEFAULT_IO_TIMEOUT,
    ) -> None:
        self.backend = GrpcHealthServer(service_name=service_name, health_service=health_service, delay=delay)
        self.front: TLSTerminator | None = None
        if tls is not None:
            try:
                self.front = TLSTerminator(self.backend.address, tls, policy=policy, io_timeout=io_timeout)
            except BaseException:
                self.backend.stop()
                raise
        self.address = self.front.address if self.front else self.backend.address

    def _close(self) -> None:
        if self.front is not None:
            self.front.stop()
        self.backend.stop()


# --- HTTP servers ------------------------------------------------------------------------------------------


class GoHttpsServer(_ListenerServer):
    """Direktiv's API or UI on 8080: Go 1.15 net/http, HTTPS when ``tls`` is given, else plaintext HTTP.

    Answers every request with 200 and ``body`` over HTTP/1.1 or, when ALPN picks it, HTTP/2. On the TLS port a
    plaintext request gets Go's exact answer (:data:`GO_HTTPS_PLAINTEXT_REPLY`), anything else that is not TLS is
    closed. On the plaintext port a TLS ClientHello gets Go's 400 at once (Go itself answers only once a newline
    arrives among the random bytes, or never: the sandbox stays deterministic).
    """

    def __init__(
        self,
        tls: ServerTLS | None = None,
        *,
        policy: TLSPolicy = GO_HTTP_POLICY,
        body: bytes = b'{"status":"ok"}\n',
        content_type: str = "application/json",
        io_timeout: float = DEFAULT_IO_TIMEOUT,
    ) -> None:
        self.tls = tls
        self._ctx = _server_context(tls, policy) if tls is not None else None
        self._respond = _ok(body, content_type, server=None)
        super().__init__(io_timeout=io_timeout)

    def _handle(self, sock: socket.socket, stopping: threading.Event) -> None:
        if self._ctx is None:
            head = _peek(sock, 1, self._io_timeout)
            if head[:1] == b"\x16":
                sock.sendall(GO_BAD_REQUEST_REPLY)
                _drain_and_close(sock)
                return
            _serve_http1(_PlainStream(sock), self._respond, bad_request=GO_BAD_REQUEST_REPLY)
            return
        head = _peek(sock, 5, self._io_timeout)
        if not _looks_like_tls(head):
            if head[:5] in _GO_HTTP_PREFIXES:
                sock.sendall(GO_HTTPS_PLAINTEXT_REPLY)
            _drain_and_close(sock)
            return
        stream = _accept_tls(sock, self._ctx, self._io_timeout)
        if stream is not None:
            _serve_http(stream, self._respond, h2=stream.alpn == "h2", bad_request=GO_BAD_REQUEST_REPLY)
            stream.close_notify()


def _sni_lookup(table: Mapping[str, object], name: str | None):
    """Envoy's server_names match: exact name first, then a ``*.suffix`` entry for one more label."""
    if not name:
        return None
    name = name.lower().rstrip(".")
    if name in table:
        return table[name]
    _, dot, rest = name.partition(".")
    return table.get(f"*.{rest}") if dot else None


class _EnvoyTLS(_ListenerServer):
    """Envoy's TLS listener: the certificate chosen by SNI, a default or none (handshake_failure)."""

    def __init__(
        self,
        tls_by_sni: Mapping[str, ServerTLS],
        default_tls: ServerTLS | None,
        *,
        policy: TLSPolicy,
        respond: _Responder,
        io_timeout: float,
    ) -> None:
        self._contexts = {name.lower(): _server_context(tls, policy) for name, tls in tls_by_sni.items()}
        self._default = _server_context(default_tls, policy) if default_tls is not None else None
        self._refuse = _server_context(None, policy)  # no certificate: every handshake fails
        self._initial = _server_context(None, policy)
        self._initial.set_tlsext_servername_callback(self._choose)
        self._respond = respond
        super().__init__(io_timeout=io_timeout)

    def _choose(self, conn: SSL.Connection) -> None:
        name = conn.get_servername()
        ctx = _sni_lookup(self._contexts, name.decode("ascii", "replace") if name else None)
        conn.set_context(ctx or self._default or self._refuse)

    def _handle(self, sock: socket.socket, stopping: threading.Event) -> None:
        if not _looks_like_tls(_peek(sock, 3, self._io_timeout)):
            _drain_and_close(sock)  # Envoy's TLS inspector finds no ClientHello: the connection is closed
            return
        stream = _accept_tls(sock, self._initial, self._io_timeout)
        if stream is not None:
            _serve_http(stream, self._respond, h2=stream.alpn == "h2", bad_request=_ENVOY_BAD_REQUEST_REPLY)
            stream.close_notify()


class SniRouter(_Base):
    """The internal Contour in front of knative: HTTPS on one port, the certificate chosen by SNI from
    ``tls_by_sni`` (exact or ``*.domain`` keys), else ``default_tls`` (config-contour's default-tls-secret); with
    ``default_tls=None`` an unknown or missing SNI fails the handshake with a handshake_failure alert."""

    def __init__(
        self,
        tls_by_sni: Mapping[str, ServerTLS],
        default_tls: ServerTLS | None = None,
        *,
        policy: TLSPolicy = ENVOY_POLICY,
        body: bytes = b"hello from knative\n",
        io_timeout: float = DEFAULT_IO_TIMEOUT,
    ) -> None:
        respond = _ok(body, "text/plain", server="envoy")
        self._tls = _EnvoyTLS(tls_by_sni, default_tls, policy=policy, respond=respond, io_timeout=io_timeout)
        self.address = self._tls.address

    def _close(self) -> None:
        self._tls.stop()


class LoadBalancer(_Base):
    """The external Contour/Envoy: HTTPS on ``address`` (certificate by SNI, Envoy's TLS 1.2 minimum), plain
    HTTP on ``http_address``. With ``redirect=True`` (the force-ssl-redirect annotation) every plain request
    gets ``301`` and ``location: https://<host><path>``; with ``redirect=False`` it is answered 200 in plaintext.
    The plain port also speaks HTTP/2 with prior knowledge, as Envoy's codec AUTO does. Requests are answered
    by the balancer itself (200), not proxied to the API/UI."""

    def __init__(
        self,
        tls_by_sni: Mapping[str, ServerTLS],
        default_tls: ServerTLS | None = None,
        *,
        redirect: bool = True,
        policy: TLSPolicy = ENVOY_POLICY,
        body: bytes = b"<html><body>direktiv</body></html>\n",
        io_timeout: float = DEFAULT_IO_TIMEOUT,
    ) -> None:
        self.redirect = redirect
        self._io_timeout = io_timeout
        self._ok = _ok(body, "text/html", server="envoy")
        self._tls = _EnvoyTLS(tls_by_sni, default_tls, policy=policy, respond=self._ok, io_timeout=io_timeout)
        try:
            self._plain = _Listener(self._handle_plain, name="LoadBalancer-http", io_timeout=io_timeout)
        except BaseException:
            self._tls.stop()
            raise
        self.address = self._tls.address
        self.https_address = self._tls.address
        self.http_address = self._plain.address

    def _redirect(self, _method: str, target: str, host: str) -> _Response:
        hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host  # Envoy drops the port
        location = f"https://{hostname}{target if target.startswith('/') else '/' + target}"
        return _Response(301, (("location", location), ("date", _http_date()), ("server", "envoy")))

    def _handle_plain(self, sock: socket.socket, stopping: threading.Event) -> None:
        preface = _H2_PREFACE[:14]
        head = _peek(sock, len(preface), self._io_timeout, enough=lambda h: not preface.startswith(h))
        respond = self._redirect if self.redirect else self._ok
        _serve_http(_PlainStream(sock), respond, h2=head == preface, bad_request=_ENVOY_BAD_REQUEST_REPLY)

    def _close(self) -> None:
        self._plain.stop()
        self._tls.stop()


# --- misbehaving servers -----------------------------------------------------------------------------------


def _read_first_flight(sock: socket.socket, timeout: float) -> bytes:
    """The client's first bytes; for a TLS record, the whole record (its ClientHello)."""
    deadline = time.monotonic() + timeout
    data = b""
    try:
        while True:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
            if not _looks_like_tls(data):
                return data
            if len(data) >= 5 and len(data) >= 5 + struct.unpack("!H", data[3:5])[0]:
                return data
    except (TimeoutError, OSError):
        return data


def _hold(sock: socket.socket, stopping: threading.Event, seconds: float) -> None:
    """Keep the connection open, discarding what arrives, until the peer leaves, ``seconds`` pass, or stop()."""
    deadline = time.monotonic() + seconds
    while not stopping.is_set() and time.monotonic() < deadline:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return
        except TimeoutError:
            return


class SilentServer(_ListenerServer):
    """Accepts and never answers; reads and discards until the client leaves, ``hold`` passes, or stop()."""

    def __init__(self, *, hold: float = 30.0) -> None:
        super().__init__(io_timeout=hold)

    def _handle(self, sock: socket.socket, stopping: threading.Event) -> None:
        _hold(sock, stopping, self._io_timeout)


class ResetServer(_ListenerServer):
    """Reads the client's first flight (its ClientHello) and answers with a TCP RST (SO_LINGER 0)."""

    def __init__(self, *, read_timeout: float = 2.0) -> None:
        super().__init__(io_timeout=read_timeout)

    def _handle(self, sock: socket.socket, stopping: threading.Event) -> None:
        _read_first_flight(sock, self._io_timeout)
        _reset(sock)


def _garbage(rng: random.Random, size: int) -> bytes:
    data = bytearray(rng.randbytes(size))
    if data and 0x14 <= data[0] <= 0x18:  # never a TLS record type
        data[0] = 0x00
    return bytes(data)


class GarbageServer(_ListenerServer):
    """Reads the client's first flight, answers ``size`` random bytes that are not TLS, and closes."""

    def __init__(self, *, size: int = 64, seed: int = 0, read_timeout: float = 2.0) -> None:
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._size = size
        super().__init__(io_timeout=read_timeout)

    def _handle(self, sock: socket.socket, stopping: threading.Event) -> None:
        _read_first_flight(sock, self._io_timeout)
        with self._rng_lock:
            payload = _garbage(self._rng, self._size)
        sock.sendall(payload)
        _drain_and_close(sock)


class TricklingServer(_ListenerServer):
    """Reads the client's first flight and sends back one byte every ``interval`` seconds: the real server flight
    (ServerHello, certificate...) that OpenSSL produces for that ClientHello, or garbage; then holds the
    connection until the client leaves, ``hold`` passes, or stop(). Without ``tls`` a throwaway ECDSA
    certificate is used."""

    def __init__(
        self,
        payload: Trickle = Trickle.SERVER_HELLO,
        *,
        interval: float = 1.0,
        tls: ServerTLS | None = None,
        policy: TLSPolicy = GO_GRPC_POLICY,
        read_timeout: float = 2.0,
        hold: float = 60.0,
    ) -> None:
        self.payload = Trickle(payload)
        self._interval = interval
        self._hold = hold
        if self.payload is Trickle.SERVER_HELLO and tls is None:
            tls = ServerTLS.from_issued(self_signed_certificate(["localhost"], key_type="ecdsa"))
        self._ctx = _server_context(tls, policy) if tls is not None else None
        super().__init__(io_timeout=read_timeout)

    def _server_flight(self, client_hello: bytes) -> bytes:
        conn = SSL.Connection(self._ctx, None)  # memory BIOs: no socket, just bytes in and out
        conn.set_accept_state()
        conn.bio_write(client_hello)
        try:
            conn.do_handshake()
        except SSL.WantReadError:
            pass
        except SSL.Error:
            pass  # an alert is a flight too
        try:
            return conn.bio_read(65536)
        except SSL.WantReadError:
            return b""

    def _handle(self, sock: socket.socket, stopping: threading.Event) -> None:
        first = _read_first_flight(sock, self._io_timeout)
        if self.payload is Trickle.SERVER_HELLO and _looks_like_tls(first):
            payload = self._server_flight(first)
        else:
            payload = _garbage(random.Random(len(first)), 64)
        sock.settimeout(self._io_timeout)
        for i in range(len(payload)):
            if stopping.wait(self._interval):
                return
            sock.sendall(payload[i : i + 1])
        _hold(sock, stopping, self._hold)


class RefusingPort(_Base):
    """A port where nothing listens: bound but not listening, so connect() gets RST (connection refused) and no
    other process can take the port while this object lives."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.address = self._sock.getsockname()[:2]

    def _close(self) -> None:
        self._sock.close()
