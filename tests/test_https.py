"""The HTTPS and plain HTTP probes against the sandbox's Go-like and Envoy-like servers."""

from __future__ import annotations

import re

import pytest

from expect import assert_no_hang
from probes.https import HttpResult, http_get, https_get
from probes.pki import CertificateAuthority, self_signed_certificate
from probes.timeouts import Budget, Timeouts
from sandbox.servers import (
    GarbageServer,
    GoHttpsServer,
    LoadBalancer,
    RefusingPort,
    ResetServer,
    ServerTLS,
    SilentServer,
    SniRouter,
    Trickle,
    TricklingServer,
)

API = "direktiv-api-service.default.svc.cluster.local"
LB_HOST = "direktiv.example"
FAST = Timeouts.uniform(2.0)
TINY = Timeouts.uniform(0.3)


@pytest.fixture(scope="module")
def ca():
    return CertificateAuthority.self_signed(key_type="ecdsa")


@pytest.fixture(scope="module")
def api_cert(ca):
    return ca.issue([API], key_type="ecdsa")


@pytest.fixture(scope="module")
def lb_cert():
    return self_signed_certificate(["localhost", LB_HOST], key_type="ecdsa")


@pytest.fixture(scope="module")
def api_server(api_cert):
    with GoHttpsServer(ServerTLS.from_issued(api_cert)) as server:
        yield server


@pytest.fixture(scope="module")
def load_balancer(lb_cert):
    with LoadBalancer({LB_HOST: ServerTLS.from_issued(lb_cert)}) as lb:
        yield lb


pytestmark = pytest.mark.usefixtures("no_leaked_threads")  # tests/conftest.py


def assert_failed(result: HttpResult, *words: str) -> None:
    assert result.status is None and not result.answered
    assert result.error and "\n" not in result.error
    for word in words:
        assert word in result.error, result.error


def test_https_get_answers_200_without_verification(api_server):
    result = https_get(api_server.address, host=API, path="/api/namespaces", timeouts=FAST)
    assert (result.status, result.http_version, result.error) == (200, "HTTP/1.1", None)
    assert result.url == f"https://{API}/api/namespaces"


def test_https_get_verifies_the_chain_but_not_the_name(api_server, api_cert):
    result = https_get(api_server.address, host="another.name", ca_pem=api_cert.ca_pem, timeouts=FAST)
    assert result.status == 200


def test_https_get_reports_an_untrusted_chain(api_server):
    other = CertificateAuthority.self_signed(key_type="ecdsa")
    assert_failed(https_get(api_server.address, host=API, ca_pem=other.cert_pem, timeouts=FAST), "not trusted")


def test_https_get_sends_the_host_as_sni(ca):
    knative = "hello.direktiv-services-direktiv"
    with SniRouter({knative: ServerTLS.from_issued(ca.issue([knative], key_type="ecdsa"))}, None) as router:
        assert https_get(router.address, host=knative, timeouts=FAST).status == 200
        assert_failed(https_get(router.address, host="unknown.example", timeouts=FAST), "handshake failure")


def test_a_late_tls13_rejection_is_told_apart_from_a_failed_handshake(api_cert):
    with GoHttpsServer(ServerTLS.from_issued(api_cert, mtls=True)) as server:
        result = https_get(server.address, host=API, timeouts=FAST)
    assert_failed(result, "after the handshake", "certificate required")


def test_load_balancer_answers_https_and_redirects_plain_http(load_balancer):
    assert https_get(load_balancer.address, host=LB_HOST, timeouts=FAST).status == 200
    plain = http_get(load_balancer.http_address, host=LB_HOST, path="/api/namespaces", timeouts=FAST)
    assert (plain.status, plain.location) == (301, f"https://{LB_HOST}/api/namespaces")
    assert plain.redirects_to_https


def test_a_load_balancer_without_redirect_serves_plaintext(lb_cert):
    with LoadBalancer({LB_HOST: ServerTLS.from_issued(lb_cert)}, redirect=False) as lb:
        plain = http_get(lb.http_address, host=LB_HOST, timeouts=FAST)
    assert (plain.status, plain.redirects_to_https) == (200, False)


def test_plain_http_to_the_go_tls_port_gets_go_400(api_server):
    result = http_get(api_server.address, host=API, timeouts=FAST)
    assert (result.status, result.http_version) == (400, "HTTP/1.0")


def test_https_to_a_plaintext_go_server_fails_the_handshake():
    with GoHttpsServer(None) as server:
        assert http_get(server.address, host=API, timeouts=FAST).status == 200
        assert_failed(https_get(server.address, host=API, timeouts=FAST), "TLS handshake")


def test_a_silent_server_times_out_in_the_handshake_or_the_read():
    with SilentServer() as server:
        tls = https_get(server.address, host=API, timeouts=TINY)
        plain = http_get(server.address, host=API, timeouts=TINY)
    assert_failed(tls, "TLS handshake timed out after 0.3s")
    assert_failed(plain, "read timed out after 0.3s")
    assert_no_hang(tls.elapsed, TINY.connect, TINY.handshake, what="HTTPS to a silent server")
    assert_no_hang(plain.elapsed, TINY.connect, TINY.read, what="HTTP to a silent server")


def test_a_trickling_server_cannot_stretch_the_handshake():
    with TricklingServer(Trickle.SERVER_HELLO, interval=0.02) as server:
        result = https_get(server.address, host=API, timeouts=TINY)
    assert_failed(result, "TLS handshake timed out")  # a deadline per byte would finish it and time out the read
    assert_no_hang(result.elapsed, TINY.connect, TINY.handshake, what="a trickled handshake")


def test_reset_refused_and_garbage_are_one_sentence_each():
    with ResetServer() as reset, RefusingPort() as refusing, GarbageServer() as garbage:
        assert_failed(https_get(reset.address, host=API, timeouts=FAST), "reset", "during the TLS handshake")
        assert_failed(https_get(refusing.address, host=API, timeouts=FAST), "refused")
        assert_failed(https_get(garbage.address, host=API, timeouts=FAST), "TLS handshake")
        assert_failed(http_get(garbage.address, host=API, timeouts=FAST), "did not answer with HTTP")


def test_the_budget_cuts_a_step_short():
    with SilentServer() as server:
        result = http_get(server.address, host=API, timeouts=FAST, budget=Budget(0.2))
    assert_failed(result, "read timed out after")
    cut_at = float(re.search(r"timed out after ([0-9.]+)s", result.error).group(1))
    assert cut_at <= 0.2, result.error  # what was left of the budget applied, not the step's own 2s
    assert_no_hang(result.elapsed, 0.2, what="a step cut by the budget")


def test_a_ca_that_is_not_pem_is_a_usage_error():
    with pytest.raises(ValueError, match="PEM"):
        https_get(("127.0.0.1", 1), host=API, ca_pem=b"not a certificate", timeouts=FAST)
