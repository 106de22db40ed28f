"""Audit: paths where a control passes (or fails) without the positive evidence docs/CONTROLS.md "Evidence rules"
demand. Every test here asserts the verdict the rules demand, so each one FAILS against the current judges and
probes; the comment above each says which real-world situation produces such evidence.

The evidence factories are the ones of tests/test_controls.py. Where a situation can be produced for real, a small
server on 127.0.0.1 (bounded by timeouts) or the sandbox (sandbox.cluster.start_sandbox, sandbox.faults) shows it
end to end: the probes observe, the judges judge, and the verdict is asserted. "Finding N" numbers follow the audit
report (most serious first).
"""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from probes import pki
from probes.controls import Status, judge, observed_mode
from probes.evidence import (
    RENEGOTIATION, Attempt, ClientCert, EndpointEvidence, Evidence, Key, SecretEvidence,
)
from probes.hello import Attempt as HelloAttempt, RenegotiationCheck, judge as hello_judge
from probes.plaintext import PlaintextResult, probe_plaintext
from probes.profile import INTERMEDIATE
from probes.tls import ClientIdentity, HandshakeOutcome, Rejection, TLSOffer, TLSVersion, handshake
from probes.timeouts import Timeouts
from probes.topology import Mode

# The factories of the existing judge tests (names imported one by one: no test function is collected twice).
from test_controls import (  # noqa: E402
    PLAIN_REFUSED, REFUSED_VERSIONS, SPECS, TOPOLOGY, all_refused, ca, compression_check, endpoint,  # noqa: F401 (ca: fixture)
    fallback_check, good_mtls_pod, hello, pod, reneg_check, refused, shake, verdict, with_checks,
)

# Every network step here is bounded by these limits (seconds); the servers below hold at most HOLD seconds.
STEP = Timeouts(connect=2.0, forward_open=2.0, handshake=2.0, read=0.5, rpc=2.0, api=2.0)
HOLD = 5.0


# ============================================================================================ cluster objects


def _good_secret(ns: str, name: str, ca_: pki.CertificateAuthority, leaf_der: bytes) -> SecretEvidence:
    return SecretEvidence(ns, name, found=True, type="kubernetes.io/tls", keys=("ca.crt", "tls.crt", "tls.key"),
                          cert_chain_der=(leaf_der,), ca_der=(ca_.cert.public_bytes(Encoding.DER),),
                          key_matches=True)


def _secrets(ca_, leaf_der, **overrides) -> dict:
    """Every secret copy the conformant topology requires, good, except ``overrides[(ns, name)]``."""
    out = {}
    for req in TOPOLOGY.secrets:
        for ns in req.namespaces:
            out[(ns, req.name)] = _good_secret(ns, req.name, ca_, leaf_der)
    out.update({tuple(k.split("/")): v for k, v in overrides.items()})
    return out


def _cluster_verdict(control: str, secrets: dict):
    ev = Evidence(topology=TOPOLOGY, source="test", secrets=secrets)
    return judge(control, "cluster", ev, INTERMEDIATE)


@pytest.fixture(scope="module")
def leaf_der(ca):
    return ca.issue(dns_names=("x.default",), key_type="ecdsa").cert_der


# Finding 2. RBAC forbids reading one required secret (the knative certificate in contour-internal: a namespace
# the suite's role often does not cover). K-SECRET-PRESENT rightly errors, but K-SECRET-KEYPAIR and K-SECRET-CHAIN
# judge only the secrets that could be read, drop the unreadable one without a word, and PASS ("tls.key matches
# tls.crt in 8 secret(s)"): a pass for a secret that was never observed. A failed API read is an error.
# The same holds for a required copy that is missing (K-SECRET-PRESENT's failure): "a judge that lacks the facts
# another control is about says error or skip and points there"; it must not pass "in every secret".
_UNREAD = {
    "forbidden": SecretEvidence("contour-internal", "direktiv-cert-knative", found=False,
                                error="secrets is forbidden: User cannot get resource secrets in contour-internal"),
    "missing": SecretEvidence("contour-internal", "direktiv-cert-knative", found=False),
}


