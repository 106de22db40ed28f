"""The sandbox: a started scenario is a cluster the real kubernetes client reads and port-forwards into, and each
scenario's misconfiguration is really there (shown with the probes, against the real servers)."""

from __future__ import annotations

import base64
import datetime as dt
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from probes import pki
from probes import x509 as facts
from probes.errors import ProbeError
from probes.forward import PortForwarder
from probes.cipher_suites import suites_in_family
from probes.grpc_health import health_check
from probes.hello import FallbackVerdict, accepted_suites, check_fallback_scsv, check_renegotiation_info
from probes.https import http_get, https_get
from probes.kube import Cluster
from probes.plaintext import probe_plaintext
from probes.timeouts import Timeouts
from probes.tls import (ClientIdentity, HandshakeOutcome, TLSOffer, TLSVersion, WeakFamily, handshake,
                        weak_cipher_offer)
from sandbox.cluster import RunningSandbox, start_sandbox
from sandbox.scenarios import SCENARIOS

FAST = Timeouts(connect=2.0, forward_open=3.0, handshake=2.0, read=1.0, rpc=3.0, api=5.0)
REPO = Path(__file__).resolve().parents[1]
LB_HOST = "myhost.mydomain"
SVC = "direktiv-services-direktiv"
NAMES = {
    "api": "direktiv-api-service.default.svc.cluster.local",
    "ui": "direktiv-ui.default.svc.cluster.local",
    "ingress-grpc": "direktiv-ingress-hl.default",
    "flow-grpc": "direktiv-flow-hl.default",
    "functions-grpc": "direktiv-functions-hl.default",
    "lb": LB_HOST,
    "knative": f"greeting.{SVC}",
}
GRPC_SECRETS = {"ingress-grpc": "direktiv-cert-ingress", "flow-grpc": "direktiv-cert-flow",
                "functions-grpc": "direktiv-cert-fn"}


# ------------------------------------------------------------------------------------------------------ helpers


def secret_data(sb: RunningSandbox, namespace: str, name: str) -> dict[str, bytes] | None:
    obj = sb.store.get("", "secrets", namespace, name)
    return None if obj is None else {k: base64.b64decode(v) for k, v in obj["data"].items()}


def configured(sb: RunningSandbox, endpoint: str) -> ClientIdentity:
    data = secret_data(sb, "default", GRPC_SECRETS[endpoint])
    return ClientIdentity(data["tls.crt"], pki.PrivateKeyPEM(data["tls.key"]), "configured")


def minted(sb: RunningSandbox, endpoint: str, label: str) -> ClientIdentity:
    leaf = secret_data(sb, "default", GRPC_SECRETS[endpoint])["tls.crt"]
    ca_data = secret_data(sb, "cert-manager", "direktiv-ca")
    ca = pki.CertificateAuthority.from_pem(ca_data["tls.crt"], ca_data["tls.key"])
    issued = {
        "foreign-ca": lambda: pki.foreign_ca_client(leaf),
        "self-signed-clone": lambda: pki.self_signed_clone(leaf),
        "expired": lambda: pki.expired_client(ca, leaf),
        "no-clientauth": lambda: pki.no_clientauth_client(ca, leaf),
    }[label]()
    return ClientIdentity(issued.chain_pem, issued.key, label)


def shake(sb: RunningSandbox, endpoint: str, *, client: ClientIdentity | None = None, replica: int = 0,
          server_name: str | None = None, **offer):
    grpc = endpoint.endswith("-grpc")
    offer.setdefault("alpn", ("h2",) if grpc else ("http/1.1",))
    offer.setdefault("after_handshake", "h2" if grpc else "none")
    address = sb.address(endpoint, replica=replica)
    return handshake(address, TLSOffer(server_name or NAMES[endpoint], client=client, **offer), timeouts=FAST)


def accepted(result) -> bool:
    return result.outcome is HandshakeOutcome.ACCEPTED


def rejected(result) -> bool:
    return result.outcome is HandshakeOutcome.REJECTED


def leaf(result) -> x509.Certificate:
    assert result.peer_chain_der, result.detail
    return x509.load_der_x509_certificate(result.peer_chain_der[0])


def first_cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificates(pem)[0]


def sans(cert: x509.Certificate) -> list[str]:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


