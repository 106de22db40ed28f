"""Peers that misbehave: silent, resetting, answering garbage, trickling, or not listening at all."""

from __future__ import annotations

import random
import select
import socket
import struct
import threading
import time
from enum import Enum

from OpenSSL import SSL

from probes.pki import self_signed_certificate
from sandbox.servers._listeners import DEFAULT_IO_TIMEOUT, _Base, _drain_and_close, _ListenerServer, _reset
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


# --- an old stack's ClientHello and ServerHello, imitated by rewriting a modern server's --------------------------

_HANDSHAKE_RECORD, _CLIENT_HELLO_TYPE, _SERVER_HELLO_TYPE = 22, 1, 2
_RENEGOTIATION_INFO_EXT, _SUPPORTED_VERSIONS_EXT, _FALLBACK_SCSV_CODE = 0xFF01, 43, 0x5600


def _vector(data: bytes, at: int, size: int) -> tuple[bytes, int]:
    length = int.from_bytes(data[at:at + size], "big")
    return data[at + size:at + size + length], at + size + length


def _hello_parts(body: bytes, *, client: bool) -> tuple[bytes, bytes, list[tuple[int, bytes]]]:
    """A hello's (version, random and session id; the suites and compression methods, or the chosen ones; the
    extensions as (type, data))."""
    _, at = _vector(body, 2 + 32, 1)
    if client:
        _, end = _vector(body, at, 2)
        _, end = _vector(body, end, 1)
    else:
        end = at + 3
    extensions: list[tuple[int, bytes]] = []
    block, _ = _vector(body, end, 2) if end < len(body) else (b"", end)
    i = 0
    while i + 4 <= len(block):
        kind, size = struct.unpack("!HH", block[i:i + 4])
        extensions.append((kind, block[i + 4:i + 4 + size]))
        i += 4 + size
    return body[:at], body[at:end], extensions


def _rebuild(head: bytes, middle: bytes, extensions: list[tuple[int, bytes]]) -> bytes:
    ext = b"".join(struct.pack("!HH", kind, len(data)) + data for kind, data in extensions)
    return head + middle + struct.pack("!H", len(ext)) + ext


def _message(record: bytes, kind: int) -> tuple[bytes, bytes] | None:
    """(handshake body of the first message if it is ``kind``, the rest of the record's payload after it)."""
    if len(record) < 9 or record[0] != _HANDSHAKE_RECORD or record[5] != kind:
        return None
    size = int.from_bytes(record[6:9], "big")
    return record[9:9 + size], record[9 + size:]


def _record(version: bytes, kind: int, body: bytes, rest: bytes) -> bytes:
    payload = bytes([kind]) + len(body).to_bytes(3, "big") + body + rest
    return bytes([_HANDSHAKE_RECORD]) + version + struct.pack("!H", len(payload)) + payload


