"""The TLS handshake probe against real servers on loopback: grpcio (BoringSSL), Python's ssl (system OpenSSL 3.0)
and hand-made misbehaving servers; the probe itself runs on pyOpenSSL's bundled OpenSSL."""

from __future__ import annotations

import socket

import pytest

from expect import assert_no_hang
from local_servers import (
    GrpcHealthServer, PlaintextHTTPServer, ScriptedServer, SilentServer, TLSServer, direktiv_pki, identity,
    lenient_tls_server, strict_tls_server,
)
from probes import pki
from probes.errors import CertificateError
from probes.timeouts import Timeouts
from probes.tls import (
    ClientIdentity, HandshakeOutcome, HandshakeResult, Rejection, TLSOffer, TLSVersion, WeakFamily, alert_name,
    handshake, local_support, weak_cipher_offer,
)

FAST = Timeouts(connect=1.0, handshake=2.0, read=1.0)
TLS13 = (TLSVersion.TLSv1_3,)
TLS12 = (TLSVersion.TLSv1_2,)


@pytest.fixture(scope="module")
def certs():
    return direktiv_pki()


@pytest.fixture(scope="module")
def strict(certs):
    with strict_tls_server(certs.server, client_ca_pem=certs.ca.cert_pem) as server:
        yield server


@pytest.fixture(scope="module")
def lenient(certs):
    with lenient_tls_server(certs.server) as server:
        yield server


@pytest.fixture(scope="module")
def grpc_mtls(certs):
    with GrpcHealthServer(certs.server, client_ca_pem=certs.ca.cert_pem, require_client_auth=True) as server:
        yield server


@pytest.fixture(scope="module")
def grpc_tls(certs):
    with GrpcHealthServer(certs.server) as server:
        yield server


@pytest.fixture(scope="module")
def mtls_servers(strict, grpc_mtls):
    return {"openssl": strict, "grpcio": grpc_mtls}


@pytest.fixture(scope="module")
def clients(certs):
    return {
        "configured": identity(certs.client),
        "foreign-ca": identity(pki.foreign_ca_client(certs.client.cert_pem), "foreign-ca"),
        "self-signed-clone": identity(pki.self_signed_clone(certs.client.cert_pem), "self-signed-clone"),
    }


def _offer(certs, **kwargs) -> TLSOffer:
    return TLSOffer(certs.server_name, **kwargs)


def _grpc_like(kind: str) -> dict:
    """What a gRPC client offers: ALPN h2 (the probe then sends the HTTP/2 preface after the handshake)."""
    return {"alpn": ("h2",)} if kind == "grpcio" else {}


def assert_rejected_late(result: HandshakeResult) -> None:
    assert result.outcome is HandshakeOutcome.REJECTED, result.detail
    assert result.completed and result.late_rejection, result.detail
    assert result.version == "TLSv1.3"


# --- mutual TLS -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["grpcio", "openssl"])
def test_tls13_mtls_server_rejects_client_without_certificate_after_handshake(kind, certs, mtls_servers):
    result = handshake(mtls_servers[kind].address, _offer(certs, versions=TLS13, **_grpc_like(kind)), timeouts=FAST)
    assert_rejected_late(result)
    if kind == "openssl":
        assert (result.rejection, result.alert) == (Rejection.ALERT, "certificate required")
    else:  # grpcio closes without an alert
        assert result.rejection in (Rejection.EOF, Rejection.RESET) and result.alert is None


@pytest.mark.parametrize("kind", ["grpcio", "openssl"])
def test_tls13_mtls_server_accepts_the_configured_client(kind, certs, mtls_servers, clients):
    offer = _offer(certs, versions=TLS13, client=clients["configured"], **_grpc_like(kind))
    result = handshake(mtls_servers[kind].address, offer, timeouts=FAST)
    assert result.outcome is HandshakeOutcome.ACCEPTED, result.detail
    assert result.completed and not result.late_rejection and result.rejection is None
    if kind == "grpcio":
        assert result.alpn == "h2" and "SETTINGS" in result.detail


@pytest.mark.parametrize("step", ["h2", "http1"])
def test_request_after_tls13_handshake_still_sees_the_late_rejection(step, certs, strict):
    result = handshake(strict.address, _offer(certs, versions=TLS13, after_handshake=step), timeouts=FAST)
    assert_rejected_late(result)
    # The probe waits briefly for the verdict before writing, so the alert is normally read before the server's
    # close turns into a reset; a reset is still a rejection.
    assert result.rejection in (Rejection.ALERT, Rejection.RESET, Rejection.EOF)
    if result.rejection is Rejection.ALERT:
        assert result.alert == "certificate required"