@pytest.mark.parametrize("why", list(_UNREAD))
@pytest.mark.parametrize("control", ["K-SECRET-KEYPAIR", "K-SECRET-CHAIN"])
def test_keypair_and_chain_error_when_a_required_secret_was_not_read(ca, leaf_der, control, why):
    v = _cluster_verdict(control, _secrets(ca, leaf_der, **{"contour-internal/direktiv-cert-knative": _UNREAD[why]}))
    assert v.status is Status.ERROR, v.message


# Finding 2 (cont.). K-CA-CONSISTENT: the knative secret's copy in contour-internal is missing, so the pair
# "default/direktiv-cert-knative and contour-internal/direktiv-cert-knative" cannot be compared; the other pairs
# share their CA and the control PASSES "2 secret pair(s) share their CA". It skips only when no pair at all was
# judged. A pair that was not compared is no evidence: error, pointing at K-SECRET-PRESENT.
def test_ca_consistent_does_not_pass_with_a_pair_left_uncompared(ca, leaf_der):
    v = _cluster_verdict("K-CA-CONSISTENT", _secrets(ca, leaf_der, **{
        "contour-internal/direktiv-cert-knative": _UNREAD["missing"]}))
    assert v.status is Status.ERROR, v.message


# Finding 11. A secret that exists but has no tls.key (kubectl create secret generic, or a hand-edited secret):
# K-SECRET-PRESENT fails; K-SECRET-KEYPAIR counts the keyless secret among those whose "tls.key matches tls.crt"
# and PASSES, though no key was ever compared for it.
def test_keypair_does_not_pass_a_secret_that_has_no_tls_key(ca, leaf_der):
    keyless = SecretEvidence("default", "direktiv-cert-fn", found=True, type="kubernetes.io/tls",
                             keys=("ca.crt", "tls.crt"), cert_chain_der=(leaf_der,),
                             ca_der=(ca.cert.public_bytes(Encoding.DER),), key_matches=None)
    v = _cluster_verdict("K-SECRET-KEYPAIR", _secrets(ca, leaf_der, **{"default/direktiv-cert-fn": keyless}))
    assert v.status is not Status.PASS, v.message
    assert v.status is Status.ERROR, v.message  # "see K-SECRET-PRESENT", as for a key that cannot be parsed


# Finding 11 (cont.). Every required secret lacks ca.crt (ACME-issued everywhere, or kubectl create secret tls):
# K-SECRET-CHAIN compares nothing and still PASSES ("tls.crt chains to ca.crt in every secret that has both").
# Nothing was judged: that is a skip (not applicable), never a pass.
def test_chain_does_not_pass_when_no_secret_was_compared(ca, leaf_der):
    secrets = {k: replace(v, keys=("tls.crt", "tls.key"), ca_der=()) for k, v in _secrets(ca, leaf_der).items()}
    v = _cluster_verdict("K-SECRET-CHAIN", secrets)
    assert v.status is Status.SKIP, v.message


# ======================================================================================== per pod combination


# Finding 3. Two flow replicas. On flow-0 the fallback hello gets 'inappropriate fallback' (pass). On flow-1 the
# fallback hello (TLS 1.2 + SCSV) is refused without the RFC 7507 alert, and the renegotiation hello, the only
# evidence of whether flow-1 accepts TLS 1.2 at all, was cut by the budget. flow-1's judge says SKIP ("no lower
# version to fall back to", which was never observed), and _per_pod turns PASS + SKIP into PASS "[all 2 pods]".
# A pass needs positive evidence on every ready pod.
def test_downgrade_scsv_does_not_pass_when_one_replica_was_only_skipped():
    flow0 = with_checks(fallback=fallback_check("protected"))
    flow1 = with_checks(fallback=fallback_check("not-applicable", "TLSv1.2"))
    flow1 = replace(flow1, pod="flow-1", attempts={**flow1.attempts, RENEGOTIATION: Attempt(
        RENEGOTIATION, error="the evidence budget of 3.0s ran out before this step")})
    v = verdict("T-DOWNGRADE-SCSV", endpoint("flow-grpc", flow0, flow1))
    assert v.status is Status.ERROR, v.message


