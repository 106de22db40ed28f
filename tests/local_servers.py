"""Real servers on 127.0.0.1 (ephemeral ports) for the probes' tests, each a context manager whose ``stop()``
joins its threads.

- :class:`TLSServer` (Python's ``ssl``, i.e. the system OpenSSL 3.0, a different library from pyOpenSSL's):
  :func:`lenient_tls_server` (TLS 1.0 and up, security level 0 with NULL and anonymous suites, client
  certificate not requested, or requested but optional) and :func:`strict_tls_server` (TLS 1.2 and up, client
  certificate required and verified against a CA). Both answer HTTP/1.1 requests with 200.
- :class:`GrpcHealthServer`: grpcio with the ``grpc.health.v1`` service, insecure, TLS, or TLS requiring
  client certificates.
- :class:`PlaintextHTTPServer` (``http.server``), :class:`SilentServer` (accepts, never answers) and
  :class:`ScriptedServer` (answers any first bytes with canned bytes: Go's "HTTP request to an HTTPS server"
  400, a hand-made ServerHello...).

:func:`direktiv_pki` builds certificates the way cert-manager does for Direktiv (CA ``direktiv-system``, leaves
with server and client usages and SANs like ``direktiv-flow-hl.default``), ECDSA for speed; :data:`BAD_CLIENTS`
mints the client certificates an mTLS server must refuse, and :data:`LET_THROUGH` names the one that a verifier
ignoring each kind of error accepts. :func:`child_pids` lists this process's children (servers that run as one),
"""

from __future__ import annotations

import http.server
import os
import socket
import ssl
import tempfile
import threading
import time
import warnings
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from probes import pki
from probes.tls import ClientIdentity

__all__ = [
    "TestPKI",
    "direktiv_pki",
    "identity",
    "BAD_CLIENTS",
    "LET_THROUGH",
    "child_pids",
    "TLSServer",
    "lenient_tls_server",
    "strict_tls_server",
    "GrpcHealthServer",
    "PlaintextHTTPServer",
    "SilentServer",
    "ScriptedServer",
    "GO_HTTPS_PORT_400",
    "NGINX_HTTPS_PORT_400",
    "HTTP_OK",
]

# Per-connection socket timeout in the servers: a test client that goes away never pins a thread for long.
SERVER_IO_TIMEOUT = 2.0
# How long stop() waits for each thread.
JOIN_TIMEOUT = 5.0

HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
# What Go's net/http answers when plaintext HTTP reaches a TLS listener (crypto/tls RecordHeaderError path).
GO_HTTPS_PORT_400 = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
# nginx's answer on an ssl listener (error_page 497), abridged.
NGINX_HTTPS_PORT_400 = (
    b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: 140\r\n"
    b"Connection: close\r\n\r\n<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title>"
    b"</head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n</body>\r\n</html>\r\n"
)


# --- certificates -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestPKI:
    """A cert-manager style PKI for one gRPC endpoint.

    Attributes:
        ca: the ``direktiv-system`` CA.
        server: the endpoint's secret (server and client usages, SAN ``direktiv-flow-hl.default``).
        client: the configured client identity (the same kind of certificate, as Direktiv uses one secret).
        wrong_name: a leaf from the same CA whose SAN does not cover the endpoint.
    """

    __test__ = False  # not a pytest test class

    ca: pki.CertificateAuthority
    server: pki.IssuedCertificate
    client: pki.IssuedCertificate
    wrong_name: pki.IssuedCertificate

    @property
    def server_name(self) -> str:
        return "direktiv-flow-hl.default"


def direktiv_pki() -> TestPKI:
    ca = pki.CertificateAuthority.self_signed(key_type="ecdsa")
    usages = pki.SERVER_AND_CLIENT_USAGES
    server = ca.issue(["direktiv-flow-hl.default", "direktiv-flow-hl"], usages=usages, key_type="ecdsa")
    client = ca.issue(["direktiv-flow-hl.default"], usages=usages, key_type="ecdsa")
    wrong = ca.issue(["somewhere-else.example"], usages=usages, key_type="ecdsa")
    return TestPKI(ca, server, client, wrong)