@pytest.mark.parametrize("label", ["foreign-ca", "self-signed-clone"])
@pytest.mark.parametrize("kind", ["grpcio", "openssl"])
def test_mtls_server_rejects_untrusted_client_certificates(kind, label, certs, mtls_servers, clients):
    offer = _offer(certs, versions=TLS13, client=clients[label], **_grpc_like(kind))
    result = handshake(mtls_servers[kind].address, offer, timeouts=FAST)
    assert_rejected_late(result)
    if kind == "openssl":
        assert result.alert == "unknown ca"


@pytest.mark.parametrize("label", ["foreign-ca", "self-signed-clone"])
def test_lenient_server_accepts_untrusted_client_certificates(label, certs, lenient, clients):
    result = handshake(lenient.address, _offer(certs, client=clients[label], alpn=("h2",)), timeouts=FAST)
    assert result.outcome is HandshakeOutcome.ACCEPTED, result.detail


def test_tls12_client_certificate_rejection_happens_during_the_handshake(certs, strict):
    result = handshake(strict.address, _offer(certs, versions=TLS12), timeouts=FAST)
    assert result.outcome is HandshakeOutcome.REJECTED
    assert not result.completed and not result.late_rejection
    assert result.rejection is Rejection.ALERT and result.alert == "handshake failure"


def test_verify_if_given_server_accepts_no_certificate_but_rejects_a_foreign_one(certs, clients):
    with lenient_tls_server(certs.server, client_auth="optional", client_ca_pem=certs.ca.cert_pem) as server:
        assert handshake(server.address, _offer(certs), timeouts=FAST).outcome is HandshakeOutcome.ACCEPTED
        foreign = handshake(server.address, _offer(certs, client=clients["foreign-ca"]), timeouts=FAST)
    assert foreign.outcome is HandshakeOutcome.REJECTED and foreign.alert == "unknown ca"


# --- versions, suites, ALPN ---------------------------------------------------------------------------------


def test_tls10_is_accepted_by_the_lenient_server_and_refused_by_the_strict_one(certs, lenient, strict, clients):
    offer = _offer(certs, versions=(TLSVersion.TLSv1,), client=clients["configured"])
    accepted = handshake(lenient.address, offer, timeouts=FAST)
    refused = handshake(strict.address, offer, timeouts=FAST)
    assert accepted.outcome is HandshakeOutcome.ACCEPTED and accepted.version == "TLSv1", accepted.detail
    assert refused.outcome is HandshakeOutcome.REJECTED and not refused.completed
    assert (refused.rejection, refused.alert) == (Rejection.ALERT, "protocol version")


def test_weak_suites_are_offered_only_as_far_as_the_local_library_has_them():
    support = local_support()
    assert {TLSVersion.TLSv1_2, TLSVersion.TLSv1_3} <= set(support.versions)
    for family in WeakFamily:
        offer = weak_cipher_offer(family)
        names = support.weak_ciphers[family.value]
        assert (offer is None) == (not names) == (not support.can_offer_family(family))
        if offer:
            assert offer.split(":")[:-1] == list(names) and offer.endswith("@SECLEVEL=0")


def test_sslv3_is_never_pretended(certs, lenient):
    support = local_support()
    if support.can_offer_version(TLSVersion.SSLv3):
        pytest.skip(f"{support.library} can offer SSLv3")
    with pytest.raises(ValueError, match="cannot offer SSLv3"):
        handshake(lenient.address, _offer(certs, versions=(TLSVersion.SSLv3,)), timeouts=FAST)


def test_null_suite_is_accepted_by_the_lenient_server_and_refused_by_the_strict_one(certs, lenient, strict, clients):
    ciphers = weak_cipher_offer(WeakFamily.NULL)
    if ciphers is None:
        pytest.skip("this OpenSSL has no NULL suites")
    offer = _offer(certs, versions=TLS12, ciphers=ciphers, client=clients["configured"])
    accepted = handshake(lenient.address, offer, timeouts=FAST)
    refused = handshake(strict.address, offer, timeouts=FAST)
    assert accepted.outcome is HandshakeOutcome.ACCEPTED and "NULL" in accepted.cipher
    assert set(accepted.offered_ciphers) == set(local_support().weak_ciphers[WeakFamily.NULL.value])
    assert refused.outcome is HandshakeOutcome.REJECTED and refused.alert == "handshake failure"


def test_grpcio_negotiates_alpn_h2(certs, grpc_tls):
    result = handshake(grpc_tls.address, _offer(certs, alpn=("h2",)), timeouts=FAST)
    assert result.outcome is HandshakeOutcome.ACCEPTED and result.alpn == "h2"
    assert "SETTINGS" in result.detail


# --- capture, not verification --------------------------------------------------------------------------------


def test_wrong_san_still_completes_the_handshake_and_the_chain_is_captured(certs):
    with TLSServer(certs.wrong_name) as server:
        result = handshake(server.address, _offer(certs, after_handshake="http1"), timeouts=FAST)
    assert result.outcome is HandshakeOutcome.ACCEPTED, result.detail
    assert result.peer_chain_der == (certs.wrong_name.cert_der,)
    assert "HTTP/1.1 200" in result.detail


