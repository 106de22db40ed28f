"""The Go program behaves like Direktiv's Go servers, on real loopback handshakes made with the project's own probes;
it is built once and cached, and it never outlives its parent. Where Go is not installed the tests that need it
skip (CI installs it) and the sandbox falls back to the Python stand-ins, saying so."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from expect import wait_until
from local_servers import BAD_CLIENTS, LET_THROUGH, child_pids, direktiv_pki, identity
from probes.grpc_health import health_check
from probes.https import https_get
from probes.pki import CertificateAuthority, expired_client, no_clientauth_client
from probes.plaintext import probe_plaintext
from probes.timeouts import Timeouts
from probes.tls import HandshakeOutcome, TLSOffer, TLSVersion, handshake
from sandbox.cluster import ENGINE_ENV, default_engine, start_sandbox
from sandbox.scenarios import Engine
from sandbox.servers import (
    GO_HTTPS_PLAINTEXT_REPLY,
    ClientAuth,
    GoListener,
    GoProcess,
    GoProtocol,
    GoServer,
    GoUnavailable,
    ServerTLS,
    VerifyErrorKind,
    go_available,
    go_binary,
)
from sandbox.servers import _gobuild

FLOW = "direktiv-flow-hl.default"
TIMEOUT = 2.0
PROBES = Timeouts(connect=TIMEOUT, handshake=TIMEOUT, read=1.0, rpc=TIMEOUT)
BOUND = 5 * TIMEOUT  # any wait for a process: five times the step limit
REPO = Path(__file__).resolve().parents[1]
needs_go = pytest.mark.skipif(not go_available(), reason="Go or grpc-go is not installed (apt-get install "
                                                         "golang-go golang-google-grpc-dev; CI installs them)")

# IANA suite IDs for the hand-made ClientHello (the local OpenSSL has no 3DES to offer).
TLS_RSA_WITH_3DES_EDE_CBC_SHA = 0x000A
TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA = 0xC012
TLS_RSA_WITH_AES_128_CBC_SHA = 0x002F
ALERT_HANDSHAKE_FAILURE = 40


# --- fixtures and helpers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki():
    return direktiv_pki()


@pytest.fixture(scope="module")
def ca(pki):
    return pki.ca


@pytest.fixture(scope="module")
def flow_cert(pki):
    return pki.server  # server and client usages, as Direktiv's one secret per port


@pytest.fixture(scope="module")
def bad_clients(ca, flow_cert):
    return {label: identity(make(ca, flow_cert), label) for label, make in BAD_CLIENTS.items()}


@pytest.fixture(scope="module")
def go():
    """One Go program for the module's listeners (as the sandbox runs one for all of its servers)."""
    if not go_available():
        pytest.skip("Go or grpc-go is not installed")
    with GoProcess() as process:
        yield process


def serve(go: GoProcess, tls: ServerTLS | None, protocol: GoProtocol = GoProtocol.GRPC, **options) -> GoServer:
    return GoServer(GoListener(protocol, tls, **options), process=go)


def shake(address, *, client=None, versions=(TLSVersion.TLSv1_2, TLSVersion.TLSv1_3), **offer):
    offer.setdefault("alpn", ("h2",))
    offer.setdefault("after_handshake", "h2")
    return handshake(address, TLSOffer(FLOW, versions=versions, client=client, **offer), timeouts=PROBES)


def legacy(address, client=None):
    return shake(address, client=client, versions=(TLSVersion.TLSv1,), ciphers="ALL:@SECLEVEL=0",
                 after_handshake="none")


def ext(kind: int, data: bytes) -> bytes:
    return struct.pack("!HH", kind, len(data)) + data


def chosen_suite(address, suites: list[int]) -> tuple[str, int]:
    """A hand-made TLS 1.2 ClientHello offering only ``suites``: ("suite", its ID) from the ServerHello, or
    ("alert", the alert description)."""
    extensions = (ext(0x000D, b"\x00\x06\x04\x01\x04\x03\x02\x01")  # signature_algorithms
                  + ext(0x000A, b"\x00\x04\x00\x1d\x00\x17")  # supported_groups x25519, P-256
                  + ext(0x000B, b"\x01\x00"))  # ec_point_formats uncompressed
    body = (b"\x03\x03" + os.urandom(32) + b"\x00" + struct.pack("!H", 2 * len(suites))
            + b"".join(struct.pack("!H", s) for s in suites) + b"\x01\x00"
            + struct.pack("!H", len(extensions)) + extensions)
    hello = b"\x01" + len(body).to_bytes(3, "big") + body
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        sock.sendall(b"\x16\x03\x01" + struct.pack("!H", len(hello)) + hello)
        head = b""
        while len(head) < 5 + 4 + 2 + 32 + 1:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    if head[:1] == b"\x15":
        return "alert", head[6]
    assert head[:1] == b"\x16" and head[5] == 0x02, head[:8]  # a handshake record holding a ServerHello
    session_id_length = head[5 + 4 + 2 + 32]
    at = 5 + 4 + 2 + 32 + 1 + session_id_length
    return "suite", struct.unpack("!H", head[at:at + 2])[0]


