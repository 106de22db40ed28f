"""Trust anchors (probes.trust): --direktiv-ca-file per endpoint or for all, the secret's ca.crt, and the system trust store
for a secret an ACME issuer wrote without ca.crt; unknown issuers are errors, never passes."""

from __future__ import annotations

import certifi
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from probes import pki
from probes import x509 as facts
from probes.catalog import CONTROLS
from probes.controls import Status, judge
from probes.errors import UsageError
from probes.evidence import ObjectRead
from probes.profile import INTERMEDIATE
from probes.report import evidence_document
from probes.session import RunOptions, gather_evidence
from probes.topology import SecretRef, derive_topology
from probes.trust import (
    Absence,
    AcmeIssuance,
    CaFiles,
    acme_issuance,
    ca_crt_absence,
    endpoint_anchors,
    load_ca_files,
    parse_ca_file_option,
    system_trust_store,
)
from sandbox.cluster import start_sandbox

STEP_TIMEOUT = 5.0
LB_SECRET = SecretRef("default", "direktiv-lb")
TOPOLOGY = derive_topology({"ingress": {"certificate": "direktiv-lb", "host": "myhost.mydomain"},
                            "flow": {"certificates": {"flow": "direktiv-cert-flow"}}})
LB = TOPOLOGY.endpoint("lb")
FLOW = TOPOLOGY.endpoint("flow-grpc")
ACME_SPEC = {"acme": {"server": "https://acme-v02.api.letsencrypt.org/directory",
                      "privateKeySecretRef": {"name": "le-account"}, "solvers": [{"http01": {}}]}}


@pytest.fixture(scope="module")
def test_ca():
    return pki.CertificateAuthority.self_signed("not-in-any-store", key_type="ecdsa")


@pytest.fixture
def pem_file(tmp_path, test_ca):
    path = tmp_path / "root.pem"
    path.write_bytes(test_ca.cert_pem)
    return path


def read(what: str, value=None, *, error: str | None = None) -> ObjectRead:
    return ObjectRead(what, value=value, error=error, absent_reason="CRD absent" if value is None else None)


def certificate(name: str, secret: str, issuer: str, kind: str | None = "ClusterIssuer", namespace="default",
                group: str | None = None) -> dict:
    ref = {"name": issuer, **({"kind": kind} if kind else {}), **({"group": group} if group else {})}
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"secretName": secret, "issuerRef": ref}}


def issuer(name: str, spec: dict, namespace: str | None = None) -> dict:
    return {"metadata": {"name": name, **({"namespace": namespace} if namespace else {})}, "spec": spec}


def issuance(certs, issuers=(), cluster_issuers=(), **errors) -> AcmeIssuance:
    return acme_issuance(
        LB_SECRET,
        certificates=read("cert-manager Certificates", list(certs), error=errors.get("certificates")),
        issuers=read("cert-manager Issuers", list(issuers), error=errors.get("issuers")),
        cluster_issuers=read("cert-manager ClusterIssuers", list(cluster_issuers), error=errors.get("clusterissuers")))


# ------------------------------------------------------------------------------------------------------ --direktiv-ca-file


def test_ca_file_option_is_a_path_or_endpoint_equals_path(tmp_path):
    assert parse_ca_file_option("roots.pem") == (None, "roots.pem")
    assert parse_ca_file_option("lb=le/root.pem") == ("lb", "le/root.pem")
    odd = tmp_path / "a=b.pem"
    odd.write_text("x")
    assert parse_ca_file_option(str(odd)) == (None, str(odd))  # an existing file, '=' and all


@pytest.mark.parametrize("text, words", [("nope=x.pem", "'nope' in 'nope=x.pem' is no endpoint ID"),
                                         ("lb=", "expected a PEM file after 'lb='"), ("", "empty")])
def test_ca_file_option_rejects_what_it_cannot_use(text, words):
    with pytest.raises(ValueError, match=words):
        parse_ca_file_option(text)


def test_ca_files_load_and_the_endpoints_own_wins(tmp_path, pem_file, test_ca):
    other = pki.CertificateAuthority.self_signed("for-all", key_type="ecdsa")
    for_all = tmp_path / "all.pem"
    for_all.write_bytes(other.cert_pem)
    files = load_ca_files([(None, str(for_all)), ("lb", str(pem_file))])
    assert files.for_endpoint("lb").option == f"--direktiv-ca-file lb={pem_file}"
    assert files.for_endpoint("lb").anchors_der == (test_ca.cert.public_bytes(Encoding.DER),)
    assert files.for_endpoint("api").option == f"--direktiv-ca-file {for_all}"
    assert CaFiles().for_endpoint("lb") is None


