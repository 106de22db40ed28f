"""The sandbox servers behave like the parts they stand in for, on real loopback handshakes."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import tempfile
import time
import warnings
from dataclasses import replace

import pytest
from cryptography import x509

from expect import SETTLE_SECONDS, wait_until
from local_servers import BAD_CLIENTS, LET_THROUGH, identity
from probes.https import http_get, https_get
from probes.pki import SERVER_AND_CLIENT_USAGES, CertificateAuthority, foreign_ca_client, self_signed_certificate
from probes.plaintext import probe_plaintext
from probes.timeouts import Timeouts
from probes.tls import ClientIdentity, HandshakeOutcome, TLSOffer, handshake
from sandbox.servers import (
    GO_BAD_REQUEST_REPLY,
    GO_GRPC_POLICY,
    GO_HTTPS_PLAINTEXT_REPLY,
    WEAK_CIPHERS,
    ClientAuth,
    GarbageServer,
    GoHttpsServer,
    GoTLSGrpcServer,
    GrpcHealthServer,
    LoadBalancer,
    RefusingPort,
    ResetServer,
    Server,
    ServerTLS,
    SilentServer,
    SniRouter,
    TLSPolicy,
    TLSTerminator,
    Trickle,
    TricklingServer,
    VerifyErrorKind,
)

FLOW = "direktiv-flow-hl.default"
LB_HOST = "direktiv.example"
KNATIVE_SVC = "hello.direktiv-services-direktiv"
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
TIMEOUT = 2.0
PROBE_TIMEOUTS = Timeouts(connect=TIMEOUT, handshake=TIMEOUT, read=1.0, rpc=TIMEOUT)


# --- fixtures and helpers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca():
    return CertificateAuthority.self_signed(key_type="ecdsa")


@pytest.fixture(scope="module")
def flow_cert(ca):
    return ca.issue([FLOW], key_type="ecdsa", usages=SERVER_AND_CLIENT_USAGES)


@pytest.fixture(scope="module")
def lb_cert():
    return self_signed_certificate(["localhost", LB_HOST], key_type="ecdsa")


@pytest.fixture(scope="module")
def knative_certs(ca):
    return {
        "service": ca.issue([KNATIVE_SVC], key_type="ecdsa"),
        "wildcard": ca.issue(["*.other-ns"], key_type="ecdsa"),
        "default": ca.issue(["default.knative"], key_type="ecdsa"),
    }


pytestmark = pytest.mark.usefixtures("no_leaked_threads")  # tests/conftest.py


def client_context(*, versions=("TLSv1.2", "TLSv1.3"), ciphers=None, alpn=(), identity=None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated in Python's ssl, which is the point here
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion[versions[0].replace(".", "_")]
        ctx.maximum_version = ssl.TLSVersion[versions[-1].replace(".", "_")]
    if ciphers:
        ctx.set_ciphers(ciphers)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if identity is not None:  # Python's ssl only loads files: 0600 in a private dir, removed at once
        tmp = tempfile.mkdtemp()
        try:
            cert, key = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
            for path, data in ((cert, identity.chain_pem), (key, identity.key.bytes())):
                with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as fh:
                    fh.write(data)
            ctx.load_cert_chain(cert, key)
        finally:
            shutil.rmtree(tmp)
    return ctx


def connect_tls(address, ctx: ssl.SSLContext, *, sni: str | None = FLOW) -> ssl.SSLSocket:
    sock = socket.create_connection(address, timeout=TIMEOUT)
    try:
        return ctx.wrap_socket(sock, server_hostname=sni)
    except BaseException:
        sock.close()
        raise


def served_leaf(tls_sock: ssl.SSLSocket) -> x509.Certificate:
    return x509.load_der_x509_certificate(tls_sock.getpeercert(binary_form=True))


def read_all(sock, limit: int = 65536) -> bytes:
    data = b""
    while len(data) < limit:
        chunk = sock.recv(limit)
        if not chunk:
            break
        data += chunk
    return data


def http1_get(sock, host: str, path: str = "/") -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    return read_all(sock)


def h2_settings_came_back(tls_sock) -> bool:
    tls_sock.sendall(H2_PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # preface + empty SETTINGS
    frame = tls_sock.recv(9)
    return len(frame) == 9 and frame[3] == 0x04


def client_hello(sni: str = "example") -> bytes:
    ctx = client_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


# --- records -----------------------------------------------------------------------------------------------


def test_server_tls_from_secret_maps_mtls_to_require_and_verify(flow_cert):
    tls = ServerTLS.from_secret(flow_cert.secret_data(), mtls=True)
    assert tls.client_auth is ClientAuth.REQUIRE_AND_VERIFY
    assert tls.client_ca_pem == flow_cert.ca_pem
    assert "PRIVATE KEY" not in repr(tls) and "PRIVATE KEY" not in str(tls)


def test_verifying_client_auth_without_ca_is_refused(flow_cert):
    with pytest.raises(ValueError, match="ca.crt"):
        ServerTLS(flow_cert.chain_pem, flow_cert.key, client_auth=ClientAuth.REQUIRE_AND_VERIFY)


def test_a_key_that_does_not_match_the_certificate_is_refused_like_go(flow_cert, lb_cert):
    with pytest.raises(ValueError, match="tls.key is not the private key of tls.crt"):
        GoHttpsServer(ServerTLS(flow_cert.chain_pem, lb_cert.key))


def test_policy_rejects_unknown_versions():
    with pytest.raises(ValueError, match="TLS version"):
        TLSPolicy(min_version="SSLv3")


def test_grpcio_cannot_request_without_requiring(flow_cert):
    tls = replace(ServerTLS.from_issued(flow_cert, mtls=True), client_auth=ClientAuth.REQUEST)
    with pytest.raises(ValueError, match="TLSTerminator"):
        GrpcHealthServer(tls)


# --- Go-like TLS front -------------------------------------------------------------------------------------


def test_go_like_grpc_server_accepts_tls10_as_go_115_does(flow_cert):
    with GoTLSGrpcServer(ServerTLS.from_issued(flow_cert)) as server:
        assert isinstance(server, Server)
        ctx = client_context(versions=("TLSv1", "TLSv1"), ciphers="DEFAULT:@SECLEVEL=0")
        with connect_tls(server.address, ctx) as tls:
            assert tls.version() == "TLSv1"


def test_grpcio_native_tls_refuses_tls10(flow_cert):
    with GrpcHealthServer(ServerTLS.from_issued(flow_cert)) as server:
        ctx = client_context(versions=("TLSv1", "TLSv1"), ciphers="DEFAULT:@SECLEVEL=0")
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            connect_tls(server.address, ctx).close()


def test_terminator_selects_h2_and_reaches_the_grpc_backend(flow_cert):
    with GoTLSGrpcServer(ServerTLS.from_issued(flow_cert)) as server:
        with connect_tls(server.address, client_context(alpn=("h2", "http/1.1"))) as tls:
            assert tls.selected_alpn_protocol() == "h2"
            assert tls.version() == "TLSv1.3"
            assert h2_settings_came_back(tls)


def test_weak_cipher_policy_accepts_a_null_suite_and_the_default_does_not(flow_cert):
    weak = replace(GO_GRPC_POLICY, ciphers=f"{GO_GRPC_POLICY.ciphers}:{WEAK_CIPHERS}")
    null_only = client_context(versions=("TLSv1.2", "TLSv1.2"), ciphers="eNULL:@SECLEVEL=0")
    with GrpcHealthServer() as backend, \
            TLSTerminator(backend.address, ServerTLS.from_issued(flow_cert), policy=weak) as lax, \
            TLSTerminator(backend.address, ServerTLS.from_issued(flow_cert)) as strict:
        with connect_tls(lax.address, null_only) as tls:
            assert "NULL" in tls.cipher()[0]
        with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE"):
            connect_tls(strict.address, null_only).close()


def test_tls13_client_without_certificate_is_rejected_after_the_handshake(flow_cert):
    with GoTLSGrpcServer(ServerTLS.from_issued(flow_cert, mtls=True)) as server:
        with connect_tls(server.address, client_context(alpn=("h2",))) as tls:
            assert tls.version() == "TLSv1.3"  # the client finished its handshake...
            with pytest.raises(ssl.SSLError) as rejected:  # ...and reads the alert
                h2_settings_came_back(tls)
    assert rejected.value.reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED"


def test_tls12_client_without_certificate_fails_the_handshake(flow_cert):
    with GoTLSGrpcServer(ServerTLS.from_issued(flow_cert, mtls=True)) as server:
        with pytest.raises(ssl.SSLError):
            connect_tls(server.address, client_context(versions=("TLSv1.2", "TLSv1.2"))).close()


def test_require_and_verify_accepts_the_configured_client(flow_cert):
    with GoTLSGrpcServer(ServerTLS.from_issued(flow_cert, mtls=True)) as server:
        with connect_tls(server.address, client_context(alpn=("h2",), identity=flow_cert)) as tls:
            assert h2_settings_came_back(tls)


@pytest.mark.parametrize("label", sorted(BAD_CLIENTS))
def test_require_and_verify_rejects_bad_client_certificates_like_go(ca, flow_cert, label):
    bad = BAD_CLIENTS[label](ca, flow_cert)
    with GoTLSGrpcServer(ServerTLS.from_issued(flow_cert, mtls=True)) as server:
        with connect_tls(server.address, client_context(alpn=("h2",), identity=bad)) as tls:
            with pytest.raises(ssl.SSLError, match="ALERT"):  # TLS 1.3: the verdict arrives after the handshake
                h2_settings_came_back(tls)


def test_request_mode_asks_for_a_certificate_but_accepts_anything(flow_cert):
    tls = replace(ServerTLS.from_issued(flow_cert, mtls=True), client_auth=ClientAuth.REQUEST)
    foreign = foreign_ca_client(flow_cert.cert_pem)
    with GrpcHealthServer() as backend, TLSTerminator(backend.address, tls) as front:
        for identity in (None, foreign):
            with connect_tls(front.address, client_context(alpn=("h2",), identity=identity)) as conn:
                assert h2_settings_came_back(conn)


def test_terminator_closes_plaintext_without_an_answer(flow_cert):
    with GoTLSGrpcServer(ServerTLS.from_issued(flow_cert)) as server:
        with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
            assert http1_get(sock, FLOW) == b""


def test_go_like_grpc_server_without_tls_serves_plain_h2c():
    with GoTLSGrpcServer(None) as server:
        assert server.front is None
        with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
            assert h2_settings_came_back(sock)


# --- client-certificate modes and lax verifiers, seen by the TLS probe -------------------------------------


@pytest.fixture(scope="module")
def bad_identities(ca, flow_cert):
    return {label: identity(make(ca, flow_cert), label) for label, make in BAD_CLIENTS.items()}


def probe_outcome(address, client: ClientIdentity | None) -> HandshakeOutcome:
    """The TLS probe's verdict on one handshake (HTTP/2 preface after it, where a late rejection shows)."""
    offer = TLSOffer(FLOW, alpn=("h2",), after_handshake="h2", client=client)
    return handshake(address, offer, timeouts=PROBE_TIMEOUTS).outcome