# Finding 3 (cont.). One pod, same evidence: the renegotiation hello that would tell whether TLS 1.2 is
# accepted was not observed (budget, timeout), so "no lower version to fall back to" is a guess: error, not skip.
def test_downgrade_scsv_unobserved_lower_version_is_an_error_not_a_skip():
    p = with_checks(fallback=fallback_check("not-applicable", "TLSv1.2"),
                    renegotiation=reneg_check(None, "timeout"))
    v = verdict("T-DOWNGRADE-SCSV", endpoint("flow-grpc", p))
    assert v.status is Status.ERROR, v.message


# Finding 3 (cont.). A profile that switches T-SECURE-RENEGOTIATION off drops the renegotiation hello from the
# plan (probes.plan._legacy_and_suites), and T-DOWNGRADE-SCSV then always reads "no lower version" when the SCSV
# hello is refused without the alert, although the server may well accept TLS 1.2. Not observed: error.
def test_downgrade_scsv_without_the_renegotiation_probe_is_an_error():
    relaxed = replace(INTERMEDIATE, name="relaxed", controls_off=("T-SECURE-RENEGOTIATION",))
    p = with_checks(fallback=fallback_check("not-applicable", "TLSv1.2"))
    p = replace(p, attempts={k: a for k, a in p.attempts.items() if k != RENEGOTIATION})
    ep = endpoint("flow-grpc", p)
    ev = Evidence(topology=TOPOLOGY, source="test", endpoints={"flow-grpc": ep}, ca_key_available=True)
    v = judge("T-DOWNGRADE-SCSV", "flow-grpc", ev, relaxed)
    assert v.status is Status.ERROR, v.message


# ======================================================================================== transport judges


# Finding 8. T-SECURE-RENEGOTIATION passes "refuses TLS 1.2 and below, where renegotiation exists" when the
# renegotiation hello was refused (a close before any answer: Envoy at its connection limit, a proxy hiccup), although
# the compression hello to the same pod, in the same run, got a TLS 1.2 ServerHello. The pass asserts something the
# evidence contradicts; whether renegotiation_info is sent was never observed: error.
def test_secure_renegotiation_does_not_pass_when_the_pod_accepted_tls12_elsewhere():
    closed = hello("TLSv1.2", "closed")
    reneg = RenegotiationCheck(None, HelloAttempt(closed, hello_judge(closed)), closed.detail)
    p = with_checks(renegotiation=reneg, compression=compression_check(0))  # compression: a TLS 1.2 ServerHello
    v = verdict("T-SECURE-RENEGOTIATION", endpoint("flow-grpc", p))
    assert v.status is Status.ERROR, v.message


# Finding 5. T-PLAINTEXT-REFUSED counts as refusals answers that are no refusal by TLS: 'no-response' (the read
# timed out) and 'not-http'/'not-h2' (the port answered plaintext bytes that are neither HTTP nor a TLS alert, e.g.
# a banner of another protocol on a port that sniffs TLS vs plaintext, like cmux). A timeout and a peer that did
# not answer in TLS where a refusal was needed are errors. (tests/test_controls.py
# test_plaintext_silence_is_a_refusal_only_from_a_port_that_speaks_tls asserts the opposite for silence.)
@pytest.mark.parametrize("plain", [
    PlaintextResult(False, None, "no-response", False, "no-response", "nothing came back within 0.5s"),
    PlaintextResult(False, None, "not-http", False, "not-h2", "answered with bytes that are not HTTP / HTTP/2"),
], ids=["silence", "plaintext-bytes"])
def test_plaintext_timeout_or_non_tls_answer_is_no_refusal(plain):
    v = verdict("T-PLAINTEXT-REFUSED", endpoint("flow-grpc", good_mtls_pod(plaintext=plain)))
    assert v.status is Status.ERROR, v.message


