"""The evidence file, the HTML report and the report writer plugin, from hand-built records and pytester runs."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
from dataclasses import replace
from pathlib import Path

from junitparser.xunit2 import JUnitXml
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from probes.catalog import CONTROLS
from probes.chartlines import chart_line
from probes.controls import Status, Verdict
from probes.hello import Alert, AlertLevel, AnswerKind, ClientHello, HelloResult, ServerAnswer
from probes.evidence import (
    BASELINE, PLAINTEXT, Attempt, ClientCert, EndpointEvidence, Evidence, Key, ObjectRead, PodEvidence, SecretEvidence,
)
from probes.helm import deep_merge
from probes.pki import CertificateAuthority, self_signed_certificate, self_signed_clone
from probes.plaintext import PlaintextResult
from probes.plugin import STATE_KEY, ConformanceState
from probes.profile import INTERMEDIATE
from probes.report import (
    SCHEMA,
    RunInfo,
    TestOutcome,
    evidence_document,
    render_html,
    render_json,
    scrub,
    write_atomic,
)
from probes.reporting import ReportWriter
from probes.tls import ClientIdentity, HandshakeOutcome, HandshakeResult, Rejection, TLSOffer, TLSVersion
from probes.topology import derive_topology

pytest_plugins = ["pytester"]

EVIL_CN = '<script>alert("pwned")</script>'
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
VALUES = {
    "ingress": {"host": "direktiv.example.com", "certificate": "direktiv-lb"},
    "api": {"certificate": "direktiv-cert-api"},
    "flow": {"certificates": {"flow": "direktiv-cert-flow", "mtlsFlow": "on"}},
}


# -- factories --------------------------------------------------------------------------------------------------


class PKI:
    """The certificates of one hand-built run: a CA, served leaves, a client identity and an expired secret."""

    def __init__(self) -> None:
        self.ca = CertificateAuthority.self_signed(key_type="ecdsa")
        evil = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, EVIL_CN)])
        self.lb = self_signed_certificate(["localhost"], subject=evil, key_type="ecdsa")
        self.flow = self.ca.issue(["direktiv-flow-hl.default"], common_name="direktiv-flow-hl",
                                  usages=("digital signature", "key encipherment", "server auth", "client auth"),
                                  key_type="ecdsa")
        self.api = self.ca.issue(["direktiv-api-service.default"], common_name="api", key_type="ecdsa",
                                 not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=2))
        self.client = ClientIdentity(self.flow.cert_pem, self.flow.key, "configured")
        clone = self_signed_clone(self.flow.cert_pem)
        self.clone = ClientIdentity(clone.cert_pem, clone.key, "self-signed-clone")

    def secret_keys(self) -> list[bytes]:
        return [c.key.bytes() for c in (self.lb, self.flow, self.api)] + [self.ca.key.bytes(), self.clone.key.bytes()]


@pytest.fixture(scope="module")
def pki() -> PKI:
    return PKI()


def make_handshake(offer: TLSOffer, chain: tuple[bytes, ...] = (), *, outcome=HandshakeOutcome.ACCEPTED,
                   rejection: Rejection | None = None, alert: str | None = None, detail="ok") -> HandshakeResult:
    accepted = outcome is HandshakeOutcome.ACCEPTED
    return HandshakeResult(
        offer=offer, outcome=outcome, completed=accepted or alert == "certificate required",
        late_rejection=alert == "certificate required", version="TLSv1.3" if accepted else None,
        cipher="TLS_AES_128_GCM_SHA256" if accepted else None, alpn=offer.alpn[0] if accepted and offer.alpn else None,
        peer_chain_der=chain, offered_ciphers=("ECDHE-ECDSA-AES128-GCM-SHA256",), rejection=rejection, alert=alert,
        detail=detail, elapsed=0.0123456)


def make_evidence(pki: PKI, *, incomplete: str | None = None) -> Evidence:
    base = chart_line("v0.4").defaults()
    topology = derive_topology(deep_merge(base, VALUES))
    spec = {s.id: s for s in topology.endpoints}
    lb_offer = TLSOffer("direktiv.example.com", alpn=("http/1.1",))
    grpc_offer = TLSOffer("direktiv-flow-hl.default", alpn=("h2",), client=pki.client)
    lb = EndpointEvidence(
        spec["lb"], anchor_source="secret default/direktiv-lb ca.crt", anchors_der=(pki.lb.cert_der,),
        pods=(PodEvidence("envoy-1", 8443, attempts={
            BASELINE: Attempt(BASELINE, make_handshake(lb_offer, (pki.lb.cert_der,)), elapsed=0.02),
            Key.legacy("TLSv1"): Attempt(Key.legacy("TLSv1"), HelloResult(
                ClientHello(TLSVersion.TLSv1, (0xC013, 0x002F), "direktiv.example.com"),
                ServerAnswer(AnswerKind.ALERT, None, Alert(AlertLevel.FATAL, 70, "protocol version"), None, (), 7,
                             "the server refused with the fatal alert 'protocol version'"),
                "the server refused TLSv1", 0.01)),
            PLAINTEXT: Attempt(PLAINTEXT, PlaintextResult(False, 400, "https-port-400", False, "closed", "refused")),
        }),))
    flow = EndpointEvidence(
        spec["flow-grpc"], anchor_source="secret default/direktiv-cert-flow ca.crt",
        anchors_der=(pki.ca.cert.public_bytes(Encoding.DER),),
        pods=(PodEvidence("direktiv-flow-0", 7777, attempts={
            BASELINE: Attempt(BASELINE, make_handshake(grpc_offer, (pki.flow.cert_der,))),
            Key.client(ClientCert.NONE): Attempt(Key.client(ClientCert.NONE), make_handshake(
                replace(grpc_offer, client=None), outcome=HandshakeOutcome.REJECTED, rejection=Rejection.ALERT,
                alert="certificate required", detail="late rejection")),
            Key.client(ClientCert.FOREIGN_CA): Attempt(Key.client(ClientCert.FOREIGN_CA),
                                                       error="the handshake timed out after 0.5 s"),
            Key.client(ClientCert.SELF_SIGNED_CLONE): Attempt(Key.client(ClientCert.SELF_SIGNED_CLONE), make_handshake(
                replace(grpc_offer, client=pki.clone), outcome=HandshakeOutcome.REJECTED, rejection=Rejection.ALERT,
                alert="unknown ca", detail="late rejection")),
        }),),
        client_identities={ClientCert.CONFIGURED: None, ClientCert.EXPIRED: "no CA key (--direktiv-ca-key-secret)"})
    api = EndpointEvidence(spec["api"], unreachable="service default/direktiv-api-service has no ready pod to forward to")
    secrets = {
        ("default", "direktiv-lb"): SecretEvidence("default", "direktiv-lb", True, type="kubernetes.io/tls",
                                                   keys=("ca.crt", "tls.crt", "tls.key"),
                                                   cert_chain_der=(pki.lb.cert_der,), ca_der=(pki.lb.cert_der,),
                                                   key_matches=True),
        ("default", "direktiv-cert-api"): SecretEvidence("default", "direktiv-cert-api", True, type="kubernetes.io/tls",
                                                         keys=("tls.crt", "tls.key"), cert_chain_der=(pki.api.cert_der,),
                                                         key_matches=False),
        ("default", "direktiv-cert-flow"): SecretEvidence("default", "direktiv-cert-flow", False,
                                                          error="secrets is forbidden"),
    }
    return Evidence(
        topology=topology, source="helm release default/direktiv revision 3", cluster_server="https://127.0.0.1:6443",
        context="sandbox", started_at="2024-05-01T10:00:00Z", finished_at="2024-05-01T10:00:03Z", secrets=secrets,
        objects={"config-contour": ObjectRead("ConfigMap knative-serving-knative/config-contour",
                                              value={"default-tls-secret": "contour-internal/direktiv-cert-knative"})},
        endpoints={"lb": lb, "flow-grpc": flow, "api": api}, notices=("isolates.* was read as functions.*",),
        incomplete=incomplete)


def make_verdicts() -> list[Verdict]:
    return [
        Verdict("C-SAN-MATCH", "lb", Status.FAIL,
                f"expected the certificate served by lb to cover direktiv.example.com; its SANs are [localhost]: "
                f"reissue it with those dnsNames {EVIL_CN}", {"subject": f"CN={EVIL_CN}"}),
        Verdict("C-CHAIN-TRUSTED", "lb", Status.PASS, "the served chain validates", {}),
        Verdict("K-SECRET-PRESENT", "cluster", Status.ERROR, "secret default/direktiv-cert-flow: secrets is forbidden"),
        Verdict("M-UNTRUSTED-CA-REJECTED", "flow-grpc", Status.ERROR, "flow-grpc: 'foreign-ca' could not be observed"),
        Verdict("M-NO-CERT-REJECTED", "flow-grpc", Status.PASS, "rejected with alert certificate required"),
        Verdict("T-ALPN-H2", "flow-grpc", Status.SKIP, "not applicable"),
        Verdict("K-SECRET-KEYPAIR", "cluster", Status.FAIL, "default/direktiv-cert-api: tls.key is not the key of tls.crt"),
    ]


def make_document(pki: PKI, **kwargs) -> dict:
    finished = NOW + dt.timedelta(minutes=10)  # after the PKI fixture minted its certificates
    run = RunInfo(started_at="2024-05-01T09:59:59Z", finished_at=finished.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  tool_version="0.1.0", profile={"name": "intermediate", "min_days_valid": 14}, exit_status=1)
    tests = [TestOutcome("suites/test_load_balancer.py::test_san[lb]", "failed", "C-SAN-MATCH", "lb", "boom")]
    return evidence_document(make_evidence(pki, **kwargs), make_verdicts(), run=run, tests=tests)


# -- assertion helpers ------------------------------------------------------------------------------------------


def assert_no_private_key(text: str, pki: PKI) -> None:
    assert "PRIVATE KEY" not in text
    for key in pki.secret_keys():
        for line in key.decode().splitlines()[1:-1]:
            assert line not in text, "a line of a private key's PEM body leaked"


def matrix_cell(html_text: str, control: str, column: int) -> str:
    """The class of the matrix cell of ``control`` in endpoint column ``column`` (0 = cluster)."""
    row = re.search(rf'<tr><td class="id">{re.escape(control)}</td>(.*?)</tr>', html_text).group(1)
    return re.findall(r'<td class="c ([a-z]+)"', row)[column]


# -- the evidence document --------------------------------------------------------------------------------------


def test_document_carries_schema_and_run_metadata(pki):
    doc = make_document(pki)
    assert doc["schema"] == SCHEMA
    run = doc["run"]
    assert run["cluster_server"] == "https://127.0.0.1:6443" and run["context"] == "sandbox"
    assert run["source"] == "helm release default/direktiv revision 3"
    assert run["tool_version"] == "0.1.0" and run["incomplete"] is False and run["incomplete_reason"] is None
    assert run["notices"] == ["isolates.* was read as functions.*"]
    assert "values" not in doc["expected"]  # the Helm values hold secrets (secrets.key); only the topology goes in
    assert doc["expected"]["release"] == "direktiv"


def test_json_round_trip_is_lossless_and_stable(pki):
    doc = make_document(pki)
    text = render_json(doc)
    assert json.loads(text) == doc
    assert render_json(json.loads(text)) == text
    assert render_json(make_document(pki)) == text  # same records, same bytes
    top_keys = [m for m in re.findall(r'^  "([a-z_]+)":', text, re.MULTILINE)]
    assert top_keys == sorted(top_keys)


def test_attempt_offer_and_outcome_are_recorded(pki):
    doc = make_document(pki)
    attempts = doc["endpoints"]["flow-grpc"]["pods"][0]["attempts"]
    rejected = attempts["client:no-client-cert"]
    assert rejected["record"] == "HandshakeResult" and rejected["observed"] is True
    result = rejected["result"]
    assert result["outcome"] == "rejected" and result["rejection"] == "alert"
    assert result["alert"] == "certificate required" and result["late_rejection"] is True
    assert result["offer"]["server_name"] == "direktiv-flow-hl.default"
    assert result["offer"]["versions"] == ["TLSv1.2", "TLSv1.3"] and result["offer"]["alpn"] == ["h2"]
    assert result["elapsed"] == 0.012
    client = attempts["baseline"]["result"]["offer"]["client"]
    assert client == {"label": "configured", "certificate_sha256": pki.flow.cert.fingerprint(hashes.SHA256()).hex()}
    assert attempts["client:foreign-ca"] == {"observed": False, "error": "the handshake timed out after 0.5 s",
                                             "elapsed": 0.0, "record": None, "result": None}
    plaintext = doc["endpoints"]["lb"]["pods"][0]["attempts"]["plaintext"]
    assert plaintext["record"] == "PlaintextResult" and plaintext["result"]["http1_refusal"] == "https-port-400"


def test_served_chain_is_pem_with_facts_and_every_certificate_is_tabled(pki):
    doc = make_document(pki)
    (leaf,) = doc["endpoints"]["lb"]["pods"][0]["served_chain"]
    assert leaf["pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert leaf["facts"]["common_name"] == EVIL_CN and leaf["facts"]["dns_names"] == ["localhost"]
    table = doc["certificates"]
    assert table[leaf["sha256"]]["seen_in"] == sorted(
        ["served by lb pod envoy-1", "secret default/direktiv-lb ca.crt",
         "secret default/direktiv-lb tls.crt", "trust anchor of lb", "lb attempt baseline on pod envoy-1"])
    secret = doc["secrets"]["default/direktiv-cert-api"]
    assert secret["key_matches"] is False and secret["cert_chain_sha256"][0] in table
    assert doc["secrets"]["default/direktiv-cert-flow"]["error"] == "secrets is forbidden"
    assert doc["endpoints"]["api"]["unreachable"].startswith("service default/direktiv-api-service")


def test_verdicts_are_keyed_by_control_then_endpoint_with_their_test(pki):
    doc = make_document(pki)
    san = doc["verdicts"]["C-SAN-MATCH"]["lb"]
    assert san["status"] == "fail" and "reissue it" in san["message"]
    assert san["test"] == "suites/test_load_balancer.py::test_san[lb]" and san["outcome"] == "failed"
    assert doc["verdicts"]["K-SECRET-PRESENT"]["cluster"]["status"] == "error"
    assert doc["verdicts"]["C-CHAIN-TRUSTED"]["lb"]["test"] is None
    assert doc["summary"] == {"lb": {"passed": 0, "failed": 1, "skipped": 0, "error": 0}}


def test_no_private_key_anywhere_even_with_a_client_identity_in_an_offer(pki):
    doc = make_document(pki)
    assert_no_private_key(render_json(doc), pki)
    assert_no_private_key(render_html(doc), pki)


def test_free_text_is_scrubbed_of_private_keys(pki):
    key = pki.flow.key.bytes().decode()
    tests = [TestOutcome("t::x", "failed", message=f"locals: key = {key!r}\n{key}\nand a cut one {key[:60]}")]
    doc = evidence_document(None, (), tests=tests)
    assert_no_private_key(render_json(doc), pki)
    assert scrub("-----BEGIN EC PRIVATE KEY-----\nAAAA") == "[redacted]"


def test_a_key_inside_a_cluster_object_is_redacted_or_dropped(pki):
    evidence = make_evidence(pki)
    leaky = ObjectRead("ConfigMap default/oops", value={"tls.key": pki.flow.key.bytes().decode(),
                                                         "raw": pki.api.key.bytes()})
    judged = ObjectRead("ConfigMap knative-serving-knative/config-contour",
                        value={"default-tls-secret": pki.flow.key.bytes().decode(), "tls.key": pki.api.key.bytes()})
    evidence = replace(evidence, objects={**evidence.objects, "oops": leaky, "config-contour": judged})
    doc = evidence_document(evidence, make_verdicts())
    assert doc["objects"]["oops"]["value"] is None  # no judgement reads it: nothing of it is kept
    assert doc["objects"]["config-contour"]["value"] == {"default-tls-secret": "[redacted]\n"}  # kept, and scrubbed
    assert_no_private_key(render_json(doc) + render_html(doc), pki)


def test_without_evidence_the_document_is_marked_incomplete(pki):
    doc = evidence_document(None, (), run=RunInfo(incomplete="evidence gathering failed: no such context"))
    assert doc["run"]["incomplete"] is True
    assert doc["run"]["incomplete_reason"] == "evidence gathering failed: no such context"
    assert doc["endpoints"] == {} and doc["certificates"] == {}
    html_text = render_html(doc)
    assert "Incomplete run: evidence gathering failed: no such context" in html_text


def test_an_incomplete_evidence_reason_is_carried(pki):
    doc = make_document(pki, incomplete="the evidence budget of 3.0s ran out")
    assert doc["run"]["incomplete"] is True and "budget" in doc["run"]["incomplete_reason"]


# -- the HTML report --------------------------------------------------------------------------------------------


def test_html_shows_failures_first_then_errors_then_the_matrix(pki):
    html_text = render_html(make_document(pki))
    failures, errors, matrix = (html_text.index(f'<section id="{s}">') for s in ("fails", "errors", "matrix"))
    assert failures < errors < matrix
    fail_section = html_text[failures:errors]
    # catalog order: the cluster control first, then the endpoint one; each with its message (the fix)
    assert fail_section.index("K-SECRET-KEYPAIR") < fail_section.index("C-SAN-MATCH")
    assert "reissue it with those dnsNames" in fail_section
    assert "Failures (2)" in fail_section and "Errors (2)" in html_text[errors:matrix]


def test_the_error_category_has_one_name_everywhere(pki):
    html_text = render_html(make_document(pki))
    for other_name in ("not observed", "error (not observed)", "could not observe ("):
        assert other_name not in html_text
    assert '<b>2</b>error</div>' in html_text  # the count box
    assert '<span style="--c:var(--error)">error: ' in html_text  # the matrix legend


def test_html_matrix_colours_cells_by_verdict(pki):
    html_text = render_html(make_document(pki))
    lb, flow = 1, 5  # columns: cluster, lb, api, ui, ingress-grpc, flow-grpc, functions-grpc, knative
    assert matrix_cell(html_text, "C-SAN-MATCH", lb) == "fail"
    assert matrix_cell(html_text, "C-CHAIN-TRUSTED", lb) == "pass"
    assert matrix_cell(html_text, "M-UNTRUSTED-CA-REJECTED", flow) == "error"
    assert matrix_cell(html_text, "T-ALPN-H2", flow) == "skip"
    assert matrix_cell(html_text, "T-ALPN-H2", lb) == "na"  # not judged on lb: '—'
    assert matrix_cell(html_text, "C-SAN-MATCH", 0) == "na"
    assert matrix_cell(html_text, "C-EKU", lb) == "none"  # applicable, but no verdict: "not run"


def test_html_escapes_attacker_controlled_subjects(pki):
    html_text = render_html(make_document(pki))
    assert "<script" not in html_text
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in html_text


def test_html_is_self_contained(pki):
    html_text = render_html(make_document(pki))
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", html_text)
    assert not re.search(r"\b(src|href)\s*=", html_text)
    assert "url(" not in html_text and "@import" not in html_text
    assert "Content-Security-Policy" in html_text and "default-src 'none'" in html_text


def test_html_lists_each_endpoint_chain_and_a_timeline_of_served_and_stored_certificates(pki):
    html_text = render_html(make_document(pki))
    chains = html_text[html_text.index('<section id="endpoints">'):html_text.index('<section id="timeline">')]
    assert "localhost" in chains and "direktiv-flow-hl.default" in chains and "has no ready pod" in chains
    timeline = html_text[html_text.index('<section id="timeline">'):html_text.index('<section id="secrets">')]
    assert "<svg" in timeline and 'class="now"' in timeline and "now: " in timeline
    table = make_document(pki)["certificates"].values()
    minted = [e for e in table if e["seen_in"] == ["client certificate 'self-signed-clone'"]]
    assert len(minted) == 1  # the probes' own client certificates stay out of the timeline
    assert timeline.count('<rect class="bar"') == len(table) - 1
    assert "secret default/direktiv-cert-api" in timeline  # stored only, and expired:
    api_row = re.search(r"<tr><td class=\"who\"><b>api</b>.*?</tr>", timeline, re.DOTALL).group(0)
    assert 'fill="#cf222e"' in api_row and "expired" in api_row


# -- atomic writes ----------------------------------------------------------------------------------------------


def test_write_atomic_replaces_the_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "reports" / "evidence.json"
    write_atomic(target, "old")
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert os.listdir(target.parent) == ["evidence.json"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_write_atomic_failure_keeps_the_old_file_and_cleans_up(tmp_path):
    (tmp_path / "report.html").mkdir()  # os.replace onto a directory fails
    with pytest.raises(OSError):
        write_atomic(tmp_path / "report.html", "new")
    assert os.listdir(tmp_path) == ["report.html"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- the plugin, through pytester -------------------------------------------------------------------------------

SUITE = """
import pytest
from probes.suite import check

