"""Inside the cluster: the login with the pod's service account (its token, CA and namespace files in a temp dir,
``$KUBERNETES_SERVICE_HOST`` pointing at the sandbox's API server, no kubeconfig), and ``--direktiv-connect direct``
(the sandbox's pods on addresses of their own, 127.0.0.N, where their real container ports listen)."""

from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from junitparser.xunit2 import JUnitXml

# Imported here so pytester's in-process runs find them loaded (see tests/test_suite_run.py).
import probes.controls  # noqa: F401
import probes.observe  # noqa: F401
import probes.reporting  # noqa: F401
from expect import assert_no_hang, assert_verdicts, from_junit, observed
from probes import kube
from probes.catalog import CONTROLS
from probes.controls import judge
from probes.errors import ClusterUnauthorized, UsageError
from probes.profile import INTERMEDIATE
from probes.session import RunOptions, gather_evidence
from sandbox.cluster import POD_IPS_LOOPBACK, start_sandbox
from sandbox.faults import CA_KEY_SECRET
from sandbox.podnet import PodNetwork, PodNetworkError
from sandbox.servers import ResetServer
from test_leaks import _snapshot, assert_back_to

ROOT = Path(__file__).resolve().parents[1]
SUITES = ROOT / "suites"
# Nothing here is about a deadline but one test: a generous step limit, and for that one a small one that the rest
# of a loaded run still fits in (see tests/test_faults.py).
TIMEOUT = 10.0
DEADLINE_TIMEOUT = 3.0


@pytest.fixture(scope="module")
def loopback():
    """A conformant sandbox whose pods listen on addresses of their own."""
    with start_sandbox("conformant", pod_ips=POD_IPS_LOOPBACK) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_faults(request):
    yield
    if "loopback" in request.fixturenames:
        request.getfixturevalue("loopback").store.clear_faults()