def legacy(sb, endpoint, client=None, replica=0):
    return shake(sb, endpoint, client=client, versions=(TLSVersion.TLSv1,), ciphers="ALL:@SECLEVEL=0",
                 after_handshake="none", replica=replica)


# ------------------------------------------------------------------------------------ the conformant sandbox


@pytest.fixture(scope="module")
def conformant():
    with start_sandbox("conformant") as sb:
        yield sb


@pytest.fixture(scope="module")
def cluster(conformant):
    with Cluster.from_kubeconfig(conformant.kubeconfig_path, timeouts=FAST) as c:
        yield c


def test_conformant_starts_and_says_how_to_run_the_suite(conformant):
    command = conformant.suite_command()
    assert command[1:] == ["--kubeconfig", str(conformant.kubeconfig_path), "--direktiv-ca-key-secret",
                           "cert-manager/direktiv-ca"]
    # The installed command, by its path when it is not on PATH (a virtualenv nobody activated): it runs as printed.
    assert Path(command[0]).name == "direktiv-tls-conformance"
    assert shutil.which(command[0]) or Path(command[0]).is_file(), command[0]
    assert conformant.kubeconfig_path.stat().st_mode & 0o077 == 0


def test_secrets_read_through_the_kubernetes_client_look_like_cert_managers(cluster, conformant):
    flow = cluster.secret("default", "direktiv-cert-flow")
    assert flow.type == "kubernetes.io/tls" and set(flow.data) == {"tls.crt", "tls.key", "ca.crt"}
    assert flow.data["ca.crt"] == conformant.ca_pem
    assert "tls.key" not in repr(flow) or "<redacted>" in repr(flow)
    ca = cluster.secret("cert-manager", "direktiv-ca")
    assert first_cert(ca.data["tls.crt"]).subject.rfc4514_string() == "CN=direktiv-system"
    assert facts.key_matches_certificate(first_cert(ca.data["tls.crt"]), ca.data["tls.key"])
    assert cluster.secret("direktiv-services-direktiv", "direktiv-cert-flow") is not None
    assert cluster.secret("contour-internal", "direktiv-cert-knative") is not None


def test_the_helm_release_holds_the_chart_defaults_and_the_scenario_values(cluster, conformant):
    release = cluster.helm_release("default", "direktiv")
    assert (release.name, release.revision, release.status) == ("direktiv", 1, "deployed")
    assert release.chart_values["flow"]["functionsProtocol"] == "http"  # the chart's default
    assert release.config == conformant.scenario.values
    assert release.values["flow"]["functionsProtocol"] == "https"
    assert release.values["functions"]["namespace"] == SVC


@pytest.mark.parametrize("endpoint", ["lb", "api", "ui", "ingress-grpc", "flow-grpc", "functions-grpc", "knative"])
def test_each_endpoints_service_leads_to_a_ready_pod_and_its_container_port(cluster, conformant, endpoint):
    spec = conformant.topology.endpoint(endpoint)
    pods = cluster.ready_pods(spec.namespace, spec.service, spec.port)
    assert [p.ready for p in pods] == [True]
    expected_port = {"lb": 8443, "knative": 8443}.get(endpoint, spec.port)
    assert pods[0].port == expected_port


def test_cluster_objects_are_served(cluster):
    assert cluster.configmap("knative-serving-knative", "config-contour")["default-tls-secret"] == \
        "contour-internal/direktiv-cert-knative"
    delegations = cluster.custom_objects("projectcontour.io", "v1", "contour-internal", "tlscertificatedelegations")
    assert delegations[0]["spec"]["delegations"] == [{"secretName": "direktiv-cert-knative", "targetNamespaces": ["*"]}]
    certificates = cluster.custom_objects("cert-manager.io", "v1", "default", "certificates")
    assert {c["spec"]["secretName"] for c in certificates} >= {"direktiv-cert-flow", "direktiv-lb"}
    assert all(c["status"]["conditions"][0]["status"] == "True" for c in certificates)
    knative = cluster.custom_objects("serving.knative.dev", "v1", SVC, "services")
    assert [k["metadata"]["name"] for k in knative] == ["greeting", "hello-world"]
    assert cluster.custom_objects("cert-manager.io", "v1", SVC, "issuers") == []
    issuers = cluster.cluster_custom_objects("cert-manager.io", "v1", "clusterissuers")
    assert {i["metadata"]["name"]: sorted(i["spec"]) for i in issuers} == {
        "direktiv-ca": ["ca"], "selfsigned-issuer": ["selfSigned"]}
    assert cluster.custom_objects("cert-manager.io", "v1", SVC, "certificaterequests") is None  # CRD not installed