ENDPOINTS = ("lb", "api", "flow-grpc")

@pytest.mark.control("C-SAN-MATCH")
def test_certificate_names_the_endpoint(endpoint, verdict):
    check(verdict)

@pytest.mark.control("T-ALPN-H2")
def test_alpn_negotiates_h2(endpoint, verdict):
    check(verdict)

@pytest.mark.control("K-SECRET-PRESENT")
def test_secrets_are_present(verdict):
    check(verdict)
"""


class Setup:
    """A pytester plugin standing in for a conformance run: the state, and the ReportWriter registered the way
    probes.plugin registers it."""

    def __init__(self, evidence=None, failure=None) -> None:
        self.evidence, self.failure = evidence, failure

    def pytest_configure(self, config):
        config.stash[STATE_KEY] = ConformanceState(config, evidence=self.evidence, profile=INTERMEDIATE,
                                                   failure=self.failure, gathered=True)
        config.pluginmanager.register(ReportWriter(config), "direktiv-tls-reports")


def read_reports(pytester):
    reports = pytester.path / "reports"
    doc = json.loads((reports / "evidence.json").read_text())
    html_text = (reports / "report.html").read_text()
    assert sorted(os.listdir(reports)) == ["evidence.json", "junit.xml", "report.html", "results.sarif"]  # no temp files
    return doc, html_text


def test_plugin_writes_junit_evidence_and_html_with_a_summary(pytester, pki):
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("--junitxml=reports/junit.xml", plugins=[Setup(make_evidence(pki))])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*- Direktiv TLS conformance by endpoint -*",
        "cluster * passed * failed * skipped * error",
        "lb * passed * failed * skipped * error",
        "api *",
        "flow-grpc *",
        "junit     reports/junit.xml",
        "evidence  reports/evidence.json",
        "html      reports/report.html",
        "sarif     reports/results.sarif",
    ])
    xml = JUnitXml.fromfile(str(pytester.path / "reports" / "junit.xml"))
    cases = {case.name: {p.name: p.value for p in case.properties()} for suite in xml for case in suite}
    assert cases["test_certificate_names_the_endpoint[lb]"]["control"] == "C-SAN-MATCH"
    assert cases["test_certificate_names_the_endpoint[lb]"]["endpoint"] == "lb"
    assert cases["test_alpn_negotiates_h2[flow-grpc]"] == {**cases["test_alpn_negotiates_h2[flow-grpc]"],
                                                         "control": "T-ALPN-H2", "endpoint": "flow-grpc"}
    assert cases["test_secrets_are_present"]["endpoint"] == "cluster"

    doc, html_text = read_reports(pytester)
    assert doc["run"]["incomplete"] is False and doc["run"]["exit_status"] == 1
    san = doc["verdicts"]["C-SAN-MATCH"]["lb"]
    assert san["status"] == "fail" and san["test"] == "test_suite.py::test_certificate_names_the_endpoint[lb]"
    assert san["outcome"] == "failed"
    # controls no test judged are judged from the same evidence, so every control is in the file
    assert doc["verdicts"]["C-EKU"]["lb"]["test"] is None
    assert sum(len(v) for v in doc["verdicts"].values()) == sum(len(c.endpoints) for c in CONTROLS)
    assert doc["summary"]["lb"]["failed"] >= 1
    assert_no_private_key((pytester.path / "reports" / "junit.xml").read_text() + json.dumps(doc) + html_text
                          + result.stdout.str(), pki)


def test_failed_gathering_still_writes_reports_marked_incomplete(pytester):
    pytester.makepyfile(test_suite=SUITE)
    failure = "could not learn the expected configuration: no deployed Helm release 'direktiv' in namespace default"
    result = pytester.runpytest("--junitxml=reports/junit.xml", plugins=[Setup(failure=failure)])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["INCOMPLETE: evidence gathering failed: could not learn*"])
    doc, html_text = read_reports(pytester)
    assert doc["run"]["incomplete"] is True and doc["run"]["incomplete_reason"] == f"evidence gathering failed: {failure}"
    assert doc["summary"]["flow-grpc"]["error"] == 2 and doc["verdicts"] == {}
    assert "Incomplete run: evidence gathering failed" in html_text
    assert re.search(r'<td class="c error" title="could not observe: could not learn', html_text)


def test_interrupted_run_still_writes_what_it_had(pytester, pki):
    pytester.makepyfile(test_suite=SUITE + """
