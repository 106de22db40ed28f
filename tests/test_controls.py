"""The judges, one rule at a time, from evidence built by factories (no network): what passes, fails and errors,
and above all every way a control could pass without having observed anything."""

from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from probes import pki
from probes.controls import Status, hsts_max_age, judge, observed_mode
from probes.evidence import (
    BASELINE, BASELINE_AFTER, COMPRESSION, FALLBACK, GRPC_HEALTH, PLAINTEXT, RENEGOTIATION, Attempt, ClientCert, EndpointEvidence,
    Evidence, Key, PodEvidence, Probe,
)
from probes.cipher_suites import cipher_suite
from probes.grpc_health import GrpcResult
from probes.hello import (
    VERSION_CODES, Alert, AlertLevel, AnswerKind, ClientHello, CompressionCheck, FallbackCheck, FallbackVerdict,
    HelloResult, RenegotiationCheck, ServerAnswer, ServerHello, SuiteScan, Attempt as HelloAttempt,
    judge as hello_judge,
)
from probes.https import HttpResult
from probes.helm import deep_merge
from probes.plaintext import PlaintextResult
from probes.profile import INTERMEDIATE
from probes.plan import SUITE_SCAN_VERSIONS
from probes.tls import HandshakeOutcome, HandshakeResult, Rejection, TLSOffer, TLSVersion
from probes.topology import Mode, derive_topology
from sandbox.cluster import chart_defaults
from sandbox.scenarios import CONFORMANT

TOPOLOGY = derive_topology(deep_merge(chart_defaults(), CONFORMANT.values))
SPECS = {s.id: s for s in TOPOLOGY.endpoints}
REFUSED_VERSIONS = INTERMEDIATE.refused_versions


# ---------------------------------------------------------------------------------------------------- factories


@pytest.fixture(scope="module")
def ca():
    return pki.CertificateAuthority.self_signed(key_type="ecdsa")


@pytest.fixture(scope="module")
def flow_leaf(ca):
    return ca.issue(dns_names=SPECS["flow-grpc"].expected_names, key_type="ecdsa",
                    usages=("digital signature", "key encipherment", "server auth", "client auth")).cert_der


def shake(outcome: str = "accepted", *, rejection: Rejection | None = None, alert: str | None = None,
          completed: bool | None = None, late: bool = False, chain: tuple[bytes, ...] = (), alpn: str | None = "h2",
          version: str = "TLSv1.3", sni: str = "direktiv-flow-hl.default", detail: str = "") -> HandshakeResult:
    """A handshake record: ``accepted``, ``rejected`` (give the rejection), ``timeout`` or ``unreachable``."""
    outcome = HandshakeOutcome(outcome)
    accepted = outcome is HandshakeOutcome.ACCEPTED
    completed = accepted or late if completed is None else completed
    return HandshakeResult(
        offer=TLSOffer(sni), outcome=outcome, completed=completed, late_rejection=late,
        version=version if completed else None, cipher="TLS_AES_128_GCM_SHA256" if completed else None,
        alpn=alpn if completed else None, peer_chain_der=chain, offered_ciphers=(), rejection=rejection,
        alert=alert, detail=detail or f"{outcome.value} ({alert or rejection or 'ok'})", elapsed=0.01)


def refused(**kw) -> HandshakeResult:
    kw.setdefault("rejection", Rejection.ALERT)
    kw.setdefault("alert", "protocol version")
    return shake("rejected", **kw)


def hello(version: str = "TLSv1", kind: str = "alert", *, suite: int = 0x000A) -> HelloResult:
    """A raw ClientHello offering only ``version``: ``kind`` is how the server answered."""
    kind = AnswerKind(kind)
    sh = None
    if kind is AnswerKind.SERVER_HELLO:
        sh = ServerHello(TLSVersion(version), VERSION_CODES[TLSVersion(version)], VERSION_CODES[TLSVersion(version)],
                         suite, 0, (), True, False, None, None, False, b"", b"\0" * 32)
    alert = Alert(AlertLevel.FATAL, 70, "protocol version") if kind is AnswerKind.ALERT else None
    answer = ServerAnswer(kind, sh, alert, None, (), 7, f"answer: {kind.value}")
    return HelloResult(ClientHello(TLSVersion(version), (suite,), "direktiv-flow-hl.default"), answer,
                       f"a {version} ClientHello: {kind.value}", 0.01)


