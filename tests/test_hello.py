"""The ClientHello prober against real servers on loopback: Python's ssl (the system OpenSSL 3.0), Go's crypto/tls
(a tiny server built here with the installed Go toolchain, whose defaults accept TLS 1.0 and 3DES) and hand-made
misbehaving servers; plus the strict reading of hand-made ServerHellos."""

from __future__ import annotations

import os
import selectors
import shutil
import socket
import ssl
import struct
import subprocess
from pathlib import Path

import pytest

from local_servers import ScriptedServer, SilentServer, TLSServer, direktiv_pki, lenient_tls_server
from probes import pki
from probes.cipher_suites import (
    WEAK_FAMILIES, SuiteFamily, cipher_suite, suite_name, suites_for_version, suites_in_family,
)
from probes.hello import (
    AnswerKind, AnswerReader, ClientHello, FallbackVerdict, ProtocolFault, RenegotiationSignal, Verdict,
    accepted_suites, accepted_versions, build_client_hello, check_compression, check_fallback_scsv,
    check_renegotiation_info, encode_handshake, encode_records, judge, send_hello,
)
from probes.timeouts import Budget, Timeouts
from probes.tls import TLSVersion

FAST = Timeouts(connect=1.0, handshake=2.0, read=1.0)
# Against a silent server: short enough to keep the suite quick, long enough for a loopback answer.
SHORT = Timeouts(connect=1.0, handshake=0.3, read=0.3)
WEAK = tuple(dict.fromkeys(code for family in WEAK_FAMILIES for code in suites_in_family(family)))
ALL_VERSIONS = tuple(TLSVersion)
NAME = "direktiv-flow-hl.default"


@pytest.fixture(scope="module")
def certs():
    return direktiv_pki()


@pytest.fixture(scope="module")
def lenient(certs):
    """OpenSSL 3.0: TLS 1.0 to 1.3, security level 0, NULL and anonymous suites enabled, ALPN h2 and http/1.1."""
    with lenient_tls_server(certs.server) as server:
        yield server


@pytest.fixture(scope="module")
def modern(certs):
    """OpenSSL 3.0: TLS 1.2 and up, Python's default suites (no weak family)."""
    with TLSServer(certs.server, minimum=ssl.TLSVersion.TLSv1_2) as server:
        yield server


def assert_accepted(result, suite: int | None = None, version: TLSVersion | None = None) -> None:
    assert result.kind is AnswerKind.SERVER_HELLO and judge(result) is Verdict.ACCEPTED, result.detail
    if suite is not None:
        assert result.server_hello.cipher_suite == suite, result.detail
    if version is not None:
        assert result.server_hello.version is version, result.detail


def assert_every_attempt_judged(scan) -> None:
    assert all(a.verdict is not Verdict.UNDETERMINED for a in scan.attempts), [a.result.detail for a in scan.attempts]


# --- versions -------------------------------------------------------------------------------------------------


def test_tls10_minimum_server_accepts_tls10_to_13_and_refuses_sslv3(lenient):
    scan = accepted_versions(lenient.address, server_name=NAME, timeouts=FAST)
    assert scan.accepted == (TLSVersion.TLSv1, TLSVersion.TLSv1_1, TLSVersion.TLSv1_2, TLSVersion.TLSv1_3), scan.detail
    assert scan.refused == (TLSVersion.SSLv3,) and not scan.undetermined
    assert scan.highest is TLSVersion.TLSv1_3 and scan.verdict("SSLv3") is Verdict.REFUSED
    assert len(scan.attempts) == len(ALL_VERSIONS)
    tls10 = scan.attempts[1].result
    assert tls10.server_hello.version is TLSVersion.TLSv1 and tls10.server_hello.renegotiation_info
    assert tls10.server_hello.downgrade_sentinel  # a TLS 1.3 server negotiating lower says so in its random


def test_tls12_minimum_server_refuses_every_legacy_version_with_an_alert(modern):
    scan = accepted_versions(modern.address, server_name=NAME, timeouts=FAST)
    assert scan.accepted == (TLSVersion.TLSv1_2, TLSVersion.TLSv1_3), scan.detail
    assert scan.refused == (TLSVersion.SSLv3, TLSVersion.TLSv1, TLSVersion.TLSv1_1)
    for attempt in scan.attempts[:3]:
        assert attempt.result.kind is AnswerKind.ALERT, attempt.result.detail
    assert scan.attempts[1].result.answer.alert.name == "protocol version"
    assert "refused with the fatal alert 'protocol version'" in scan.attempts[1].result.detail


