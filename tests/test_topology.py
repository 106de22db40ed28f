"""Topology derived from Helm values: the chart defaults, the TLS page's values, aliases and odd values."""

import base64
import json

import pytest
import yaml

from probes import helm
from probes.topology import (
    ENDPOINT_IDS,
    EndpointKind,
    Mode,
    SecretRef,
    derive_topology,
    knative_host,
    with_knative_hosts,
)

# kubernetes/charts/direktiv/values.yaml at tag v0.4.1 (comments and blank lines dropped), what chart.values holds.
CHART_DEFAULTS_YAML = """\
replicaCount: 1
nodeSelector: {}
tolerations: []
affinity: {}
registry: "docker.io"
pullPolicy: Always
imagePullSecrets: []
serviceAccount:
  annotations: {}
  name: ""
  create: true
http_proxy: ""
https_proxy: ""
no_proxy: ""
autoscaling:
  enabled: false
  minReplicas: 1
  maxReplicas: 10
  targetCPUUtilizationPercentage: 80
  targetMemoryUtilizationPercentage: 80
withSupport: true
withFlow: true
withUI: true
withAPI: true
supportPersist: false
debug: false
networkPolicies:
  enabled: false
  db: 0.0.0.0/0
  serviceCidr: 0.0.0.0/0
  podCidr: 0.0.0.0/0
ingress:
  host: ""
  certificate: none
  class: "contour-external"
  timeout: "900s"
prometheus:
  enabled: true
  image: "prom/prometheus"
  targetAnnotations:
    prometheus.io/port: "2112"
    prometheus.io/path: "/metrics"
    prometheus.io/scrape: "true"
  queryAddress: "http://direktiv-prometheus-service.default:9090"
flow:
  image: "vorteil/flow"
  tag: ""
  db: ""
  functionsProtocol: "http"
  functionsCA: "none"
  certificates:
    flow: none
    mtlsFlow: none
    ingress: none
    mtlsIngress: none
  extraContainers: []
  extraVolumeMounts:
  extraVolumes:
secrets:
  image: "vorteil/secrets"
  tag: ""
  db: ""
  key: "01234567890123456789012345678912"
  extraVolumeMounts: []
ui:
  image: "vorteil/direktiv-ui"
  tag: ""
  certificate: none
  extraContainers: []
api:
  image: vorteil/api
  tag: ""
  key: ""
  certificate: none
  extraContainers: []
grpc:
  server:
    maxSendSize: "4194304"
    maxRecvSize: "4194304"
  client:
    maxSendSize: "4194304"
    maxRecvSize: "4194304"
functions:
  namespace: direktiv-services-direktiv
  image: "vorteil/functions"
  tag: ""
  certificate: none
  mtls: none
  sidecar: "vorteil/sidecar"
  initPodImage:  "vorteil/direktiv-init-pod"
  initPodCertificate: none
  replicaCount: 1
  netShape: "10M"
  db: ""
  podCleaner: true
  runtime: "default"
  extraContainersPod: []
  extraContainers:
    []
fluentbit:
  host:          ""
  port:          5432
  user:          ""
  password:      ""
  database:      ""
  sslmode:       prefer
  extraConfig: ""
"""

# The Helm snippets of the TLS documentation page, as a user copies them into one values file: the controller
# certificates under the page's `isolates` spelling (with mTLS switched on as its "simple example" does).
TLS_PAGE_VALUES_YAML = """\
ingress:
  certificate: direktiv-lb
  host: myhost.mydomain
ui:
  certificate: direktiv-cert
api:
  certificate: direktiv-cert
isolates:
  certificate: direktiv-cert-fn
  mtls: direktiv-cert-fn
flow:
  certificates:
    flow: direktiv-cert-flow
    mtlsFlow: direktiv-cert-flow
    ingress: direktiv-cert-ingress
    mtlsIngress: direktiv-cert-ingress
  functionsProtocol: "https"
  functionsCA: "direktiv-cert-knative"
functions:
  initPodCertificate: direktiv-cert-flow
"""

SERVICES_NS = "direktiv-services-direktiv"


@pytest.fixture(scope="module")
def chart_defaults():
    return yaml.safe_load(CHART_DEFAULTS_YAML)


@pytest.fixture(scope="module")
def tls_page_release(chart_defaults):
    """The TLS page's values installed over the chart, read back from a release secret as Helm writes it."""
    release = helm.HelmRelease("direktiv", "default", 3, "deployed", chart_defaults,
                               yaml.safe_load(TLS_PAGE_VALUES_YAML), "direktiv", "0.4.1")
    secret = helm.release_secret_object(release)
    return helm.release_from_secret_data(base64.b64decode(secret["data"]["release"]),
                                         source=f"default/{secret['metadata']['name']}")