def scan(version: str = "TLSv1.2", *, accepted: tuple[int, ...] = (), unjudged: tuple[int, ...] = ()) -> SuiteScan:
    return SuiteScan(TLSVersion(version), accepted + unjudged + (0x0001,), tuple(cipher_suite(c) for c in accepted),
                     () if unjudged else (0x0001,), unjudged, (), f"scan at {version}")


NOT_TLS = dict(rejection=Rejection.NOT_TLS, alert=None, detail="the peer did not answer in TLS")
PLAIN_REFUSED = PlaintextResult(False, 400, "https-port-400", False, "closed", "refused")
PLAIN_ANSWERED = PlaintextResult(False, None, "closed", True, None, "h2c SETTINGS came back")


def pod(name: str = "flow-0", *, unreachable: str | None = None, **attempts) -> PodEvidence:
    """A pod; each keyword is an observation: ``baseline=``, ``plaintext=``, ``grpc_health=``, ``client_none=``
    (``client_<label>``), ``legacy_TLSv1=``, ``suites_TLSv1_2=``; a str value is an observation error."""
    keys = {"baseline": BASELINE, "baseline_after": BASELINE_AFTER, "plaintext": PLAINTEXT, "grpc_health": GRPC_HEALTH,
            "https_get": Key(Probe.HTTPS_GET)}
    if "baseline" in attempts and "baseline_after" not in attempts:  # the pod still accepts it after the offers
        attempts["baseline_after"] = attempts["baseline"]
    out = {}
    for name_, value in attempts.items():
        if name_ in keys:
            key = keys[name_]
        elif name_.startswith("client_"):
            key = Key.client(ClientCert(name_[len("client_"):].replace("_", "-")))
        elif name_.startswith("legacy_"):
            key = Key.legacy(name_[len("legacy_"):].replace("_", "."))
        elif name_.startswith("suites_"):
            key = Key.suites(name_[len("suites_"):].replace("_", "."))
        else:
            key = Key.sni(name_)
        out[key] = Attempt(key, error=value) if isinstance(value, str) else Attempt(key, result=value)
    return PodEvidence(name, 7777, unreachable=unreachable, attempts=out)


def all_refused(**extra) -> dict:
    """Every legacy version refused by an alert, and no weak suite accepted at any version."""
    attempts = {f"legacy_{v}": hello(v) for v in REFUSED_VERSIONS}
    attempts.update({f"suites_{v.value.replace('.', '_')}": scan(v.value) for v in SUITE_SCAN_VERSIONS})
    return {**attempts, **extra}


def endpoint(endpoint_id: str = "flow-grpc", *pods_: PodEvidence, anchors=(), hosts=(), hosts_error=None,
             unreachable=None, missing=None) -> EndpointEvidence:
    identities = {label: None for label in ClientCert if label is not ClientCert.NONE}
    identities.update(missing or {})
    return EndpointEvidence(SPECS[endpoint_id], pods=pods_, unreachable=unreachable, anchors_der=anchors,
                            anchor_source="secret default/x ca.crt", hosts=hosts, hosts_error=hosts_error,
                            client_identities=identities)


def verdict(control: str, ep: EndpointEvidence):
    ev = Evidence(topology=TOPOLOGY, source="test", endpoints={ep.spec.id: ep}, ca_key_available=True)
    return judge(control, ep.spec.id, ev, INTERMEDIATE)


def good_mtls_pod(name="flow-0", chain=(), **changes) -> PodEvidence:
    attempts = dict(
        baseline=shake(chain=chain), plaintext=PLAIN_REFUSED,
        grpc_health=GrpcResult("OK", "", "SERVING", True, True, 0.01),
        client_no_client_cert=refused(alert="certificate required", late=True),
        client_foreign_ca=refused(alert="unknown ca", late=True),
        client_self_signed_clone=refused(alert="bad certificate", late=True),
        client_expired=refused(alert="certificate expired", late=True),
        client_no_clientauth=refused(alert="unsupported certificate", late=True),
        **all_refused())
    attempts.update(changes)
    return pod(name, **attempts)


MTLS_REFUSALS = ("M-NO-CERT-REJECTED", "M-UNTRUSTED-CA-REJECTED", "M-SELF-SIGNED-CLONE-REJECTED",
                 "M-EXPIRED-CERT-REJECTED", "M-NO-CLIENTAUTH-EKU-REJECTED")