@pytest.mark.parametrize("make, words", [
    (lambda tmp, pem: [("lb", str(tmp / "missing.pem"))], "--direktiv-ca-file lb="),
    (lambda tmp, pem: [("lb", str(pem)), ("lb", str(pem))], "already gives the trust anchors for endpoint lb"),
    (lambda tmp, pem: [(None, str(pem)), (None, str(pem))], "for every endpoint"),
])
def test_ca_files_that_cannot_be_used_are_one_sentence(tmp_path, pem_file, make, words):
    with pytest.raises(UsageError, match=words) as caught:
        load_ca_files(make(tmp_path, pem_file))
    assert "\n" not in str(caught.value)


def test_a_ca_file_without_a_certificate_names_the_option(tmp_path):
    path = tmp_path / "key.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(UsageError, match=r"--direktiv-ca-file api=.*holds no PEM certificate; pass a PEM file") as caught:
        load_ca_files([("api", str(path))])
    assert "AAAA" not in str(caught.value)


# ---------------------------------------------------------------------------------------------------------- ACME


def test_a_clusterissuer_with_acme_is_acme():
    found = issuance([certificate("direktiv-lb", "direktiv-lb", "letsencrypt-prod")],
                     cluster_issuers=[issuer("letsencrypt-prod", ACME_SPEC)])
    assert found.acme is True and found.issuer == "letsencrypt-prod" and found.issuer_kind == "ClusterIssuer"
    assert found.certificate == "default/direktiv-lb"


def test_a_namespaced_issuer_is_looked_up_in_the_secrets_namespace():
    cert = certificate("lb", "direktiv-lb", "le", kind=None)  # kind defaults to Issuer
    assert issuance([cert], issuers=[issuer("le", ACME_SPEC, "default")]).acme is True
    elsewhere = issuance([cert], issuers=[issuer("le", ACME_SPEC, "other")])
    assert elsewhere.acme is None and "Issuer default/le, which does not exist" in elsewhere.reason


def test_a_ca_issuer_is_not_acme():
    found = issuance([certificate("lb", "direktiv-lb", "direktiv-ca")],
                     cluster_issuers=[issuer("direktiv-ca", {"ca": {"secretName": "direktiv-ca"}})])
    assert found.acme is False and "not an ACME issuer" in found.reason


@pytest.mark.parametrize("errors, words", [
    ({"clusterissuers": "forbidden by RBAC"}, "cert-manager ClusterIssuers could not be read: forbidden by RBAC"),
    ({"certificates": "timed out"}, "the Certificate that writes it is unknown"),
])
def test_a_failed_read_is_unknown_never_acme(errors, words):
    found = issuance([certificate("lb", "direktiv-lb", "letsencrypt-prod")],
                     cluster_issuers=[issuer("letsencrypt-prod", ACME_SPEC)], **errors)
    assert found.acme is None and words in found.reason


def test_a_missing_issuer_is_unknown():
    found = issuance([certificate("lb", "direktiv-lb", "letsencrypt-prod")])
    assert found.acme is None and "ClusterIssuer letsencrypt-prod, which does not exist" in found.reason


def test_no_certificate_or_no_cert_manager_or_an_external_issuer_is_not_acme():
    assert issuance([]).reason == "no cert-manager Certificate writes it"
    assert issuance([certificate("lb", "other-secret", "letsencrypt-prod")]).acme is False
    absent = acme_issuance(LB_SECRET, certificates=read("Certificates"), issuers=None, cluster_issuers=None)
    assert absent.acme is False and absent.reason == "cert-manager is not installed"
    external = issuance([certificate("lb", "direktiv-lb", "step", kind="StepClusterIssuer",
                                     group="certmanager.step.sm")])
    assert external.acme is False and "external issuer" in external.reason


def test_two_writers_must_both_be_acme():
    certs = [certificate("a", "direktiv-lb", "letsencrypt-prod"), certificate("b", "direktiv-lb", "direktiv-ca")]
    found = issuance(certs, cluster_issuers=[issuer("letsencrypt-prod", ACME_SPEC),
                                             issuer("direktiv-ca", {"ca": {"secretName": "x"}})])
    assert found.acme is False and "Certificate default/b" in found.reason