def test_zz_operator_presses_ctrl_c():
    raise KeyboardInterrupt
""")
    # -p no:randomly: the Ctrl-C test must run last, after the others (pytest-randomly, where installed, shuffles)
    result = pytester.runpytest("--junitxml=reports/junit.xml", "-p", "no:randomly",
                                plugins=[Setup(make_evidence(pki))], no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["INCOMPLETE: interrupted (KeyboardInterrupt)*", "evidence  reports/evidence.json"])
    doc, _ = read_reports(pytester)
    assert doc["run"]["incomplete"] is True and doc["run"]["incomplete_reason"].startswith("interrupted")
    assert doc["tests"]["test_suite.py::test_certificate_names_the_endpoint[lb]"]["outcome"] == "failed"
    assert doc["endpoints"]["lb"]["pods"][0]["served_chain"]


# -- end to end: the real suite against the sandbox -------------------------------------------------------------

SUITES = Path(__file__).resolve().parents[1] / "suites"


def base64_forms(text: bytes) -> list[str]:
    """``text`` as it appears inside base64 at each of the three alignments (a Secret's data is base64)."""
    forms = []
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + text).decode()
        forms.append(encoded[-(-pad * 4 // 3) or None:][: len(text) * 4 // 3 - 3])
    return forms


@pytest.mark.parametrize("scenario", ["docs-verbatim", "secret-key-mismatch"])
def test_sandbox_run_reports_hold_no_private_key_and_put_failures_first(pytester, scenario):
    if not SUITES.is_dir():
        pytest.skip("the suites/ directory is not beside tests/")
    reports = pytester.path / "out"
    # the plugin writes evidence.json and report.html beside the JUnit file
    result = pytester.runpytest(str(SUITES), "--direktiv-sandbox", scenario, f"--junitxml={reports / 'junit.xml'}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*Direktiv TLS conformance by endpoint*", "cluster *", "flow-grpc *"])
    texts = {name: (reports / name).read_text() for name in ("junit.xml", "evidence.json", "report.html")}
    texts["stdout"] = result.stdout.str()
    for name, text in texts.items():
        assert "PRIVATE KEY" not in text, name
        for form in base64_forms(b"PRIVATE KEY-----"):
            assert form not in text, f"{name} holds a base64 private key header ({form})"
    doc = json.loads(texts["evidence.json"])
    assert doc["run"]["incomplete"] is False and doc["run"]["context"] == "sandbox"
    html_text = texts["report.html"]
    first_fail = html_text.index('<div class="finding fail">')
    assert first_fail < html_text.index('<section id="matrix">')
    assert any(v["status"] == "fail" for per in doc["verdicts"].values() for v in per.values())