def _read_record(sock: socket.socket, deadline: float) -> bytes:
    data = b""
    while len(data) < 5 or len(data) < 5 + struct.unpack("!H", data[3:5])[0]:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class OldStackFront(_ListenerServer):
    """A front that makes a modern TLS server look like a pre-2010 stack to a client that offers at most TLS 1.2:
    it drops TLS_FALLBACK_SCSV from the ClientHello before the server sees it (``ignores_fallback_scsv``: RFC 7507
    unknown), and renegotiation_info from the server's ServerHello (``no_secure_renegotiation``: RFC 5746 unknown).

    Only the hellos are rewritten, then the bytes are pumped as they are: a client that goes on past the
    ServerHello fails the Finished check (the transcripts differ), which is no matter for what it imitates, since
    the question is only what an old server's ServerHello says. A client offering TLS 1.3 goes through untouched,
    so the baseline handshake of the suite completes as with any modern server."""

    def __init__(self, backend: tuple[str, int], *, ignores_fallback_scsv: bool = False,
                 no_secure_renegotiation: bool = False, io_timeout: float = DEFAULT_IO_TIMEOUT) -> None:
        self.backend = backend
        self._ignore_scsv, self._strip_reneg = ignores_fallback_scsv, no_secure_renegotiation
        super().__init__(io_timeout=io_timeout)

    def _handle(self, sock: socket.socket, stopping: threading.Event) -> None:
        deadline = time.monotonic() + self._io_timeout
        try:
            first = sock.recv(1, socket.MSG_PEEK)
            first = _read_record(sock, deadline) if first == bytes([_HANDSHAKE_RECORD]) else sock.recv(65536)
            hello = _message(first, _CLIENT_HELLO_TYPE)
            legacy = False
            if hello is not None:
                body, rest = hello
                head, middle, extensions = _hello_parts(body, client=True)
                legacy = not any(kind == _SUPPORTED_VERSIONS_EXT for kind, _ in extensions)
                if legacy and self._ignore_scsv:
                    suites, after = _vector(middle, 0, 2)
                    kept = b"".join(suites[i:i + 2] for i in range(0, len(suites), 2)
                                    if int.from_bytes(suites[i:i + 2], "big") != _FALLBACK_SCSV_CODE)
                    middle = struct.pack("!H", len(kept)) + kept + middle[after:]
                    first = _record(first[1:3], _CLIENT_HELLO_TYPE, _rebuild(head, middle, extensions), rest)
            with socket.create_connection(self.backend, timeout=self._io_timeout) as upstream:
                upstream.sendall(first)
                if legacy and self._strip_reneg:
                    answer = _read_record(upstream, time.monotonic() + self._io_timeout)
                    server_hello = _message(answer, _SERVER_HELLO_TYPE)
                    if server_hello is not None:
                        body, rest = server_hello
                        head, middle, extensions = _hello_parts(body, client=False)
                        kept = [(k, d) for k, d in extensions if k != _RENEGOTIATION_INFO_EXT]
                        answer = _record(answer[1:3], _SERVER_HELLO_TYPE, _rebuild(head, middle, kept),
                                         rest) + answer[5 + struct.unpack("!H", answer[3:5])[0]:]
                    sock.sendall(answer)
                _splice(sock, upstream, stopping, self._io_timeout)
        except OSError:
            pass
        finally:
            _drain_and_close(sock)


class ExhaustedFront(_ListenerServer):
    """A front that passes its first ``first`` connections through to ``backend`` and resets every later one after
    reading its first flight: a pod that a rate limit, a crash loop or a shutdown makes refuse every new connection
    partway through a scan. Its resets look like refusals of whatever was offered. ``connections`` counts the
    connections it took."""

    def __init__(self, backend: tuple[str, int], *, first: int, io_timeout: float = DEFAULT_IO_TIMEOUT) -> None:
        self.backend, self._first, self.connections = backend, first, 0
        self._lock = threading.Lock()
        super().__init__(io_timeout=io_timeout)

    def _handle(self, sock: socket.socket, stopping: threading.Event) -> None:
        with self._lock:
            self.connections += 1
            passes = self.connections <= self._first
        if not passes:
            _read_first_flight(sock, self._io_timeout)
            _reset(sock)
            return
        try:
            with socket.create_connection(self.backend, timeout=self._io_timeout) as upstream:
                _splice(sock, upstream, stopping, self._io_timeout)
        except OSError:
            pass
        finally:
            _drain_and_close(sock)


def _splice(a: socket.socket, b: socket.socket, stopping: threading.Event, idle: float) -> None:
    """Pump bytes both ways until either side closes, ``idle`` seconds pass without traffic, or stop()."""
    poller = select.poll()
    poller.register(a, select.POLLIN | select.POLLERR | select.POLLHUP)
    poller.register(b, select.POLLIN | select.POLLERR | select.POLLHUP)
    peers = {a.fileno(): b, b.fileno(): a}
    sockets = {a.fileno(): a, b.fileno(): b}
    last = time.monotonic()
    while not stopping.is_set() and time.monotonic() - last < idle:
        for fd, _ in poller.poll(200):
            data = sockets[fd].recv(65536)
            if not data:
                return
            peers[fd].sendall(data)
            last = time.monotonic()
