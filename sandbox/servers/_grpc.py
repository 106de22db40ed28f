"""gRPC health servers: grpcio with grpc.health.v1, and the Go-like TLS front that Direktiv's gRPC ports really are.

grpcio's own TLS (BoringSSL) starts at TLS 1.2 and knows only 'no client certificate' and 'require and verify':
the conformant option. :class:`TLSTerminator` is Go 1.15's crypto/tls (pyOpenSSL), with every Go client-auth mode
and lax verifiers, in front of an insecure grpcio server (:class:`GoTLSGrpcServer`).
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from concurrent import futures

# grpcio's C core logs every refused handshake to stderr, and the suite provokes them on purpose: silence it
# before grpc starts (it reads the variable then), unless the user asked for its logs.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import grpc  # noqa: E402
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from sandbox.servers._listeners import (
    DEFAULT_IO_TIMEOUT,
    _JOIN_TIMEOUT,
    _Base,
    _drain_and_close,
    _ListenerServer,
    _peek,
)
from sandbox.servers._tls import (
    GO_GRPC_POLICY,
    ClientAuth,
    ServerTLS,
    TLSPolicy,
    _accept_tls,
    _looks_like_tls,
    _server_context,
    _TlsStream,
)

DEFAULT_SERVICE_NAME = "direktiv"  # the named health service registered besides "" (overall health)


class GrpcHealthServer(_Base):
    """A grpcio server with the grpc.health.v1 Health service, as a Direktiv gRPC port.

    ``tls=None`` serves insecure gRPC. With ``tls``, grpcio's own TLS (TLS 1.2 minimum, whatever the caller
    wishes); ``ClientAuth.REQUIRE_AND_VERIFY`` demands a client certificate chaining to ``client_ca_pem``.
    grpcio has no other mode and cannot ignore verification errors: use :class:`TLSTerminator` for those.
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
        if tls is not None and tls.ignore_errors:
            raise ValueError("grpcio's client verifier cannot ignore errors "
                             f"({', '.join(sorted(e.value for e in tls.ignore_errors))}); use TLSTerminator")
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
    (default: Go 1.15, TLS 1.0 to 1.3); client certificates as ``tls.client_auth`` says (any of Go's modes),
    verified against ``tls.client_ca_pem`` with the clientAuth usage, errors of the kinds in
    ``tls.ignore_errors`` let through. A client without a certificate: under TLS 1.3 it finishes
    its side of the handshake and then reads OpenSSL's alert certificate_required; under TLS 1.2 the handshake
    fails with OpenSSL's handshake_failure. Go 1.19 sends bad_certificate in both cases, and for every rejected
    client certificate, where OpenSSL names the fault (unknown_ca, certificate_expired, ...): the Go program
    (:class:`~sandbox.servers.GoServer`) is the real thing.
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

