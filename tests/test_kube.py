"""probes.kube against the emulated API server through the real kubernetes client: kubeconfig handling, every
read, error translation, and kubectl's choice of pods behind a service."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import time

import pytest
import yaml

from expect import assert_no_hang
from probes.errors import ClusterError, ClusterForbidden, ClusterNotFound, ClusterUnauthorized, UsageError
from probes.kube import Cluster, PodTarget, Secret, kubectl_pod_order
from probes.timeouts import Timeouts
from sandbox.apiserver import ApiServer, ObjectStore, secret_object

try:
    from probes import helm
except ImportError:  # pragma: no cover - probes.helm is written in parallel
    helm = None

KEY_PEM = b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBbogus\n-----END EC PRIVATE KEY-----\n"


def _release_secret(namespace: str, release: str, revision: int, status: str, config: dict) -> dict:
    document = {"name": release, "namespace": namespace, "version": revision, "info": {"status": status},
                "chart": {"metadata": {"name": "direktiv", "version": "0.4.1"}, "values": {"flow": {"replicas": 1}}},
                "config": config, "manifest": ""}
    payload = base64.b64encode(gzip.compress(json.dumps(document).encode()))
    return secret_object(namespace, f"sh.helm.release.v1.{release}.v{revision}", {"release": payload},
                         type="helm.sh/release.v1",
                         labels={"owner": "helm", "name": release, "status": status, "version": str(revision)})


def _pod(name: str, *, phase="Running", ready=True, node="node-1", ready_since="2024-01-01T00:00:00Z",
         restarts=0, created="2023-12-31T00:00:00Z", labels=None, ports=None) -> dict:
    conditions = [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ready_since}]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels or {"app": "direktiv-api"},
                     "creationTimestamp": created},
        "spec": {"nodeName": node, "containers": [{"name": "api", "image": "direktiv/api",
                                                   "ports": ports or [{"name": "https", "containerPort": 8443}]}]},
        "status": {"phase": phase, "conditions": conditions,
                   "containerStatuses": [{"name": "api", "restartCount": restarts, "ready": ready,
                                          "image": "direktiv/api", "imageID": "", "started": True}]},
    }


def _service(name: str, *, selector=None, port=8080, target=None, headless=False) -> dict:
    spec: dict = {"ports": [{"name": "http", "port": port, "protocol": "TCP"}]}
    if target is not None:
        spec["ports"][0]["targetPort"] = target
    if selector is not None:
        spec["selector"] = selector
    spec["clusterIP"] = "None" if headless else "10.96.0.10"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def _store() -> ObjectStore:
    store = ObjectStore()
    store.add(secret_object("default", "direktiv-cert-flow",
                            {"tls.crt": b"-----BEGIN CERTIFICATE-----\n", "tls.key": KEY_PEM, "ca.crt": b"CA"},
                            type="kubernetes.io/tls"))
    store.add(_release_secret("default", "direktiv", 1, "superseded", {"ui": {"certificate": "old"}}))
    store.add(_release_secret("default", "direktiv", 2, "deployed", {"ui": {"certificate": "direktiv-cert-ui"}}))
    store.add(_release_secret("default", "direktiv", 3, "failed", {"ui": {"certificate": "broken"}}))
    store.add({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "config-contour", "namespace": "knative-serving-knative"},
               "data": {"default-tls-secret": "contour-internal/direktiv-cert-knative"}})
    store.add({"apiVersion": "projectcontour.io/v1", "kind": "TLSCertificateDelegation",
               "metadata": {"name": "default-delegation", "namespace": "contour-internal"},
               "spec": {"delegations": [{"secretName": "direktiv-cert-knative", "targetNamespaces": ["*"]}]}})
    store.add(_service("direktiv-api-service", selector={"app": "direktiv-api"}, target="https"))
    store.add(_service("direktiv-flow-hl", selector={"app": "direktiv-api"}, port=7777, target=9999, headless=True))
    store.add(_service("direktiv-numeric", selector={"app": "direktiv-api"}, target=8443))
    store.add(_service("external", selector=None))
    store.add(_pod("api-old-ready", ready_since="2024-01-01T00:00:00Z"))
    store.add(_pod("api-new-ready", ready_since="2024-02-01T00:00:00Z"))
    store.add(_pod("api-restarted", restarts=3))
    store.add(_pod("api-not-ready", ready=False))
    store.add(_pod("api-pending", phase="Pending", ready=False))
    store.add(_pod("api-unscheduled", phase="Pending", ready=False, node=""))
    store.add(_pod("api-unnamed-port", ports=[{"containerPort": 8443}]))
    store.add(_pod("other-app", labels={"app": "other"}))
    return store


@pytest.fixture(scope="module")
def api():
    with ApiServer(_store()) as server:
        yield server


@pytest.fixture(scope="module")
def kubeconfig(api, tmp_path_factory):
    return api.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config", context="sandbox", namespace="direktiv")


@pytest.fixture(scope="module")
def cluster(kubeconfig):
    with Cluster.from_kubeconfig(kubeconfig, timeouts=Timeouts(api=2.0)) as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def _no_faults(api):
    yield
    api.store.clear_faults()


# --- kubeconfig ------------------------------------------------------------------------------------------------


def test_the_kubeconfig_gives_server_context_and_namespace(cluster, api):
    assert (cluster.server, cluster.context, cluster.namespace) == (api.url, "sandbox", "direktiv")
    assert cluster.server_version().startswith("v1.")


def test_kubeconfig_comes_from_KUBECONFIG_then_home(kubeconfig, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'absent'}:{kubeconfig}")  # missing entries are skipped
    assert Cluster.from_kubeconfig().context == "sandbox"
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_bytes(kubeconfig.read_bytes())
    assert Cluster.from_kubeconfig().server.startswith("https://127.0.0.1:")


def test_a_missing_kubeconfig_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(UsageError, match=r"No kubeconfig at .*\.kube/config \(from ~/.kube/config\); pass"):
        Cluster.from_kubeconfig()
    with pytest.raises(UsageError, match="from --kubeconfig"):
        Cluster.from_kubeconfig(tmp_path / "nope")


@pytest.mark.parametrize("content, words", [
    ("{not: [yaml", "cannot be read"),
    ("just a string", "is not a kubeconfig"),
    ("\xff\xfe", "is not a kubeconfig"),
])
def test_a_garbage_kubeconfig_is_a_usage_error(tmp_path, content, words):
    path = tmp_path / "config"
    path.write_text(content)
    with pytest.raises(UsageError, match=words) as bad:
        Cluster.from_kubeconfig(path)
    assert str(path) in str(bad.value) and "\n" not in str(bad.value)


def test_an_unknown_context_names_the_known_ones(kubeconfig):
    with pytest.raises(UsageError, match=r"The context 'prod' is not in the kubeconfig .*; use one of: sandbox\."):
        Cluster.from_kubeconfig(kubeconfig, context="prod")


def test_a_broken_context_is_a_usage_error(kubeconfig, tmp_path):
    config = yaml.safe_load(kubeconfig.read_text())
    config["contexts"][0]["context"]["cluster"] = "missing"
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(UsageError, match="cannot be used with context 'sandbox'"):
        Cluster.from_kubeconfig(path)


# --- reads -----------------------------------------------------------------------------------------------------


def test_a_secret_is_decoded_and_its_key_masked(cluster):
    secret = cluster.secret("default", "direktiv-cert-flow")
    assert isinstance(secret, Secret) and secret.type == "kubernetes.io/tls"
    assert secret.data["tls.key"] == KEY_PEM and secret.data["ca.crt"] == b"CA"
    shown = repr(secret) + str(secret)
    assert "PRIVATE" not in shown and "bogus" not in shown and "'tls.key': <redacted>" in shown
    assert cluster.secret("default", "absent") is None


def test_service_configmap_and_custom_objects(cluster):
    assert cluster.service("default", "direktiv-api-service")["spec"]["ports"][0]["targetPort"] == "https"
    assert cluster.service("default", "absent") is None
    assert cluster.configmap("knative-serving-knative", "config-contour") == {
        "default-tls-secret": "contour-internal/direktiv-cert-knative"}
    assert cluster.configmap("knative-serving-knative", "absent") is None
    delegations = cluster.custom_objects("projectcontour.io", "v1", "contour-internal", "tlscertificatedelegations")
    assert [d["metadata"]["name"] for d in delegations] == ["default-delegation"]
    assert cluster.custom_objects("projectcontour.io", "v1", "elsewhere", "tlscertificatedelegations") == []
    assert cluster.custom_objects("cert-manager.io", "v1", "default", "certificates") is None  # CRD absent


def test_the_helm_release_is_the_latest_deployed_revision(cluster):
    release = cluster.helm_release("default", "direktiv")
    if helm is None:  # pragma: no cover
        pytest.skip("probes.helm is not there yet")
    assert (release.name, release.revision, release.status) == ("direktiv", 2, "deployed")
    assert release.values["ui"]["certificate"] == "direktiv-cert-ui"
    assert cluster.helm_release("default", "absent") is None


# --- pods behind a service -------------------------------------------------------------------------------------


def test_ready_pods_follow_kubectls_order_and_resolve_named_ports(cluster):
    targets = cluster.ready_pods("default", "direktiv-api-service", 8080)
    assert [t.name for t in targets] == [
        "api-old-ready", "api-restarted", "api-new-ready",  # ready: longest ready first, then fewer restarts
        "api-not-ready", "api-pending", "api-unscheduled",  # then Running, Pending, unassigned
    ]  # api-unnamed-port has no container port named "https": the service cannot reach it either
    assert targets[0] == PodTarget("default", "api-old-ready", 8443, True, "Running")
    assert [t.ready for t in targets] == [True, True, True, False, False, False]


def test_numeric_and_headless_ports_follow_kubectl(cluster):
    assert {t.port for t in cluster.ready_pods("default", "direktiv-numeric", 8080)} == {8443}
    # kubectl forwards to the service port itself on a headless service, whatever targetPort says
    assert {t.port for t in cluster.ready_pods("default", "direktiv-flow-hl", 7777)} == {7777}


def test_service_edge_cases(cluster):
    assert cluster.ready_pods("default", "external", 8080) == []
    with pytest.raises(ClusterNotFound, match="service default/absent"):
        cluster.ready_pods("default", "absent", 8080)
    with pytest.raises(ClusterError, match=r"service default/direktiv-api-service has no port 9090 \(its ports: 8080\)"):
        cluster.ready_pods("default", "direktiv-api-service", 9090)


def test_kubectl_order_treats_zero_times_as_least_active():
    old = _pod("a", created="2020-01-01T00:00:00Z")
    undated = _pod("b")
    undated["metadata"].pop("creationTimestamp")
    assert sorted([undated, old], key=kubectl_pod_order) == [old, undated]


# --- errors ----------------------------------------------------------------------------------------------------


def test_forbidden_reads_name_the_object_and_quote_the_server(api, cluster):
    api.store.forbid("secrets")
    with pytest.raises(ClusterForbidden) as forbidden:
        cluster.secret("default", "direktiv-cert-flow")
    message = str(forbidden.value)
    assert message.startswith("Reading secret default/direktiv-cert-flow is forbidden by RBAC: ")
    assert 'cannot get resource "secrets" in API group "" in the namespace "default"' in message
    assert forbidden.value.status == 403 and forbidden.value.obj == "secret default/direktiv-cert-flow"


def test_a_bad_token_is_unauthorized(kubeconfig, tmp_path):
    config = yaml.safe_load(kubeconfig.read_text())
    config["users"][0]["user"]["token"] = "wrong"
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ClusterUnauthorized, match="credentials of context 'sandbox'"):
        Cluster.from_kubeconfig(path).configmap("knative-serving-knative", "config-contour")


def test_server_errors_and_timeouts_are_cluster_errors(api, kubeconfig):
    cluster = Cluster.from_kubeconfig(kubeconfig, timeouts=Timeouts(api=0.2))
    api.store.fail("configmaps", 500)
    with pytest.raises(ClusterError, match="configmap knative-serving-knative/config-contour failed with HTTP 500"):
        cluster.configmap("knative-serving-knative", "config-contour")
    api.store.clear_faults()
    api.store.delay("configmaps", 2)
    started = time.monotonic()
    with pytest.raises(ClusterError, match=r"did not answer within 0\.2s"):
        cluster.configmap("knative-serving-knative", "config-contour")
    assert_no_hang(time.monotonic() - started, 0.2, what="a read the API server delays 2s")  # no retries either


def test_an_unreachable_api_server_is_a_cluster_error(kubeconfig, tmp_path):
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    config = yaml.safe_load(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ClusterError, match=f"the API server at https://127.0.0.1:{port} could not be reached"):
        Cluster.from_kubeconfig(path).secret("default", "direktiv-cert-flow")