def outcomes(address, identities) -> dict[str, HandshakeOutcome]:
    return {label: probe_outcome(address, client) for label, client in identities.items()}


@pytest.mark.parametrize("kind", list(VerifyErrorKind))
def test_a_verifier_ignoring_one_kind_of_error_accepts_exactly_that_bad_client(flow_cert, bad_identities, kind):
    tls = replace(ServerTLS.from_issued(flow_cert, mtls=True), ignore_errors={kind})
    accepted, rejected = HandshakeOutcome.ACCEPTED, HandshakeOutcome.REJECTED
    with GoTLSGrpcServer(tls) as server:
        assert outcomes(server.address, bad_identities) == {
            label: accepted if label == LET_THROUGH[kind] else rejected for label in bad_identities}
        assert probe_outcome(server.address, identity(flow_cert)) is accepted
        assert probe_outcome(server.address, None) is rejected  # still required


def test_verify_if_given_with_an_ignored_error_takes_no_certificate_and_the_lax_one(flow_cert, bad_identities):
    tls = replace(ServerTLS.from_issued(flow_cert, mtls=True), client_auth=ClientAuth.VERIFY_IF_GIVEN,
                  ignore_errors={VerifyErrorKind.SELF_SIGNED})
    with GoTLSGrpcServer(tls) as server:
        assert probe_outcome(server.address, None) is HandshakeOutcome.ACCEPTED
        assert probe_outcome(server.address, bad_identities["self-signed-clone"]) is HandshakeOutcome.ACCEPTED
        assert probe_outcome(server.address, bad_identities["foreign-ca"]) is HandshakeOutcome.REJECTED