REFUSALS = ("T-PLAINTEXT-REFUSED", "T-LEGACY-PROTOCOLS-REFUSED", "T-WEAK-CIPHERS-REFUSED")


# ------------------------------------------------------------------------------------------------ the good case


def test_a_conformant_mtls_pod_passes_every_transport_and_mtls_control():
    ep = endpoint("flow-grpc", good_mtls_pod())
    for control in ("T-MODE-MATCHES-CONFIG", "T-TLS-HANDSHAKE", "T-ALPN-H2", "M-VALID-CERT-ACCEPTED",
                    *REFUSALS, *MTLS_REFUSALS):
        v = verdict(control, ep)
        assert v.status is Status.PASS, (control, v.message)
        assert "flow-0" in v.message


# ---------------------------------------------- a refusal counts only after a completed baseline on that pod


def test_an_mtls_port_serving_plaintext_refuses_nothing():
    """Values say mTLS, the pod speaks plaintext gRPC: every handshake ends 'not TLS'. No refusal control passes."""
    p = pod(baseline=refused(**NOT_TLS), plaintext=PLAIN_ANSWERED,
            **{k: refused(**NOT_TLS) for k in ("client_no_client_cert", "client_foreign_ca", "client_self_signed_clone",
                                               "client_expired", "client_no_clientauth")},
            **{f"legacy_{v}": hello(v, "not-tls") for v in REFUSED_VERSIONS},
            **{f"suites_{v.value.replace('.', '_')}": scan(v.value, unjudged=(0x000A,)) for v in SUITE_SCAN_VERSIONS})
    ep = endpoint("flow-grpc", p)
    for control in (*MTLS_REFUSALS, "T-LEGACY-PROTOCOLS-REFUSED", "T-WEAK-CIPHERS-REFUSED", "M-VALID-CERT-ACCEPTED",
                    "T-ALPN-H2", "C-CHAIN-TRUSTED"):
        assert verdict(control, ep).status is Status.ERROR, control
    for control in ("T-TLS-HANDSHAKE", "T-MODE-MATCHES-CONFIG", "T-PLAINTEXT-REFUSED"):
        assert verdict(control, ep).status is Status.FAIL, control
    assert "observed plaintext" in verdict("T-MODE-MATCHES-CONFIG", ep).message


@pytest.mark.parametrize("control", [*MTLS_REFUSALS, *REFUSALS])
def test_without_a_completed_baseline_a_refusal_is_an_error(control):
    p = good_mtls_pod(baseline=refused(rejection=Rejection.EOF, alert=None, detail="the peer closed the TCP connection"))
    v = verdict(control, endpoint("flow-grpc", p))
    assert v.status is Status.ERROR and "baseline" in v.message and "T-TLS-HANDSHAKE" in v.message


@pytest.mark.parametrize("how", [
    dict(rejection=Rejection.NOT_TLS), dict(rejection=Rejection.VERSION), dict(rejection=Rejection.PROTOCOL),
    dict(rejection=Rejection.NO_SHARED_CIPHER)])
def test_a_failure_that_is_not_a_tls_refusal_is_an_error_even_after_a_baseline(how):
    p = good_mtls_pod(client_foreign_ca=shake("rejected", alert=None, **how))
    assert verdict("M-UNTRUSTED-CA-REJECTED", endpoint("flow-grpc", p)).status is Status.ERROR


@pytest.mark.parametrize("outcome", ["timeout", "unreachable"])
def test_a_timeout_or_unreachable_offer_is_an_error_never_a_refusal(outcome):
    p = good_mtls_pod(client_no_client_cert=shake(outcome), legacy_TLSv1=hello("TLSv1", outcome))
    ep = endpoint("flow-grpc", p)
    assert verdict("M-NO-CERT-REJECTED", ep).status is Status.ERROR
    assert verdict("T-LEGACY-PROTOCOLS-REFUSED", ep).status is Status.ERROR


def test_a_plaintext_close_is_a_refusal_only_from_a_port_that_speaks_tls():
    closed = PlaintextResult(False, None, "closed", False, "closed", "the connection was closed")
    assert verdict("T-PLAINTEXT-REFUSED", endpoint("flow-grpc", good_mtls_pod(plaintext=closed))).status is Status.PASS
    dead = good_mtls_pod(plaintext=closed, baseline=shake("timeout"))
    assert verdict("T-PLAINTEXT-REFUSED", endpoint("flow-grpc", dead)).status is Status.ERROR