@pytest.fixture(scope="module")
def tls_page(tls_page_release):
    return derive_topology(tls_page_release.values)


def test_chart_defaults_expect_every_endpoint_in_plaintext_and_no_secrets(chart_defaults):
    topology = derive_topology(chart_defaults)
    assert tuple(e.id for e in topology.endpoints) == ENDPOINT_IDS
    assert {e.id: e.mode for e in topology.endpoints} == {i: Mode.PLAINTEXT for i in ENDPOINT_IDS}
    assert all(e.secret is None and e.client_identity_secret is None for e in topology.endpoints)
    assert topology.endpoint("lb").port == 80 and topology.endpoint("lb").redirect_port is None
    assert topology.endpoint("knative").port == 80
    assert topology.secrets == () and topology.ca_groups == () and topology.secret_refs() == ()
    assert topology.notices == ()
    assert topology.services_namespace == SERVICES_NS
    assert not topology.functions_ca.applies and not topology.delegation.applies
    assert not topology.contour_default_tls.applies and not topology.init_pod_san.applies
    assert topology.protocol.consistent and topology.protocol.functions_protocol == "http"


def test_missing_keys_read_as_chart_defaults(chart_defaults):
    bare = derive_topology({})
    assert bare.endpoints == derive_topology(chart_defaults).endpoints


def test_tls_page_values_read_from_a_release_secret(tls_page_release):
    assert (tls_page_release.name, tls_page_release.revision, tls_page_release.status) == ("direktiv", 3, "deployed")
    assert tls_page_release.values["ingress"] == {
        "host": "myhost.mydomain", "certificate": "direktiv-lb", "class": "contour-external", "timeout": "900s"}


def test_tls_page_modes(tls_page):
    assert {e.id: e.mode for e in tls_page.endpoints} == {
        "lb": Mode.TLS, "api": Mode.TLS, "ui": Mode.TLS, "ingress-grpc": Mode.MTLS, "flow-grpc": Mode.MTLS,
        "functions-grpc": Mode.MTLS, "knative": Mode.TLS,
    }


def test_tls_page_lb_uses_the_ingress_host_and_redirect(tls_page):
    lb = tls_page.endpoint("lb")
    assert (lb.kind, lb.namespace, lb.service, lb.port) == (EndpointKind.LB, "contour-external", "envoy", 443)
    assert lb.secret == SecretRef("default", "direktiv-lb")
    assert lb.server_name == "myhost.mydomain" and lb.expected_names == ("myhost.mydomain",)
    assert lb.redirect_port == 80
    assert "ingress.certificate" in lb.sources


def test_tls_page_http_endpoints(tls_page):
    api, ui = tls_page.endpoint("api"), tls_page.endpoint("ui")
    assert (api.service, api.port) == ("direktiv-api-service", 8080)
    assert api.secret == SecretRef("default", "direktiv-cert")
    assert api.expected_names == ("direktiv-api-service.default.svc.cluster.local", "direktiv-api-service.default")
    assert (ui.service, ui.secret) == ("direktiv-ui", SecretRef("default", "direktiv-cert"))
    assert ui.expected_names == ("direktiv-ui.default.svc.cluster.local",)
    assert not api.needs_client_auth_eku and api.client_identity_secret is None


@pytest.mark.parametrize("endpoint_id, service, port, secret, mtls_key", [
    ("ingress-grpc", "direktiv-ingress-hl", 6666, "direktiv-cert-ingress", "flow.certificates.mtlsIngress"),
    ("flow-grpc", "direktiv-flow-hl", 7777, "direktiv-cert-flow", "flow.certificates.mtlsFlow"),
    ("functions-grpc", "direktiv-functions-hl", 5555, "direktiv-cert-fn", "functions.mtls"),
])
def test_tls_page_grpc_endpoints_are_mtls_with_one_secret(tls_page, endpoint_id, service, port, secret, mtls_key):
    spec = tls_page.endpoint(endpoint_id)
    assert (spec.kind, spec.namespace, spec.service, spec.port) == (EndpointKind.GRPC, "default", service, port)
    assert spec.secret == spec.client_identity_secret == SecretRef("default", secret)
    assert spec.needs_client_auth_eku
    assert spec.server_name == f"{service}.default" and spec.expected_names == (f"{service}.default",)
    assert mtls_key in spec.sources and mtls_key in spec.explanation


def test_tls_page_isolates_alias_gives_a_notice(tls_page):
    assert "isolates" not in tls_page.values
    assert tls_page.values["functions"]["certificate"] == "direktiv-cert-fn"
    assert ("values use isolates.certificate, which the Direktiv chart never had; treating it as "
            "functions.certificate as the TLS documentation intends") in tls_page.notices
    assert any("isolates.mtls" in n for n in tls_page.notices)