def test_require_any_client_cert_demands_a_certificate_and_verifies_none(flow_cert, bad_identities):
    tls = ServerTLS(flow_cert.chain_pem, flow_cert.key, client_auth=ClientAuth.REQUIRE_ANY)  # no ca.crt needed
    with GoTLSGrpcServer(tls) as server:
        assert set(outcomes(server.address, bad_identities).values()) == {HandshakeOutcome.ACCEPTED}
        assert probe_outcome(server.address, None) is HandshakeOutcome.REJECTED


def test_ignored_errors_need_a_verifying_mode_and_grpcio_does_neither_lax_option(flow_cert):
    mtls = ServerTLS.from_issued(flow_cert, mtls=True)
    assert replace(mtls, ignore_errors=["expired"]).ignore_errors == {VerifyErrorKind.EXPIRED}
    for mode in (ClientAuth.NONE, ClientAuth.REQUEST, ClientAuth.REQUIRE_ANY):
        with pytest.raises(ValueError, match="ignore_errors needs a verifying client_auth"):
            replace(mtls, client_auth=mode, ignore_errors={VerifyErrorKind.EXPIRED})
    for tls in (replace(mtls, client_auth=ClientAuth.REQUIRE_ANY), replace(mtls, ignore_errors={"self-signed"})):
        with pytest.raises(ValueError, match="TLSTerminator"):
            GrpcHealthServer(tls)