def test_plaintext_silence_is_no_refusal_even_from_a_tls_port():
    silent = PlaintextResult(False, None, "no-response", False, "no-response", "nothing came back")
    assert verdict("T-PLAINTEXT-REFUSED", endpoint("flow-grpc", good_mtls_pod(plaintext=silent))).status is Status.ERROR


def test_an_accepted_bad_offer_fails_whatever_the_baseline_did():
    p = good_mtls_pod(baseline=shake("timeout"), client_foreign_ca=shake(), legacy_TLSv1=hello("TLSv1", "server-hello"))
    ep = endpoint("flow-grpc", p)
    assert verdict("M-UNTRUSTED-CA-REJECTED", ep).status is Status.FAIL
    assert verdict("T-LEGACY-PROTOCOLS-REFUSED", ep).status is Status.FAIL


# ------------------------------------------------------------- an offer that could not be made is an error


def test_weak_suites_not_judged_at_one_version_is_an_error():
    p = good_mtls_pod(suites_TLSv1=scan("TLSv1", unjudged=(0x000A, 0x0005)))
    v = verdict("T-WEAK-CIPHERS-REFUSED", endpoint("flow-grpc", p))
    assert v.status is Status.ERROR and "TLSv1: 2 suite(s) not judged" in v.message


def test_a_missing_weak_observation_is_an_error():
    attempts = dict(good_mtls_pod().attempts)
    del attempts[Key.suites("SSLv3")]
    p = PodEvidence("flow-0", 7777, attempts=attempts)
    v = verdict("T-WEAK-CIPHERS-REFUSED", endpoint("flow-grpc", p))
    assert v.status is Status.ERROR and "SSLv3: not offered" in v.message


def test_an_accepted_weak_suite_fails_naming_it_by_iana_name():
    p = good_mtls_pod(suites_TLSv1_2=scan("TLSv1.2", accepted=(0xC012, 0x000A)))
    v = verdict("T-WEAK-CIPHERS-REFUSED", endpoint("flow-grpc", p))
    assert v.status is Status.FAIL
    assert "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA at TLSv1.2" in v.message
    assert "TLS_RSA_WITH_3DES_EDE_CBC_SHA at TLSv1.2" in v.message


@pytest.mark.parametrize("kind", ["timeout", "reset", "not-tls", "unreachable"])
def test_a_legacy_hello_without_a_clear_answer_is_an_error(kind):
    p = good_mtls_pod(legacy_TLSv1=hello("TLSv1", kind))
    assert verdict("T-LEGACY-PROTOCOLS-REFUSED", endpoint("flow-grpc", p)).status is Status.ERROR


# ------------------------------------------------------------------------------------- every replica is judged


def test_a_second_replica_accepting_tls10_fails_the_control_and_is_named():
    ep = endpoint("flow-grpc", good_mtls_pod("flow-0"), good_mtls_pod("flow-1", legacy_TLSv1=hello("TLSv1", "server-hello")))
    v = verdict("T-LEGACY-PROTOCOLS-REFUSED", ep)
    assert v.status is Status.FAIL and "flow-1" in v.message and "flow-0" not in v.message
    assert "1 of 2 pods" in v.message


def test_a_second_replica_without_client_certificates_fails_mtls():
    ep = endpoint("flow-grpc", good_mtls_pod("flow-0"), good_mtls_pod("flow-1", client_no_client_cert=shake()))
    assert verdict("M-NO-CERT-REJECTED", ep).status is Status.FAIL
    assert verdict("T-MODE-MATCHES-CONFIG", ep).status is Status.FAIL


def test_a_replica_that_could_not_be_observed_makes_a_pass_an_error():
    ep = endpoint("flow-grpc", good_mtls_pod("flow-0"), pod("flow-1", unreachable="kubelet reported an error"))
    v = verdict("M-NO-CERT-REJECTED", ep)
    assert v.status is Status.ERROR and "flow-1" in v.message and "kubelet" in v.message


def test_every_replica_passing_says_so():
    ep = endpoint("flow-grpc", good_mtls_pod("flow-0"), good_mtls_pod("flow-1"))
    v = verdict("M-NO-CERT-REJECTED", ep)
    assert v.status is Status.PASS and "all 2 pods" in v.message