def test_tls_page_knative(tls_page):
    knative = tls_page.endpoint("knative")
    assert (knative.namespace, knative.service, knative.port) == ("contour-internal", "envoy", 443)
    assert knative.secret == SecretRef("contour-internal", "direktiv-cert-knative")
    assert knative.expected_names == (f"conformance-probe.{SERVICES_NS}",)
    assert tls_page.delegation.applies and tls_page.delegation.secret_name == "direktiv-cert-knative"
    assert tls_page.delegation.target_namespaces == ("*", SERVICES_NS)
    assert tls_page.contour_default_tls.applies
    assert (tls_page.contour_default_tls.namespace, tls_page.contour_default_tls.configmap,
            tls_page.contour_default_tls.key) == ("knative-serving-knative", "config-contour", "default-tls-secret")
    assert tls_page.contour_default_tls.value == "contour-internal/direktiv-cert-knative"
    assert tls_page.functions_ca.applies
    assert tls_page.functions_ca.secret == SecretRef("default", "direktiv-cert-knative")


def test_tls_page_secrets_and_namespaces(tls_page):
    assert {s.name: s.namespaces for s in tls_page.secrets} == {
        "direktiv-lb": ("default",),
        "direktiv-cert": ("default",),
        "direktiv-cert-ingress": ("default",),
        "direktiv-cert-flow": ("default", SERVICES_NS),
        "direktiv-cert-fn": ("default",),
        "direktiv-cert-knative": ("default", "contour-internal"),
    }
    cert = tls_page.secret("direktiv-cert")
    assert cert.sources == ("api.certificate", "ui.certificate") and len(cert.purposes) == 2
    flow = tls_page.secret("direktiv-cert-flow")
    assert flow.sources == ("flow.certificates.flow", "functions.initPodCertificate")
    assert len(flow.purposes_in(SERVICES_NS)) == 2  # the sidecar's copy and the init pod's certificate
    knative = tls_page.secret("direktiv-cert-knative")
    assert any("release namespace" in p for p in knative.purposes_in("default"))
    assert SecretRef("default", "direktiv-cert-knative") in tls_page.secret_refs()
    assert len(tls_page.secret_refs()) == 8


def test_tls_page_ca_groups_and_pod_expectations(tls_page):
    assert [g.members for g in tls_page.ca_groups] == [
        (SecretRef("default", "direktiv-cert-flow"), SecretRef(SERVICES_NS, "direktiv-cert-flow")),
        (SecretRef("default", "direktiv-cert-knative"), SecretRef("contour-internal", "direktiv-cert-knative")),
        (SecretRef("default", "direktiv-cert-knative"), SecretRef(SERVICES_NS, "direktiv-cert-flow")),
    ]
    assert tls_page.protocol.https and tls_page.protocol.consistent
    assert tls_page.protocol.init_pod_certificate == "direktiv-cert-flow"
    pod = tls_page.init_pod_san
    assert pod.applies and pod.secret == SecretRef(SERVICES_NS, "direktiv-cert-flow")
    assert pod.patterns == (f"*.{SERVICES_NS}.pod",)
    assert all(name.endswith(f".{SERVICES_NS}.pod") for name in pod.sample_names)


def test_release_name_and_namespaces_propagate():
    values = yaml.safe_load(TLS_PAGE_VALUES_YAML)
    topology = derive_topology(values, release="wf", namespace="apps", services_namespace="wf-services")
    assert topology.endpoint("api").service == "wf-api-service"
    assert topology.endpoint("api").expected_names == (
        "wf-api-service.apps.svc.cluster.local", "wf-api-service.apps")
    assert topology.endpoint("ui").expected_names == ("wf-ui.apps.svc.cluster.local",)
    assert topology.endpoint("flow-grpc").server_name == "wf-flow-hl.apps"
    assert topology.endpoint("functions-grpc").secret == SecretRef("apps", "direktiv-cert-fn")
    assert topology.endpoint("lb").secret == SecretRef("apps", "direktiv-lb")
    assert topology.endpoint("knative").server_name == "conformance-probe.wf-services"
    assert topology.secret("direktiv-cert-flow").namespaces == ("apps", "wf-services")
    assert topology.init_pod_san.patterns == ("*.wf-services.pod",)
    assert topology.delegation.target_namespaces == ("*", "wf-services")


def test_services_namespace_follows_values_unless_given():
    values = {"functions": {"namespace": "fn-space"}}
    assert derive_topology(values).services_namespace == "fn-space"
    given = derive_topology(values, services_namespace="other")
    assert given.services_namespace == "other"
    assert any("functions.namespace" in n and "other" in n for n in given.notices)