# --- Go's net/http -----------------------------------------------------------------------------------------


def test_go_https_server_answers_200_over_tls_and_h2(flow_cert):
    with GoHttpsServer(ServerTLS.from_issued(flow_cert)) as server:
        with connect_tls(server.address, client_context(alpn=("http/1.1",))) as tls:
            assert http1_get(tls, FLOW).startswith(b"HTTP/1.1 200 ")
        with connect_tls(server.address, client_context(alpn=("h2", "http/1.1"))) as tls:
            assert tls.selected_alpn_protocol() == "h2"
            assert h2_settings_came_back(tls)


def test_go_https_server_answers_plaintext_with_go_exact_400(flow_cert):
    with GoHttpsServer(ServerTLS.from_issued(flow_cert)) as server:
        with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
            assert http1_get(sock, FLOW) == GO_HTTPS_PLAINTEXT_REPLY
        with socket.create_connection(server.address, timeout=TIMEOUT) as sock:  # not HTTP-looking: closed
            sock.sendall(H2_PREFACE)
            assert read_all(sock) == b""


def test_go_http_server_without_tls_serves_plaintext_and_refuses_a_client_hello():
    with GoHttpsServer(None) as server:
        with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
            assert http1_get(sock, "direktiv-api-service").startswith(b"HTTP/1.1 200 ")
        with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
            sock.sendall(client_hello())
            assert read_all(sock) == GO_BAD_REQUEST_REPLY