# Finding 6. Mode from behaviour: a TLS 1.2 handshake WITHOUT a client certificate completed, then the server
# closed the connection (an application that drops unauthenticated connections, a server with
# VerifyClientCertIfGiven). Under TLS 1.2 the server verifies client certificates inside the handshake, so a
# completed handshake without one proves that the TLS layer does not demand certificates. observed_mode still says
# "mtls" (the late close is read as "the TLS 1.3 signature of a server demanding certificates") and
# T-MODE-MATCHES-CONFIG PASSES for an mTLS port that is not mTLS. The rules allow that signature for TLS 1.3 only.
def test_a_close_after_a_tls12_handshake_without_certificate_is_no_sign_of_mtls():
    late_close = refused(rejection=Rejection.EOF, alert=None, late=True, version="TLSv1.2",
                         detail="TLSv1.2 handshake completed, then the peer closed the TCP connection")
    p = good_mtls_pod(client_no_client_cert=late_close)
    mode, how = observed_mode(endpoint("flow-grpc", p), p)
    assert mode != "mtls", how
    v = verdict("T-MODE-MATCHES-CONFIG", endpoint("flow-grpc", p))
    assert v.status in (Status.ERROR, Status.FAIL), v.message


# Finding 7. knative: RBAC forbids listing the knative services (hosts_error), so every probe used the probe name
# conformance-probe.<services namespace>. Contour with a fallback certificate (HTTPProxy enableFallbackCertificate,
# or any default filter chain) completes that handshake, so the baseline "completed" and every refusal on that
# name counts: T-LEGACY / T-WEAK / T-FORWARD-SECRECY PASS. But they were observed on the fallback filter chain, not on
# the hosts of the knative services (Contour sets TLS parameters per HTTPProxy: tls.minimumProtocolVersion).
# CONTROLS.md: the probe name only when no knative service exists, "and then a refusal of it proves nothing (error)".
# (T-PLAINTEXT-REFUSED is left out: plaintext carries no name, so its refusal is about the port whatever the SNI.)
# The same when no knative service exists (hosts=(), no error): the words of CONTROLS.md cover exactly that case.
_KNATIVE_HOSTS_ERROR = {"unlisted": "knative Services in direktiv-services-direktiv could not be listed: forbidden",
                        "none-exist": None}


@pytest.mark.parametrize("hosts", list(_KNATIVE_HOSTS_ERROR))
@pytest.mark.parametrize("control", ["T-LEGACY-PROTOCOLS-REFUSED", "T-WEAK-CIPHERS-REFUSED", "T-FORWARD-SECRECY"])
def test_knative_refusals_on_the_probe_name_prove_nothing(control, hosts):
    probe_name = SPECS["knative"].server_name
    p = pod("envoy-internal-0", baseline=shake(sni=probe_name, alpn="http/1.1"), plaintext=PLAIN_REFUSED,
            **all_refused())
    ep = endpoint("knative", p, hosts=(), hosts_error=_KNATIVE_HOSTS_ERROR[hosts])
    v = verdict(control, ep)
    assert v.status is Status.ERROR, v.message


# Finding 12. An observation that holds neither a result nor an error (a probe function that returned None: a bug,
# or a future refactoring) is skipped without a word by _observed_result's callers, and the control PASSES on what
# is left: here T-LEGACY-PROTOCOLS-REFUSED passes "refused  by TLS" with no version observed at all.
def test_an_attempt_without_result_or_error_is_not_silently_skipped():
    p = good_mtls_pod()
    p = replace(p, attempts={**p.attempts, **{Key.legacy(v): Attempt(Key.legacy(v)) for v in REFUSED_VERSIONS}})
    v = verdict("T-LEGACY-PROTOCOLS-REFUSED", endpoint("flow-grpc", p))
    assert v.status is Status.ERROR, v.message