def test_a_tls13_hello_is_sent_as_real_clients_send_it(lenient):
    sent = build_client_hello(ClientHello(TLSVersion.TLSv1_3, suites_for_version("TLSv1.3"), NAME))
    assert sent.wire[:3] == b"\x16\x03\x01"  # record version 0x0301
    assert sent.wire[9:11] == b"\x03\x03"  # client_version 0x0303; TLS 1.3 only in supported_versions
    assert len(sent.session_id) == 32 and sent.key_share_groups == (0x001D,)
    result = send_hello(lenient.address, sent.hello, timeouts=FAST)
    assert_accepted(result, version=TLSVersion.TLSv1_3)
    assert result.server_hello.legacy_version == 0x0303 and result.server_hello.key_share_group == 0x001D
    assert result.server_hello.suite.has(SuiteFamily.TLS13)


def test_hello_retry_request_counts_as_acceptance_of_version_and_suite(certs):
    server = TLSServer(certs.server, minimum=ssl.TLSVersion.TLSv1_2)
    server.context.set_ecdh_curve("prime256v1")  # no x25519: our only key share is refused
    with server:
        result = send_hello(server.address, ClientHello("TLSv1.3", suites_for_version("TLSv1.3")), timeouts=FAST)
        no_group = send_hello(server.address, ClientHello("TLSv1.3", (0x1301,), groups=(0x001D,)), timeouts=FAST)
    assert_accepted(result, version=TLSVersion.TLSv1_3)
    assert result.server_hello.hello_retry_request and result.server_hello.key_share_group == 0x0017
    assert "HelloRetryRequest (asking for a key share for secp256r1)" in result.detail
    assert no_group.kind is AnswerKind.ALERT and judge(no_group) is Verdict.REFUSED


def test_alpn_choice_is_read_from_a_tls12_server_hello(lenient):
    result = send_hello(lenient.address, ClientHello("TLSv1.2", suites_for_version("TLSv1.2"), NAME, alpn=("h2",)),
                        timeouts=FAST)
    assert_accepted(result)
    assert result.server_hello.alpn == "h2"


# --- suites ---------------------------------------------------------------------------------------------------


def test_null_suite_is_seen_accepted_by_its_code(lenient):
    null_sha = 0xC006  # the server's certificate is ECDSA
    result = send_hello(lenient.address, ClientHello("TLSv1.2", (null_sha,), NAME), timeouts=FAST)
    assert_accepted(result, suite=null_sha, version=TLSVersion.TLSv1_2)
    assert result.server_hello.suite_name == "TLS_ECDHE_ECDSA_WITH_NULL_SHA"
    assert result.server_hello.suite.has(SuiteFamily.NULL)


def test_weak_suite_scan_finds_the_null_and_anonymous_suites_of_a_lenient_openssl(lenient):
    scan = accepted_suites(lenient.address, "TLSv1.2", WEAK, server_name=NAME, timeouts=FAST)
    assert scan.complete and scan.accepted, scan.detail
    assert set(scan.accepted_names) == {
        "TLS_ECDHE_ECDSA_WITH_NULL_SHA", "TLS_ECDH_anon_WITH_NULL_SHA", "TLS_ECDH_anon_WITH_AES_128_CBC_SHA",
        "TLS_ECDH_anon_WITH_AES_256_CBC_SHA",
    }
    families = set().union(*(s.families for s in scan.accepted))
    assert {SuiteFamily.NULL, SuiteFamily.ANONYMOUS} <= families
    assert not families & {SuiteFamily.RC4, SuiteFamily.DES, SuiteFamily.TRIPLE_DES, SuiteFamily.EXPORT}
    assert len(scan.attempts) == len(scan.accepted) + 1  # one connection per accepted suite, one refusal
    assert set(scan.refused) == set(WEAK) - {s.code for s in scan.accepted}
    assert_every_attempt_judged(scan)


def test_a_server_refusing_everything_weak_is_judged_in_one_connection(modern):
    scan = accepted_suites(modern.address, "TLSv1.2", WEAK, server_name=NAME, timeouts=FAST)
    assert scan.complete and not scan.accepted, scan.detail
    assert scan.refused == WEAK and len(scan.attempts) == 1
    assert scan.attempts[0].result.answer.alert.name == "handshake failure"


def test_a_version_the_server_refuses_refuses_every_candidate(modern):
    scan = accepted_suites(modern.address, "TLSv1", WEAK, server_name=NAME, timeouts=FAST)
    assert scan.complete and not scan.accepted and scan.refused == WEAK and len(scan.attempts) == 1