def is_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie left for an init that does not reap counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# --- versions and suites: Go's defaults ----------------------------------------------------------------------


@needs_go
def test_tls10_is_accepted_by_default_and_refused_with_min_tls12(go, flow_cert):
    tls = ServerTLS.from_issued(flow_cert)
    with serve(go, tls) as default, serve(go, tls, min_version="TLSv1.2") as strict:
        accepted = legacy(default.address)
        refused = legacy(strict.address)
    assert (accepted.outcome, accepted.version) == (HandshakeOutcome.ACCEPTED, "TLSv1"), accepted.detail
    assert (refused.outcome, refused.alert) == (HandshakeOutcome.REJECTED, "protocol version"), refused.detail


@needs_go
def test_go_defaults_take_3des_and_static_rsa_from_an_rsa_server_and_a_suite_list_removes_them(go):
    rsa_ca = CertificateAuthority.self_signed(key_type="rsa")
    tls = ServerTLS.from_issued(rsa_ca.issue(["api.default"], key_type="rsa", key_size=2048))
    ecdsa = ServerTLS.from_issued(rsa_ca.issue(["api.default"], key_type="ecdsa"))
    modern = ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",)
    with serve(go, tls, GoProtocol.HTTP) as default, serve(go, ecdsa, GoProtocol.HTTP) as ec_server, \
            serve(go, tls, GoProtocol.HTTP, cipher_suites=modern) as restricted:
        for suite in (TLS_RSA_WITH_3DES_EDE_CBC_SHA, TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
                      TLS_RSA_WITH_AES_128_CBC_SHA):
            assert chosen_suite(default.address, [suite]) == ("suite", suite)
            assert chosen_suite(restricted.address, [suite]) == ("alert", ALERT_HANDSHAKE_FAILURE)
            assert chosen_suite(ec_server.address, [suite]) == ("alert", ALERT_HANDSHAKE_FAILURE)  # RSA suites


@needs_go
def test_an_unknown_suite_name_or_version_is_refused_in_one_sentence(go, flow_cert):
    with pytest.raises(ValueError, match="unknown cipher suite \"TLS_NOPE\""):
        serve(go, ServerTLS.from_issued(flow_cert), cipher_suites=("TLS_NOPE",))
    with pytest.raises(ValueError, match="min_version"):
        GoListener(GoProtocol.GRPC, ServerTLS.from_issued(flow_cert), min_version="TLSv1.4")


# --- mutual TLS ------------------------------------------------------------------------------------------------


@needs_go
def test_mtls_rejects_a_client_without_a_certificate_late_in_tls13_and_during_the_tls12_handshake(go, flow_cert):
    with serve(go, ServerTLS.from_issued(flow_cert, mtls=True)) as server:
        tls13 = shake(server.address)
        tls12 = shake(server.address, versions=(TLSVersion.TLSv1_2,))
    # Go 1.19's crypto/tls answers a missing certificate with bad_certificate, not TLS 1.3's certificate_required
    # (handshake_server.go, processCertsFromClient).
    assert (tls13.outcome, tls13.late_rejection, tls13.version) == (HandshakeOutcome.REJECTED, True, "TLSv1.3")
    assert tls13.alert == "bad certificate", tls13.detail
    assert (tls12.outcome, tls12.completed, tls12.alert) == (HandshakeOutcome.REJECTED, False, "bad certificate")


@needs_go
def test_mtls_refuses_a_foreign_ca_and_serves_health_to_the_configured_client(go, flow_cert, bad_clients):
    with serve(go, ServerTLS.from_issued(flow_cert, mtls=True)) as server:
        foreign = shake(server.address, client=bad_clients["foreign-ca"])
        configured = shake(server.address, client=identity(flow_cert))
        health = health_check(server.address, authority=FLOW, ca_pem=flow_cert.ca_pem, client=identity(flow_cert),
                              timeouts=PROBES)
        anonymous = health_check(server.address, authority=FLOW, ca_pem=flow_cert.ca_pem, timeouts=PROBES)
    assert (foreign.outcome, foreign.alert) == (HandshakeOutcome.REJECTED, "bad certificate"), foreign.detail
    assert (configured.outcome, configured.alpn) == (HandshakeOutcome.ACCEPTED, "h2"), configured.detail
    assert (health.code, health.serving_status) == ("OK", "SERVING"), health.detail
    assert anonymous.code == "UNAVAILABLE" and not anonymous.channel_ready


