"""PortForwarder against the emulated API server: real TLS and gRPC through the forward, large transfers,
file descriptors above 1024, refused ports, open deadlines, and no leaked threads."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import resource
import socket
import ssl
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from expect import assert_no_hang, wait_until
from probes import pki
from probes.errors import ClusterForbidden, ClusterNotFound, ForwardError, ForwardOpenTimeout
from probes.forward import PortForwarder, open_stream
from probes.timeouts import Timeouts
from sandbox.apiserver import ApiServer, ObjectStore

TIMEOUTS = Timeouts(forward_open=2.0, read=0.5)
ECHO, TLS, GRPC, REFUSED = 7000, 7443, 7777, 7999
SERVER_NAME = "direktiv-flow-hl.default"


class _Threaded:
    """A loopback TCP server handling each connection in a thread; stop() joins them all."""

    def __init__(self, handle) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.address = self.sock.getsockname()
        self._handle = handle
        self._stopping = threading.Event()
        self._handlers: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._run, name="test-backend", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            conn.settimeout(5)
            thread = threading.Thread(target=self._serve, args=(conn,), name="test-backend", daemon=True)
            thread.start()
            self._handlers.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                self._handle(conn)
            except OSError:
                pass

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        for thread in self._handlers:
            thread.join(5)
        self.sock.close()


def _echo(conn: socket.socket) -> None:
    while data := conn.recv(1 << 20):
        conn.sendall(data)


@pytest.fixture(scope="module")
def certs():
    ca = pki.CertificateAuthority.self_signed(key_type="ecdsa")
    leaf = ca.issue([SERVER_NAME], usages=pki.SERVER_AND_CLIENT_USAGES, key_type="ecdsa")
    return ca, leaf


@pytest.fixture(scope="module")
def backends(certs, tmp_path_factory):
    _, leaf = certs
    directory = tmp_path_factory.mktemp("tls")
    (directory / "tls.crt").write_bytes(leaf.chain_pem)
    key_path = directory / "tls.key"
    key_path.touch(mode=0o600)
    key_path.write_bytes(leaf.key.bytes())
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(directory / "tls.crt", key_path)
    key_path.unlink()

    def tls_echo(conn: socket.socket) -> None:
        with server_context.wrap_socket(conn, server_side=True) as tls:
            _echo(tls)

    echo, tls = _Threaded(_echo), _Threaded(tls_echo)
    grpc_server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), grpc_server)
    grpc_port = grpc_server.add_secure_port(
        "127.0.0.1:0", grpc.ssl_server_credentials([(leaf.key.bytes(), leaf.chain_pem)]))
    grpc_server.start()
    refused = socket.create_server(("127.0.0.1", 0))
    refused_address = refused.getsockname()
    refused.close()  # nothing listens there any more
    yield {ECHO: echo.address, TLS: tls.address, GRPC: ("127.0.0.1", grpc_port), REFUSED: refused_address}
    echo.stop()
    tls.stop()
    grpc_server.stop(None).wait(5)


@pytest.fixture(scope="module")
def api(backends):
    store = ObjectStore()
    store.add({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "flow-0", "namespace": "default"},
               "spec": {}, "status": {"phase": "Running"}})
    with ApiServer(store, port_target=lambda ns, pod, port: backends.get(port)) as server:
        yield server


@pytest.fixture(scope="module")
def api_client(api, tmp_path_factory):
    path = api.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")
    with k8s_config.new_client_from_config(str(path)) as api_client:
        yield api_client


@pytest.fixture(autouse=True)
def _no_faults_and_no_leaked_threads(api):
    yield
    api.store.clear_faults()
    leaked = [t for t in threading.enumerate() if t.name.startswith("forward")]
    assert leaked == [], f"threads left behind: {leaked}"


def _transfer(address, size: int) -> tuple[bytes, bytes]:
    """Send ``size`` random bytes through an echo while reading them back; return (sent, received) digests."""
    payload = os.urandom(size)
    received = bytearray()
    with socket.create_connection(address, timeout=10) as conn:
        sender = threading.Thread(target=conn.sendall, args=(payload,))
        sender.start()
        while len(received) < size:
            chunk = conn.recv(1 << 20)
            assert chunk, "the forward ended early"
            received += chunk
        sender.join(10)
    return hashlib.sha256(payload).digest(), hashlib.sha256(received).digest()


def test_a_tls_handshake_through_the_forward_sees_the_pods_certificate(api_client, certs):
    ca, leaf = certs
    context = ssl.create_default_context(cadata=ca.cert_pem.decode())
    with PortForwarder(api_client, "default", "flow-0", TLS, timeouts=TIMEOUTS) as forward:
        with socket.create_connection(forward.address, timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=SERVER_NAME) as tls:
                assert tls.getpeercert(binary_form=True) == leaf.cert_der
                tls.sendall(b"ping")
                assert tls.recv(4) == b"ping"


def test_a_grpc_health_call_through_the_forward(api_client, certs):
    ca, _ = certs
    with PortForwarder(api_client, "default", "flow-0", GRPC, timeouts=TIMEOUTS) as forward:
        credentials = grpc.ssl_channel_credentials(root_certificates=ca.cert_pem)
        options = [("grpc.ssl_target_name_override", SERVER_NAME)]
        with grpc.secure_channel(f"127.0.0.1:{forward.address[1]}", credentials, options=options) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert forward.errors == []


def test_large_transfers_both_ways_arrive_intact(api_client):
    with PortForwarder(api_client, "default", "flow-0", ECHO, timeouts=TIMEOUTS) as forward:
        sent, received = _transfer(forward.address, 8 * 1024 * 1024)
        assert sent == received
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: _transfer(forward.address, 512 * 1024), range(4)))
        assert all(sent == received for sent, received in results)


def test_file_descriptors_above_1024_work(api_client):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 1400
    if soft < needed and hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below {needed}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    fillers = []
    try:
        while len(fillers) < 1100:
            fillers.append(os.open(os.devnull, os.O_RDONLY))
        with PortForwarder(api_client, "default", "flow-0", ECHO, timeouts=TIMEOUTS) as forward:
            assert forward._listener.fileno() > 1024
            with socket.create_connection(forward.address, timeout=5) as conn:
                assert conn.fileno() > 1024
            sent, received = _transfer(forward.address, 1024 * 1024)
            assert sent == received
            assert forward.errors == []
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_refused_port_gives_kubelets_text(api_client):
    with PortForwarder(api_client, "default", "flow-0", REFUSED, timeouts=TIMEOUTS) as forward:
        with pytest.raises(ForwardError, match="connect: connection refused") as refused:
            forward.check()
        assert f"error forwarding port {REFUSED} to pod flow-0" in str(refused.value)
        with socket.create_connection(forward.address, timeout=5) as conn:
            assert conn.recv(10) == b""  # EOF, not a hang
        wait_until(lambda: len(forward.errors) >= 2)
        assert len(forward.errors) == 2 and all("connection refused" in e for e in forward.errors)


def test_check_passes_on_an_open_port(api_client):
    with PortForwarder(api_client, "default", "flow-0", ECHO, timeouts=TIMEOUTS) as forward:
        forward.check()
        assert forward.errors == []


def test_a_half_closed_request_still_gets_its_answer(api_client):
    with PortForwarder(api_client, "default", "flow-0", ECHO, timeouts=TIMEOUTS) as forward:
        with socket.create_connection(forward.address, timeout=5) as conn:
            conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
            conn.shutdown(socket.SHUT_WR)
            answer = b""
            while len(answer) < 18:
                answer += conn.recv(64)
            assert answer == b"GET / HTTP/1.0\r\n\r\n"


def test_an_api_server_that_never_upgrades_times_out_within_the_deadline(api, api_client):
    api.store.delay("pods/portforward", 5)
    with PortForwarder(api_client, "default", "flow-0", ECHO, timeouts=TIMEOUTS.scaled(forward_open=0.3)) as fwd:
        started = time.monotonic()
        with pytest.raises(ForwardOpenTimeout) as slow:
            fwd.check()
        assert_no_hang(time.monotonic() - started, 0.3, what="an open the API server never upgrades")  # it waits 5s
        assert slow.value.seconds == 0.3 and "default/flow-0" in str(slow.value)


def test_an_api_server_that_never_answers_tls_times_out_within_the_deadline():
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (backlog) and never says a word
    try:
        configuration = k8s.Configuration()
        configuration.host = f"https://127.0.0.1:{silent.getsockname()[1]}"
        configuration.verify_ssl = False
        configuration.api_key = {"authorization": "Bearer x"}
        started = time.monotonic()
        with pytest.raises(ForwardOpenTimeout):
            open_stream(k8s.ApiClient(configuration), "default", "flow-0", ECHO, timeout=0.3)
        assert_no_hang(time.monotonic() - started, 0.3, what="an open to a silent API server")
    finally:
        silent.close()


def test_upgrade_refusals_map_to_cluster_errors(api, api_client):
    with PortForwarder(api_client, "default", "ghost", ECHO, timeouts=TIMEOUTS) as forward:
        with pytest.raises(ClusterNotFound, match='pods "ghost" not found'):
            forward.check()
    api.store.forbid("pods/portforward")
    with PortForwarder(api_client, "default", "flow-0", ECHO, timeouts=TIMEOUTS) as forward:
        with pytest.raises(ClusterForbidden, match="pods/portforward"):
            forward.check()
        with socket.create_connection(forward.address, timeout=5) as conn:
            assert conn.recv(10) == b""
        assert wait_until(lambda: forward.errors), "the refused stream left no error"
        assert "403" in forward.errors[0]


def test_close_ends_live_connections_and_joins_every_thread(api_client):
    before = set(threading.enumerate())
    forward = PortForwarder(api_client, "default", "flow-0", ECHO, timeouts=TIMEOUTS)
    conns = [socket.create_connection(forward.address, timeout=5) for _ in range(3)]
    for conn in conns:
        conn.sendall(b"x")
        assert conn.recv(1) == b"x"
    forward.close()  # its joins are bounded; a thread that outlived one is in `ours` below
    for conn in conns:
        assert conn.recv(10) == b""
        conn.close()
    ours = {t for t in set(threading.enumerate()) - before if t.name != "test-backend"}
    assert ours == set()
