"""Port-forward cost: stream open latency and throughput through the emulated API server.

A private :class:`~sandbox.apiserver.ApiServer` forwards one pod's three ports to loopback servers: an echo
(latency), a sink (upload: it reads a length-prefixed payload and answers one byte) and a source (download: it
sends as many bytes as asked). :class:`~probes.forward.PortForwarder` carries the bytes, as it does for every probe.
"""

from __future__ import annotations

import os
import socket
import struct
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from benchmarks.records import ForwardCost, Timing
from probes.forward import PortForwarder
from probes.kube import Cluster
from probes.timeouts import Timeouts
from sandbox.apiserver import ApiServer, ObjectStore

__all__ = ["DEFAULT_MEBIBYTES", "DEFAULT_OPENS", "measure_forward_cost"]

# Issue 7's figures: N=50 opens for a stable median, 64 MiB to get past buffering effects on the way.
DEFAULT_OPENS = 50
DEFAULT_MEBIBYTES = 64
ECHO_PORT, SINK_PORT, SOURCE_PORT = 7000, 7001, 7002
_POD = ("default", "bench-0")
_CHUNK = 1 << 20
_HEADER = struct.Struct("!Q")
# Limits for one socket operation; a whole 64 MiB transfer gets _TRANSFER_LIMIT.
_IO_TIMEOUT = 10.0
_TRANSFER_LIMIT = 120.0
TIMEOUTS = Timeouts(connect=5.0, forward_open=5.0, handshake=5.0, read=2.0, rpc=5.0, api=10.0)


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"the peer closed after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


def _echo(conn: socket.socket) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


def _sink(conn: socket.socket) -> None:
    (size,) = _HEADER.unpack(_recv_exactly(conn, _HEADER.size))
    left = size
    while left > 0:
        chunk = conn.recv(min(left, _CHUNK))
        if not chunk:
            return
        left -= len(chunk)
    conn.sendall(b"K")


def _source(conn: socket.socket) -> None:
    (size,) = _HEADER.unpack(_recv_exactly(conn, _HEADER.size))
    block = os.urandom(_CHUNK)
    while size > 0:
        piece = block[: min(size, _CHUNK)]
        conn.sendall(piece)
        size -= len(piece)


class _LoopbackServer:
    """A TCP server on 127.0.0.1 (ephemeral port), one thread per connection; stop() joins them all."""

    def __init__(self, handle) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.address: tuple[str, int] = self._sock.getsockname()
        self._handle = handle
        self._stopping = threading.Event()
        self._handlers: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._run, name="bench-backend", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(_IO_TIMEOUT)
            thread = threading.Thread(target=self._serve, args=(conn,), name="bench-backend", daemon=True)
            self._handlers = [t for t in self._handlers if t.is_alive()]
            self._handlers.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                self._handle(conn)
            except (OSError, ConnectionError):
                pass

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5.0)
        for thread in self._handlers:
            thread.join(5.0)
        self._sock.close()


def _open_latency(forwarder: PortForwarder, opens: int) -> Timing:
    samples = []
    for _ in range(opens):
        start = time.perf_counter()
        stream = forwarder.open_stream()
        samples.append(time.perf_counter() - start)
        stream.close()
    return Timing(tuple(samples))


def _first_byte(forwarder: PortForwarder, opens: int) -> Timing:
    samples = []
    for _ in range(opens):
        start = time.perf_counter()
        with socket.create_connection(forwarder.address, timeout=_IO_TIMEOUT) as conn:
            conn.sendall(b"x")
            if conn.recv(1) != b"x":
                raise ConnectionError("the echo through the port-forward did not answer")
            samples.append(time.perf_counter() - start)
    return Timing(tuple(samples))


def _upload(forwarder: PortForwarder, size: int) -> float:
    block = os.urandom(_CHUNK)
    deadline = time.monotonic() + _TRANSFER_LIMIT
    with socket.create_connection(forwarder.address, timeout=_IO_TIMEOUT) as conn:
        start = time.perf_counter()
        conn.sendall(_HEADER.pack(size))
        left = size
        while left > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"uploading {size} bytes took more than {_TRANSFER_LIMIT} s")
            piece = block[: min(left, _CHUNK)]
            conn.sendall(piece)
            left -= len(piece)
        if conn.recv(1) != b"K":
            raise ConnectionError("the sink behind the port-forward did not confirm the upload")
        return time.perf_counter() - start


def _download(forwarder: PortForwarder, size: int) -> float:
    deadline = time.monotonic() + _TRANSFER_LIMIT
    with socket.create_connection(forwarder.address, timeout=_IO_TIMEOUT) as conn:
        start = time.perf_counter()
        conn.sendall(_HEADER.pack(size))
        left = size
        while left > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"downloading {size} bytes took more than {_TRANSFER_LIMIT} s")
            chunk = conn.recv(_CHUNK)
            if not chunk:
                raise ConnectionError(f"the source closed with {left} bytes still to come")
            left -= len(chunk)
        return time.perf_counter() - start


def measure_forward_cost(*, opens: int = DEFAULT_OPENS, mebibytes: int = DEFAULT_MEBIBYTES) -> ForwardCost:
    """Start a private API server with echo, sink and source backends; measure through PortForwarder."""
    if opens < 1 or mebibytes < 1:
        raise ValueError(f"opens and mebibytes must be at least 1, given: {opens}, {mebibytes}")
    with ExitStack() as stack:
        servers = {ECHO_PORT: _LoopbackServer(_echo), SINK_PORT: _LoopbackServer(_sink),
                   SOURCE_PORT: _LoopbackServer(_source)}
        for server in servers.values():
            stack.callback(server.stop)
        store = ObjectStore()
        namespace, pod = _POD
        store.add({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "namespace": namespace},
                   "spec": {}, "status": {"phase": "Running"}})
        targets = {port: server.address for port, server in servers.items()}
        api = stack.enter_context(ApiServer(store, port_target=lambda ns, name, port: targets.get(port)).start())
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-forward-")))
        cluster = stack.enter_context(Cluster.from_kubeconfig(api.write_kubeconfig(directory / "kubeconfig"),
                                                              timeouts=TIMEOUTS))

        def forward(port: int) -> PortForwarder:
            return stack.enter_context(PortForwarder(cluster.api_client, namespace, pod, port, timeouts=TIMEOUTS))

        echo = forward(ECHO_PORT)
        latency = _open_latency(echo, opens)
        first = _first_byte(echo, opens)
        size = mebibytes * _CHUNK
        up = _upload(forward(SINK_PORT), size)
        down = _download(forward(SOURCE_PORT), size)
        return ForwardCost(opens=opens, open_latency=latency, first_byte=first, mebibytes=mebibytes,
                           upload_mib_s=mebibytes / up, download_mib_s=mebibytes / down)
