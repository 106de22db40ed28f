"""Real Kubernetes clients against a running sandbox.

The official Python client's typed API reads every kind the emulated API server serves (its pydantic models refuse
what a real server never sends, such as an ownerReference without uid or a container status without imageID), the
discovery documents and the Status of every error; its dynamic client finds every resource through discovery.
kubectl lists, prints the server's Tables, finds CRDs through discovery, reports errors in the server's words and
asks ``auth can-i``, which the sandbox answers from its own forbid rules.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import uuid
from contextlib import ExitStack

import pytest
from cryptography import x509
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.dynamic import DynamicClient

from sandbox.apiserver import DEFAULT_USER, SERVER_VERSION
from sandbox.cluster import KNATIVE_SERVING, start_sandbox
from sandbox.faults import patch
from sandbox.scenarios import ALL_SCENARIOS, NAMESPACE, SERVICES_NAMESPACE

KUBECTL = shutil.which("kubectl")
# A kubectl call is a few discovery GETs and a request on 127.0.0.1, well under a second: 30 s bounds a hang.
KUBECTL_TIMEOUT = 30.0
# The same bound for one call of the Python client.
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

needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox("conformant") as running:
        yield running


@pytest.fixture(scope="module")
def api_client(sandbox):
    with k8s_config.new_client_from_config(str(sandbox.kubeconfig_path)) as client:
        yield client


@pytest.fixture(scope="module")
def without_cert_manager():
    """A scenario whose cluster has no cert-manager (its CRDs are not installed)."""
    with start_sandbox("plaintext") as running:
        assert not running.scenario.objects.cert_manager
        yield running


@pytest.fixture(autouse=True)
def _no_faults(sandbox):
    yield
    sandbox.store.clear_faults()


def _stored(running, plural: str, namespace: str | None = None, *, group: str = "") -> list[dict]:
    return running.store.list(group, plural, namespace)[0]


def _keys(objects) -> set[tuple[str, str]]:
    """(namespace, name) of JSON objects or typed models."""
    metadata = [o["metadata"] if isinstance(o, dict) else o.metadata for o in objects]
    return {(m.get("namespace"), m["name"]) if isinstance(m, dict) else (m.namespace, m.name) for m in metadata}


def _status_of(api_client, error: k8s.ApiException) -> k8s.V1Status:
    """The error's body, read as the Status model (which fails on anything else)."""
    assert error.headers["Content-Type"] == "application/json"
    return api_client.deserialize(error.body, "V1Status", "application/json")


def _http_status(api_client, path: str) -> int:
    """The status of a GET of ``path`` (the truth a review's answer must match)."""
    method, url, headers, _, _ = api_client.param_serialize("GET", path, auth_settings=["BearerToken"],
                                                            header_params={"Accept": "application/json"})
    response = api_client.call_api(method, url, header_params=headers, _request_timeout=REQUEST_TIMEOUT)
    response.read()
    return response.status


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


def test_discovery_through_the_typed_api(sandbox, api_client):
    assert k8s.VersionApi(api_client).get_code().git_version == SERVER_VERSION["gitVersion"]
    assert k8s.CoreApi(api_client).get_api_versions().versions == ["v1"]
    groups = {g.name: g for g in k8s.ApisApi(api_client).get_api_versions().groups}
    assert set(groups) == {g for g, _, _, _ in sandbox.store.resources() if g} | {"authorization.k8s.io"}
    assert groups["cert-manager.io"].preferred_version.group_version == "cert-manager.io/v1"
    core = {r.name: r for r in k8s.CoreV1Api(api_client).get_api_resources().resources}
    assert {name for name in core if "/" not in name} == {p for g, _, p, _ in sandbox.store.resources() if not g}
    pods = core["pods"]
    assert (pods.kind, pods.singular_name, pods.namespaced, pods.short_names) == ("Pod", "pod", True, ["po"])
    assert {"get", "list", "watch"} <= set(core["secrets"].verbs)
    assert (core["pods/portforward"].kind, sorted(core["pods/portforward"].verbs)) == (
        "PodPortForwardOptions", ["create", "get"])
    cert_manager = {r.name: r for r in k8s.CustomObjectsApi(api_client).get_api_resources("cert-manager.io", "v1")
                    .resources}
    assert (cert_manager["certificates"].kind, cert_manager["certificates"].short_names) == (
        "Certificate", ["cert", "certs"])