def test_peer_chain_is_recorded_as_der_leaf_first(certs, strict, clients):
    result = handshake(strict.address, _offer(certs, client=clients["configured"]), timeouts=FAST)
    assert result.peer_chain_der[0] == certs.server.cert_der


# --- failures ---------------------------------------------------------------------------------------------------


def test_silent_server_times_out_within_the_deadline(certs):
    limits = Timeouts(connect=1.0, handshake=0.3, read=0.3)
    with SilentServer() as server:
        result = handshake(server.address, _offer(certs), timeouts=limits)
    assert result.outcome is HandshakeOutcome.TIMEOUT
    assert "handshake" in result.detail and "0.3s" in result.detail
    assert_no_hang(result.elapsed, limits.connect, limits.handshake, what="a handshake with a silent server")


def test_silence_after_a_completed_handshake_is_acceptance(certs, strict, clients):
    offer = _offer(certs, versions=TLS12, client=clients["configured"], after_handshake="read")
    result = handshake(strict.address, offer, timeouts=Timeouts(connect=1.0, handshake=1.0, read=0.3))
    assert result.outcome is HandshakeOutcome.ACCEPTED
    assert "nothing came back" in result.detail


def test_closed_port_is_unreachable(certs):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    address = probe.getsockname()
    probe.close()
    result = handshake(address, _offer(certs), timeouts=FAST)
    assert result.outcome is HandshakeOutcome.UNREACHABLE and "refused" in result.detail


def test_plaintext_answer_is_not_tls(certs):
    with PlaintextHTTPServer() as server:
        result = handshake(server.address, _offer(certs), timeouts=FAST)
    assert result.outcome is HandshakeOutcome.REJECTED and result.rejection is Rejection.NOT_TLS


def test_server_choosing_a_version_we_did_not_offer_is_a_version_mismatch(certs):
    # A TLS 1.0 ServerHello (TLS_RSA_WITH_AES_128_CBC_SHA), whatever the client offered.
    server_hello = bytes.fromhex("160301002a" "020000260301") + bytes(range(32)) + bytes.fromhex("00002f00")
    with ScriptedServer(server_hello) as server:
        result = handshake(server.address, _offer(certs), timeouts=FAST)
    assert result.outcome is HandshakeOutcome.REJECTED and result.rejection is Rejection.VERSION


def test_reset_during_the_handshake(certs):
    class Resetter(SilentServer):
        def handle(self, conn):
            conn.recv(65536)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    with Resetter() as server:
        result = handshake(server.address, _offer(certs), timeouts=FAST)
    assert result.outcome is HandshakeOutcome.REJECTED and result.rejection is Rejection.RESET


def test_custom_dial_function_is_used(certs, lenient):
    dialed = []

    def dial(address, timeout):
        dialed.append((address, timeout))
        return socket.create_connection(address, timeout=timeout)

    result = handshake(lenient.address, _offer(certs), timeouts=FAST, dial=dial)
    assert result.outcome is HandshakeOutcome.ACCEPTED and dialed == [(lenient.address, FAST.connect)]


# --- caller errors and secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize("offer, message", [
    (TLSOffer("x", versions=(TLSVersion.TLSv1, TLSVersion.TLSv1_3)), "contiguous"),
    (TLSOffer("x", versions=()), "at least one"),
    (TLSOffer("x", ciphers="NO-SUCH-SUITE"), "cipher string"),
    (TLSOffer("x", after_handshake="smtp"), "after_handshake"),
])
def test_malformed_offers_are_caller_errors(offer, message):
    with pytest.raises(ValueError, match=message):
        handshake(("127.0.0.1", 9), offer, timeouts=FAST)


def test_client_key_that_does_not_match_its_certificate_is_refused_locally(certs):
    mismatched = ClientIdentity(certs.client.chain_pem, certs.server.key, "configured")
    with pytest.raises(CertificateError, match="does not belong") as err:
        handshake(("127.0.0.1", 9), TLSOffer("x", client=mismatched), timeouts=FAST)
    assert "PRIVATE KEY" not in str(err.value)


def test_private_key_never_appears_in_any_record(certs, strict, clients):
    client = clients["configured"]
    key_pem = client.key.bytes().decode()
    key_body = "".join(key_pem.strip().splitlines()[1:-1])
    result = handshake(strict.address, _offer(certs, client=client), timeouts=FAST)
    for record in (client, result.offer, result):
        for text in (repr(record), str(record)):
            assert "PRIVATE KEY" not in text and key_body[:40] not in text and key_body[-40:] not in text


def test_alert_names_follow_openssl_spelling():
    assert alert_name(116) == "certificate required" and alert_name(48) == "unknown ca"
    assert alert_name(250) == "alert 250"