# Finding 12 (cont.). A profile with min_version SSLv3 has no version to refuse: T-LEGACY-PROTOCOLS-REFUSED passes
# "refused  by TLS" with nothing offered. Not applicable under the profile: skip, with the reason.
def test_legacy_with_nothing_to_refuse_is_a_skip_not_a_pass():
    lax = replace(INTERMEDIATE, name="lax", min_version="SSLv3")
    ep = endpoint("flow-grpc", good_mtls_pod())
    ev = Evidence(topology=TOPOLOGY, source="test", endpoints={"flow-grpc": ep}, ca_key_available=True)
    v = judge("T-LEGACY-PROTOCOLS-REFUSED", "flow-grpc", ev, lax)
    assert v.status is Status.SKIP, v.message


# Finding 10. --direktiv-ca-key-secret was given, but the secret could not be read (RBAC forbids secrets in cert-manager):
# the expired and no-clientAuth certificates could not be had. _rejects skips whenever the reason equals
# ev.ca_key_reason, so a failed API read reads as "not applicable". Only an absent option is a skip.
@pytest.mark.parametrize("control", ["M-EXPIRED-CERT-REJECTED", "M-NO-CLIENTAUTH-EKU-REJECTED"])
def test_an_unreadable_ca_key_secret_is_an_error_not_a_skip(control):
    why = ("the CA key secret cert-manager/direktiv-ca could not be read: Reading secret cert-manager/direktiv-ca "
           "is forbidden")
    ep = endpoint("flow-grpc", good_mtls_pod(), missing={ClientCert.EXPIRED: why, ClientCert.NO_CLIENTAUTH: why})
    ev = Evidence(topology=TOPOLOGY, source="test", endpoints={"flow-grpc": ep}, ca_key_available=False,
                  ca_key_reason=why)
    v = judge(control, "flow-grpc", ev, INTERMEDIATE)
    assert v.status is Status.ERROR, v.message


# ================================================================== end to end against servers on 127.0.0.1


def _tls_files(tmp_path, names=("direktiv-flow-hl.default",)):
    """A CA, and a server certificate for ``names`` written to files (ssl loads keys from files only)."""
    authority = pki.CertificateAuthority.self_signed(key_type="ecdsa")
    leaf = authority.issue(dns_names=names, key_type="ecdsa",
                           usages=("digital signature", "key encipherment", "server auth", "client auth"))
    cert, key, cafile = tmp_path / "tls.crt", tmp_path / "tls.key", tmp_path / "ca.crt"
    cert.write_bytes(leaf.chain_pem)
    key.write_bytes(leaf.key.bytes())
    cafile.write_bytes(authority.cert_pem)
    return authority, leaf, str(cert), str(key), str(cafile)


class _Listener:
    """A TCP listener on 127.0.0.1 that hands each connection to ``handle(sock)`` in a daemon thread; every socket
    has a timeout of HOLD seconds, and stop() ends the accept loop."""

    def __init__(self, handle) -> None:
        self._handle = handle
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.address = self._sock.getsockname()[:2]
        self._thread = threading.Thread(target=self._loop, daemon=True, name="audit-listener")
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(HOLD)
            threading.Thread(target=self._serve, args=(conn,), daemon=True, name="audit-conn").start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._handle(conn)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self._sock.close()


@contextmanager
def _listening(handle):
    listener = _Listener(handle)
    try:
        yield listener.address
    finally:
        listener.stop()