def test_the_round_cap_leaves_the_rest_unjudged_not_refused(lenient):
    scan = accepted_suites(lenient.address, "TLSv1.2", WEAK, server_name=NAME, timeouts=FAST, max_rounds=2)
    assert len(scan.attempts) == 2 and len(scan.accepted) == 2
    assert not scan.complete and not scan.refused
    assert set(scan.unjudged) == set(WEAK) - {s.code for s in scan.accepted}
    assert "cap of 2 connections" in scan.detail


def test_a_spent_budget_stops_the_scan_with_everything_unjudged(lenient):
    budget = Budget(0.0)
    scan = accepted_suites(lenient.address, "TLSv1.2", WEAK, timeouts=FAST, budget=budget)
    assert not scan.attempts and scan.unjudged == WEAK and "budget" in scan.detail
    versions = accepted_versions(lenient.address, timeouts=FAST, budget=budget)
    assert versions.undetermined == ALL_VERSIONS and not versions.attempts


# --- renegotiation, compression, fallback ---------------------------------------------------------------------


@pytest.mark.parametrize("signal", [RenegotiationSignal.EXTENSION, RenegotiationSignal.SCSV])
def test_openssl_answers_secure_renegotiation_either_way(signal, lenient):
    check = check_renegotiation_info(lenient.address, server_name=NAME, signal=signal, timeouts=FAST)
    assert check.secure_renegotiation is True, check.detail


def test_openssl_declines_deflate_when_offered(lenient):
    check = check_compression(lenient.address, server_name=NAME, timeouts=FAST)
    assert check.compression_accepted is False and check.method == 0, check.detail
    assert check.attempt.result.hello.compression_methods == (1, 0)


def test_openssl_answers_a_fallback_hello_with_inappropriate_fallback(lenient):
    check = check_fallback_scsv(lenient.address, server_name=NAME, timeouts=FAST)
    assert check.verdict is FallbackVerdict.PROTECTED, check.detail
    assert (check.highest, check.fallback_version) == (TLSVersion.TLSv1_3, TLSVersion.TLSv1_2)
    assert len(check.attempts) == 2 and check.attempts[-1].result.hello.fallback_scsv
    given = check_fallback_scsv(lenient.address, server_name=NAME, highest="TLSv1.2", timeouts=FAST)
    assert given.verdict is FallbackVerdict.PROTECTED and given.fallback_version is TLSVersion.TLSv1_1
    assert len(given.attempts) == 1


def test_the_same_lower_hello_without_the_signal_is_accepted(lenient):
    result = send_hello(lenient.address, ClientHello("TLSv1.2", suites_for_version("TLSv1.2"), NAME), timeouts=FAST)
    assert_accepted(result, version=TLSVersion.TLSv1_2)


def test_fallback_check_is_not_applicable_when_the_lower_version_is_refused_anyway(certs):
    with TLSServer(certs.server, minimum=ssl.TLSVersion.TLSv1_2, maximum=ssl.TLSVersion.TLSv1_2) as server:
        check = check_fallback_scsv(server.address, server_name=NAME, timeouts=FAST)
    assert check.verdict is FallbackVerdict.NOT_APPLICABLE, check.detail
    assert check.highest is TLSVersion.TLSv1_2 and check.fallback_version is TLSVersion.TLSv1_1


# --- Go crypto/tls --------------------------------------------------------------------------------------------

GO_SERVER = r"""
package main

// A crypto/tls server for the prober's tests: args cert.pem key.pem (default|modern). It prints its address,
// completes each handshake it can, and exits when its stdin closes or after ten minutes.

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

func main() {
	cert, err := tls.LoadX509KeyPair(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	config := &tls.Config{Certificates: []tls.Certificate{cert}}
	if os.Args[3] == "modern" {
		config.MinVersion = tls.VersionTLS12
		config.CipherSuites = []uint16{
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		}
	}
	listener, err := tls.Listen("tcp", "127.0.0.1:0", config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(listener.Addr().String())
	go func() { io.Copy(io.Discard, os.Stdin); os.Exit(0) }()
	time.AfterFunc(10*time.Minute, func() { os.Exit(0) })
	for {
		conn, err := listener.Accept()
		if err != nil {
			return
		}
		go func(c net.Conn) {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.(*tls.Conn).Handshake()
		}(conn)
	}
}
"""
GO_BUILD_SECONDS = 180  # a cold build of crypto/tls takes seconds; a loaded CI machine gets room
GO_START_SECONDS = 10
GO_STOP_SECONDS = 5