def _forward(cluster, conformant, endpoint, port):
    pod = next(p for p in conformant.pod_ports(endpoint) if p.port == port)
    return PortForwarder(cluster.api_client, pod.namespace, pod.pod, port, timeouts=FAST)


def test_port_forward_reaches_the_mtls_grpc_server(cluster, conformant):
    with _forward(cluster, conformant, "flow-grpc", 7777) as fw:
        good = handshake(fw.address, TLSOffer(NAMES["flow-grpc"], alpn=("h2",), after_handshake="h2",
                                              client=configured(conformant, "flow-grpc")), timeouts=FAST)
        assert accepted(good) and good.alpn == "h2"
        assert rejected(handshake(fw.address, TLSOffer(NAMES["flow-grpc"], alpn=("h2",), after_handshake="h2"),
                                  timeouts=FAST))
        result = health_check(fw.address, authority=NAMES["flow-grpc"], ca_pem=conformant.ca_pem,
                              client=configured(conformant, "flow-grpc"), timeouts=FAST)
        assert result.code == "OK"


def test_port_forward_reaches_the_load_balancers_two_ports(cluster, conformant):
    with _forward(cluster, conformant, "lb", 8080) as plain, _forward(cluster, conformant, "lb", 8443) as tls:
        redirect = http_get(plain.address, host=LB_HOST, timeouts=FAST)
        assert redirect.status == 301 and redirect.location == f"https://{LB_HOST}/"
        assert https_get(tls.address, host=LB_HOST, timeouts=FAST).status == 200


def test_port_forward_to_a_port_nothing_listens_on_is_refused_in_containerds_words(cluster, conformant):
    pod = conformant.pod_ports("lb")[0]
    with PortForwarder(cluster.api_client, pod.namespace, pod.pod, 80, timeouts=FAST) as fw:
        with pytest.raises(ProbeError, match="connection refused"):
            fw.check()


def test_stop_closes_every_server_and_removes_the_kubeconfig(tmp_path):
    sb = start_sandbox("tls-only", workdir=tmp_path)
    addresses = [p.address for p in sb.ports if p.address]
    assert sb.kubeconfig_path == tmp_path / "kubeconfig" and sb.kubeconfig_path.exists()
    sb.stop()
    sb.stop()
    assert not sb.kubeconfig_path.exists()
    for address in addresses:
        with pytest.raises(OSError):
            socket.create_connection(address, timeout=1.0).close()


def test_a_pod_whose_secret_is_missing_stays_pending_without_a_server():
    scenario = SCENARIOS["conformant"]
    broken = replace(scenario, name="no-fn-secret",
                     secrets=tuple(s for s in scenario.secrets if s.name != "direktiv-cert-fn"))
    with start_sandbox(broken) as sb:
        port = sb.pod_ports("functions-grpc")[0]
        assert port.address is None
        pod = sb.store.get("", "pods", port.namespace, port.pod)
        assert pod["status"]["phase"] == "Pending"
        assert sb.store.get("", "endpoints", "default", "direktiv-functions-hl")["subsets"][0]["notReadyAddresses"]


# -------------------------------------------------------------------------- each scenario's misconfiguration


def _conformant(sb):
    for endpoint in GRPC_SECRETS:
        assert rejected(shake(sb, endpoint)), endpoint
        assert accepted(shake(sb, endpoint, client=configured(sb, endpoint))), endpoint
    assert rejected(legacy(sb, "api"))
    assert https_get(sb.address("api"), host=NAMES["api"], timeouts=FAST).status == 200


def _tls_only(sb):
    assert accepted(shake(sb, "flow-grpc"))
    assert https_get(sb.address("knative"), host=NAMES["knative"], timeouts=FAST).status == 200


def _plaintext(sb):
    assert probe_plaintext(sb.address("api"), host=NAMES["api"], timeouts=FAST).http1_status == 200
    assert health_check(sb.address("flow-grpc"), authority=NAMES["flow-grpc"], plaintext=True, timeouts=FAST).code == "OK"
    assert http_get(sb.address("lb", port=8080), host="localhost", timeouts=FAST).status == 200
    with pytest.raises(LookupError):
        sb.address("lb", port=8443)