@needs_go
@pytest.mark.parametrize("kind", list(VerifyErrorKind))
def test_a_verifier_ignoring_one_kind_of_error_lets_exactly_that_bad_client_through(go, flow_cert, bad_clients, kind):
    with serve(go, replace(ServerTLS.from_issued(flow_cert, mtls=True), ignore_errors={kind})) as server:
        outcomes = {label: shake(server.address, client=client).outcome for label, client in bad_clients.items()}
        configured = shake(server.address, client=identity(flow_cert)).outcome
        anonymous = shake(server.address).outcome
    assert outcomes == {label: HandshakeOutcome.ACCEPTED if label == LET_THROUGH[kind] else HandshakeOutcome.REJECTED
                        for label in bad_clients}
    assert (configured, anonymous) == (HandshakeOutcome.ACCEPTED, HandshakeOutcome.REJECTED)


@needs_go
def test_ignoring_two_kinds_lets_a_client_with_both_faults_through_and_verify_if_given_takes_none(go, ca, flow_cert):
    server_only = no_clientauth_client(ca, flow_cert.cert_pem)
    stale = identity(expired_client(ca, server_only.cert_pem), "expired, no clientAuth")  # usages copied
    mtls = ServerTLS.from_issued(flow_cert, mtls=True)
    expiry = {VerifyErrorKind.EXPIRED}
    with serve(go, replace(mtls, ignore_errors=expiry | {VerifyErrorKind.WRONG_PURPOSE})) as lax, \
            serve(go, replace(mtls, ignore_errors=expiry)) as one, \
            serve(go, replace(mtls, client_auth=ClientAuth.VERIFY_IF_GIVEN, ignore_errors=expiry)) as optional:
        assert shake(lax.address, client=stale).outcome is HandshakeOutcome.ACCEPTED
        assert shake(one.address, client=stale).outcome is HandshakeOutcome.REJECTED
        assert shake(optional.address).outcome is HandshakeOutcome.ACCEPTED
        assert shake(optional.address, client=stale).outcome is HandshakeOutcome.REJECTED


@needs_go
def test_require_any_demands_a_certificate_and_verifies_none(go, flow_cert, bad_clients):
    with serve(go, ServerTLS(flow_cert.chain_pem, flow_cert.key, client_auth=ClientAuth.REQUIRE_ANY)) as server:
        outcomes = {shake(server.address, client=client).outcome for client in bad_clients.values()}
        anonymous = shake(server.address).outcome
    assert (outcomes, anonymous) == ({HandshakeOutcome.ACCEPTED}, HandshakeOutcome.REJECTED)


# --- plaintext, ALPN, chain ------------------------------------------------------------------------------------


@needs_go
def test_plaintext_on_the_https_port_gets_go_own_400_and_on_the_grpc_port_nothing(go, flow_cert):
    tls = ServerTLS.from_issued(flow_cert)
    with serve(go, tls, GoProtocol.HTTP) as https, serve(go, tls) as grpc_port:
        with socket.create_connection(https.address, timeout=TIMEOUT) as sock:
            sock.sendall(f"GET / HTTP/1.1\r\nHost: {FLOW}\r\n\r\n".encode())
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
        probed = probe_plaintext(https.address, host=FLOW, timeouts=PROBES)
        silent = probe_plaintext(grpc_port.address, host=FLOW, timeouts=PROBES)
    assert reply == GO_HTTPS_PLAINTEXT_REPLY  # the Python stand-in's constant is Go's text, byte for byte
    assert (probed.http1_refusal, probed.http1_status, probed.h2c_settings) == ("https-port-400", 400, False)
    assert (silent.http1_refusal, silent.h2c_refusal) == ("closed", "closed"), silent.detail


@needs_go
def test_plaintext_too_answers_http1_and_h2c_on_the_tls_port_and_tls_still_works(go, flow_cert):
    with serve(go, ServerTLS.from_issued(flow_cert), GoProtocol.HTTP, plaintext_too=True, status=503) as server:
        plain = probe_plaintext(server.address, host=FLOW, timeouts=PROBES)
        tls = https_get(server.address, host=FLOW, timeouts=PROBES)
    assert (plain.http1_answered, plain.http1_status, plain.h2c_settings) == (True, 503, True), plain.detail
    assert tls.status == 503


