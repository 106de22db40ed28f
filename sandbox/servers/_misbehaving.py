"""Peers that misbehave: silent, resetting, answering garbage, trickling, or not listening at all."""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from enum import Enum

from OpenSSL import SSL

from probes.pki import self_signed_certificate
from sandbox.servers._listeners import _Base, _drain_and_close, _ListenerServer, _reset
from sandbox.servers._tls import GO_GRPC_POLICY, ServerTLS, TLSPolicy, _looks_like_tls, _server_context


class Trickle(str, Enum):
    """What a :class:`TricklingServer` sends, one byte at a time."""

    SERVER_HELLO = "server-hello"  # a real ServerHello (and the rest of the server's flight) for the client's hello
    GARBAGE = "garbage"


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
