"""Real Kubernetes clients against a running sandbox.

The official Python client's typed API reads every kind the emulated API server serves (its pydantic models refuse
what a real server never sends, such as an ownerReference without uid or a container status without imageID).
"""

from __future__ import annotations

import base64
import uuid

import pytest
from cryptography import x509
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from sandbox.cluster import KNATIVE_SERVING, start_sandbox
from sandbox.scenarios import ALL_SCENARIOS, NAMESPACE, SERVICES_NAMESPACE

# One call of the Python client on 127.0.0.1 takes milliseconds: 5 s bounds a hang.
REQUEST_TIMEOUT = 5.0
# The core resources the typed API reads, with the typed list call for all namespaces.
TYPED_LISTS = {
    "pods": lambda api_client: k8s.CoreV1Api(api_client).list_pod_for_all_namespaces,
    "secrets": lambda api_client: k8s.CoreV1Api(api_client).list_secret_for_all_namespaces,
    "services": lambda api_client: k8s.CoreV1Api(api_client).list_service_for_all_namespaces,
    "configmaps": lambda api_client: k8s.CoreV1Api(api_client).list_config_map_for_all_namespaces,
    "endpoints": lambda api_client: k8s.CoreV1Api(api_client).list_endpoints_for_all_namespaces,
    "endpointslices": lambda api_client: k8s.DiscoveryV1Api(api_client).list_endpoint_slice_for_all_namespaces,
}


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox("conformant") as running:
        yield running


@pytest.fixture(scope="module")
def api_client(sandbox):
    with k8s_config.new_client_from_config(str(sandbox.kubeconfig_path)) as client:
        yield client


@pytest.fixture(autouse=True)
def _no_faults(sandbox):
    yield
    sandbox.store.clear_faults()


def _stored(running, plural: str, namespace: str | None = None, *, group: str = "") -> list[dict]:
    return running.store.list(group, plural, namespace)[0]


def _keys(objects) -> set[tuple[str, str]]:
    """(namespace, name) of JSON objects or typed models."""
    metadata = [o["metadata"] if isinstance(o, dict) else o.metadata for o in objects]
    return {(m["namespace"], m["name"]) if isinstance(m, dict) else (m.namespace, m.name) for m in metadata}


def _flow(running):
    return next(p for p in running.ports if p.endpoint == "flow-grpc")


# --- the typed API ----------------------------------------------------------------------------------------------


def test_pods_read_with_their_owners_and_container_statuses(sandbox, api_client):
    core = k8s.CoreV1Api(api_client)
    pods = core.list_pod_for_all_namespaces(_request_timeout=REQUEST_TIMEOUT)
    assert pods.metadata.resource_version.isdigit()
    assert _keys(pods.items) == {(p.namespace, p.pod) for p in sandbox.ports}
    owners = {(p.metadata.namespace, p.metadata.owner_references[0].name): p.metadata.owner_references[0].uid
              for p in pods.items}
    assert len(set(owners.values())) == len(owners)  # one uid per controller, the same in no two namespaces
    flow = _flow(sandbox)
    pod = core.read_namespaced_pod(flow.pod, flow.namespace, _request_timeout=REQUEST_TIMEOUT)
    owner, = pod.metadata.owner_references
    assert (owner.api_version, owner.kind, owner.controller, owner.block_owner_deletion) == (
        "apps/v1", "ReplicaSet", True, True)
    assert flow.pod.startswith(f"{owner.name}-") and uuid.UUID(owner.uid)
    assert uuid.UUID(pod.metadata.uid) and pod.metadata.resource_version.isdigit()
    assert pod.metadata.creation_timestamp is not None
    assert flow.port in {port.container_port for c in pod.spec.containers for port in c.ports or []}
    for status in pod.status.container_statuses:
        assert status.ready and status.image_id.startswith(status.image.rsplit(":", 1)[0] + "@sha256:")
        assert status.container_id.startswith("containerd://") and status.state.running is not None


def test_secrets_read_with_the_certificates_they_hold(sandbox, api_client):
    core = k8s.CoreV1Api(api_client)
    secret = core.read_namespaced_secret("direktiv-cert-flow", NAMESPACE, _request_timeout=REQUEST_TIMEOUT)
    assert secret.type == "kubernetes.io/tls" and {"tls.crt", "tls.key", "ca.crt"} <= set(secret.data)
    ca = x509.load_pem_x509_certificate(sandbox.ca_pem)
    leaf = x509.load_pem_x509_certificates(base64.b64decode(secret.data["tls.crt"]))[0]
    assert leaf.issuer == ca.subject
    assert base64.b64decode(secret.data["ca.crt"]) == sandbox.ca_pem
    listed = core.list_namespaced_secret(SERVICES_NAMESPACE, _request_timeout=REQUEST_TIMEOUT)
    assert _keys(listed.items) == _keys(_stored(sandbox, "secrets", SERVICES_NAMESPACE))