def test_mtls_without_certificate_is_plaintext_with_a_notice():
    topology = derive_topology({"flow": {"certificates": {"flow": "none", "mtlsFlow": "direktiv-cert-flow"}}})
    assert topology.endpoint("flow-grpc").mode is Mode.PLAINTEXT
    assert any("flow.certificates.mtlsFlow is on but flow.certificates.flow is not set" in n
               for n in topology.notices)
    assert topology.secrets == ()


def test_mtls_switch_naming_another_secret_still_uses_the_certificate():
    topology = derive_topology({"functions": {"certificate": "fn-cert", "mtls": "yes"}})
    spec = topology.endpoint("functions-grpc")
    assert spec.mode is Mode.MTLS and spec.client_identity_secret == SecretRef("default", "fn-cert")
    assert any("only an on/off switch" in n for n in topology.notices)
    assert [s.name for s in topology.secrets] == ["fn-cert"]


def test_tls_without_mtls_and_empty_string_is_off():
    topology = derive_topology({"flow": {"certificates": {"ingress": "ing", "mtlsIngress": ""}}})
    spec = topology.endpoint("ingress-grpc")
    assert spec.mode is Mode.TLS and spec.client_identity_secret is None and not spec.needs_client_auth_eku


def test_lb_without_host_uses_localhost_with_a_notice():
    topology = derive_topology({"ingress": {"certificate": "direktiv-lb", "host": ""}})
    assert topology.endpoint("lb").server_name == "localhost"
    assert any("ingress.host is empty" in n for n in topology.notices)


def test_https_without_functions_ca_uses_the_pages_knative_secret():
    topology = derive_topology({"flow": {"functionsProtocol": "https"}})
    assert topology.endpoint("knative").secret == SecretRef("contour-internal", "direktiv-cert-knative")
    assert topology.functions_ca.applies and topology.functions_ca.secret is None
    assert not topology.protocol.consistent
    assert [s.name for s in topology.secrets] == ["direktiv-cert-knative"]
    assert topology.ca_groups == ()
    assert any("flow.functionsCA is not set" in n for n in topology.notices)


def test_functions_ca_names_the_knative_secret():
    topology = derive_topology({"flow": {"functionsProtocol": "https", "functionsCA": "my-ca"}})
    assert topology.endpoint("knative").secret == SecretRef("contour-internal", "my-ca")
    assert topology.contour_default_tls.value == "contour-internal/my-ca"
    assert topology.secret("my-ca").namespaces == ("default", "contour-internal")


def test_odd_values_are_read_as_off_with_notices():
    topology = derive_topology({"api": {"certificate": True}, "flow": {"functionsProtocol": "grpc"}, "ui": "x"})
    assert topology.endpoint("api").mode is Mode.PLAINTEXT
    assert topology.endpoint("knative").mode is Mode.PLAINTEXT
    assert any("api.certificate" in n for n in topology.notices)
    assert any("neither http nor https" in n for n in topology.notices)


def test_disabled_components_are_marked_not_deployed():
    topology = derive_topology({"withUI": False, "withFlow": False})
    assert not topology.endpoint("ui").deployed
    assert not topology.endpoint("flow-grpc").deployed and not topology.endpoint("ingress-grpc").deployed
    assert topology.endpoint("api").deployed and topology.endpoint("functions-grpc").deployed


def test_with_knative_hosts_fills_in_the_services(tls_page):
    hosts = [knative_host("svc-b", SERVICES_NS), knative_host("svc-a", SERVICES_NS)]
    filled = with_knative_hosts(tls_page, hosts)
    knative = filled.endpoint("knative")
    assert knative.expected_names == (f"svc-a.{SERVICES_NS}", f"svc-b.{SERVICES_NS}")
    assert knative.server_name == f"svc-a.{SERVICES_NS}"
    assert filled.endpoint("api") == tls_page.endpoint("api")
    assert with_knative_hosts(filled, []).endpoint("knative") == tls_page.endpoint("knative")


def test_unknown_endpoint_id_names_the_known_ones(tls_page):
    with pytest.raises(KeyError, match="knative"):
        tls_page.endpoint("nope")


def test_repr_hides_values(tls_page_release, tls_page):
    assert "01234567890123456789012345678912" not in repr(tls_page)
    assert "01234567890123456789012345678912" not in repr(tls_page_release)


def test_to_json_leaves_values_out(tls_page):
    data = json.loads(json.dumps(tls_page.to_json()))
    assert "values" not in data
    assert data["endpoints"][3]["mode"] == "mtls" and data["endpoints"][3]["kind"] == "grpc"
    assert data["secrets"][0]["name"] == "direktiv-lb"
    assert "01234567890123456789012345678912" not in json.dumps(data)