def test_ca_crt_absence_is_fine_only_where_nothing_reads_it():
    acme = AcmeIssuance(LB_SECRET, True, issuer="letsencrypt-prod", certificate="default/direktiv-lb",
                        reason="Certificate default/direktiv-lb is issued by the ACME ClusterIssuer letsencrypt-prod")
    fine = ca_crt_absence(acme, ["ingress.certificate"])
    assert fine.status is Absence.FINE and "its clients trust the system roots" in fine.reason
    read = ca_crt_absence(acme, ["ingress.certificate", "flow.certificates.flow"])
    assert read.status is Absence.NEEDED and "its use by flow.certificates.flow reads ca.crt" in read.reason
    plain = ca_crt_absence(AcmeIssuance(LB_SECRET, False, reason="no cert-manager Certificate writes it"),
                           ["ingress.certificate"])
    assert plain.status is Absence.NEEDED and "kubectl create secret tls writes no ca.crt" in plain.reason
    unknown = ca_crt_absence(AcmeIssuance(LB_SECRET, None, reason="X could not be read"), ["ingress.certificate"])
    assert unknown.status is Absence.UNKNOWN and unknown.reason.endswith("could not be told: X could not be read")


# ------------------------------------------------------------------------------------------------------ anchors


def _acme_lb() -> AcmeIssuance:
    return AcmeIssuance(LB_SECRET, True, issuer="letsencrypt-prod", issuer_kind="ClusterIssuer",
                        reason="Certificate default/direktiv-lb is issued by the ACME ClusterIssuer letsencrypt-prod")


def _never() -> AcmeIssuance:
    raise AssertionError("the issuer was looked up although it did not matter")


def test_ca_files_come_first_then_ca_crt(pem_file, test_ca):
    files = load_ca_files([("lb", str(pem_file))])
    chosen = endpoint_anchors(LB, secret_data={"ca.crt": b"unused"}, ca_files=files, issuance=_never)
    assert chosen.source == f"--direktiv-ca-file lb={pem_file}" and chosen.anchors_der
    own = endpoint_anchors(LB, secret_data={"ca.crt": test_ca.cert_pem}, issuance=_never)
    assert own.source == "secret default/direktiv-lb ca.crt"
    assert own.anchors_der == (test_ca.cert.public_bytes(Encoding.DER),) and own.missing is None


def test_without_ca_file_an_acme_secret_is_judged_against_the_system_store():
    chosen = endpoint_anchors(LB, secret_data={"tls.crt": b"", "tls.key": b""}, issuance=_acme_lb)
    assert chosen.source == "system trust store (ACME issuer letsencrypt-prod)"
    assert chosen.store == certifi.where() and chosen.missing is None
    assert chosen.anchors_der == system_trust_store().anchors_der and len(chosen.anchors_der) > 50


def test_the_system_store_trusts_its_roots_and_not_a_test_ca(test_ca):
    anchors = endpoint_anchors(LB, secret_data={}, issuance=_acme_lb).anchors_der
    roots = [facts.load_certificate(d, source="store") for d in anchors]
    isrg = next(c for c in roots if "ISRG Root X1" in c.subject.rfc4514_string())
    assert facts.verify_chain([isrg], roots).trusted  # Let's Encrypt's root is in the store
    leaf = test_ca.issue(["myhost.mydomain"])
    result = facts.verify_chain([leaf.cert_der], roots)
    assert not result.trusted and "not-in-any-store" in result.reason


def test_no_anchor_says_why():
    unknown = AcmeIssuance(LB_SECRET, None, reason="cert-manager ClusterIssuers could not be read: forbidden")
    none = endpoint_anchors(LB, secret_data={}, issuance=lambda: unknown)
    assert not none.anchors_der and "could not be told: cert-manager ClusterIssuers could not be read" in none.missing
    grpc = endpoint_anchors(FLOW, secret_data={}, issuance=lambda: replace_secret(_acme_lb(), FLOW.secret))
    assert not grpc.anchors_der and "flow-grpc's clients verify the served chain against its ca.crt" in grpc.missing
    broken = endpoint_anchors(LB, secret_data={"ca.crt": b"junk"}, issuance=_never)
    assert "secret default/direktiv-lb ca.crt holds no PEM certificate" in broken.missing
    unread = endpoint_anchors(LB, secret_data=None, issuance=_never)
    assert unread.missing == "secret default/direktiv-lb could not be read"


def replace_secret(found: AcmeIssuance, ref: SecretRef) -> AcmeIssuance:
    from dataclasses import replace

    return replace(found, secret=ref)


# ------------------------------------------------------------------------------------------- the lb-acme sandbox


@pytest.fixture(scope="module")
def lb_acme():
    with start_sandbox("lb-acme") as running:
        yield running