def test_the_dynamic_client_finds_and_lists_every_served_resource(sandbox, api_client, tmp_path):
    dynamic = DynamicClient(api_client, cache_file=str(tmp_path / "discovery.json"))
    for group, version, plural, kind in sandbox.store.resources():
        resource = dynamic.resources.get(api_version=f"{group}/{version}" if group else version, kind=kind)
        assert resource.name == plural
        listed = resource.get(_request_timeout=REQUEST_TIMEOUT)
        assert _keys(listed.items) == _keys(_stored(sandbox, plural, group=group)), (group, plural)


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=lambda s: s.name)
def test_every_object_of_every_scenario_validates_through_the_typed_models(scenario):
    with start_sandbox(scenario) as running, \
            k8s_config.new_client_from_config(str(running.kubeconfig_path)) as api_client:
        for plural, typed_list in TYPED_LISTS.items():
            group = "discovery.k8s.io" if plural == "endpointslices" else ""
            listed = typed_list(api_client)(_request_timeout=REQUEST_TIMEOUT)
            assert _keys(listed.items) == _keys(_stored(running, plural, group=group)), plural


def test_errors_are_status_objects_through_the_typed_client(sandbox, api_client, tmp_path):
    core = k8s.CoreV1Api(api_client)
    with pytest.raises(k8s.ApiException) as missing:
        core.read_namespaced_secret("no-such-secret", NAMESPACE, _request_timeout=REQUEST_TIMEOUT)
    status = _status_of(api_client, missing.value)
    assert (missing.value.status, status.code, status.reason, status.status) == (404, 404, "NotFound", "Failure")
    assert status.message == 'secrets "no-such-secret" not found'
    assert (status.details.name, status.details.kind) == ("no-such-secret", "secrets")

    sandbox.store.forbid("secrets", NAMESPACE)
    with pytest.raises(k8s.ApiException) as forbidden:
        core.read_namespaced_secret("direktiv-cert-flow", NAMESPACE, _request_timeout=REQUEST_TIMEOUT)
    status = _status_of(api_client, forbidden.value)
    assert (forbidden.value.status, status.code, status.reason) == (403, 403, "Forbidden")
    assert status.message == (f'secrets "direktiv-cert-flow" is forbidden: User "{DEFAULT_USER}" cannot get '
                              f'resource "secrets" in API group "" in the namespace "{NAMESPACE}"')
    with pytest.raises(k8s.ApiException) as cluster_wide:
        core.list_secret_for_all_namespaces(_request_timeout=REQUEST_TIMEOUT)
    assert _status_of(api_client, cluster_wide.value).message == (
        f'secrets is forbidden: User "{DEFAULT_USER}" cannot list resource "secrets" in API group "" at the '
        "cluster scope")

    with pytest.raises(k8s.ApiException) as unknown:
        k8s.CustomObjectsApi(api_client).list_cluster_custom_object("acme.example", "v1", "things")
    status = _status_of(api_client, unknown.value)
    assert (status.code, status.reason, status.message) == (
        404, "NotFound", "the server could not find the requested resource")

    wrong = sandbox.api.write_kubeconfig(tmp_path / "wrong-token", token="not-the-token")
    with k8s_config.new_client_from_config(str(wrong)) as stranger, pytest.raises(k8s.ApiException) as refused:
        k8s.CoreV1Api(stranger).list_namespaced_pod(NAMESPACE, _request_timeout=REQUEST_TIMEOUT)
    status = _status_of(api_client, refused.value)
    assert (refused.value.status, status.reason, status.message) == (401, "Unauthorized", "Unauthorized")


def test_an_absent_crd_is_absent_from_discovery(without_cert_manager):
    with k8s_config.new_client_from_config(str(without_cert_manager.kubeconfig_path)) as api_client:
        groups = {g.name for g in k8s.ApisApi(api_client).get_api_versions().groups}
        assert "cert-manager.io" not in groups and "serving.knative.dev" in groups
        custom = k8s.CustomObjectsApi(api_client)
        with pytest.raises(k8s.ApiException) as resources:
            custom.get_api_resources("cert-manager.io", "v1", _request_timeout=REQUEST_TIMEOUT)
        with pytest.raises(k8s.ApiException) as listing:
            custom.list_namespaced_custom_object("cert-manager.io", "v1", NAMESPACE, "certificates",
                                                 _request_timeout=REQUEST_TIMEOUT)
        for error in (resources.value, listing.value):
            assert (error.status, _status_of(api_client, error).reason) == (404, "NotFound")


# --- kubectl ----------------------------------------------------------------------------------------------------