@needs_go
def test_plaintext_listeners_serve_h2c_grpc_and_http(go):
    with serve(go, None) as grpc_port, serve(go, None, GoProtocol.HTTP) as http_port:
        health = health_check(grpc_port.address, authority=FLOW, plaintext=True, timeouts=PROBES)
        plain = probe_plaintext(http_port.address, host=FLOW, timeouts=PROBES)
    assert (health.code, health.serving_status) == ("OK", "SERVING")
    assert plain.http1_status == 200


@needs_go
def test_alpn_off_negotiates_nothing_and_grpc_still_serves_over_tls(go, flow_cert):
    tls = ServerTLS.from_issued(flow_cert)
    with serve(go, tls, alpn=False) as grpc_port, serve(go, tls, GoProtocol.HTTP, alpn=False) as https, \
            serve(go, tls, GoProtocol.HTTP, alpn=False, plaintext_too=True) as both:
        bare = shake(grpc_port.address)
        web = [shake(s.address, alpn=("h2", "http/1.1"), after_handshake="http1") for s in (https, both)]
        plain = probe_plaintext(both.address, host=FLOW, timeouts=PROBES)
    assert (bare.outcome, bare.alpn) == (HandshakeOutcome.ACCEPTED, None), bare.detail
    assert [(r.outcome, r.alpn) for r in web] == [(HandshakeOutcome.ACCEPTED, None)] * 2, [r.detail for r in web]
    assert plain.http1_status == 200, plain.detail


@needs_go
def test_send_chain_false_sends_the_leaf_without_the_intermediate(go, ca):
    intermediate = ca.issue(["intermediate"], key_type="ecdsa")  # its key signs nothing: only the chain length counts
    leaf = ca.issue([FLOW], key_type="ecdsa")
    tls = ServerTLS(leaf.chain_pem + intermediate.cert_pem, leaf.key)
    with serve(go, tls) as whole, serve(go, tls, send_chain=False) as bare:
        assert len(shake(whole.address).peer_chain_der) == 2
        assert len(shake(bare.address).peer_chain_der) == 1


@needs_go
def test_a_key_that_does_not_match_is_refused_in_go_own_words_and_the_process_serves_on(go, flow_cert, ca):
    with pytest.raises(ValueError, match="^tls: private key does not match public key$"):
        serve(go, ServerTLS(flow_cert.chain_pem, ca.key))
    with serve(go, None) as server:
        assert health_check(server.address, authority=FLOW, plaintext=True, timeouts=PROBES).code == "OK"


# --- the process -----------------------------------------------------------------------------------------------


@needs_go
def test_stop_ends_and_reaps_the_child_and_closes_its_ports(flow_cert):
    before = child_pids()
    server = GoServer(GoListener(GoProtocol.GRPC, ServerTLS.from_issued(flow_cert)))
    pid, address = server.process.pid, server.address
    assert pid in child_pids() - before
    server.stop()
    server.stop()
    assert server.process.returncode == 0  # it ended on its own when stdin closed
    assert child_pids() == before
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped: no zombie
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=TIMEOUT).close()


@needs_go
@pytest.mark.parametrize("protocol", list(GoProtocol))
def test_a_client_stuck_in_its_handshake_does_not_hold_up_stop(flow_cert, protocol, caplog):
    server = GoServer(GoListener(protocol, ServerTLS.from_issued(flow_cert)))
    with socket.create_connection(server.address, timeout=TIMEOUT) as stuck:
        stuck.sendall(b"\x16\x03\x01")  # the start of a record, then nothing: the server waits in its handshake
        time.sleep(0.1)  # let the server take the connection up
        with caplog.at_level("WARNING", logger="sandbox.servers._go"):
            server.stop()
        # It ended on its own when its stdin closed: stop() needed no SIGTERM or SIGKILL (it warns when it does).
        assert (server.process.returncode, caplog.messages) == (0, [])
        stuck.settimeout(TIMEOUT)
        assert stuck.recv(1) == b""  # and the stuck connection was closed


@needs_go
def test_closing_one_listener_leaves_the_others_serving(go):
    first, second = serve(go, None), serve(go, None)
    first.stop()
    with second:
        with pytest.raises(OSError):
            socket.create_connection(first.address, timeout=TIMEOUT).close()
        assert health_check(second.address, authority=FLOW, plaintext=True, timeouts=PROBES).code == "OK"


@needs_go
def test_sigterm_ends_the_program_with_status_0():
    with GoProcess() as process:
        os.kill(process.pid, signal.SIGTERM)
        assert wait_until(lambda: process.returncode is not None)
        assert process.returncode == 0