def test_stream_trouble_on_a_pod_errors_every_control_there():
    """A kubelet error on the error channel or a dropped stream marks the pod unreachable: nothing passes."""
    troubled = replace(good_mtls_pod(), unreachable="kubelet reported an error on a port-forward stream: refused")
    ep = endpoint("flow-grpc", troubled)
    for control in ("T-TLS-HANDSHAKE", "M-NO-CERT-REJECTED", "T-PLAINTEXT-REFUSED", "C-CHAIN-TRUSTED"):
        assert verdict(control, ep).status is Status.ERROR, control


# -------------------------------------------------------------------------- mode from behaviour, not alerts


def test_an_alert_during_the_handshake_is_no_sign_of_mtls():
    """No certificate for the SNI: the handshake gets an alert. The mode cannot be told: error, not 'mtls'."""
    p = pod("envoy-0", baseline=refused(alert="unrecognized name"), plaintext=PLAIN_REFUSED)
    ep = endpoint("lb", p)
    mode, how = observed_mode(ep, p)
    assert mode is None
    assert verdict("T-MODE-MATCHES-CONFIG", ep).status is Status.ERROR


def test_mtls_is_told_by_refused_without_and_accepted_with_a_certificate():
    p = good_mtls_pod(client_no_client_cert=refused(alert="certificate required", completed=False))
    assert observed_mode(endpoint("flow-grpc", p), p)[0] == "mtls"


def test_a_tls_grpc_port_that_demands_certificates_fails_its_mode():
    p = pod("fn-0", baseline=refused(alert="certificate required"), client_configured=shake(),
            plaintext=PLAIN_REFUSED)
    ep = EndpointEvidence(replace(SPECS["functions-grpc"], mode=Mode.TLS), pods=(p,))
    mode, _ = observed_mode(ep, p)
    assert mode == "mtls"
    assert verdict("T-MODE-MATCHES-CONFIG", ep).status is Status.FAIL


# --------------------------------------------------------------------- our client's failures are not the server's


def test_grpcio_rejecting_the_servers_certificate_is_an_error_not_a_fail():
    rpc = GrpcResult("UNAVAILABLE", "certificate verify failed", None, False, False, 0.01)
    v = verdict("M-VALID-CERT-ACCEPTED", endpoint("flow-grpc", good_mtls_pod(grpc_health=rpc)))
    assert v.status is Status.ERROR and "C-CHAIN-TRUSTED" in v.message


def test_a_health_call_deadline_is_an_error_not_a_fail():
    rpc = GrpcResult("DEADLINE_EXCEEDED", "Deadline Exceeded", None, False, False, 3.0)
    assert verdict("M-VALID-CERT-ACCEPTED", endpoint("flow-grpc", good_mtls_pod(grpc_health=rpc))).status is Status.ERROR


def test_a_configured_certificate_refused_by_tls_fails():
    p = good_mtls_pod(baseline=refused(alert="unknown ca", late=True))
    assert verdict("M-VALID-CERT-ACCEPTED", endpoint("flow-grpc", p)).status is Status.FAIL


# ----------------------------------------------------------------------------------------- knative real names


def test_unknown_knative_hosts_are_an_error_on_sni_coverage(ca):
    p = pod("envoy-0", baseline=refused(alert="unrecognized name"))
    ep = endpoint("knative", p, hosts_error="knative Services could not be listed: forbidden",
                  anchors=(ca.cert.public_bytes(Encoding.DER),))
    v = verdict("N-SNI-COVERAGE", ep)
    assert v.status is Status.ERROR and "forbidden" in v.message
    # The probe name refused by a Contour that routes only known hosts proves nothing about the handshake.
    assert verdict("T-TLS-HANDSHAKE", ep).status is Status.ERROR


def test_no_knative_service_means_no_host_to_cover():
    ep = endpoint("knative", pod("envoy-0", baseline=refused(alert="unrecognized name")))
    assert verdict("N-SNI-COVERAGE", ep).status is Status.SKIP