def _kubectl(running, tmp_path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """kubectl against the sandbox only (no other kubeconfig, a private HOME and discovery cache)."""
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(running.kubeconfig_path), "--cache-dir", str(tmp_path / "cache"), *args],
        capture_output=True, text=True, timeout=KUBECTL_TIMEOUT,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _rows(output: str) -> list[list[str]]:
    """kubectl's table output, cells split where two or more spaces separate columns."""
    return [re.split(r"\s{2,}", line.strip()) for line in output.splitlines() if line.strip()]


@needs_kubectl
def test_kubectl_gets_json_lists(sandbox, tmp_path):
    listed = json.loads(_kubectl(sandbox, tmp_path, "get", "pods,svc,secrets", "-A", "-o", "json").stdout)
    got = {(item["kind"], item["metadata"]["namespace"], item["metadata"]["name"]) for item in listed["items"]}
    assert got == {(kind, *key) for kind, plural in (("Pod", "pods"), ("Service", "services"), ("Secret", "secrets"))
                   for key in _keys(_stored(sandbox, plural))}


@needs_kubectl
def test_kubectl_prints_the_servers_tables(sandbox, tmp_path):
    rows = _rows(_kubectl(sandbox, tmp_path, "get", "pods,svc,secrets", "-A").stdout)
    headers = [row for row in rows if row[0] == "NAMESPACE"]
    assert headers == [["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"],
                       ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
                       ["NAMESPACE", "NAME", "TYPE", "DATA", "AGE"]]
    by_name = {tuple(row[:2]): row[2:] for row in rows}
    for pod in _stored(sandbox, "pods"):
        containers = len(pod["spec"]["containers"])
        cells = by_name[(pod["metadata"]["namespace"], f"pod/{pod['metadata']['name']}")]
        assert cells[:3] == [f"{containers}/{containers}", "Running", "0"]
    flow = _flow(sandbox)
    assert by_name[(NAMESPACE, "service/direktiv-flow-hl")][:4] == ["ClusterIP", "None", "<none>", f"{flow.port}/TCP"]
    assert by_name[("contour-external", "service/envoy")][2:4] == ["192.0.2.10", "80/TCP,443/TCP"]
    assert by_name[(NAMESPACE, "secret/direktiv-cert-flow")][:2] == ["kubernetes.io/tls", "3"]

    def crash(pod: dict) -> None:
        pod["status"]["conditions"] = [dict(c, status="False") if c["type"] == "Ready" else c
                                       for c in pod["status"]["conditions"]]
        for status in pod["status"]["containerStatuses"]:
            status.update(ready=False, restartCount=7, state={"waiting": {"reason": "CrashLoopBackOff"}})

    with ExitStack() as undo:
        patch(sandbox, undo, "pods", flow.namespace, flow.pod, crash)
        header, row = _rows(_kubectl(sandbox, tmp_path, "get", "pod", flow.pod, "-n", flow.namespace,
                                     "-o", "wide").stdout)
    assert header[:6] == ["NAME", "READY", "STATUS", "RESTARTS", "IP", "NODE"]
    containers = len(sandbox.store.get("", "pods", flow.namespace, flow.pod)["spec"]["containers"])
    assert row[:4] == [flow.pod, f"0/{containers}", "CrashLoopBackOff", str(7 * containers)]