def _docs_verbatim(sb):
    assert accepted(legacy(sb, "api"))
    assert accepted(legacy(sb, "flow-grpc", client=configured(sb, "flow-grpc")))
    assert rejected(legacy(sb, "lb"))
    assert secret_data(sb, "default", "direktiv-cert-knative") is None
    pod_cert = first_cert(secret_data(sb, SVC, "direktiv-cert-flow")["tls.crt"])
    assert f"*.{SVC}.pod" not in sans(pod_cert)
    assert sb.topology.endpoint("functions-grpc").mtls  # isolates.* read as functions.*


def _go_defaults(sb):
    assert accepted(legacy(sb, "api"))
    assert accepted(shake(sb, "ingress-grpc", client=configured(sb, "ingress-grpc"), versions=(TLSVersion.TLSv1_2,),
                          ciphers="AES128-SHA"))  # static RSA key exchange: Go's default suites, an RSA key
    for endpoint in ("api", "flow-grpc", "lb"):
        key = leaf(shake(sb, endpoint, client=configured(sb, "flow-grpc") if endpoint == "flow-grpc" else None))
        assert key.public_key().key_size == 2048, endpoint  # cert-manager's default private key: RSA 2048
    ca_data = secret_data(sb, "cert-manager", "direktiv-ca")
    assert first_cert(ca_data["tls.crt"]).public_key().key_size == 2048


def _secret_wrong_type(sb):
    assert sb.store.get("", "secrets", "default", "direktiv-cert-ingress")["type"] == "Opaque"


def _secret_key_mismatch(sb):
    data = secret_data(sb, SVC, "direktiv-cert-pod")
    assert not facts.key_matches_certificate(first_cert(data["tls.crt"]), data["tls.key"])


def _secret_chain_foreign(sb):
    served = leaf(shake(sb, "api"))
    ca = first_cert(secret_data(sb, "default", "direktiv-cert-api")["ca.crt"])
    with pytest.raises(Exception):
        served.verify_directly_issued_by(ca)


def _flow_copy_other_ca(sb):
    assert secret_data(sb, "default", "direktiv-cert-flow")["ca.crt"] != secret_data(sb, SVC, "direktiv-cert-flow")["ca.crt"]


def _functions_ca_missing(sb):
    assert secret_data(sb, "default", "direktiv-cert-knative") is None
    assert secret_data(sb, "contour-internal", "direktiv-cert-knative") is not None


def _functions_ca_unset(sb):
    assert sb.scenario.values["flow"]["functionsCA"] == "none"


def _delegation_wrong_namespace(sb):
    delegation = sb.store.get("projectcontour.io", "tlscertificatedelegations", "contour-internal", "default-delegation")
    assert delegation["spec"]["delegations"][0]["targetNamespaces"] == ["default"]


def _contour_default_tls_unset(sb):
    assert "default-tls-secret" not in sb.store.get("", "configmaps", "knative-serving-knative", "config-contour")["data"]


def _https_without_initpod_cert(sb):
    values = sb.scenario.values
    assert values["flow"]["functionsProtocol"] == "https" and values["functions"]["initPodCertificate"] == "none"


def _initpod_san_flow_only(sb):
    cert = first_cert(secret_data(sb, SVC, "direktiv-cert-pod")["tls.crt"])
    assert facts.names_covered(cert, [f"10-244-0-17.{SVC}.pod"]).missing


def _certificate_not_ready(sb):
    cert = sb.store.get("cert-manager.io", "certificates", "default", "direktiv-cert-ingress")
    assert cert["status"]["conditions"][0]["status"] == "False"


def _api_missing_intermediate(sb):
    assert len(shake(sb, "api").peer_chain_der) == 1
    assert len(x509.load_pem_x509_certificates(secret_data(sb, "default", "direktiv-cert-api")["tls.crt"])) == 2


def _api_wrong_san(sb):
    assert NAMES["api"] not in sans(leaf(shake(sb, "api")))


def _api_expires_soon(sb):
    left = leaf(shake(sb, "api")).not_valid_after_utc - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=4) < left < dt.timedelta(days=6)