_ORPHAN = """
import sys
from sandbox.servers import GoProcess, GoListener, GoServer
process = GoProcess()
GoServer(GoListener("grpc"), process=process)
print(process.pid, flush=True)
sys.stdin.read()  # until the test closes our stdin; then die without stopping anything
"""


@needs_go
def test_the_program_does_not_outlive_a_parent_that_dies_without_stopping_it():
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        pid = int(parent.stdout.readline())
        assert is_running(pid)
        parent.kill()  # SIGKILL: no cleanup runs; the child's stdin (a pipe from the parent) closes
        parent.wait(BOUND)
        assert wait_until(lambda: not is_running(pid)), f"the Go program {pid} outlived its parent"
    finally:
        parent.kill()
        parent.wait(BOUND)
        parent.stdin.close()
        parent.stdout.close()


# --- build and cache -------------------------------------------------------------------------------------------


def _build_in(root: str) -> str:
    os.environ[_gobuild.CACHE_ENV] = root
    return str(go_binary())


@needs_go
def test_the_build_is_cached_by_source_and_parallel_builds_make_one(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    root.mkdir()
    (root / "gocache").symlink_to(_gobuild.cache_root() / "gocache")  # grpc-go compiled already: link only
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(2) as pool:
        built = pool.map(_build_in, [str(root), str(root)], chunksize=1)
    assert built[0] == built[1]
    builds = [p for p in root.iterdir() if p.name.startswith("go-") and p.is_dir()]
    assert [p.name for p in builds] == [Path(built[0]).parent.name]  # one build, no staging left
    monkeypatch.setenv(_gobuild.CACHE_ENV, str(root))
    stamp = Path(built[0]).stat().st_mtime_ns
    assert str(go_binary()) == built[0] and Path(built[0]).stat().st_mtime_ns == stamp  # reused, not rebuilt
    changed = tmp_path / "source"
    shutil.copytree(_gobuild.SOURCE_DIR, changed)
    (changed / "main.go").write_text((changed / "main.go").read_text() + "\n// changed\n")
    monkeypatch.setattr(_gobuild, "SOURCE_DIR", changed)
    assert go_binary().parent != Path(built[0]).parent  # another source, another build


def test_without_go_the_build_says_what_to_install_and_the_sandbox_falls_back(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no go on it
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    assert not go_available()
    with pytest.raises(GoUnavailable, match="apt-get install golang-go golang-google-grpc-dev"):
        go_binary()
    assert default_engine() is Engine.PYTHON
    with start_sandbox("plaintext") as running:
        assert running.engine is Engine.PYTHON
        assert running.notice.startswith("Go is not installed: Direktiv's servers run on the Python stand-ins")


def test_the_engine_variable_chooses_and_is_checked(monkeypatch, tmp_path):
    monkeypatch.setenv(ENGINE_ENV, "python")
    assert default_engine() is Engine.PYTHON
    monkeypatch.setenv(ENGINE_ENV, "rust")
    with pytest.raises(ValueError, match="must be 'go' or 'python', given: 'rust'"):
        default_engine()
    monkeypatch.setenv(ENGINE_ENV, "go")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GoUnavailable, match="DIREKTIV_SANDBOX_ENGINE=go, but Go"):
        default_engine()


@needs_go
def test_the_sandbox_runs_direktiv_servers_on_one_go_program_and_envoy_on_python(monkeypatch):
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    before = child_pids()
    with start_sandbox("conformant") as running:
        assert (running.engine, running.notice) == (Engine.GO, None)
        assert len(child_pids() - before) == 1  # one Go process serves api, ui and the three gRPC ports
        flow = running.address("flow-grpc")
        assert legacy(flow).outcome is HandshakeOutcome.REJECTED  # the conformant option: MinVersion TLS 1.2
    assert child_pids() == before


def test_python_m_sandbox_up_says_in_one_line_when_go_is_missing(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path), "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    env.pop(ENGINE_ENV, None)
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "up", "--scenario", "plaintext", "--kubeconfig",
                             str(tmp_path / "kc.yaml")], cwd=REPO, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        lines = []
        deadline = time.monotonic() + 15.0  # the sandbox's start, plus interpreter start-up on a slow machine
        while time.monotonic() < deadline and not (lines and lines[-1].startswith("check it with:")):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        notices = [line for line in lines if "Go is not installed" in line]
        assert len(notices) == 1 and "golang-go golang-google-grpc-dev" in notices[0], lines
        proc.send_signal(signal.SIGINT)
        assert proc.wait(BOUND) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(BOUND)
        proc.stdout.close()