def test_a_knative_host_refused_by_tls_fails_coverage(ca):
    host = f"greeting.{TOPOLOGY.services_namespace}"
    leaf = ca.issue(dns_names=(host,), key_type="ecdsa").cert_der
    p = pod("envoy-0", baseline=shake(chain=(leaf,), sni=host),
            **{host: shake(chain=(leaf,), sni=host), f"other.{TOPOLOGY.services_namespace}": refused(
                alert="unrecognized name")})
    ep = endpoint("knative", p, hosts=(host, f"other.{TOPOLOGY.services_namespace}"),
                  anchors=(ca.cert.public_bytes(Encoding.DER),))
    v = verdict("N-SNI-COVERAGE", ep)
    assert v.status is Status.FAIL and "other." in v.message


def test_a_knative_host_that_timed_out_is_an_error_not_coverage(ca):
    host = f"greeting.{TOPOLOGY.services_namespace}"
    p = pod("envoy-0", **{host: shake("timeout", sni=host)})
    ep = endpoint("knative", p, hosts=(host,), anchors=(ca.cert.public_bytes(Encoding.DER),))
    assert verdict("N-SNI-COVERAGE", ep).status is Status.ERROR


# -------------------------------------------------------------------------------------------- served certificate


def test_served_certificate_controls_judge_every_pod(ca, flow_leaf):
    other = ca.issue(dns_names=("elsewhere.example",), key_type="ecdsa").cert_der
    ep = endpoint("flow-grpc", good_mtls_pod("flow-0", chain=(flow_leaf,)),
                  good_mtls_pod("flow-1", baseline=shake(chain=(other,))))
    v = verdict("C-SAN-MATCH", ep)
    assert v.status is Status.FAIL and "flow-1" in v.message


def test_no_served_certificate_is_an_error_pointing_at_the_handshake():
    ep = endpoint("flow-grpc", good_mtls_pod(baseline=shake("timeout"), client_no_client_cert=shake("timeout")))
    v = verdict("C-VALIDITY", ep)
    assert v.status is Status.ERROR and "T-TLS-HANDSHAKE" in v.message


# ------------------------------------------------------------------ the checks peers have (issue 12 controls)


def reneg_check(secure: bool | None, kind: str = "server-hello") -> RenegotiationCheck:
    result = hello("TLSv1.2", kind)
    return RenegotiationCheck(secure, HelloAttempt(result, hello_judge(result)), f"renegotiation_info: {secure}")


def compression_check(method: int | None) -> CompressionCheck:
    result = hello("TLSv1.2", "server-hello" if method is not None else "alert")
    return CompressionCheck(None if method is None else method != 0, method,
                            HelloAttempt(result, hello_judge(result)), f"compression {method}")


def fallback_check(verdict: str, fallback: str | None = "TLSv1.2") -> FallbackCheck:
    return FallbackCheck(FallbackVerdict(verdict), TLSVersion.TLSv1_3,
                         TLSVersion(fallback) if fallback else None, (), f"fallback: {verdict}")


def with_checks(**changes) -> PodEvidence:
    defaults = dict(renegotiation=reneg_check(True), compression=compression_check(0),
                    fallback=fallback_check("protected"))
    defaults.update(changes)
    p = good_mtls_pod()
    extra = {RENEGOTIATION: defaults["renegotiation"], COMPRESSION: defaults["compression"],
             FALLBACK: defaults["fallback"]}
    return replace(p, attempts={**p.attempts, **{k: Attempt(k, result=v) for k, v in extra.items()}})


def test_a_suite_without_forward_secrecy_fails_naming_it():
    p = good_mtls_pod(suites_TLSv1_2=scan("TLSv1.2", accepted=(0x009C,)))  # TLS_RSA_WITH_AES_128_GCM_SHA256
    ep = endpoint("flow-grpc", p)
    v = verdict("T-FORWARD-SECRECY", ep)
    assert v.status is Status.FAIL and "TLS_RSA_WITH_AES_128_GCM_SHA256 at TLSv1.2" in v.message
    assert verdict("T-WEAK-CIPHERS-REFUSED", ep).status is Status.PASS  # GCM static RSA is not a weak family


def test_forward_secrecy_passes_only_when_every_version_was_judged():
    assert verdict("T-FORWARD-SECRECY", endpoint("flow-grpc", good_mtls_pod())).status is Status.PASS
    p = good_mtls_pod(suites_TLSv1_1=scan("TLSv1.1", unjudged=(0x009C,)))
    assert verdict("T-FORWARD-SECRECY", endpoint("flow-grpc", p)).status is Status.ERROR