def _api_eku_clientauth_only(sb):
    eku = leaf(shake(sb, "api")).extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def _grpc_eku_serverauth_only(sb):
    assert rejected(shake(sb, "ingress-grpc", client=configured(sb, "ingress-grpc")))


def _api_rsa_1024(sb):
    assert leaf(shake(sb, "api")).public_key().key_size == 1024


def _api_stale_replica(sb):
    first, second = leaf(shake(sb, "api", replica=0)), leaf(shake(sb, "api", replica=1))
    assert first == first_cert(secret_data(sb, "default", "direktiv-cert")["tls.crt"])
    assert second != first


def _ingress_inherits_flow_creds(sb):
    assert not sb.topology.endpoint("ingress-grpc").tls
    result = shake(sb, "ingress-grpc", client=configured(sb, "flow-grpc"))
    assert accepted(result) and leaf(result) == first_cert(secret_data(sb, "default", "direktiv-cert-flow")["tls.crt"])


def _lb_no_cert_for_host(sb):
    assert rejected(shake(sb, "lb"))
    assert accepted(shake(sb, "lb", server_name="localhost"))


def _api_plaintext_too(sb):
    result = probe_plaintext(sb.address("api"), host=NAMES["api"], timeouts=FAST)
    assert result.http1_answered and result.h2c_settings
    assert accepted(shake(sb, "api"))


def _api_accepts_tls10(sb):
    assert accepted(legacy(sb, "api"))


def _api_null_ciphers(sb):
    offer = weak_cipher_offer(WeakFamily.NULL)
    assert accepted(shake(sb, "api", versions=(TLSVersion.TLSv1_2,), ciphers=offer, after_handshake="none"))


def _functions_no_alpn(sb):
    result = shake(sb, "functions-grpc")
    assert accepted(result) and result.alpn is None


def _flow_trusts_other_client_ca(sb):
    assert rejected(shake(sb, "flow-grpc", client=configured(sb, "flow-grpc")))


def _flow_mtls_optional(sb):
    assert accepted(shake(sb, "flow-grpc"))
    assert rejected(shake(sb, "flow-grpc", client=minted(sb, "flow-grpc", "foreign-ca")))


def _functions_any_client_cert(sb):
    assert accepted(shake(sb, "functions-grpc", client=minted(sb, "functions-grpc", "foreign-ca")))
    assert rejected(shake(sb, "functions-grpc"))


def _ingress_accepts_unknown_issuer(sb):
    assert accepted(shake(sb, "ingress-grpc", client=minted(sb, "ingress-grpc", "foreign-ca")))
    assert rejected(shake(sb, "ingress-grpc", client=minted(sb, "ingress-grpc", "self-signed-clone")))


def _ingress_accepts_self_signed(sb):
    assert accepted(shake(sb, "ingress-grpc", client=minted(sb, "ingress-grpc", "self-signed-clone")))
    assert rejected(shake(sb, "ingress-grpc", client=minted(sb, "ingress-grpc", "foreign-ca")))


def _flow_ignores_expiry(sb):
    assert accepted(shake(sb, "flow-grpc", client=minted(sb, "flow-grpc", "expired")))
    assert rejected(shake(sb, "flow-grpc", client=minted(sb, "flow-grpc", "no-clientauth")))


def _functions_ignores_eku(sb):
    assert accepted(shake(sb, "functions-grpc", client=minted(sb, "functions-grpc", "no-clientauth")))
    assert rejected(shake(sb, "functions-grpc", client=minted(sb, "functions-grpc", "expired")))


def _api_503(sb):
    assert https_get(sb.address("api"), host=NAMES["api"], timeouts=FAST).status == 503


def _lb_no_redirect(sb):
    answer = http_get(sb.address("lb", port=8080), host=LB_HOST, timeouts=FAST)
    assert answer.status == 200 and answer.location is None


def _knative_uncovered_host(sb):
    assert facts.names_covered(leaf(shake(sb, "knative", server_name=f"payments.{SVC}")), [f"payments.{SVC}"]).missing
    assert not facts.names_covered(leaf(shake(sb, "knative")), [NAMES["knative"]]).missing


def _flow_serves_plaintext(sb):
    assert sb.topology.endpoint("flow-grpc").mode.value == "mtls"
    assert probe_plaintext(sb.address("flow-grpc"), host=NAMES["flow-grpc"], timeouts=FAST).h2c_settings
    assert not shake(sb, "flow-grpc", client=configured(sb, "flow-grpc")).completed