def _drain(sock: socket.socket, seconds: float) -> None:
    """Read and discard until the peer leaves or ``seconds`` pass (a server that answers nothing)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(4096):
                return
        except socket.timeout:
            return


# Finding 4. TLS 1.3 and a server that demands client certificates. The client's handshake completes when it has
# the server's flight; the server decides on our (empty) Certificate only when it reads our second flight. Here
# that flight reaches the server late (a loaded server, a slow port-forward through the API server and kubelet: it
# is delayed beyond the read limit), so nothing comes back within the read limit. probes.tls records "nothing came
# back ... and the connection stayed open" as outcome ACCEPTED. That is no evidence of acceptance:
#   - M-NO-CERT-REJECTED FAILS ("a client without a certificate was accepted") on an mTLS server that refuses it;
#   - T-MODE-MATCHES-CONFIG PASSES "TLS as configured" for a TLS-configured port whose server demands certificates.
# A timeout is an error, never a pass and never a fail.
@pytest.fixture
def late_verdict_result(tmp_path):
    _, _, cert, key, cafile = _tls_files(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    server_ctx.load_cert_chain(cert, key)
    server_ctx.load_verify_locations(cafile)
    server_ctx.verify_mode = ssl.CERT_REQUIRED  # RequireAndVerifyClientCert
    server_ctx.set_alpn_protocols(["h2"])

    def mtls_server(conn: socket.socket) -> None:
        with server_ctx.wrap_socket(conn, server_side=True) as tls:  # refuses (alert) once it reads our flight
            tls.recv(1024)

    def delaying_proxy(upstream_address):
        """Forwards both ways; everything the client sends after its first flight (the ClientHello) reaches the
        server 3 s late."""
        def handle(client: socket.socket) -> None:
            upstream = socket.create_connection(upstream_address, timeout=HOLD)
            upstream.settimeout(HOLD)

            def back() -> None:
                try:
                    while data := upstream.recv(65536):
                        client.sendall(data)
                except OSError:
                    pass
            threading.Thread(target=back, daemon=True).start()
            first = True
            try:
                while data := client.recv(65536):
                    if not first:
                        time.sleep(3.0)
                    first = False
                    upstream.sendall(data)
            except OSError:
                pass
            finally:
                upstream.close()
        return handle

    with _listening(mtls_server) as server, _listening(delaying_proxy(server)) as proxy:
        offer = TLSOffer("direktiv-flow-hl.default", versions=(TLSVersion.TLSv1_3,), alpn=("h2",),
                         after_handshake="h2")
        result = handshake(proxy, offer, timeouts=STEP)
    # what probes.tls made of it: the handshake completed and nothing came back in time
    assert result.completed and result.version == "TLSv1.3", result.detail
    assert result.outcome is not HandshakeOutcome.REJECTED and "nothing came back" in result.detail, result.detail
    return result


def test_a_late_tls13_verdict_is_no_acceptance_of_a_client_without_certificate(late_verdict_result):
    p = good_mtls_pod(client_no_client_cert=late_verdict_result)
    v = verdict("M-NO-CERT-REJECTED", endpoint("flow-grpc", p))
    assert v.status is Status.ERROR, v.message


def test_a_late_tls13_verdict_does_not_make_a_port_that_demands_certificates_tls(late_verdict_result):
    p = pod("fn-0", baseline=late_verdict_result, plaintext=PLAIN_REFUSED)
    ep = EndpointEvidence(replace(SPECS["functions-grpc"], mode=Mode.TLS), pods=(p,))
    v = verdict("T-MODE-MATCHES-CONFIG", ep)
    assert v.status is Status.ERROR, v.message


# Finding 5, end to end. A port that sniffs the first byte (cmux-style, as in front of gRPC + HTTP servers): TLS
# ClientHellos get TLS (and a proper HTTP answer), anything else goes to a plaintext handler that is slow (it has
# not answered within the read limit). The plaintext probe reads silence on both connections, which the judge
# counts as a refusal: T-PLAINTEXT-REFUSED PASSES for a port that takes plaintext connections and never refused
# them. Silence within a deadline is a timeout: error.
def test_silence_to_plaintext_on_a_sniffing_port_is_no_refusal(tmp_path):
    names = SPECS["api"].expected_names
    _, _, cert, key, _ = _tls_files(tmp_path, names)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def sniffing(conn: socket.socket) -> None:
        first = conn.recv(1, socket.MSG_PEEK)
        if first[:1] != b"\x16":
            _drain(conn, HOLD)  # the plaintext backend: slow to answer (not within the read limit)
            return
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(4096)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    with _listening(sniffing) as address:
        baseline = handshake(address, TLSOffer(SPECS["api"].server_name, alpn=("http/1.1",),
                                               after_handshake="http1"), timeouts=STEP)
        plain = probe_plaintext(address, host=SPECS["api"].server_name, timeouts=STEP)
    assert baseline.outcome is HandshakeOutcome.ACCEPTED and "answered the HTTP request" in baseline.detail
    assert plain.http1_refusal == "no-response" and plain.h2c_refusal == "no-response", plain.detail
    v = verdict("T-PLAINTEXT-REFUSED", endpoint("api", pod("api-0", baseline=baseline, plaintext=plain)))
    assert v.status is Status.ERROR, v.message


# Finding 9. probes.tls._classify takes the last alert OpenSSL's info callback saw, at any level: a *warning*
# alert (unrecognized_name, as OpenSSL-based servers send for a name they do not know) followed by something that
# makes our own library abort (here: bytes that are not TLS) is recorded as "the peer sent the TLS alert
# 'unrecognized name'", Rejection.ALERT, a refusal by TLS. M-UNTRUSTED-CA-REJECTED then PASSES on an abort of
# ours. A warning alert refuses nothing; our library aborting is an error.
def test_a_warning_alert_before_our_own_abort_is_no_refusal(tmp_path):
    def warns_then_garbage(conn: socket.socket) -> None:
        conn.recv(65536)  # the ClientHello
        conn.sendall(b"\x15\x03\x03\x00\x02\x01\x70"  # alert record: level 1 (warning), unrecognized_name
                     + b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        _drain(conn, STEP.handshake)

    leaf = pki.CertificateAuthority.self_signed(key_type="ecdsa").issue(
        dns_names=SPECS["flow-grpc"].expected_names, key_type="ecdsa",
        usages=("digital signature", "key encipherment", "server auth", "client auth"))
    foreign = pki.foreign_ca_client(leaf.chain_pem)
    offer = TLSOffer(SPECS["flow-grpc"].server_name, alpn=("h2",), after_handshake="h2",
                     client=ClientIdentity(foreign.chain_pem, foreign.key, "foreign-ca"))
    with _listening(warns_then_garbage) as address:
        result = handshake(address, offer, timeouts=STEP)
    assert result.outcome is HandshakeOutcome.REJECTED, result.detail
    v = verdict("M-UNTRUSTED-CA-REJECTED", endpoint("flow-grpc", good_mtls_pod(client_foreign_ca=result)))
    assert v.status is Status.ERROR, (v.message, result.rejection, result.alert)


# ========================================================================================= end to end: sandbox


SANDBOX_TIMEOUT = 10.0  # generous per-step limit (the sandbox answers in milliseconds; busy machines are slow)


def _judge_all(evidence):
    from probes.catalog import CONTROLS
    return {(c.id, e): judge(c.id, e, evidence, INTERMEDIATE) for c in CONTROLS for e in c.endpoints}


@pytest.fixture(scope="module")
def conformant_sandbox():
    from probes.session import RunOptions
    from sandbox.cluster import start_sandbox
    from sandbox.faults import CA_KEY_SECRET

    with start_sandbox("conformant") as running:
        yield running, RunOptions(kubeconfig=str(running.kubeconfig_path), ca_key_secret=CA_KEY_SECRET,
                                  timeout=SANDBOX_TIMEOUT)


# Finding 2, end to end: sandbox.faults' own case "api-403-secrets-in-a-namespace" (RBAC forbids secrets in
# contour-internal). K-SECRET-PRESENT errors, as documented; K-SECRET-KEYPAIR and K-SECRET-CHAIN pass, and the
# fault table documents that pass as correct (they are not in its verdicts). The knative secret's key and chain
# were never read.
@pytest.mark.parametrize("control", ["K-SECRET-KEYPAIR", "K-SECRET-CHAIN"])
def test_sandbox_secrets_forbidden_in_one_namespace_errors_keypair_and_chain(conformant_sandbox, control):
    from probes.session import gather_evidence
    from sandbox.faults import FAULTS

    running, options = conformant_sandbox
    with ExitStack() as undo:
        FAULTS["api-403-secrets-in-a-namespace"].apply(running, undo)
        verdicts = _judge_all(gather_evidence(options, INTERMEDIATE))
    assert verdicts[("K-SECRET-PRESENT", "cluster")].status is Status.ERROR  # as documented
    v = verdicts[(control, "cluster")]
    assert v.status is Status.ERROR, v.message


# Finding 10, end to end: --direktiv-ca-key-secret cert-manager/direktiv-ca is given, RBAC forbids reading it. The expired and
# no-clientAuth certificates cannot be minted; the verdicts SKIP ("not tested"), as if the option had been left out.
def test_sandbox_forbidden_ca_key_secret_errors_the_minting_controls(conformant_sandbox):
    from probes.session import gather_evidence
    from sandbox.faults import api_fault

    running, options = conformant_sandbox
    with ExitStack() as undo:
        api_fault(running, undo, "forbid", "secrets", namespace="cert-manager")
        verdicts = _judge_all(gather_evidence(options, INTERMEDIATE))
    for control in ("M-EXPIRED-CERT-REJECTED", "M-NO-CLIENTAUTH-EKU-REJECTED"):
        for ep in ("ingress-grpc", "flow-grpc", "functions-grpc"):
            v = verdicts[(control, ep)]
            assert v.status is Status.ERROR, (control, ep, v.status.value, v.message)


# Finding 1, end to end. Scenario flow-ignores-expiry: flow's client verifier ignores expiry, so with the right CA
# key M-EXPIRED-CERT-REJECTED fails on flow-grpc (as the scenario documents). Now --direktiv-ca-key-secret names another CA's
# secret (a stale CA after a rotation, the wrong issuer's secret, a root instead of the issuing intermediate): the
# suite never checks that this CA issued the configured client certificate, mints the "expired certificate from
# the right CA" with the wrong CA, flow refuses it for its issuer ('bad certificate' from Go's crypto/tls, 'unknown ca'
# from OpenSSL), and M-EXPIRED-CERT-REJECTED PASSES. Expiry was never tested; the offer the control needs could not be
# made: error. M-NO-CLIENTAUTH-EKU-REJECTED is minted the same way and passes the same way.
def test_sandbox_a_ca_key_secret_of_another_ca_does_not_pass_the_expiry_control():
    from probes.session import RunOptions, gather_evidence
    from sandbox.cluster import start_sandbox

    other = pki.CertificateAuthority.self_signed("direktiv-system", key_type="ecdsa")
    with start_sandbox("flow-ignores-expiry") as running:
        secret = running.store.get("", "secrets", "cert-manager", "direktiv-ca")
        secret = {**secret, "metadata": {"name": "direktiv-ca-other", "namespace": "cert-manager"},
                  "data": {k: base64.b64encode(v).decode() for k, v in other.secret_data().items()}}
        running.store.add(secret)
        base = RunOptions(kubeconfig=str(running.kubeconfig_path), timeout=SANDBOX_TIMEOUT)
        right = judge("M-EXPIRED-CERT-REJECTED", "flow-grpc", gather_evidence(
            replace(base, ca_key_secret=("cert-manager", "direktiv-ca")), INTERMEDIATE), INTERMEDIATE)
        wrong = judge("M-EXPIRED-CERT-REJECTED", "flow-grpc", gather_evidence(
            replace(base, ca_key_secret=("cert-manager", "direktiv-ca-other")), INTERMEDIATE), INTERMEDIATE)
    assert right.status is Status.FAIL, right.message  # the scenario's documented failure
    assert wrong.status is Status.ERROR, wrong.message