def test_go_https_server_answers_the_status_it_is_given_over_tls_and_plaintext(flow_cert):
    with GoHttpsServer(ServerTLS.from_issued(flow_cert), status=503) as https, GoHttpsServer(status=503) as http:
        assert https_get(https.address, host=FLOW, timeouts=PROBE_TIMEOUTS).status == 503
        assert http_get(http.address, host=FLOW, timeouts=PROBE_TIMEOUTS).status == 503


def test_plaintext_too_serves_http1_and_h2c_on_the_tls_port_besides_tls(flow_cert):
    tls = ServerTLS.from_issued(flow_cert)
    with GoHttpsServer(tls, plaintext_too=True) as lax, GoHttpsServer(tls) as strict:
        both = probe_plaintext(lax.address, host=FLOW, timeouts=PROBE_TIMEOUTS)
        assert (both.http1_answered, both.http1_status, both.h2c_settings) == (True, 200, True), both.detail
        assert https_get(lax.address, host=FLOW, timeouts=PROBE_TIMEOUTS).status == 200
        refused = probe_plaintext(strict.address, host=FLOW, timeouts=PROBE_TIMEOUTS)
        assert (refused.http1_refusal, refused.h2c_settings) == ("https-port-400", False), refused.detail


# --- Contour / Envoy ---------------------------------------------------------------------------------------


def test_sni_router_serves_the_certificate_for_each_name_and_the_default_otherwise(knative_certs):
    certs = {name: ServerTLS.from_issued(issued) for name, issued in knative_certs.items()}
    ctx = client_context()
    with SniRouter({KNATIVE_SVC: certs["service"], "*.other-ns": certs["wildcard"]}, certs["default"]) as router:
        for sni, expected in ((KNATIVE_SVC, "service"), ("a.other-ns", "wildcard"), ("unknown.example", "default"),
                              (None, "default")):
            with connect_tls(router.address, ctx, sni=sni) as tls:
                assert served_leaf(tls) == knative_certs[expected].cert, sni
                assert http1_get(tls, sni or "x").startswith(b"HTTP/1.1 200 ")


def test_sni_router_without_default_fails_unknown_names_with_handshake_failure(knative_certs):
    with SniRouter({KNATIVE_SVC: ServerTLS.from_issued(knative_certs["service"])}, None) as router:
        with connect_tls(router.address, client_context(), sni=KNATIVE_SVC) as tls:
            assert served_leaf(tls) == knative_certs["service"].cert
        for versions in (("TLSv1.3", "TLSv1.3"), ("TLSv1.2", "TLSv1.2")):
            with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE"):
                connect_tls(router.address, client_context(versions=versions), sni="unknown.example").close()


def test_load_balancer_requires_tls12(lb_cert):
    with LoadBalancer({LB_HOST: ServerTLS.from_issued(lb_cert)}) as lb:
        with pytest.raises(ssl.SSLError):
            connect_tls(lb.address, client_context(versions=("TLSv1.1", "TLSv1.1"), ciphers="DEFAULT:@SECLEVEL=0"),
                        sni=LB_HOST).close()
        with connect_tls(lb.address, client_context(versions=("TLSv1.2", "TLSv1.2")), sni=LB_HOST) as tls:
            assert served_leaf(tls) == lb_cert.cert


def test_load_balancer_plain_port_redirects_and_speaks_h2c(lb_cert):
    with LoadBalancer({LB_HOST: ServerTLS.from_issued(lb_cert)}) as lb:
        with socket.create_connection(lb.http_address, timeout=TIMEOUT) as sock:
            reply = http1_get(sock, f"{LB_HOST}:80", "/api/namespaces")
        assert reply.startswith(b"HTTP/1.1 301 ")
        assert f"location: https://{LB_HOST}/api/namespaces\r\n".encode() in reply
        with socket.create_connection(lb.http_address, timeout=TIMEOUT) as sock:
            assert h2_settings_came_back(sock)
    with LoadBalancer({LB_HOST: ServerTLS.from_issued(lb_cert)}, redirect=False) as lb:
        with socket.create_connection(lb.http_address, timeout=TIMEOUT) as sock:
            assert http1_get(sock, LB_HOST).startswith(b"HTTP/1.1 200 ")