def _api_second_replica_accepts_tls10(sb):
    assert rejected(legacy(sb, "api", replica=0))
    assert accepted(legacy(sb, "api", replica=1))


def _flow_second_replica_mtls_optional(sb):
    assert rejected(shake(sb, "flow-grpc", replica=0))
    assert accepted(shake(sb, "flow-grpc", replica=1))


def _knative_services_forbidden(sb):
    cluster = Cluster.from_kubeconfig(sb.kubeconfig_path, timeouts=FAST)
    try:
        with pytest.raises(ProbeError, match="forbidden"):
            cluster.custom_objects("serving.knative.dev", "v1", SVC, "services")
    finally:
        cluster.close()
    # The internal Contour answers the hosts it routes, and nothing else.
    assert accepted(shake(sb, "knative"))
    assert rejected(shake(sb, "knative", server_name=f"conformance-probe.{SVC}"))


def _flow_wrong_san(sb):
    result = shake(sb, "flow-grpc", client=configured(sb, "flow-grpc"))
    assert accepted(result) and facts.names_covered(leaf(result), [NAMES["flow-grpc"]]).missing


def _services_namespace_from_values(sb):
    ns = "my-functions"
    assert sb.topology.services_namespace == ns
    assert secret_data(sb, ns, "direktiv-cert-flow") and secret_data(sb, ns, "direktiv-cert-pod")
    assert secret_data(sb, SVC, "direktiv-cert-pod") is None
    listed, _ = sb.store.list("serving.knative.dev", "services", ns)
    assert {item["metadata"]["name"] for item in listed} == {"greeting", "hello-world"}
    assert not facts.names_covered(leaf(shake(sb, "knative", server_name=f"greeting.{ns}")), [f"greeting.{ns}"]).missing


def _lb_acme(sb):
    data = secret_data(sb, "default", "direktiv-lb")
    assert sorted(data) == ["tls.crt", "tls.key"]  # ACME gives no CA certificate
    cert = sb.store.get("cert-manager.io", "certificates", "default", "direktiv-lb")
    assert cert["spec"]["issuerRef"] == {"name": "letsencrypt-prod", "kind": "ClusterIssuer",
                                         "group": "cert-manager.io"}
    issuers, _ = sb.store.list("cert-manager.io", "clusterissuers", None)
    assert "acme" in next(i for i in issuers if i["metadata"]["name"] == "letsencrypt-prod")["spec"]
    flag = sb.suite_args.index("--direktiv-ca-file")
    root = Path(sb.suite_args[flag + 1].removeprefix("lb="))
    chain = shake(sb, "lb").peer_chain_der
    assert len(chain) == 2 and facts.verify_chain(chain, x509.load_pem_x509_certificates(root.read_bytes())).trusted


def _api_ecdhe_null(sb):
    scan = accepted_suites(sb.address("api"), "TLSv1.2", suites_in_family("NULL", version="TLSv1.2"),
                           server_name=NAMES["api"], timeouts=FAST)
    assert scan.accepted_names == ("TLS_ECDHE_ECDSA_WITH_NULL_SHA",)


