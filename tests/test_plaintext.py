"""The plaintext probe against real loopback servers: plaintext HTTP, TLS (Python ssl, grpcio), insecure grpcio
(h2c), and canned answers as Go's net/http and nginx give them on a TLS port."""

from __future__ import annotations

import socket
import time

import pytest

from expect import assert_no_hang
from local_servers import (
    GO_HTTPS_PORT_400, NGINX_HTTPS_PORT_400, GrpcHealthServer, PlaintextHTTPServer, ScriptedServer, SilentServer,
    direktiv_pki, strict_tls_server,
)
from probes.errors import ConnectError
from probes.plaintext import PlaintextResult, probe_plaintext
from probes.timeouts import Timeouts

FAST = Timeouts(connect=1.0, read=1.0)
HOST = "direktiv-flow-hl.default"


@pytest.fixture(scope="module")
def certs():
    return direktiv_pki()


def _probe(server, timeouts: Timeouts = FAST) -> PlaintextResult:
    return probe_plaintext(server.address, host=HOST, timeouts=timeouts)


def assert_refused(result: PlaintextResult) -> None:
    assert not result.http1_answered and result.http1_refusal is not None, result.detail
    assert not result.h2c_settings and result.h2c_refusal is not None, result.detail


def test_plaintext_http_server_answers():
    with PlaintextHTTPServer() as server:
        result = _probe(server)
    assert result.http1_answered and result.http1_status == 200 and result.http1_refusal is None
    assert not result.h2c_settings
    assert "200" in result.detail


def test_python_ssl_tls_server_refuses_plaintext(certs):
    with strict_tls_server(certs.server, client_ca_pem=certs.ca.cert_pem) as server:
        result = _probe(server)
    assert_refused(result)
    assert result.http1_refusal in ("closed", "reset", "tls-alert")


@pytest.mark.parametrize("require_client_auth", [False, True])
def test_grpcio_tls_server_refuses_plaintext(certs, require_client_auth):
    with GrpcHealthServer(certs.server, client_ca_pem=certs.ca.cert_pem,
                          require_client_auth=require_client_auth) as server:
        result = _probe(server)
    assert_refused(result)


def test_insecure_grpcio_server_answers_h2c_preface_with_settings():
    with GrpcHealthServer() as server:
        result = _probe(server)
    assert result.h2c_settings and result.h2c_refusal is None
    assert not result.http1_answered  # grpcio does not speak HTTP/1.1; T-PLAINTEXT-REFUSED still fails on h2c


@pytest.mark.parametrize("reply", [GO_HTTPS_PORT_400, NGINX_HTTPS_PORT_400], ids=["go", "nginx"])
def test_https_port_400_is_a_refusal(reply):
    with ScriptedServer(reply) as server:
        result = _probe(server)
    assert (result.http1_answered, result.http1_status, result.http1_refusal) == (False, 400, "https-port-400")


def test_any_other_400_is_an_answer():
    reply = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\nConnection: close\r\n\r\nbad request"
    with ScriptedServer(reply) as server:
        result = _probe(server)
    assert result.http1_answered and result.http1_status == 400


def test_an_http1_400_to_the_h2c_preface_refuses_http2_but_leaves_http1_answered():
    # nginx's TLS port parses the preface as an HTTP/1 request line and answers a plain 400: no HTTP/2 spoken. The
    # HTTP/1.1 probe judges the plaintext service on its own (here a plain 400 is an answer).
    reply = b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    with ScriptedServer(reply) as server:
        result = _probe(server)
    assert (result.h2c_settings, result.h2c_refusal) == (False, "http1-400")
    assert result.http1_answered and "HTTP/1.x 400" in result.detail


def test_tls_alert_record_is_a_refusal():
    with ScriptedServer(bytes.fromhex("15030300020228")) as server:  # fatal handshake_failure alert
        result = _probe(server)
    assert result.http1_refusal == "tls-alert" and result.h2c_refusal == "tls-alert"


def test_silent_server_gives_no_response_within_the_read_limit():
    limits = Timeouts(connect=1.0, read=0.2)
    start = time.monotonic()
    with SilentServer() as server:
        result = _probe(server, limits)
    assert result.http1_refusal == "no-response" and result.h2c_refusal == "no-response"
    assert "0.2s" in result.detail
    # HTTP/1.1 and h2c are asked at once, each connect then read
    assert_no_hang(time.monotonic() - start, limits.connect, limits.read, what="a probe of a silent port")


def test_closed_port_raises_connect_error():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    address = probe.getsockname()
    probe.close()
    with pytest.raises(ConnectError, match="could not connect"):
        probe_plaintext(address, host=HOST, timeouts=FAST)