# --- misbehaving servers -----------------------------------------------------------------------------------


def assert_no_connection_outlived_stop(caplog) -> None:
    """stop() ended every connection thread instead of waiting out its join limit, which it logs."""
    waited = [r.getMessage() for r in caplog.records if "did not stop" in r.getMessage()]
    assert waited == [], waited


def test_silent_server_never_answers_and_stops_promptly_with_a_client_attached(caplog):
    server = SilentServer()
    sock = socket.create_connection(server.address, timeout=0.2)
    try:
        sock.sendall(client_hello())
        with pytest.raises(TimeoutError):
            sock.recv(1)
        server.stop()
        sock.settimeout(SETTLE_SECONDS)  # the server holds a connection 30s unless stop() ends it
        assert sock.recv(1) == b""  # stop() closed our connection
    finally:
        sock.close()
        server.stop()
    assert_no_connection_outlived_stop(caplog)


def test_reset_server_answers_the_client_hello_with_rst():
    with ResetServer() as server, socket.create_connection(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(client_hello())
        with pytest.raises(ConnectionResetError):
            sock.recv(1)


def test_garbage_server_answers_bytes_that_are_not_tls():
    with GarbageServer(size=48) as server, socket.create_connection(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(client_hello())
        reply = read_all(sock)
    assert len(reply) == 48 and not 0x14 <= reply[0] <= 0x18


@pytest.mark.parametrize("payload", list(Trickle))
def test_trickling_server_sends_a_byte_at_a_time(payload, caplog):
    interval = 0.02
    with TricklingServer(payload, interval=interval) as server:
        with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
            sock.sendall(client_hello())
            asked = time.monotonic()
            time.sleep(0.25)
            sock.settimeout(0.05)
            received = sock.recv(65536)
            waited = time.monotonic() - asked
    assert_no_connection_outlived_stop(caplog)
    # one byte per interval at most: however long a busy machine made the wait, never the whole flight at once
    assert 2 <= len(received) <= waited / interval + 1, (len(received), waited)
    assert (received[:2] == b"\x16\x03") is (payload is Trickle.SERVER_HELLO)


def test_refusing_port_refuses():
    with RefusingPort() as port:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(port.address, timeout=TIMEOUT).close()


def test_each_connection_leaves_the_listener_table_as_it_ends():
    # White box: the listener's table of live connections (each thread removes itself; no sweep per accept).
    with SilentServer() as server:
        table = server._listener._connections
        clients = [socket.create_connection(server.address, timeout=TIMEOUT) for _ in range(20)]
        try:
            assert wait_until(lambda: len(table) == 20), len(table)
            for sock in clients[:10]:
                sock.close()
            assert wait_until(lambda: len(table) == 10), len(table)
        finally:
            for sock in clients:
                sock.close()
        assert wait_until(lambda: not table), len(table)


def test_every_server_stops_promptly_with_open_connections(flow_cert, lb_cert, caplog):
    tls = ServerTLS.from_issued(flow_cert)
    servers = [
        GrpcHealthServer(tls), GoTLSGrpcServer(tls), GoHttpsServer(tls), GoHttpsServer(None),
        GoHttpsServer(tls, plaintext_too=True),
        LoadBalancer({LB_HOST: ServerTLS.from_issued(lb_cert)}), SniRouter({}, tls), SilentServer(),
        ResetServer(), GarbageServer(), TricklingServer(), RefusingPort(),
    ]
    clients = []
    try:
        for server in servers:
            if not isinstance(server, RefusingPort):
                clients.append(socket.create_connection(server.address, timeout=TIMEOUT))
        time.sleep(0.1)  # let every server pick its connection up
        for server in servers:
            server.stop()
        assert_no_connection_outlived_stop(caplog)  # and no thread outlives the test (no_leaked_threads)
    finally:
        for sock in clients:
            sock.close()
        for server in servers:
            server.stop()