@pytest.fixture
def in_pod(monkeypatch, tmp_path):
    """Make this process look like a pod's: no kubeconfig (``$KUBECONFIG`` unset, a ``$HOME`` without
    ``~/.kube``), ``$KUBERNETES_SERVICE_HOST``/``PORT`` at the sandbox's API server, and the service account's
    ``token``, ``ca.crt`` and ``namespace`` in a temp dir instead of /var/run/secrets/kubernetes.io/serviceaccount.
    Returns that directory."""

    def enter(running, *, token: str | None = None, namespace: str = "default") -> Path:
        host, port = running.api_url.removeprefix("https://").rsplit(":", 1)
        monkeypatch.delenv("KUBECONFIG", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
        directory = tmp_path / "serviceaccount"
        directory.mkdir(exist_ok=True)
        (directory / "token").write_text(running.api.token if token is None else token)
        (directory / "ca.crt").write_bytes(running.api.ca_pem)
        (directory / "namespace").write_text(namespace)
        monkeypatch.setattr(kube, "SERVICE_ACCOUNT_DIR", directory)
        return directory

    return enter


def judge_all(evidence) -> dict:
    return {(c.id, e): judge(c.id, e, evidence, INTERMEDIATE) for c in CONTROLS for e in c.endpoints}


# --- service-account login ----------------------------------------------------------------------------------------


def test_without_a_kubeconfig_a_pod_logs_in_with_its_service_account(loopback, in_pod):
    in_pod(loopback, namespace="direktiv")
    with kube.Cluster.connect() as cluster:
        assert (cluster.server, cluster.context, cluster.namespace) == (loopback.api_url, "in-cluster", "direktiv")
        assert cluster.secret("cert-manager", "direktiv-ca").type == "kubernetes.io/tls"


def test_the_service_accounts_token_is_what_authenticates(loopback, in_pod):
    in_pod(loopback, token="not-the-token")
    with kube.Cluster.connect() as cluster, pytest.raises(ClusterUnauthorized) as caught:
        cluster.secret("cert-manager", "direktiv-ca")
    assert str(caught.value).startswith("Reading secret cert-manager/direktiv-ca was refused with 401 (Unauthorized)")


def test_a_kubeconfig_that_is_given_or_found_wins_over_the_service_account(loopback, in_pod, tmp_path, monkeypatch):
    in_pod(loopback, token="not-the-token")
    given = loopback.api.write_kubeconfig(tmp_path / "given", context="given")
    with kube.Cluster.connect(given) as cluster:
        assert cluster.context == "given"
    monkeypatch.setenv("KUBECONFIG", str(given))
    with kube.Cluster.connect() as cluster:
        assert cluster.context == "given"
    monkeypatch.delenv("KUBECONFIG")
    (tmp_path / "home" / ".kube").mkdir(parents=True)
    loopback.api.write_kubeconfig(tmp_path / "home" / ".kube" / "config", context="found")
    with kube.Cluster.connect() as cluster:
        assert cluster.context == "found"


@pytest.mark.parametrize("breakage, says", [
    ("token", "Cannot log in with the pod's service account (Service token file does not exist; "),
    ("empty-token", "Cannot log in with the pod's service account (Token file exists but empty; "),
    ("ca.crt", "Cannot log in with the pod's service account (Service certification file does not exist; "),
])
def test_a_service_account_that_cannot_log_in_is_one_usage_sentence(loopback, in_pod, breakage, says):
    directory = in_pod(loopback)
    if breakage == "empty-token":
        (directory / "token").write_text("")
    else:
        (directory / breakage).unlink()
    with pytest.raises(UsageError) as caught:
        kube.Cluster.connect()
    message = str(caught.value)
    assert message.startswith(says) and message.endswith(
        "mount the service account token (automountServiceAccountToken) or pass --kubeconfig PATH.")
    assert str(directory) in message and loopback.api.token not in message and "\n" not in message


def test_outside_a_pod_the_missing_kubeconfig_is_still_the_usage_error(loopback, in_pod, monkeypatch, tmp_path):
    in_pod(loopback)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    with pytest.raises(UsageError, match=r"^No kubeconfig at .*/home/\.kube/config \(from ~/\.kube/config\); pass "
                                         r"--kubeconfig PATH or set KUBECONFIG to a kubeconfig file\.$"):
        kube.Cluster.connect()


def test_a_context_needs_a_kubeconfig_even_in_a_pod(loopback, in_pod):
    in_pod(loopback)
    with pytest.raises(UsageError, match=r"^--context prod needs a kubeconfig, and none was given or found at "
                                         r"~/\.kube/config; leave --context out to use the pod's service account\.$"):
        kube.Cluster.connect(context="prod")


def test_a_suite_run_in_a_pod_without_its_token_exits_4_with_the_sentence(loopback, in_pod, pytester):
    (in_pod(loopback) / "token").unlink()
    result = pytester.runpytest(str(SUITES), "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: Cannot log in with the pod's service account (Service token file does not "
                                 "exist; *"])


# --- --direktiv-connect direct --------------------------------------------------------------------------------


def test_each_pod_listens_on_its_own_address_with_its_real_container_ports(loopback):
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in loopback.store.list("", "pods", None)[0]}
    ips = {key: pod["status"]["podIP"] for key, pod in pods.items()}
    assert len(set(ips.values())) == len(ips) and all(ip.startswith("127.0.0.") for ip in ips.values()), ips
    served = [p for p in loopback.ports if p.address is not None]
    assert served
    for port in served:
        ip = ips[(port.namespace, port.pod)]
        with socket.create_connection((ip, port.port), timeout=TIMEOUT) as sock:  # the container port itself
            assert sock.getpeername() == (ip, port.port)
    endpoints = loopback.store.get("", "endpoints", "default", "direktiv-flow")
    assert [a["ip"] for a in endpoints["subsets"][0]["addresses"]] == [
        ips[("default", a["targetRef"]["name"])] for a in endpoints["subsets"][0]["addresses"]]


