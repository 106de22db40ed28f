"""The sandbox's pod network: every pod gets an address of its own on the loopback network (127.0.0.N) with its
real container ports, so that the suite can dial a pod's IP as it does from inside a cluster
(``--direktiv-connect direct``).

The pods' servers listen on ephemeral ports of 127.0.0.1 (one Go program serves many of them). :class:`PodNetwork`
binds, for each container port that has a server, a listener on the pod's 127.0.0.N:PORT, and splices every
connection it accepts to that server byte for byte, as a pod network (a veth pair and a bridge) carries them: end of
stream and half-close pass on as FIN, a reset as RST. A port without a server has no listener, so a dial is refused
as a closed port in a pod refuses it. Which server a port leads to is looked up on every connection (the same
``targets`` table the API server's port-forward reads), so a test that points a pod port at another server, or at
nothing, changes both ways of reaching it.

Addresses are handed out from 127.0.0.10 on; a pod whose ports cannot all be bound on an address (another program
listens there) moves to the next one, and :class:`PodNetworkError` says so in one sentence when no address is left.
Linux routes all of 127.0.0.0/8 to the loopback interface, so nothing needs to be configured.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
import threading
from typing import Callable

from sandbox.apiserver import RefusedAfter

__all__ = ["HOSTS", "PodNetwork", "PodNetworkError"]

# The host numbers handed out, 127.0.0.N (127.0.0.1 is everybody's, the low ones are often taken by local resolvers).
HOSTS = range(10, 255)
# How long a splice waits for the pod's server to accept (a local server accepts at once; this bounds a hang).
_BACKEND_CONNECT_TIMEOUT = 5.0
_CHUNK = 64 * 1024
# How long start() and stop() wait for the event loop thread.
_THREAD_TIMEOUT = 10.0

Target = Callable[[str, str, int], "tuple[str, int] | RefusedAfter | None"]


class PodNetworkError(OSError):
    """A pod could not be given an address of its own with its container ports."""


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0, so the peer sees RST (what a reset on the other side of the splice was)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


class PodNetwork:
    """Pod addresses on 127.0.0.N and their splicing listeners; ``stop()`` closes every listener and connection.

    ``target(namespace, pod, port)`` gives the server a pod port leads to (None: nothing listens, the connection is
    reset; :class:`sandbox.apiserver.RefusedAfter`: reset after that delay). ``hosts``: the N of the addresses
    127.0.0.N handed out, in order.
    """

    def __init__(self, target: Target, *, hosts: range = HOSTS) -> None:
        self._target = target
        self._hosts = hosts
        self._next = 0
        self._sockets: list[tuple[socket.socket, str, str, int]] = []
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.AbstractServer] = []
        self._connections: set[asyncio.StreamWriter] = set()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"PodNetwork({len(self._sockets)} listeners)"

    # -- addresses

    def add_pod(self, namespace: str, pod: str, ports: list[int]) -> str:
        """Give the pod the next free address on which every one of ``ports`` can be bound, bind them, and
        return the address (its ``status.podIP``). Call before :meth:`start`."""
        if self._thread is not None:
            raise RuntimeError("add every pod before start()")
        while self._next < len(self._hosts):
            ip = f"127.0.0.{self._hosts[self._next]}"
            self._next += 1
            bound = self._bind_all(ip, ports)
            if bound is not None:
                self._sockets.extend((sock, namespace, pod, port) for sock, port in zip(bound, ports))
                return ip
        listed = ", ".join(str(p) for p in ports)
        raise PodNetworkError(
            errno.EADDRINUSE,
            f"cannot give pod {namespace}/{pod} an address of its own: its ports {listed} could not all be bound on "
            f"any of 127.0.0.{self._hosts[0]}-127.0.0.{self._hosts[-1]} (another program listens on them, perhaps on "
            "0.0.0.0); stop it, or start the sandbox without pod_ips='loopback'")

    @staticmethod
    def _bind_all(ip: str, ports: list[int]) -> list[socket.socket] | None:
        bound: list[socket.socket] = []
        for port in ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not blocked by our own TIME_WAITs
                sock.bind((ip, port))
                sock.listen(128)
                sock.setblocking(False)
            except OSError as exc:
                sock.close()
                for other in bound:
                    other.close()
                if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
                    return None
                raise
            bound.append(sock)
        return bound

    # -- lifecycle

    def start(self) -> "PodNetwork":
        """Serve every bound listener on an event loop in a background thread; returns once they accept."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._listen())
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="sandbox-podnet", daemon=True)
        self._thread.start()
        if not ready.wait(_THREAD_TIMEOUT) or failure:
            self.stop()
            raise PodNetworkError(f"the sandbox's pod network did not start: {failure[0] if failure else 'timeout'}")
        return self

    async def _listen(self) -> None:
        for sock, namespace, pod, port in self._sockets:
            handler = (lambda ns, name, p: lambda r, w: self._splice(r, w, ns, name, p))(namespace, pod, port)
            self._servers.append(await asyncio.start_server(handler, sock=sock))

    def stop(self) -> None:
        """Close every listener and every spliced connection, stop the loop and join its thread; idempotent."""
        if self._thread is not None and self._thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self._close_all(), self._loop)
            try:
                future.result(_THREAD_TIMEOUT)
            except Exception:  # noqa: BLE001 - stopping anyway
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_THREAD_TIMEOUT)
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()
        for sock, *_ in self._sockets:
            sock.close()

    async def _close_all(self) -> None:
        for server in self._servers:
            server.close()
        for writer in list(self._connections):
            writer.transport.abort()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()

    # -- splicing

    async def _splice(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, namespace: str, pod: str,
                      port: int) -> None:
        self._connections.add(writer)
        backend_writer = None
        try:
            target = self._target(namespace, pod, port)
            if isinstance(target, RefusedAfter):
                await asyncio.sleep(target.seconds)
                target = None
            if target is None:
                _reset(writer)
                return
            try:
                backend_reader, backend_writer = await asyncio.wait_for(
                    asyncio.open_connection(*target), _BACKEND_CONNECT_TIMEOUT)
            except (OSError, asyncio.TimeoutError):
                _reset(writer)
                return
            self._connections.add(backend_writer)
            up = asyncio.ensure_future(self._pipe(reader, backend_writer))
            down = asyncio.ensure_future(self._pipe(backend_reader, writer))
            pending = {up, down}
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if any(task.result() == "reset" for task in done):  # a reset on one side resets the other
                    for task in pending:
                        task.cancel()
                    _reset(writer)
                    _reset(backend_writer)
                    return
        finally:
            for end in (writer, backend_writer):
                if end is not None:
                    self._connections.discard(end)
                    if not end.transport.is_closing():
                        end.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        """Copy until end of stream ("eof", passed on as FIN) or a reset ("reset")."""
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof() and not writer.transport.is_closing():
                writer.write_eof()
            return "eof"
        except (ConnectionError, OSError):
            return "reset"