@pytest.fixture(scope="module")
def go_binary(tmp_path_factory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("the Go toolchain is not installed (`go` is not on PATH): the crypto/tls server tests need it")
    directory = tmp_path_factory.mktemp("go-tls-server")
    (directory / "main.go").write_text(GO_SERVER)
    env = {**os.environ, "GO111MODULE": "off", "CGO_ENABLED": "0"}
    if "GOCACHE" not in env and not os.environ.get("HOME"):
        env["GOCACHE"] = str(directory / "cache")
    build = subprocess.run([go, "build", "-o", "server", "main.go"], cwd=directory, env=env, capture_output=True,
                           text=True, timeout=GO_BUILD_SECONDS)
    assert build.returncode == 0, f"go build of the test server failed: {build.stderr}"
    return directory / "server"


@pytest.fixture(scope="module")
def rsa_leaf(tmp_path_factory) -> tuple[Path, Path]:
    """An RSA 2048 leaf (Go offers its RSA key exchange and ECDHE_RSA suites only with an RSA key)."""
    ca = pki.CertificateAuthority.self_signed(key_type="ecdsa")
    leaf = ca.issue([NAME], usages=pki.SERVER_AND_CLIENT_USAGES, key_type="rsa", key_size=2048)
    directory = tmp_path_factory.mktemp("go-tls-cert")
    cert, key = directory / "tls.crt", directory / "tls.key"
    cert.write_bytes(leaf.chain_pem)
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(leaf.key.bytes())
    return cert, key


class GoTLSServer:
    """The Go server above as a context manager: started with its stdin open, stopped by closing it."""

    def __init__(self, binary: Path, cert: Path, key: Path, mode: str) -> None:
        self.command = [str(binary), str(cert), str(key), mode]
        self.process: subprocess.Popen | None = None
        self.address: tuple[str, int] | None = None

    def __enter__(self) -> "GoTLSServer":
        self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
        with selectors.DefaultSelector() as sel:
            sel.register(self.process.stdout, selectors.EVENT_READ)
            ready = sel.select(GO_START_SECONDS)
        line = self.process.stdout.readline().decode().strip() if ready else ""
        if not line:
            self.__exit__()
            pytest.fail(f"the Go TLS server did not start within {GO_START_SECONDS}s")
        host, port = line.rsplit(":", 1)
        self.address = (host, int(port))
        return self

    def __exit__(self, *exc) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(GO_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(GO_STOP_SECONDS)
        self.process.stdout.close()
        self.process.stderr.close()


@pytest.fixture(scope="module")
def go_default(go_binary, rsa_leaf):
    with GoTLSServer(go_binary, *rsa_leaf, "default") as server:
        yield server


@pytest.fixture(scope="module")
def go_modern(go_binary, rsa_leaf):
    with GoTLSServer(go_binary, *rsa_leaf, "modern") as server:
        yield server


TRIPLE_DES = {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"}


def test_go_default_server_accepts_tls10_and_tls11(go_default):
    scan = accepted_versions(go_default.address, server_name=NAME, timeouts=FAST)
    assert scan.accepted == (TLSVersion.TLSv1, TLSVersion.TLSv1_1, TLSVersion.TLSv1_2, TLSVersion.TLSv1_3), scan.detail
    assert scan.refused == (TLSVersion.SSLv3,)
    assert scan.attempts[0].result.answer.alert.name == "protocol version"


def test_go_default_server_accepts_3des_at_tls10(go_default):
    scan = accepted_suites(go_default.address, "TLSv1", server_name=NAME, timeouts=FAST)
    assert scan.complete, scan.detail
    assert set(scan.accepted_names) == {
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA",
        "TLS_RSA_WITH_AES_256_CBC_SHA", *TRIPLE_DES,
    }
    assert_every_attempt_judged(scan)


def test_go_default_server_accepts_exactly_the_3des_suites_among_the_weak_ones_at_tls12(go_default):
    scan = accepted_suites(go_default.address, "TLSv1.2", WEAK, server_name=NAME, timeouts=FAST)
    assert scan.complete and set(scan.accepted_names) == TRIPLE_DES, scan.detail
    assert all(s.has(SuiteFamily.TRIPLE_DES) for s in scan.accepted)
    assert [s.has(SuiteFamily.STATIC_RSA) for s in scan.accepted].count(True) == 1


def test_go_default_server_suites_at_tls12_and_tls13(go_default):
    tls12 = accepted_suites(go_default.address, "TLSv1.2", server_name=NAME, timeouts=FAST)
    assert tls12.complete and set(tls12.accepted_names) == {
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_256_CBC_SHA", *TRIPLE_DES,
    }, tls12.detail
    first = tls12.accepted[0]  # with everything offered, Go picks forward secret AEAD first
    assert first.has(SuiteFamily.FORWARD_SECRET) and first.has(SuiteFamily.AEAD), first.name
    tls13 = accepted_suites(go_default.address, "TLSv1.3", server_name=NAME, timeouts=FAST)
    assert tls13.complete and set(tls13.accepted_names) == {
        "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
    }, tls13.detail


def test_go_modern_server_refuses_legacy_versions_and_3des(go_modern):
    versions = accepted_versions(go_modern.address, server_name=NAME, timeouts=FAST)
    assert versions.accepted == (TLSVersion.TLSv1_2, TLSVersion.TLSv1_3), versions.detail
    assert versions.refused == (TLSVersion.SSLv3, TLSVersion.TLSv1, TLSVersion.TLSv1_1)
    weak = accepted_suites(go_modern.address, "TLSv1.2", WEAK, server_name=NAME, timeouts=FAST)
    assert weak.complete and not weak.accepted and len(weak.attempts) == 1, weak.detail
    modern = accepted_suites(go_modern.address, "TLSv1.2", server_name=NAME, timeouts=FAST)
    assert set(modern.accepted_names) == {
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    }, modern.detail


def test_go_server_honours_fallback_scsv_and_secure_renegotiation(go_default):
    fallback = check_fallback_scsv(go_default.address, server_name=NAME, timeouts=FAST)
    assert fallback.verdict is FallbackVerdict.PROTECTED, fallback.detail
    renegotiation = check_renegotiation_info(go_default.address, server_name=NAME, timeouts=FAST)
    assert renegotiation.secure_renegotiation is True, renegotiation.detail
    compression = check_compression(go_default.address, server_name=NAME, timeouts=FAST)
    assert compression.compression_accepted is False, compression.detail


# --- servers that give no verdict -----------------------------------------------------------------------------


class ResettingServer(ScriptedServer):
    """Reads the client's first bytes and resets the connection (SO_LINGER 0)."""

    def __init__(self) -> None:
        super().__init__(b"")

    def handle(self, conn: socket.socket) -> None:
        if conn.recv(65536):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


HTTP_400 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
HELLO_12 = ClientHello("TLSv1.2", WEAK, NAME)


def test_a_silent_server_is_a_timeout_and_never_a_refusal():
    with SilentServer() as server:
        result = send_hello(server.address, HELLO_12, timeouts=SHORT)
        scan = accepted_suites(server.address, "TLSv1.2", WEAK, timeouts=SHORT)
    assert result.kind is AnswerKind.TIMEOUT and judge(result) is Verdict.UNDETERMINED
    assert "no complete answer within 0.3s" in result.detail
    assert not scan.complete and not scan.refused and scan.unjudged == WEAK and len(scan.attempts) == 1


def test_a_resetting_server_is_a_reset_and_never_a_refusal():
    with ResettingServer() as server:
        result = send_hello(server.address, HELLO_12, timeouts=FAST)
    assert result.kind is AnswerKind.RESET and judge(result) is Verdict.UNDETERMINED, result.detail


def test_a_closing_server_is_a_refusal():
    with ScriptedServer(b"") as server:
        result = send_hello(server.address, HELLO_12, timeouts=FAST)
    assert result.kind is AnswerKind.CLOSED and judge(result) is Verdict.REFUSED, result.detail


@pytest.mark.parametrize("reply, shown", [
    (HTTP_400, "'HTTP/1.1 400 Bad Request'"),
    (b"\x00\x01garbage\xff", "00 01 67 61"),
    (b"\x80\x2e\x04\x00\x01", "80 2e 04"),  # an SSLv2 server hello header
], ids=["http-400", "garbage", "sslv2"])
def test_an_answer_that_is_not_tls_is_said_so(reply, shown):
    with ScriptedServer(reply) as server:
        result = send_hello(server.address, HELLO_12, timeouts=FAST)
    assert result.kind is AnswerKind.NOT_TLS and judge(result) is Verdict.UNDETERMINED, result.detail
    assert shown in result.detail


def test_a_closed_port_is_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()
    result = send_hello(address, HELLO_12, timeouts=FAST)
    assert result.kind is AnswerKind.UNREACHABLE and judge(result) is Verdict.UNDETERMINED, result.detail


def test_a_connected_socket_is_used_and_left_open_and_a_dial_function_is_used(lenient):
    with socket.create_connection(lenient.address, timeout=1.0) as sock:
        result = send_hello(sock, HELLO_12, timeouts=FAST)
        assert sock.fileno() != -1  # still ours to close
    assert result.accepted and f"to {lenient.address[0]}:{lenient.address[1]}" in result.detail
    dialled = []

    def dial(address, timeout):
        dialled.append((address, timeout))
        return socket.create_connection(address, timeout=timeout)

    assert send_hello(lenient.address, HELLO_12, timeouts=FAST, dial=dial).accepted
    assert dialled == [(lenient.address, FAST.connect)]


# --- strict reading of hand-made answers ----------------------------------------------------------------------


def server_hello(*, version: int = 0x0303, suite: int = 0x002F, compression: int = 0, session_id: bytes = b"",
                 random: bytes = b"\x11" * 32, extensions: tuple[tuple[int, bytes], ...] = (),
                 legacy_version: int | None = None) -> bytes:
    """A ServerHello handshake message; ``version`` goes to supported_versions when it is TLS 1.3."""
    extensions = list(extensions)
    if version >= 0x0304:
        extensions.insert(0, (43, version.to_bytes(2, "big")))
        legacy_version = 0x0303 if legacy_version is None else legacy_version
    body = ((legacy_version or version).to_bytes(2, "big") + random + bytes([len(session_id)]) + session_id
            + suite.to_bytes(2, "big") + bytes([compression]))
    if extensions:
        block = b"".join(t.to_bytes(2, "big") + len(d).to_bytes(2, "big") + d for t, d in extensions)
        body += len(block).to_bytes(2, "big") + block
    return encode_handshake(2, body)


def read_answer(hello: ClientHello, *chunks: bytes, eof: bool = True):
    reader = AnswerReader(build_client_hello(hello))
    for chunk in chunks:
        answer = reader.feed(chunk)
        if answer is not None:
            return answer
    return reader.eof() if eof else None


def handshake_records(message: bytes, version: int = 0x0303) -> bytes:
    return encode_records(22, version, message)


TLS12_AES = ClientHello("TLSv1.2", (0x002F, 0x0035), compression_methods=(0,))


def test_a_server_hello_split_across_records_and_reads_is_reassembled():
    message = server_hello(extensions=((0xFF01, b"\x00"),))
    wire = handshake_records(message[:5]) + handshake_records(message[5:])
    answer = read_answer(TLS12_AES, *[wire[i:i + 3] for i in range(0, len(wire), 3)], eof=False)
    assert answer.kind is AnswerKind.SERVER_HELLO and answer.server_hello.renegotiation_info, answer.detail
    assert answer.server_hello.suite_name == "TLS_RSA_WITH_AES_128_CBC_SHA"


@pytest.mark.parametrize("changes, fault", [
    (dict(suite=0x000A), ProtocolFault.SUITE_NOT_OFFERED),
    (dict(compression=1), ProtocolFault.COMPRESSION_NOT_OFFERED),
    (dict(version=0x0302), ProtocolFault.VERSION_NOT_OFFERED),
    (dict(extensions=((16, b"\x00\x03\x02h2"),)), ProtocolFault.EXTENSION_NOT_OFFERED),  # ALPN not offered
    (dict(extensions=((0xFF01, b"\x01\x00"),)), ProtocolFault.ILLEGAL_PARAMETER),  # renegotiation_info not empty
    (dict(extensions=((23, b""), (23, b""))), ProtocolFault.ILLEGAL_PARAMETER),  # an extension twice
    (dict(version=0x0304), ProtocolFault.EXTENSION_NOT_OFFERED),  # supported_versions, not offered
    (dict(legacy_version=0x0304), ProtocolFault.ILLEGAL_PARAMETER),  # TLS 1.3 in legacy_version
    (dict(session_id=b"\x00" * 33), ProtocolFault.MALFORMED),
])
def test_a_server_hello_outside_the_offer_is_a_protocol_error_not_an_acceptance(changes, fault):
    answer = read_answer(TLS12_AES, handshake_records(server_hello(**changes)))
    assert answer.kind is AnswerKind.PROTOCOL_ERROR and answer.fault is fault, answer.detail


def test_a_lower_version_than_offered_is_a_refusal_and_a_higher_one_undetermined(lenient):
    lower = ScriptedServer(handshake_records(server_hello(version=0x0301), 0x0301))
    higher = ScriptedServer(handshake_records(server_hello(version=0x0303)))
    with lower, higher:
        refused = send_hello(lower.address, TLS12_AES, timeouts=FAST)
        broken = send_hello(higher.address, ClientHello("TLSv1.1", (0x002F,)), timeouts=FAST)
    assert refused.answer.fault is ProtocolFault.VERSION_NOT_OFFERED and judge(refused) is Verdict.REFUSED
    assert "chose TLSv1, but only TLSv1.2 was offered" in refused.detail
    assert broken.answer.fault is ProtocolFault.VERSION_NOT_OFFERED and judge(broken) is Verdict.UNDETERMINED


def test_a_suite_the_version_cannot_use_is_a_protocol_error():
    hello = ClientHello("TLSv1", (0x009C, 0x002F), lowest="TLSv1")
    answer = read_answer(hello, handshake_records(server_hello(version=0x0301, suite=0x009C)))
    assert answer.fault is ProtocolFault.SUITE_NOT_FOR_VERSION, answer.detail
    assert "TLS_RSA_WITH_AES_128_GCM_SHA256, which TLSv1 cannot use" in answer.detail


# RFC 8446 4.1.3, written out rather than computed as the module computes it.
RETRY_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
X25519_SHARE = (51, b"\x00\x1d\x00\x20" + b"\x01" * 32)


def tls13_answer(hello: ClientHello, **changes):
    """The answer to ``hello`` of a TLS 1.3 ServerHello (echoing the session id, an x25519 share) with ``changes``."""
    sent = build_client_hello(hello)
    fields = dict(version=0x0304, suite=0x1301, session_id=sent.session_id, extensions=(X25519_SHARE,))
    return AnswerReader(sent).feed(handshake_records(server_hello(**{**fields, **changes})))


TLS13 = ClientHello("TLSv1.3", (0x1301,), groups=(0x001D, 0x0017))


@pytest.mark.parametrize("changes, fault", [
    (dict(session_id=b"\x00" * 32), ProtocolFault.ILLEGAL_PARAMETER),  # not echoed
    (dict(extensions=()), ProtocolFault.MISSING_EXTENSION),  # no key share
    (dict(extensions=((51, b"\x00\x17\x00\x41" + b"\x04" * 65),)), ProtocolFault.ILLEGAL_PARAMETER),  # unsent group
    (dict(extensions=((51, b"\x00\x1d\x00\x10" + b"\x01" * 16),)), ProtocolFault.ILLEGAL_PARAMETER),  # short key
    (dict(extensions=(X25519_SHARE, (0, b""))), ProtocolFault.EXTENSION_NOT_OFFERED),  # SNI ack, SNI not sent
    (dict(suite=0x002F), ProtocolFault.SUITE_NOT_OFFERED),
    (dict(compression=1), ProtocolFault.COMPRESSION_NOT_OFFERED),
    (dict(random=RETRY_RANDOM, extensions=((51, b"\x00\x1d"),)), ProtocolFault.ILLEGAL_PARAMETER),  # share was sent
    (dict(random=RETRY_RANDOM, extensions=()), ProtocolFault.ILLEGAL_PARAMETER),  # asks for nothing
])
def test_tls13_server_hellos_are_checked_like_a_tls13_client_does(changes, fault):
    assert tls13_answer(TLS13).kind is AnswerKind.SERVER_HELLO
    answer = tls13_answer(TLS13, **changes)
    assert (answer.kind, answer.fault) == (AnswerKind.PROTOCOL_ERROR, fault), answer.detail


def test_a_hello_retry_request_for_an_offered_group_is_an_acceptance():
    answer = tls13_answer(TLS13, random=RETRY_RANDOM, extensions=((51, b"\x00\x17"),))
    assert answer.kind is AnswerKind.SERVER_HELLO and answer.server_hello.hello_retry_request, answer.detail
    assert answer.server_hello.key_share_group == 0x0017


def test_the_tls13_downgrade_sentinel_is_a_protocol_error_when_tls13_was_offered():
    both = ClientHello("TLSv1.3", (0x1301, 0x002F), lowest="TLSv1.2")
    sentinel = b"\x11" * 24 + b"DOWNGRD\x01"
    downgraded = tls13_answer(both, version=0x0303, suite=0x002F, random=sentinel, session_id=b"", extensions=())
    assert downgraded.fault is ProtocolFault.ILLEGAL_PARAMETER and "downgrade" in downgraded.detail
    plain = tls13_answer(both, version=0x0303, suite=0x002F, session_id=b"", extensions=())
    assert plain.kind is AnswerKind.SERVER_HELLO and not plain.server_hello.downgrade_sentinel
    tls12_only = read_answer(TLS12_AES, handshake_records(server_hello(random=sentinel)))
    assert tls12_only.kind is AnswerKind.SERVER_HELLO and tls12_only.server_hello.downgrade_sentinel


@pytest.mark.parametrize("wire, kind, fault", [
    (encode_records(22, 0x0303, encode_handshake(11, b"\x00" * 8)), AnswerKind.PROTOCOL_ERROR,
     ProtocolFault.UNEXPECTED_MESSAGE),  # a Certificate before the ServerHello
    (encode_records(20, 0x0303, b"\x01"), AnswerKind.PROTOCOL_ERROR, ProtocolFault.UNEXPECTED_MESSAGE),
    (b"\x16\x03\x03\x40\x01", AnswerKind.PROTOCOL_ERROR, ProtocolFault.RECORD_OVERFLOW),
    (b"\x16\x03\x03\x00\x00", AnswerKind.PROTOCOL_ERROR, ProtocolFault.MALFORMED),  # an empty handshake record
    (b"\x16\x03\x03\x00\x10\x02\x00", AnswerKind.PROTOCOL_ERROR, ProtocolFault.MALFORMED),  # cut short, then EOF
    (encode_records(21, 0x0303, b"\x03\x28"), AnswerKind.PROTOCOL_ERROR, ProtocolFault.ILLEGAL_PARAMETER),
    (encode_records(21, 0x0303, b"\x01\x70" + b"\x02\x28"), AnswerKind.ALERT, None),  # a warning, then fatal
    (encode_records(21, 0x0303, b"\x01\x00"), AnswerKind.ALERT, None),  # close_notify
    (encode_records(21, 0x0303, b"\x01\x70"), AnswerKind.CLOSED, None),  # a warning, then EOF
])
def test_records_and_alerts_are_read_strictly(wire, kind, fault):
    answer = read_answer(TLS12_AES, wire)
    assert (answer.kind, answer.fault) == (kind, fault), answer.detail


def test_warning_alerts_are_kept_and_named():
    answer = read_answer(TLS12_AES, encode_records(21, 0x0303, b"\x01\x70\x02\x28"))
    assert [a.name for a in answer.warnings] == ["unrecognized name"]
    assert answer.alert.name == "handshake failure"
    assert "after the warning alert(s) 'unrecognized name'" in answer.detail


# --- the ClientHello itself -----------------------------------------------------------------------------------


def test_caller_mistakes_are_value_errors():
    with pytest.raises(ValueError, match="1 to 32767 cipher suites"):
        ClientHello("TLSv1.2", ())
    with pytest.raises(ValueError, match="lowest version offered"):
        ClientHello("TLSv1", (0x002F,), lowest="TLSv1.2")
    with pytest.raises(ValueError, match="numbers from 0 to 0xffff"):
        ClientHello("TLSv1.2", (0x10000,))
    with pytest.raises(ValueError, match="twice"):
        build_client_hello(ClientHello("TLSv1.2", (0x002F,), "a.example", extra_extensions=((0, b""),)))
    with pytest.raises(ValueError, match="max_rounds"):
        accepted_suites(("127.0.0.1", 1), "TLSv1.2", max_rounds=0)


def test_an_ip_literal_is_never_sent_as_sni_and_signals_are_appended():
    by_ip = build_client_hello(ClientHello("TLSv1.2", (0x002F,), "127.0.0.1"))
    by_name = build_client_hello(ClientHello("TLSv1.2", (0x002F,), NAME, renegotiation=RenegotiationSignal.SCSV,
                                             fallback_scsv=True))
    assert 0 not in by_ip.extensions and 0 in by_name.extensions and NAME.encode() in by_name.wire
    assert by_name.suites == (0x002F, 0x00FF, 0x5600) and 0xFF01 not in by_name.extensions


def test_registry_names_and_families_for_the_suites_the_controls_ask_about():
    assert suite_name(0x000A) == "TLS_RSA_WITH_3DES_EDE_CBC_SHA" and suite_name(0x5600) == "TLS_FALLBACK_SCSV"
    assert cipher_suite(0xC012).families == {SuiteFamily.TRIPLE_DES, SuiteFamily.CBC, SuiteFamily.FORWARD_SECRET}
    assert cipher_suite(0x0003).families >= {SuiteFamily.EXPORT, SuiteFamily.RC4, SuiteFamily.STATIC_RSA}
    assert cipher_suite(0x0017).families >= {SuiteFamily.ANONYMOUS, SuiteFamily.EXPORT, SuiteFamily.RC4}
    assert set(range(0x1301, 0x1306)) <= set(suites_in_family("TLSv1.3"))
    assert not cipher_suite(0x0066).registered and cipher_suite(0x0066).has(SuiteFamily.RC4)
    assert suite_name(0x1234) == "0x1234" and not cipher_suite(0x1234).families