@pytest.mark.parametrize("changes, status", [
    ({}, Status.PASS),
    ({"renegotiation": reneg_check(False)}, Status.FAIL),
    ({"compression": compression_check(1)}, Status.FAIL),
    ({"renegotiation": reneg_check(None, "alert"), "compression": compression_check(None)}, Status.PASS),
    ({"renegotiation": reneg_check(None, "timeout")}, Status.ERROR),
    ({"compression": CompressionCheck(None, None, None, "the budget was spent")}, Status.ERROR),
])
def test_secure_renegotiation_and_compression(changes, status):
    assert verdict("T-SECURE-RENEGOTIATION", endpoint("flow-grpc", with_checks(**changes))).status is status


@pytest.mark.parametrize("check, status", [
    (fallback_check("protected"), Status.PASS),
    (fallback_check("unprotected"), Status.FAIL),
    (fallback_check("undetermined", None), Status.ERROR),
    (fallback_check("not-applicable", None), Status.SKIP),
    # refused without the alert, while the same version without the SCSV was accepted: the SCSV was refused
    (fallback_check("not-applicable", "TLSv1.2"), Status.PASS),
    (fallback_check("not-applicable", "TLSv1.1"), Status.SKIP),
])
def test_downgrade_scsv(check, status):
    assert verdict("T-DOWNGRADE-SCSV", endpoint("flow-grpc", with_checks(fallback=check))).status is status


def test_a_refusal_check_needs_the_baseline_too():
    p = replace(with_checks(fallback=fallback_check("protected")),)
    attempts = dict(p.attempts)
    attempts[BASELINE] = Attempt(BASELINE, result=shake("timeout"))
    attempts[Key.client(ClientCert.NONE)] = Attempt(Key.client(ClientCert.NONE), result=shake("timeout"))
    ep = endpoint("flow-grpc", replace(p, attempts=attempts))
    for control in ("T-DOWNGRADE-SCSV", "T-SECURE-RENEGOTIATION", "T-FORWARD-SECRECY"):
        assert verdict(control, ep).status is Status.ERROR, control


@pytest.mark.parametrize("header, age", [
    ("max-age=31536000; includeSubDomains", 31536000), ('max-age="15552000"', 15552000), ("MAX-AGE=60", 60),
    (None, None), ("includeSubDomains", None), ("max-age=1; max-age=2", None), ("max-age=-1", None),
    ("max-age=", None),
])
def test_hsts_max_age_follows_rfc_6797(header, age):
    assert hsts_max_age(header) == age


def test_hsts_is_judged_against_the_profile():
    def lb_with(header):
        return endpoint("lb", pod("envoy-0", https_get=HttpResult("https://x/", 200, None, "HTTP/1.1", None, 0.1,
                                                                  hsts=header)))
    assert verdict("H-HSTS", lb_with("max-age=31536000")).status is Status.PASS
    assert verdict("H-HSTS", lb_with("max-age=86400")).status is Status.FAIL
    assert verdict("H-HSTS", lb_with(None)).status is Status.FAIL
    no_answer = endpoint("lb", pod("envoy-0", https_get=HttpResult("https://x/", None, None, None, "timed out", 1.0)))
    assert verdict("H-HSTS", no_answer).status is Status.ERROR


def test_the_strict_verifier_refuses_an_empty_subject_that_the_go_like_judgement_accepts():
    issued = pki.self_signed_certificate(SPECS["lb"].expected_names, key_type="ecdsa")
    ep = endpoint("lb", pod("envoy-0", baseline=shake(chain=(issued.cert_der,), sni=SPECS["lb"].server_name)),
                  anchors=(issued.cert_der,))
    assert verdict("C-CHAIN-TRUSTED", ep).status is Status.PASS
    v = verdict("C-X509-STRICT", ep)
    assert v.status is Status.FAIL and "Issuer" in v.message


def test_a_profile_can_switch_the_new_controls_off():
    ev = Evidence(topology=TOPOLOGY, source="test", endpoints={"flow-grpc": endpoint("flow-grpc", with_checks(
        fallback=fallback_check("unprotected")))})
    off = replace(INTERMEDIATE, name="relaxed", controls_off=("T-DOWNGRADE-SCSV",))
    v = judge("T-DOWNGRADE-SCSV", "flow-grpc", ev, off)
    assert v.status is Status.SKIP and "relaxed" in v.message
    assert judge("T-DOWNGRADE-SCSV", "flow-grpc", ev, INTERMEDIATE).status is Status.FAIL