def _api_static_rsa(sb):
    scan = accepted_suites(sb.address("api"), "TLSv1.2", server_name=NAMES["api"], timeouts=FAST)
    assert set(scan.accepted_names) == {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256"}


def _api_no_secure_renegotiation(sb):
    assert check_renegotiation_info(sb.address("api"), server_name=NAMES["api"], timeouts=FAST).secure_renegotiation is False
    assert check_renegotiation_info(sb.address("ui"), server_name=NAMES["ui"], timeouts=FAST).secure_renegotiation
    assert accepted(shake(sb, "api"))  # TLS 1.3 clients see a modern server


def _ui_ignores_fallback_scsv(sb):
    assert check_fallback_scsv(sb.address("ui"), server_name=NAMES["ui"], timeouts=FAST).verdict is FallbackVerdict.UNPROTECTED
    assert check_fallback_scsv(sb.address("api"), server_name=NAMES["api"], timeouts=FAST).verdict is FallbackVerdict.PROTECTED


def _lb_hsts(expected):
    def witness(sb):
        assert https_get(sb.address("lb"), host=LB_HOST, timeouts=FAST).hsts == expected
    return witness


def _lb_empty_subject(sb):
    cert = leaf(shake(sb, "lb"))
    assert len(cert.subject) == 0 and cert.issuer == cert.subject


_FAKE_CN = "Kubernetes Ingress Controller Fake Certificate"


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return names[0].value if names else ""


def _v07_conformant(sb):
    """The ingress-nginx controller in the release namespace serves ingress.host with direktiv-lb, every other
    name with its Fake Certificate, refuses TLS 1.0 and redirects with 308."""
    assert sb.topology.endpoint("lb").service == "direktiv-ingress-nginx-controller"
    served = leaf(shake(sb, "lb", server_name=LB_HOST))
    assert LB_HOST in sans(served) and _common_name(served) != _FAKE_CN
    assert _common_name(leaf(shake(sb, "lb", server_name="unknown.example.com"))) == _FAKE_CN
    assert rejected(shake(sb, "lb", versions=(TLSVersion.TLSv1,), ciphers="ALL:@SECLEVEL=0", server_name=LB_HOST))
    redirect = http_get(sb.address("lb", port=80), host=LB_HOST, timeouts=FAST)
    assert (redirect.status, redirect.location) == (308, f"https://{LB_HOST}/")


def _v07_lb_secret_missing(sb):
    assert sb.topology.endpoint("lb").secret.name == "direktiv-tls"
    assert not sb.store.get("", "secrets", "default", "direktiv-tls")
    assert _common_name(leaf(shake(sb, "lb", server_name=LB_HOST))) == _FAKE_CN


def _v07_lb_cert_wrong_host(sb):
    assert sans(first_cert(_secret_pem(sb, "direktiv-lb"))) == ["direktiv.example.org"]
    assert _common_name(leaf(shake(sb, "lb", server_name=LB_HOST))) == _FAKE_CN


def _secret_pem(sb, name: str) -> bytes:
    return base64.b64decode(sb.store.get("", "secrets", "default", name)["data"]["tls.crt"])


def _v07_lb_accepts_tls10(sb):
    assert accepted(shake(sb, "lb", versions=(TLSVersion.TLSv1,), ciphers="ALL:@SECLEVEL=0", server_name=LB_HOST))


def _v08_certificate_none(sb):
    assert sb.topology.endpoint("lb").secret.name == "none"
    assert _common_name(leaf(shake(sb, "lb", server_name=LB_HOST))) == _FAKE_CN


WITNESSES: dict[str, Callable[[RunningSandbox], None]] = {
    "v0.8-conformant": _v07_conformant,
    "v0.8-certificate-none": _v08_certificate_none,
    "v0.7-conformant": _v07_conformant,
    "v0.7-lb-secret-missing": _v07_lb_secret_missing,
    "v0.7-lb-accepts-tls10": _v07_lb_accepts_tls10,
    "v0.7-lb-cert-wrong-host": _v07_lb_cert_wrong_host,
    "api-ecdhe-null": _api_ecdhe_null,
    "api-static-rsa": _api_static_rsa,
    "api-no-secure-renegotiation": _api_no_secure_renegotiation,
    "ui-ignores-fallback-scsv": _ui_ignores_fallback_scsv,
    "lb-no-hsts": _lb_hsts(None),
    "lb-hsts-short": _lb_hsts("max-age=86400"),
    "lb-empty-subject": _lb_empty_subject,
    "flow-serves-plaintext": _flow_serves_plaintext,
    "api-second-replica-accepts-tls10": _api_second_replica_accepts_tls10,
    "flow-second-replica-mtls-optional": _flow_second_replica_mtls_optional,
    "knative-services-forbidden": _knative_services_forbidden,
    "flow-wrong-san": _flow_wrong_san,
    "conformant": _conformant,
    "tls-only": _tls_only,
    "plaintext": _plaintext,
    "docs-verbatim": _docs_verbatim,
    "go-defaults": _go_defaults,
    "secret-wrong-type": _secret_wrong_type,
    "secret-key-mismatch": _secret_key_mismatch,
    "secret-chain-foreign": _secret_chain_foreign,
    "flow-copy-other-ca": _flow_copy_other_ca,
    "functions-ca-missing": _functions_ca_missing,
    "functions-ca-unset": _functions_ca_unset,
    "delegation-wrong-namespace": _delegation_wrong_namespace,
    "contour-default-tls-unset": _contour_default_tls_unset,
    "https-without-initpod-cert": _https_without_initpod_cert,
    "initpod-san-flow-only": _initpod_san_flow_only,
    "certificate-not-ready": _certificate_not_ready,
    "api-missing-intermediate": _api_missing_intermediate,
    "api-wrong-san": _api_wrong_san,
    "api-expires-soon": _api_expires_soon,
    "api-eku-clientauth-only": _api_eku_clientauth_only,
    "grpc-eku-serverauth-only": _grpc_eku_serverauth_only,
    "api-rsa-1024": _api_rsa_1024,
    "api-stale-replica": _api_stale_replica,
    "ingress-inherits-flow-creds": _ingress_inherits_flow_creds,
    "lb-no-cert-for-host": _lb_no_cert_for_host,
    "api-plaintext-too": _api_plaintext_too,
    "api-accepts-tls10": _api_accepts_tls10,
    "api-null-ciphers": _api_null_ciphers,
    "functions-no-alpn": _functions_no_alpn,
    "flow-trusts-other-client-ca": _flow_trusts_other_client_ca,
    "flow-mtls-optional": _flow_mtls_optional,
    "functions-any-client-cert": _functions_any_client_cert,
    "ingress-accepts-unknown-issuer": _ingress_accepts_unknown_issuer,
    "ingress-accepts-self-signed": _ingress_accepts_self_signed,
    "flow-ignores-expiry": _flow_ignores_expiry,
    "functions-ignores-eku": _functions_ignores_eku,
    "api-503": _api_503,
    "lb-no-redirect": _lb_no_redirect,
    "knative-uncovered-host": _knative_uncovered_host,
    "services-namespace-from-values": _services_namespace_from_values,
    "lb-acme": _lb_acme,
}


def test_every_scenario_has_a_witness():
    assert sorted(WITNESSES) == sorted(SCENARIOS)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_misconfiguration_is_really_there(name):
    with start_sandbox(name) as sb:
        WITNESSES[name](sb)


# ------------------------------------------------------------------------------------------- python -m sandbox


def _sandbox_cli(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "sandbox", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def test_cli_list_prints_every_scenario_with_its_description():
    out, _ = _sandbox_cli("list").communicate(timeout=30)
    lines = out.splitlines()
    assert len(lines) == len(SCENARIOS)
    assert lines[0].split()[0] == "conformant" and SCENARIOS["conformant"].description in lines[0]


def test_cli_rejects_an_unknown_scenario_with_the_list_and_status_2():
    proc = _sandbox_cli("up", "--scenario", "no-such")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "no scenario named 'no-such'" in err and "conformant" in err


# How long the CLI may take to come up or to stop: a hang bound, not a speed check (it takes seconds even when the
# machine is busy, and the waits end as soon as it answers).
CLI_DEADLINE = 60.0


def _lines_until(proc: subprocess.Popen, marker: str, seconds: float) -> list[str]:
    """What the process prints up to the line that starts with ``marker``, or up to its end; fails when neither
    comes within ``seconds`` (read with a deadline, so that a silent process cannot block the test)."""
    deadline = time.monotonic() + seconds
    out = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while True:
            lines = out.decode().splitlines(keepends=True)
            for at, line in enumerate(lines):
                if line.startswith(marker) and line.endswith("\n"):
                    return lines[:at + 1]
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                pytest.fail(f"no line starting {marker!r} within {seconds:.0f}s; printed: {lines}")
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                return lines
            out += chunk


def test_cli_up_serves_until_sigint_then_stops_cleanly(tmp_path):
    kubeconfig = tmp_path / "kc.yaml"
    proc = _sandbox_cli("up", "--scenario", "conformant", "--kubeconfig", str(kubeconfig))
    try:
        lines = _lines_until(proc, "check it with:", CLI_DEADLINE)
        assert f"kubeconfig: {kubeconfig}\n" in lines
        said = lines[-1].strip()
        assert said.startswith("check it with: ") and said.endswith(
            f"direktiv-tls-conformance --kubeconfig {kubeconfig} --direktiv-ca-key-secret cert-manager/direktiv-ca")
        assert kubeconfig.exists()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=CLI_DEADLINE) == 0
        assert not kubeconfig.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()
        proc.stderr.close()