@needs_kubectl
def test_kubectl_finds_the_crds_through_discovery(sandbox, without_cert_manager, tmp_path):
    rows = _rows(_kubectl(sandbox, tmp_path, "get", "certificates.cert-manager.io", "-A").stdout)
    assert rows[0] == ["NAMESPACE", "NAME", "READY", "SECRET", "AGE"]
    stored = {(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in
              _stored(sandbox, "certificates", group="cert-manager.io")}
    assert {tuple(row[:2]) for row in rows[1:]} == set(stored)
    for namespace, name, ready, secret, _ in rows[1:]:
        certificate = stored[(namespace, name)]
        assert (ready, secret) == (certificate["status"]["conditions"][0]["status"], certificate["spec"]["secretName"])
    named = _kubectl(sandbox, tmp_path, "get", "ksvc", "-n", SERVICES_NAMESPACE, "-o", "name").stdout.split()
    assert named == [f"service.serving.knative.dev/{n}" for n in sorted(sandbox.scenario.objects.knative_services)]
    kinds = set(_kubectl(sandbox, tmp_path, "api-resources", "-o", "name").stdout.split())
    assert kinds == {f"{p}.{g}" if g else p for g, _, p, _ in sandbox.store.resources()} | {
        "selfsubjectaccessreviews.authorization.k8s.io", "selfsubjectrulesreviews.authorization.k8s.io"}

    absent = _kubectl(without_cert_manager, tmp_path / "other", "get", "certificates.cert-manager.io", "-A",
                      check=False)
    assert absent.returncode == 1
    assert 'the server doesn\'t have a resource type "certificates"' in absent.stderr


@needs_kubectl
def test_kubectl_reports_errors_in_the_servers_words(sandbox, tmp_path):
    missing = _kubectl(sandbox, tmp_path, "get", "secret", "no-such-secret", "-n", NAMESPACE, check=False)
    assert (missing.returncode, missing.stderr.strip()) == (
        1, 'Error from server (NotFound): secrets "no-such-secret" not found')
    unknown = _kubectl(sandbox, tmp_path, "get", "--raw", "/apis/acme.example/v1/things", check=False)
    assert (unknown.returncode, unknown.stderr.strip()) == (
        1, "Error from server (NotFound): the server could not find the requested resource")
    sandbox.store.forbid("secrets", NAMESPACE)
    forbidden = _kubectl(sandbox, tmp_path, "get", "secrets", "-n", NAMESPACE, check=False)
    assert (forbidden.returncode, forbidden.stderr.strip()) == (
        1, f'Error from server (Forbidden): secrets is forbidden: User "{DEFAULT_USER}" cannot list resource '
           f'"secrets" in API group "" in the namespace "{NAMESPACE}"')


@needs_kubectl
def test_kubectl_auth_can_i_tells_the_truth(sandbox, api_client, tmp_path):
    flow = _flow(sandbox)

    def can_i(*args: str) -> str:
        result = _kubectl(sandbox, tmp_path, "auth", "can-i", *args, check=False)
        assert (result.returncode, result.stderr) in ((0, ""), (1, "")), result
        return result.stdout.strip()

    assert can_i("create", "pods", "--subresource=portforward", "-n", NAMESPACE) == "yes"
    assert can_i("list", "certificates.cert-manager.io", "-A") == "yes"
    assert can_i("delete", "secrets", "-n", NAMESPACE) == "no"
    assert can_i("watch", "pods", "-n", NAMESPACE) == "no"
    assert can_i("get", "/version") == "yes"

    sandbox.store.forbid("secrets", NAMESPACE)
    sandbox.store.forbid("pods/portforward", flow.namespace, name=flow.pod)
    cases = {  # can-i arguments -> the request whose outcome must match the answer
        ("get", "secrets/direktiv-cert-flow", "-n", NAMESPACE): f"/api/v1/namespaces/{NAMESPACE}/secrets/"
                                                                "direktiv-cert-flow",
        ("list", "secrets", "-n", NAMESPACE): f"/api/v1/namespaces/{NAMESPACE}/secrets",
        ("list", "secrets", "-n", "cert-manager"): "/api/v1/namespaces/cert-manager/secrets",
        ("list", "secrets", "-A"): "/api/v1/secrets",
        ("list", "pods", "-A"): "/api/v1/pods",
    }
    for args, path in cases.items():
        assert can_i(*args) == ("yes" if _http_status(api_client, path) == 200 else "no"), args
    assert [can_i(*args) for args in cases] == ["no", "no", "yes", "no", "yes"]
    assert can_i("create", f"pods/{flow.pod}", "--subresource=portforward", "-n", flow.namespace) == "no"
    assert can_i("create", "pods/another", "--subresource=portforward", "-n", flow.namespace) == "yes"


@needs_kubectl
def test_kubectl_auth_can_i_list_names_what_may_be_read(sandbox, tmp_path):
    def rules() -> tuple[dict[str, str], str]:
        result = _kubectl(sandbox, tmp_path, "auth", "can-i", "--list", "-n", NAMESPACE)
        header, *rows = _rows(result.stdout)
        assert header == ["Resources", "Non-Resource URLs", "Resource Names", "Verbs"]
        return {row[0]: row[-1] for row in rows if not row[0].startswith("[")}, result.stderr

    granted, warnings = rules()
    assert warnings == ""
    assert (granted["secrets"], granted["pods/portforward"], granted["pods/status"]) == (
        "[get list]", "[get create]", "[get]")
    assert granted["certificates.cert-manager.io"] == granted["services.serving.knative.dev"] == "[get list]"

    sandbox.store.forbid("secrets", NAMESPACE)
    sandbox.store.forbid("configmaps", NAMESPACE, name="config-contour")
    granted, warnings = rules()
    assert "secrets" not in granted and "configmaps" not in granted and granted["pods"] == "[get list]"
    assert "the list may be incomplete" in warnings and "configmaps" in warnings
