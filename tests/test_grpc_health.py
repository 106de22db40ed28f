"""The gRPC health probe against real grpcio servers, natively and behind the Go-like TLS front."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from expect import assert_no_hang
from probes.errors import BudgetExhausted
from probes.grpc_health import GrpcResult, health_check
from probes.pki import SERVER_AND_CLIENT_USAGES, CertificateAuthority, PrivateKeyPEM, foreign_ca_client
from probes.timeouts import Budget, Timeouts
from sandbox.servers import (
    DEFAULT_SERVICE_NAME,
    GoTLSGrpcServer,
    GrpcHealthServer,
    RefusingPort,
    ServerTLS,
    SilentServer,
)

FLOW = "direktiv-flow-hl.default"
FAST = Timeouts.uniform(2.0)


@dataclass(frozen=True)
class Identity:  # the shape of probes.tls.ClientIdentity
    cert_pem: bytes
    key: PrivateKeyPEM


@pytest.fixture(scope="module")
def flow_cert():
    ca = CertificateAuthority.self_signed(key_type="ecdsa")
    return ca.issue([FLOW], key_type="ecdsa", usages=SERVER_AND_CLIENT_USAGES)


@pytest.fixture(scope="module")
def configured(flow_cert):
    return Identity(flow_cert.chain_pem, flow_cert.key)


pytestmark = pytest.mark.usefixtures("no_leaked_threads")  # tests/conftest.py


SERVERS = {"grpcio-native": GrpcHealthServer, "go-like-front": GoTLSGrpcServer}


@pytest.fixture(params=sorted(SERVERS))
def make_server(request):
    return SERVERS[request.param]


def check(address, flow_cert, **kwargs) -> GrpcResult:
    kwargs.setdefault("authority", FLOW)
    kwargs.setdefault("ca_pem", flow_cert.ca_pem)
    return health_check(address, timeouts=FAST, **kwargs)


def test_health_check_is_served_over_tls(make_server, flow_cert):
    with make_server(ServerTLS.from_issued(flow_cert)) as server:
        result = check(server.address, flow_cert)
        named = check(server.address, flow_cert, service=DEFAULT_SERVICE_NAME)
        unknown = check(server.address, flow_cert, service="nope")
    assert (result.code, result.serving_status, result.reached_server, result.ok) == ("OK", "SERVING", True, True)
    assert named.serving_status == "SERVING"
    assert (unknown.code, unknown.reached_server) == ("NOT_FOUND", True)


def test_mtls_accepts_the_configured_client(make_server, flow_cert, configured):
    with make_server(ServerTLS.from_issued(flow_cert, mtls=True)) as server:
        result = check(server.address, flow_cert, client=configured)
    assert (result.code, result.serving_status, result.channel_ready) == ("OK", "SERVING", True)


def test_mtls_rejects_a_client_without_certificate(make_server, flow_cert):
    with make_server(ServerTLS.from_issued(flow_cert, mtls=True)) as server:
        result = check(server.address, flow_cert)
    assert (result.code, result.reached_server, result.channel_ready) == ("UNAVAILABLE", False, False)
    assert result.detail and "\n" not in result.detail


def test_mtls_rejects_a_client_from_a_foreign_ca(make_server, flow_cert):
    foreign = foreign_ca_client(flow_cert.cert_pem)
    with make_server(ServerTLS.from_issued(flow_cert, mtls=True)) as server:
        result = check(server.address, flow_cert, client=Identity(foreign.chain_pem, foreign.key))
    assert (result.code, result.reached_server) == ("UNAVAILABLE", False)


def test_plaintext_server_answers_a_plaintext_check_and_fails_a_tls_one(flow_cert):
    with GrpcHealthServer(None) as server:
        plain = check(server.address, flow_cert, ca_pem=None, plaintext=True)
        tls = check(server.address, flow_cert)
    assert plain.code == "OK"
    assert (tls.code, tls.reached_server) == ("UNAVAILABLE", False)


def test_a_server_without_health_service_is_reached_but_unimplemented(flow_cert):
    with GoTLSGrpcServer(ServerTLS.from_issued(flow_cert), health_service=False) as server:
        result = check(server.address, flow_cert)
    assert (result.code, result.reached_server, result.serving_status) == ("UNIMPLEMENTED", True, None)


def test_a_name_missing_from_the_certificate_fails_the_call(flow_cert):
    with GrpcHealthServer(ServerTLS.from_issued(flow_cert)) as server:
        result = check(server.address, flow_cert, authority="direktiv-ingress-hl.default")
    assert result.code == "UNAVAILABLE"


def test_a_silent_server_hits_the_deadline_without_being_reached(flow_cert):
    with SilentServer() as server:
        result = health_check(server.address, authority=FLOW, ca_pem=flow_cert.ca_pem,
                              timeouts=Timeouts.uniform(0.5))
    assert (result.code, result.reached_server) == ("DEADLINE_EXCEEDED", False)
    assert_no_hang(result.elapsed, 0.5, what="a call to a silent server")  # one deadline covers the whole call


def test_a_slow_server_hits_the_deadline_after_being_reached(make_server, flow_cert):
    with make_server(ServerTLS.from_issued(flow_cert), delay=5.0) as server:
        result = health_check(server.address, authority=FLOW, ca_pem=flow_cert.ca_pem,
                              timeouts=Timeouts.uniform(0.3))
    assert (result.code, result.reached_server, result.channel_ready) == ("DEADLINE_EXCEEDED", True, True)


def test_a_refused_port_is_unavailable_not_a_deadline(flow_cert):
    with RefusingPort() as port:
        result = check(port.address, flow_cert)
    assert (result.code, result.reached_server) == ("UNAVAILABLE", False)  # no waiting for the port: not DEADLINE_EXCEEDED


def test_tls_without_roots_is_a_usage_error(flow_cert):
    with pytest.raises(ValueError, match="ca_pem"):
        health_check(("127.0.0.1", 1), authority=FLOW, ca_pem=None, timeouts=FAST)


def test_a_spent_budget_stops_before_dialing(flow_cert):
    budget = Budget(0.001)
    time.sleep(0.01)
    with pytest.raises(BudgetExhausted):
        health_check(("127.0.0.1", 1), authority=FLOW, ca_pem=flow_cert.ca_pem, timeouts=FAST, budget=budget)