def _gather(running, **options):
    return gather_evidence(RunOptions(kubeconfig=str(running.kubeconfig_path), timeout=STEP_TIMEOUT, **options),
                           INTERMEDIATE)


def _ca_file_of(running) -> tuple[str, str]:
    args = running.suite_args
    return parse_ca_file_option(args[args.index("--direktiv-ca-file") + 1])


def test_lb_acme_with_its_root_for_the_lb_passes(lb_acme):
    evidence = _gather(lb_acme, ca_files=(_ca_file_of(lb_acme),))
    lb = evidence.endpoints["lb"]
    assert lb.anchor_source.startswith("--direktiv-ca-file lb=")
    chain = judge("C-CHAIN-TRUSTED", "lb", evidence, INTERMEDIATE)
    assert chain.status is Status.PASS and "sandbox ACME stand-in intermediate" in chain.message
    present = judge("K-SECRET-PRESENT", "cluster", evidence, INTERMEDIATE)
    assert present.status is Status.PASS
    assert "secret default/direktiv-lb has no ca.crt, as ACME CAs such as Let's Encrypt give none" in present.message
    assert "ACME ClusterIssuer letsencrypt-prod" in present.message


def test_lb_acme_without_ca_file_uses_the_system_store_and_fails_honestly(lb_acme):
    evidence = _gather(lb_acme)
    lb = evidence.endpoints["lb"]
    assert lb.anchor_source == "system trust store (ACME issuer letsencrypt-prod)"
    assert lb.anchor_store == certifi.where()
    chain = judge("C-CHAIN-TRUSTED", "lb", evidence, INTERMEDIATE)
    assert chain.status is Status.FAIL  # the stand-in root is in no system store
    assert "to validate to system trust store (ACME issuer letsencrypt-prod)" in chain.message
    assert "sandbox ACME stand-in root" in chain.message
    verdicts = {(c.id, e): judge(c.id, e, evidence, INTERMEDIATE) for c in CONTROLS for e in c.endpoints}
    assert {k for k, v in verdicts.items() if v.status in (Status.FAIL, Status.ERROR)} == {("C-CHAIN-TRUSTED", "lb"), ("C-X509-STRICT", "lb")}
    document = evidence_document(evidence, verdicts.values())
    assert document["endpoints"]["lb"]["anchor_store"] == certifi.where()
    assert document["endpoints"]["lb"]["anchors_sha256"] == []  # the store is named, not listed


def test_an_unreadable_issuer_is_an_error_on_the_controls_that_need_it(lb_acme):
    lb_acme.store.forbid("clusterissuers.cert-manager.io")
    try:
        evidence = _gather(lb_acme)
        with_file = _gather(lb_acme, ca_files=(_ca_file_of(lb_acme),))
    finally:
        lb_acme.store.clear_faults()
    present = judge("K-SECRET-PRESENT", "cluster", evidence, INTERMEDIATE)
    assert present.status is Status.ERROR
    assert "whether an ACME issuer writes it could not be told" in present.message
    assert "forbidden" in present.message
    chain = judge("C-CHAIN-TRUSTED", "lb", evidence, INTERMEDIATE)
    assert chain.status is Status.ERROR and "no trust anchor for lb" in chain.message
    assert "--direktiv-ca-file lb=PATH" in chain.message
    # With the lb's anchor given, the issuer does not matter to the chain (K-SECRET-PRESENT still cannot tell).
    assert judge("C-CHAIN-TRUSTED", "lb", with_file, INTERMEDIATE).status is Status.PASS
    assert judge("K-SECRET-PRESENT", "cluster", with_file, INTERMEDIATE).status is Status.ERROR


def test_a_conformant_lb_secret_without_ca_crt_and_no_acme_issuer_still_fails(lb_acme):
    lb_acme.store.remove("clusterissuers", "", "letsencrypt-prod", group="cert-manager.io")
    lb_acme.store.add({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                       "metadata": {"name": "letsencrypt-prod"}, "spec": {"ca": {"secretName": "x"}}})
    try:
        evidence = _gather(lb_acme)
    finally:
        lb_acme.store.add({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                           "metadata": {"name": "letsencrypt-prod"}, "spec": ACME_SPEC})
    present = judge("K-SECRET-PRESENT", "cluster", evidence, INTERMEDIATE)
    assert present.status is Status.FAIL
    assert "secret default/direktiv-lb lacks ca.crt" in present.message and "not an ACME issuer" in present.message
    chain = judge("C-CHAIN-TRUSTED", "lb", evidence, INTERMEDIATE)
    assert chain.status is Status.ERROR and "holds no ca.crt" in chain.message