def test_a_conformant_run_in_a_pod_dialling_pod_ips_passes_without_any_port_forward(loopback, in_pod, pytester):
    """The image's command (deploy/Containerfile: its ENTRYPOINT and CMD) with the service account's login: every
    control passes, although the API server forbids every port-forward, so every probe dialled a pod IP."""
    in_pod(loopback)
    loopback.store.forbid("pods/portforward")
    reports = pytester.path / "reports"
    result = pytester.runpytest(str(SUITES), "-p", "no:cacheprovider", f"--junitxml={reports}/junit.xml",
                                "--direktiv-connect", "direct", "--direktiv-ca-key-secret", "cert-manager/direktiv-ca")
    cases = [case for suite in JUnitXml.fromfile(str(reports / "junit.xml")) for case in suite]
    assert_verdicts({}, from_junit(cases), others="pass", context="conformant, in a pod, direct")
    assert result.ret == pytest.ExitCode.OK and len(cases) == 142
    evidence = json.loads((reports / "evidence.json").read_text())
    assert evidence["run"]["context"] == "in-cluster"


def _pod_object(running, namespace: str, prefix: str) -> dict:
    return next(p for p in running.store.list("", "pods", namespace)[0] if p["metadata"]["name"].startswith(prefix))


def _repointed(running, pod: dict, ip: str):
    """The pod object with another ``status.podIP`` (what the suite dials), restored afterwards."""
    class Restore:
        def __enter__(self):
            changed = json.loads(json.dumps(pod))
            changed["status"]["podIP"] = ip
            running.store.add(changed)

        def __exit__(self, *exc):
            running.store.add(pod)

    return Restore()


@pytest.mark.parametrize("ip, cause", [
    ("127.255.255.254", "the TCP connect to 127.255.255.254:{port} failed (Connection refused)"),
    ("", "has no IP (status.podIP is empty), so it cannot be dialled directly"),
])
def test_a_failed_direct_dial_is_an_error_on_that_pod_only(loopback, ip, cause):
    flow = _pod_object(loopback, "default", "direktiv-flow-")
    name = flow["metadata"]["name"]
    options = RunOptions(kubeconfig=str(loopback.kubeconfig_path), ca_key_secret=CA_KEY_SECRET, timeout=TIMEOUT,
                         connect="direct")
    with _repointed(loopback, flow, ip):
        verdicts = judge_all(gather_evidence(options, INTERMEDIATE))
    on_flow = {"ingress-grpc": 6666, "flow-grpc": 7777}  # the two containers of the flow pod
    broken = {key: "error" for key in verdicts if key[1] in on_flow}
    assert_verdicts(broken, observed(verdicts), others="pass", context=f"direct, pod {name} at {ip!r}")
    for (_, endpoint), verdict in verdicts.items():
        if endpoint in on_flow:
            port = on_flow[endpoint]
            assert f"direct dial to pod default/{name} port {port} failed: " in verdict.message, verdict.message
            assert cause.format(port=port) in verdict.message, verdict.message


def _unanswered(stack: ExitStack, address: tuple[str, int]) -> None:
    """A listener at ``address`` whose accept queue is full, so that a further connect is never answered (Linux
    drops its SYN): a pod port that hangs."""
    listener = stack.enter_context(socket.socket())
    listener.bind(address)
    listener.listen(0)
    stack.enter_context(socket.create_connection(address, timeout=TIMEOUT))  # fills the queue of one


def test_a_direct_dial_that_is_not_answered_ends_at_the_connect_limit(loopback):
    flow = _pod_object(loopback, "default", "direktiv-flow-")
    ip = "127.255.255.253"
    options = RunOptions(kubeconfig=str(loopback.kubeconfig_path), ca_key_secret=CA_KEY_SECRET,
                         timeout=DEADLINE_TIMEOUT, connect="direct")
    with ExitStack() as stack, _repointed(loopback, flow, ip):
        for port in (6666, 7777):
            _unanswered(stack, (ip, port))
        start = time.monotonic()
        verdicts = judge_all(gather_evidence(options, INTERMEDIATE))
        elapsed = time.monotonic() - start
    assert_no_hang(elapsed, DEADLINE_TIMEOUT, DEADLINE_TIMEOUT, what="a run with an unanswered pod")
    flow_grpc = verdicts[("T-TLS-HANDSHAKE", "flow-grpc")]
    assert flow_grpc.status.value == "error"
    assert (f"direct dial to pod default/{flow['metadata']['name']} port 7777 failed: TCP connect timed out after "
            f"{DEADLINE_TIMEOUT:.1f}s ({ip}:7777)") in flow_grpc.message