def test_services_endpoints_and_slices_lead_to_the_pods(sandbox, api_client):
    core = k8s.CoreV1Api(api_client)
    flow = _flow(sandbox)
    pod = core.read_namespaced_pod(flow.pod, flow.namespace, _request_timeout=REQUEST_TIMEOUT)
    services = {s.metadata.name: s for s in core.list_namespaced_service(NAMESPACE).items}
    assert _keys(services.values()) == _keys(_stored(sandbox, "services", NAMESPACE))
    headless = services["direktiv-flow-hl"]
    assert headless.spec.cluster_ip == "None" and [p.port for p in headless.spec.ports] == [flow.port]
    envoy = core.read_namespaced_service("envoy", "contour-external", _request_timeout=REQUEST_TIMEOUT)
    assert envoy.spec.type == "LoadBalancer" and envoy.status.load_balancer.ingress[0].ip
    endpoints = {e.metadata.name: e for e in core.list_namespaced_endpoints(NAMESPACE).items}
    subset, = endpoints["direktiv-flow-hl"].subsets
    address, = subset.addresses
    assert [p.port for p in subset.ports] == [flow.port]
    assert (address.ip, address.target_ref.name, address.target_ref.uid) == (
        pod.status.pod_ip, pod.metadata.name, pod.metadata.uid)
    slices = k8s.DiscoveryV1Api(api_client).list_namespaced_endpoint_slice(
        NAMESPACE, label_selector="kubernetes.io/service-name=direktiv-flow-hl", _request_timeout=REQUEST_TIMEOUT)
    slice_, = slices.items
    endpoint, = slice_.endpoints
    assert [p.port for p in slice_.ports] == [flow.port]
    assert (endpoint.addresses, endpoint.target_ref.uid, endpoint.conditions.ready) == (
        [pod.status.pod_ip], pod.metadata.uid, True)
    contour = core.read_namespaced_config_map("config-contour", KNATIVE_SERVING, _request_timeout=REQUEST_TIMEOUT)
    assert contour.data["default-tls-secret"] == sandbox.scenario.objects.default_tls_secret


def test_custom_objects_read_through_the_custom_objects_api(sandbox, api_client):
    custom = k8s.CustomObjectsApi(api_client)
    certificates = custom.list_cluster_custom_object("cert-manager.io", "v1", "certificates",
                                                     _request_timeout=REQUEST_TIMEOUT)
    assert _keys(certificates["items"]) == _keys(_stored(sandbox, "certificates", group="cert-manager.io"))
    flow = custom.get_namespaced_custom_object("cert-manager.io", "v1", NAMESPACE, "certificates",
                                               "direktiv-cert-flow", _request_timeout=REQUEST_TIMEOUT)
    secret = k8s.CoreV1Api(api_client).read_namespaced_secret(flow["spec"]["secretName"], NAMESPACE)
    leaf = x509.load_pem_x509_certificates(base64.b64decode(secret.data["tls.crt"]))[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert flow["spec"]["dnsNames"] == names.get_values_for_type(x509.DNSName)
    delegation = custom.get_namespaced_custom_object("projectcontour.io", "v1", "contour-internal",
                                                     "tlscertificatedelegations", "default-delegation")
    assert delegation["spec"]["delegations"][0]["secretName"] == sandbox.scenario.objects.delegation_secret
    knative = custom.list_namespaced_custom_object("serving.knative.dev", "v1", SERVICES_NAMESPACE, "services")
    assert [s["metadata"]["name"] for s in knative["items"]] == sorted(sandbox.scenario.objects.knative_services)
    assert all(s["status"]["url"].startswith(f"http://{s['metadata']['name']}.") for s in knative["items"])


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=lambda s: s.name)
def test_every_object_of_every_scenario_validates_through_the_typed_models(scenario):
    with start_sandbox(scenario) as running, \
            k8s_config.new_client_from_config(str(running.kubeconfig_path)) as api_client:
        for plural, typed_list in TYPED_LISTS.items():
            group = "discovery.k8s.io" if plural == "endpointslices" else ""
            listed = typed_list(api_client)(_request_timeout=REQUEST_TIMEOUT)
            assert _keys(listed.items) == _keys(_stored(running, plural, group=group)), plural
