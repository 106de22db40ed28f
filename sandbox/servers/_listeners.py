"""Sockets and listeners: the accept loop, a thread per connection, and the socket plumbing every server shares.

One thread accepts per listening port (a selector with a wake-up socket) and one thread serves each connection;
every accepted socket has a timeout, and ``stop()`` shuts accepted sockets down so that blocked reads return at
once, then joins every thread. Each connection thread removes itself from the listener's table when it ends
(under the listener's lock), so many short connections cost nothing per accept.
"""

from __future__ import annotations

import logging
import select
import selectors
import socket
import struct
import threading
import time
from typing import Callable, Protocol, runtime_checkable

import h2.exceptions
import h11
from OpenSSL import SSL

_log = logging.getLogger(__name__)

DEFAULT_IO_TIMEOUT = 10.0  # per read/write on an accepted socket; stop() does not wait for it
_ACCEPT_POLL = 1.0  # accept loop's select timeout; the wake-up socket makes stop() immediate anyway
_JOIN_TIMEOUT = 5.0  # stop() waits this long per thread before logging a leak
_LINGER_DRAIN = 0.5  # after a refusal, read what the peer still sends this long, so close() is a FIN, not a RST


@runtime_checkable
class Server(Protocol):
    """What every sandbox server offers."""

    address: tuple[str, int]

    def stop(self) -> None: ...

    def __enter__(self): ...

    def __exit__(self, *exc_info) -> None: ...


class _Base:
    """Context management and repr for the servers; subclasses set ``address`` and implement _close()."""

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


# --- socket plumbing ---------------------------------------------------------------------------------------


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


class _PlainStream:
    """The plaintext counterpart of the TLS stream (the socket already carries its timeout)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def recv(self, size: int) -> bytes:
        return self.sock.recv(size)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)


# --- listeners ---------------------------------------------------------------------------------------------


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
        # The live connections: added before their thread starts, removed by that thread as it ends (O(1) each).
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
        self._thread.join(_JOIN_TIMEOUT)  # after this, no thread is added that has not started
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