def test_a_direct_gathering_leaves_no_thread_or_socket_behind(loopback):
    options = RunOptions(kubeconfig=str(loopback.kubeconfig_path), ca_key_secret=CA_KEY_SECRET, timeout=TIMEOUT,
                         connect="direct")
    gather_evidence(options, INTERMEDIATE)  # warm-up: grpcio's process-wide threads start once, and stay
    before = _snapshot()
    for _ in range(2):
        gather_evidence(options, INTERMEDIATE)
    assert_back_to(before)


def test_an_unknown_way_to_connect_is_a_usage_error(pytester):
    result = pytester.runpytest(str(SUITES), "--direktiv-connect", "tunnel")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*argument --direktiv-connect: expected one of port-forward, direct, given: 'tunnel'"])


# --- the pod network -------------------------------------------------------------------------------------------


def _free_port(ip: str) -> int:
    with socket.socket() as sock:
        sock.bind((ip, 0))
        return sock.getsockname()[1]


def test_a_pod_whose_port_is_taken_moves_to_the_next_address_and_none_left_is_one_sentence():
    port = _free_port("127.0.0.200")
    with socket.socket() as taken:
        taken.bind(("127.0.0.200", port))
        taken.listen(1)
        network = PodNetwork(lambda *_: None, hosts=range(200, 202))
        try:
            assert network.add_pod("default", "flow-0", [port]) == "127.0.0.201"
            with pytest.raises(PodNetworkError) as caught:
                network.add_pod("default", "flow-1", [port])
        finally:
            network.stop()
    assert str(caught.value) == (
        f"[Errno 98] cannot give pod default/flow-1 an address of its own: its ports {port} could not all be bound "
        "on any of 127.0.0.200-127.0.0.201 (another program listens on them, perhaps on 0.0.0.0); stop it, or start "
        "the sandbox without pod_ips='loopback'")


def _echo_server():
    """A server on 127.0.0.1 that echoes until the client's FIN, then sends "bye" and closes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)
            conn.sendall(b"bye")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_the_pod_network_carries_bytes_half_closes_and_resets_as_they_are():
    before = _snapshot()
    listener, thread = _echo_server()
    reset = ResetServer()
    port = _free_port("127.0.0.1")
    targets = {("default", "echo", port): listener.getsockname(), ("default", "reset", port): reset.address}
    network = PodNetwork(lambda ns, pod, p: targets.get((ns, pod, p)), hosts=range(210, 254))
    try:
        echo_ip = network.add_pod("default", "echo", [port])
        reset_ip = network.add_pod("default", "reset", [port])
        gone_ip = network.add_pod("default", "gone", [port])  # nothing behind it
        network.start()
        with socket.create_connection((echo_ip, port), timeout=TIMEOUT) as sock:
            sock.sendall(b"hello")
            assert sock.recv(5) == b"hello"
            sock.shutdown(socket.SHUT_WR)  # the FIN reaches the server, which answers and closes
            received = b""
            while chunk := sock.recv(100):
                received += chunk
            assert received == b"bye"
        for ip in (reset_ip, gone_ip):
            # The RST may come before connect() or sendall() has looked at the socket's state: it is then they that
            # say so (a graceful close would let all three return, and recv() return b"").
            with pytest.raises((ConnectionResetError, BrokenPipeError)), \
                    socket.create_connection((ip, port), timeout=TIMEOUT) as sock:
                sock.sendall(b"\x16\x03\x01\x00\x05hello")
                sock.recv(100)
    finally:
        network.stop()
        reset.stop()
        listener.close()
        thread.join(TIMEOUT)
    assert_back_to(before)  # the pod network's thread, listeners and spliced connections are gone