def identity(issued: pki.IssuedCertificate, label: str = "configured") -> ClientIdentity:
    return ClientIdentity(cert_pem=issued.chain_pem, key=issued.key, label=label)


# The client certificates an mTLS server must refuse, by label: make(ca, configured certificate) -> issued.
BAD_CLIENTS = {
    "foreign-ca": lambda ca, cert: pki.foreign_ca_client(cert.cert_pem),
    "self-signed-clone": lambda ca, cert: pki.self_signed_clone(cert.cert_pem),
    "expired": lambda ca, cert: pki.expired_client(ca, cert.cert_pem),
    "no-clientauth": lambda ca, cert: pki.no_clientauth_client(ca, cert.cert_pem),
}
# The bad client a verifier that ignores one kind of error lets through, by kind (sandbox VerifyErrorKind values).
LET_THROUGH = {
    "unknown-issuer": "foreign-ca",
    "self-signed": "self-signed-clone",
    "expired": "expired",
    "wrong-purpose": "no-clientauth",
}


# --- processes ------------------------------------------------------------------------------------------------


def served_common_name(address: tuple[str, int], sni: str | None) -> str:
    """The commonName of the leaf a TLS server serves for ``sni`` (no verification), "" without one."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(address, timeout=5) as sock, ctx.wrap_socket(sock, server_hostname=sni) as tls:
        cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return names[0].value if names else ""


def child_pids() -> set[int]:
    """The process IDs of this process's children, from every thread's ``/proc`` entry."""
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            pids.update(int(p) for p in (task / "children").read_text().split())
        except OSError:  # a thread that ended meanwhile
            pass
    return pids


# --- a threaded TCP server base -------------------------------------------------------------------------------


class _ThreadedServer:
    """Accepts on 127.0.0.1:0 in a thread and handles each connection in its own thread."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(32)
        self._listener.settimeout(0.05)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"{type(self).__name__}-accept", daemon=True)
        self.errors: list[str] = []  # what went wrong per connection (handshake failures, ...), for debugging

    @property
    def address(self) -> tuple[str, int]:
        return self._listener.getsockname()[:2]

    def start(self):
        self._acceptor.start()
        return self

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            conn.settimeout(SERVER_IO_TIMEOUT)
            worker = threading.Thread(target=self._run, args=(conn,), daemon=True)
            with self._lock:
                self._conns.append(conn)
                self._threads.append(worker)
            worker.start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.handle(conn)
        except (OSError, ssl.SSLError) as exc:
            self.errors.append(str(exc))
        finally:
            conn.close()

    def handle(self, conn: socket.socket) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:
        self._stopping.set()
        self._acceptor.join(JOIN_TIMEOUT)
        self._listener.close()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(JOIN_TIMEOUT)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _read_request(conn) -> bytes:
    """Read until the end of the request head (or whatever comes within the timeout)."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
        if data.startswith(b"PRI * HTTP/2.0"):
            break
    return data


# --- Python ssl servers ---------------------------------------------------------------------------------------


def _load_chain(ctx: ssl.SSLContext, issued: pki.IssuedCertificate) -> None:
    """Python's ssl only loads keys from files: write them 0600 in a private temporary directory, load, delete."""
    with tempfile.TemporaryDirectory(prefix="tls-test-") as tmp:
        cert_path, key_path = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
        cert_path.write_bytes(issued.chain_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(issued.key.bytes())
        ctx.load_cert_chain(cert_path, key_path)


_VERIFY = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


class TLSServer(_ThreadedServer):
    """A TLS server on Python's ``ssl`` that answers any request with ``reply`` and closes.

    ``client_auth`` is "none" (no certificate requested), "optional" (requested; verified if sent) or
    "required" (requested and verified: a client without one gets the alert 'certificate required' in
    TLS 1.3, after its handshake completed).
    """

    def __init__(
        self,
        issued: pki.IssuedCertificate,
        *,
        minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
        maximum: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED,
        ciphers: str | None = None,
        client_auth: str = "none",
        client_ca_pem: bytes | None = None,
        alpn: tuple[str, ...] = (),
        reply: bytes = HTTP_OK,
    ) -> None:
        super().__init__()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated in ssl: that is the point of a lenient server
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = minimum
            ctx.maximum_version = maximum
        if ciphers:
            ctx.set_ciphers(ciphers)
        _load_chain(ctx, issued)
        ctx.verify_mode = _VERIFY[client_auth]
        if client_auth != "none":
            if client_ca_pem is None:
                raise ValueError("client_auth needs client_ca_pem")
            ctx.load_verify_locations(cadata=client_ca_pem.decode("ascii"))
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        self.context = ctx
        self.reply = reply
        self.accepted = 0  # handshakes the server completed

    def handle(self, conn: socket.socket) -> None:
        with self.context.wrap_socket(conn, server_side=True) as tls:
            self.accepted += 1
            if _read_request(tls):
                tls.sendall(self.reply)


def lenient_tls_server(
    issued: pki.IssuedCertificate, *, client_auth: str = "none", client_ca_pem: bytes | None = None
) -> TLSServer:
    """TLS 1.0 and up, security level 0 with NULL and anonymous suites enabled (the system OpenSSL 3.0 has
    them; it has no RC4, DES or 3DES), any client accepted unless ``client_auth`` says otherwise."""
    return TLSServer(
        issued, minimum=ssl.TLSVersion.TLSv1, ciphers="ALL:eNULL:aNULL:@SECLEVEL=0",
        client_auth=client_auth, client_ca_pem=client_ca_pem, alpn=("h2", "http/1.1"),
    )


def strict_tls_server(issued: pki.IssuedCertificate, *, client_ca_pem: bytes) -> TLSServer:
    """TLS 1.2 and up, default suites, client certificate required and verified against ``client_ca_pem``."""
    return TLSServer(issued, minimum=ssl.TLSVersion.TLSv1_2, client_auth="required", client_ca_pem=client_ca_pem)


# --- grpcio -------------------------------------------------------------------------------------------------


class GrpcHealthServer:
    """A grpcio server with the ``grpc.health.v1`` service (status SERVING).

    Without ``issued`` it listens in plaintext (h2c); with it, TLS; with ``client_ca_pem`` and
    ``require_client_auth`` it demands and verifies client certificates.
    """

    def __init__(
        self,
        issued: pki.IssuedCertificate | None = None,
        *,
        client_ca_pem: bytes | None = None,
        require_client_auth: bool = False,
    ) -> None:
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.so_reuseport", 0)])
        servicer = health.HealthServicer()
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(servicer, self._server)
        if issued is None:
            port = self._server.add_insecure_port("127.0.0.1:0")
        else:
            creds = grpc.ssl_server_credentials(
                [(issued.key.bytes(), issued.chain_pem)],
                root_certificates=client_ca_pem,
                require_client_auth=require_client_auth,
            )
            port = self._server.add_secure_port("127.0.0.1:0", creds)
        if not port:
            raise OSError("grpcio could not bind 127.0.0.1:0")
        self.address = ("127.0.0.1", port)

    def start(self) -> "GrpcHealthServer":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None).wait(JOIN_TIMEOUT)

    def __enter__(self) -> "GrpcHealthServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- plaintext, silent and scripted servers -------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = SERVER_IO_TIMEOUT

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # keep test output clean
        pass


class PlaintextHTTPServer:
    """``http.server`` answering GET with 200 (and a TLS ClientHello with its own 400)."""

    def __init__(self) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="PlaintextHTTPServer", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        return self._server.server_address[:2]

    def start(self) -> "PlaintextHTTPServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(JOIN_TIMEOUT)

    def __enter__(self) -> "PlaintextHTTPServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class SilentServer(_ThreadedServer):
    """Accepts connections and never sends a byte; stop() closes them."""

    def handle(self, conn: socket.socket) -> None:
        self._stopping.wait(JOIN_TIMEOUT * 6)


class ScriptedServer(_ThreadedServer):
    """Reads the client's first bytes, answers with ``reply``, and closes."""

    def __init__(self, reply: bytes) -> None:
        super().__init__()
        self.reply = reply

    def handle(self, conn: socket.socket) -> None:
        if conn.recv(65536):
            conn.sendall(self.reply)
