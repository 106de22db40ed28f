"""The emulated kube-apiserver, read through the real ``kubernetes`` client (typed models validate the wire
shapes) and, for the port-forward protocol, through a raw websocket."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import ssl
import stat
import threading

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from websocket import ABNF, WebSocket, WebSocketBadStatusException

from sandbox.apiserver import (
    MAX_FRAME,
    ApiServer,
    ObjectStore,
    containerd_refused_message,
    parse_label_selector,
    secret_object,
)
from sandbox.tables import human_duration


def _pod(name: str, labels: dict | None = None, namespace: str = "default") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"nodeName": "node-1", "containers": [
            {"name": "flow", "image": "direktiv/flow:v0.4.1", "ports": [{"name": "grpc", "containerPort": 7777}]},
        ]},
        "status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"},
        ]},
    }


def _store() -> ObjectStore:
    store = ObjectStore()
    store.add(secret_object("default", "direktiv-cert-flow", {"tls.crt": b"CERT", "tls.key": b"KEY"},
                            type="kubernetes.io/tls", labels={"app": "direktiv", "tier": "flow"}))
    store.add(secret_object("default", "other", {"x": b"1"}, labels={"app": "other"}))
    store.add(secret_object("cert-manager", "direktiv-ca", {"ca.crt": b"CA"}, type="kubernetes.io/tls"))
    store.add({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "direktiv-flow-hl", "namespace": "default"},
               "spec": {"clusterIP": "None", "selector": {"app": "direktiv-flow"},
                        "ports": [{"name": "grpc", "port": 7777, "targetPort": 7777, "protocol": "TCP"}]}})
    store.add(_pod("flow-0", {"app": "direktiv-flow"}))
    store.add(_pod("flow-1", {"app": "direktiv-flow"}))
    store.add({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "config-contour", "namespace": "knative-serving-knative"},
               "data": {"default-tls-secret": "contour-internal/direktiv-cert-knative"}})
    store.add({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "direktiv-flow-hl", "namespace": "default"},
               "subsets": [{"addresses": [{"ip": "10.0.0.5"}], "ports": [{"name": "grpc", "port": 7777}]}]})
    store.add({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "direktiv-flow-hl-abcde", "namespace": "default",
                            "labels": {"kubernetes.io/service-name": "direktiv-flow-hl"}},
               "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.5"], "conditions": {"ready": True}}],
               "ports": [{"name": "grpc", "port": 7777, "protocol": "TCP"}]})
    store.add({"apiVersion": "projectcontour.io/v1", "kind": "TLSCertificateDelegation",
               "metadata": {"name": "default-delegation", "namespace": "contour-internal"},
               "spec": {"delegations": [{"secretName": "direktiv-cert-knative", "targetNamespaces": ["*"]}]}})
    store.add({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
               "metadata": {"name": "greeter", "namespace": "direktiv-services-direktiv"}, "spec": {}})
    store.define("cert-manager.io/v1", "Certificate")  # CRD installed, no objects yet
    return store


@pytest.fixture(scope="module")
def api():
    with ApiServer(_store(), port_target=lambda ns, pod, port: None) as server:
        yield server


@pytest.fixture(scope="module")
def api_client(api, tmp_path_factory):
    path = api.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")
    with k8s_config.new_client_from_config(str(path)) as api_client:
        yield api_client


@pytest.fixture(autouse=True)
def _no_faults(api):
    yield
    api.store.clear_faults()


def _raw(api, path: str, token: str | None = None, *, method: str = "GET", body: bytes | None = None,
         headers: dict | None = None) -> tuple[int, str, bytes]:
    context = ssl.create_default_context(cadata=api.ca_pem.decode())
    host, port = api.url.removeprefix("https://").split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=5)
    try:
        conn.request(method, path, body=body,
                     headers={"Authorization": f"Bearer {token or api.token}", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


# --- reads ------------------------------------------------------------------------------------------------------


def test_every_core_kind_reads_through_the_typed_client(api_client):
    core = k8s.CoreV1Api(api_client)
    secret = core.read_namespaced_secret("direktiv-cert-flow", "default", _request_timeout=5)
    assert secret.type == "kubernetes.io/tls"
    assert base64.b64decode(secret.data["tls.crt"]) == b"CERT"
    assert core.read_namespaced_service("direktiv-flow-hl", "default").spec.cluster_ip == "None"
    assert core.read_namespaced_pod("flow-0", "default").spec.containers[0].ports[0].container_port == 7777
    assert core.read_namespaced_config_map("config-contour", "knative-serving-knative").data == {
        "default-tls-secret": "contour-internal/direktiv-cert-knative"}
    assert core.read_namespaced_endpoints("direktiv-flow-hl", "default").subsets[0].addresses[0].ip == "10.0.0.5"
    slices = k8s.DiscoveryV1Api(api_client).list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=direktiv-flow-hl")
    assert [s.metadata.name for s in slices.items] == ["direktiv-flow-hl-abcde"]


def test_custom_objects_read_and_a_missing_crd_is_a_not_found_status(api, api_client):
    custom = k8s.CustomObjectsApi(api_client)
    delegation = custom.get_namespaced_custom_object(
        "projectcontour.io", "v1", "contour-internal", "tlscertificatedelegations", "default-delegation")
    assert delegation["spec"]["delegations"][0]["targetNamespaces"] == ["*"]
    listed = custom.list_namespaced_custom_object("serving.knative.dev", "v1", "direktiv-services-direktiv",
                                                  "services")
    assert listed["kind"] == "ServiceList" and listed["items"][0]["kind"] == "Service"
    empty = custom.list_namespaced_custom_object("cert-manager.io", "v1", "default", "certificates")
    assert empty["items"] == []
    with pytest.raises(k8s.ApiException) as missing:
        custom.get_namespaced_custom_object("cert-manager.io", "v1", "default", "certificates", "nope")
    assert json.loads(missing.value.body)["message"] == 'certificates.cert-manager.io "nope" not found'
    status, content_type, body = _raw(api, "/apis/acme.example/v1/namespaces/default/things")
    assert (status, content_type) == (404, "application/json")
    assert json.loads(body) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": "the server could not find the requested resource",
                                "reason": "NotFound", "code": 404}


def test_namespaces_are_those_of_the_objects_and_the_systems(api, api_client):
    core = k8s.CoreV1Api(api_client)
    names = [ns.metadata.name for ns in core.list_namespace(_request_timeout=5).items]
    assert names == sorted(["cert-manager", "contour-internal", "default", "direktiv-services-direktiv",
                            "knative-serving-knative", "kube-node-lease", "kube-public", "kube-system"])
    default = core.read_namespace("default", _request_timeout=5)
    assert (default.status.phase, default.metadata.labels) == ("Active", {"kubernetes.io/metadata.name": "default"})
    status, _, body = _raw(api, "/api/v1/namespaces/wrong")
    assert (status, json.loads(body)["message"]) == (404, 'namespaces "wrong" not found')
    api.store.forbid("namespaces")
    status, _, body = _raw(api, "/api/v1/namespaces/default")
    assert status == 403 and 'cannot get resource "namespaces" in API group "" at the cluster scope' in \
        json.loads(body)["message"]


def test_a_namespace_taken_away_is_gone_from_get_and_list(api_client):
    store = _store()
    store.remove_namespace("cert-manager")
    with ApiServer(store) as server:
        status, _, _ = _raw(server, "/api/v1/namespaces/cert-manager")
        _, _, body = _raw(server, "/api/v1/namespaces")
    assert status == 404 and "cert-manager" not in [o["metadata"]["name"] for o in json.loads(body)["items"]]


def test_list_envelopes_have_the_real_shape(api):
    status, _, body = _raw(api, "/api/v1/namespaces/nowhere/secrets")
    listed = json.loads(body)
    assert status == 200
    assert listed["kind"] == "SecretList" and listed["apiVersion"] == "v1"
    assert listed["metadata"]["resourceVersion"].isdigit()
    assert listed["items"] == []
    _, _, body = _raw(api, "/api/v1/namespaces/default/pods")
    items = json.loads(body)["items"]
    assert [p["metadata"]["name"] for p in items] == ["flow-0", "flow-1"]
    assert "kind" not in items[0] and "apiVersion" not in items[0]  # built-in list items carry neither


def test_lists_across_namespaces(api_client):
    names = {(s.metadata.namespace, s.metadata.name)
             for s in k8s.CoreV1Api(api_client).list_secret_for_all_namespaces().items}
    assert ("cert-manager", "direktiv-ca") in names and ("default", "other") in names


@pytest.mark.parametrize("selector, expected", [
    ("app=direktiv", ["direktiv-cert-flow"]),
    ("app==direktiv,tier=flow", ["direktiv-cert-flow"]),
    ("app!=direktiv", ["other"]),
    ("app in (other, nobody)", ["other"]),
    ("app notin (other),tier", ["direktiv-cert-flow"]),
    ("!tier", ["other"]),
    ("tier", ["direktiv-cert-flow"]),
    ("", ["direktiv-cert-flow", "other"]),
])
def test_label_selectors_filter_lists(api_client, selector, expected):
    listed = k8s.CoreV1Api(api_client).list_namespaced_secret("default", label_selector=selector)
    assert [s.metadata.name for s in listed.items] == expected


def test_a_malformed_label_selector_is_a_400(api_client):
    with pytest.raises(k8s.ApiException) as bad:
        k8s.CoreV1Api(api_client).list_namespaced_secret("default", label_selector="app in (a")
    assert bad.value.status == 400 and json.loads(bad.value.body)["reason"] == "BadRequest"
    with pytest.raises(ValueError):
        parse_label_selector("=x")


def test_version_and_discovery(api, api_client):
    assert k8s.VersionApi(api_client).get_code().git_version.startswith("v1.")
    _, _, body = _raw(api, "/apis")
    groups = {g["name"] for g in json.loads(body)["groups"]}
    assert groups == {"authorization.k8s.io", "cert-manager.io", "projectcontour.io", "serving.knative.dev",
                      "discovery.k8s.io"}
    _, _, body = _raw(api, "/api")
    assert json.loads(body)["versions"] == ["v1"]
    _, _, body = _raw(api, "/apis/projectcontour.io/v1")
    assert json.loads(body) == {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "projectcontour.io/v1",
                                "resources": [
        {"name": "tlscertificatedelegations", "singularName": "tlscertificatedelegation", "namespaced": True,
         "kind": "TLSCertificateDelegation", "verbs": ["create", "delete", "deletecollection", "get", "list",
                                                       "patch", "update", "watch"], "shortNames": ["tlscerts"]},
        {"name": "tlscertificatedelegations/status", "singularName": "", "namespaced": True,
         "kind": "TLSCertificateDelegation", "verbs": ["get", "patch", "update"]}]}
    status, _, body = _raw(api, "/apis/networking.k8s.io/v1")
    assert (status, json.loads(body)["reason"]) == (404, "NotFound")


# What kubectl v1.32 asks for first: aggregated discovery (which a server without it answers with the plain list).
AGGREGATED = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")


@pytest.mark.parametrize("path, kind", [("/api", "APIVersions"), ("/apis", "APIGroupList"),
                                        ("/api/v1/", "APIResourceList")])
def test_an_aggregated_discovery_accept_gets_the_plain_document(api, path, kind):
    status, content_type, body = _raw(api, path, headers={"Accept": AGGREGATED})
    assert (status, content_type, json.loads(body)["kind"]) == (200, "application/json", kind)


def test_the_status_subresource_reads_the_object(api_client):
    pod = k8s.CoreV1Api(api_client).read_namespaced_pod_status("flow-0", "default")
    assert (pod.metadata.name, pod.status.phase) == ("flow-0", "Running")


@pytest.mark.parametrize("method, path, verb", [
    ("POST", "/api/v1/namespaces/default/secrets", "create"),
    ("DELETE", "/api/v1/namespaces/default/secrets/other", "delete"),
    ("DELETE", "/api/v1/namespaces/default/secrets", "deletecollection"),
    ("PATCH", "/apis/cert-manager.io/v1/namespaces/default/certificates/x", "patch"),
    ("GET", "/api/v1/namespaces/default/pods?watch=true", "watch"),
    ("POST", "/api/v1/namespaces/default/widgets", "create"),  # authorized first, so not a 404
])
def test_what_the_user_may_not_do_is_forbidden_before_it_is_routed(api, method, path, verb):
    status, _, body = _raw(api, path, method=method, body=b"{}" if method != "GET" else None)
    assert status == 403 and f"cannot {verb} resource" in json.loads(body)["message"]


def test_a_resource_the_server_lacks_is_a_not_found_status(api):
    for path in ("/api/v1/namespaces/default/widgets", "/api/v1/namespaces/default/pods/flow-0/log", "/nowhere"):
        status, _, body = _raw(api, path)
        assert (status, json.loads(body)["message"]) == (404, "the server could not find the requested resource")


# A SelfSubjectAccessReview "may I get secrets in default?" as kubectl v1.32 posts it (protobuf).
KUBECTL_ACCESS_REVIEW = bytes.fromhex(
    "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f763112175365"
    "6c665375626a6563744163636573735265766965771"
    "23f0a100a0012001a0022002a0032003800420012210a1f0a0764656661756c7412036765741a0022002a07736563726574733200"
    "3a001a08080012001a0020001a002200")
REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


def _review(api, body: bytes, content_type: str) -> tuple[int, dict]:
    status, _, answer = _raw(api, REVIEWS, method="POST", body=body, headers={"Content-Type": content_type})
    return status, json.loads(answer)


def test_access_reviews_answer_in_json_and_protobuf_as_requests_are_answered(api):
    question = json.dumps({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "spec": {
        "resourceAttributes": {"namespace": "default", "verb": "get", "resource": "secrets"}}}).encode()
    for body, content_type in ((question, "application/json"),
                               (KUBECTL_ACCESS_REVIEW, "application/vnd.kubernetes.protobuf")):
        assert _review(api, body, content_type) == (201, {
            "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "get", "resource": "secrets"}
                     | ({"group": "", "version": "", "subresource": "", "name": ""}
                        if content_type != "application/json" else {})},
            "status": {"allowed": True}})
    api.store.forbid("secrets", "default")
    assert _review(api, KUBECTL_ACCESS_REVIEW, "application/vnd.kubernetes.protobuf")[1]["status"] == {
        "allowed": False}
    assert _raw(api, "/api/v1/namespaces/default/secrets/other")[0] == 403


def test_malformed_reviews_are_refused_with_a_status(api):
    status, answer = _review(api, b"k8s\x00\x12\xff", "application/vnd.kubernetes.protobuf")
    assert (status, answer["reason"]) == (400, "BadRequest") and "SelfSubjectAccessReview" in answer["message"]
    status, answer = _review(api, b'{"spec": {}}', "application/json")
    assert (status, answer["reason"]) == (422, "Invalid")
    assert answer["message"].startswith('SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec:')
    status, answer = _review(api, b"spec: {}", "application/yaml")
    assert (status, answer["reason"]) == (415, "UnsupportedMediaType")


def test_a_table_is_answered_where_one_is_asked_for(api):
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    status, _, body = _raw(api, "/api/v1/namespaces/default/pods", headers={"Accept": accept})
    table = json.loads(body)
    assert (status, table["kind"], table["apiVersion"]) == (200, "Table", "meta.k8s.io/v1")
    assert [(c["name"], c["priority"]) for c in table["columnDefinitions"]][:5] == [
        ("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("IP", 1)]
    # These pods report no container statuses, so none of their containers counts as ready (as kubectl shows it).
    assert [row["cells"][:4] for row in table["rows"]] == [["flow-0", "0/1", "Running", 0],
                                                          ["flow-1", "0/1", "Running", 0]]
    assert table["rows"][0]["object"]["metadata"]["namespace"] == "default"
    _, _, body = _raw(api, "/api/v1/namespaces/default/pods", headers={"Accept": "application/json"})
    assert json.loads(body)["kind"] == "PodList"


@pytest.mark.parametrize("seconds, shown", [
    (-5, "<invalid>"), (-1, "0s"), (45, "45s"), (119, "119s"), (310, "5m10s"), (600, "10m"), (179 * 60, "179m"),
    (200 * 60, "3h20m"), (10 * 3600, "10h"), (4 * 86400 + 5 * 3600, "4d5h"), (30 * 86400, "30d"),
    ((3 * 365 + 3) * 86400, "3y3d"), (10 * 365 * 86400, "10y"),
])
def test_ages_are_apimachinerys_human_durations(seconds, shown):
    assert human_duration(seconds) == shown


# --- errors -----------------------------------------------------------------------------------------------------


def test_a_missing_object_is_a_not_found_status(api_client):
    with pytest.raises(k8s.ApiException) as missing:
        k8s.CoreV1Api(api_client).read_namespaced_secret("nope", "default")
    status = json.loads(missing.value.body)
    assert missing.value.status == 404
    assert status == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": 'secrets "nope" not found', "reason": "NotFound", "code": 404,
                      "details": {"kind": "secrets", "name": "nope"}}


def test_a_bad_token_is_401(api):
    status, _, body = _raw(api, "/api/v1/namespaces/default/secrets", token="wrong")
    assert status == 401 and json.loads(body)["reason"] == "Unauthorized"


def test_forbidden_resources_answer_with_the_rbac_message(api, api_client):
    api.store.forbid("secrets", namespace="default")
    core = k8s.CoreV1Api(api_client)
    with pytest.raises(k8s.ApiException) as get:
        core.read_namespaced_secret("direktiv-cert-flow", "default")
    assert get.value.status == 403
    assert json.loads(get.value.body)["message"] == (
        'secrets "direktiv-cert-flow" is forbidden: User "system:serviceaccount:default:direktiv-tls-conformance" '
        'cannot get resource "secrets" in API group "" in the namespace "default"')
    with pytest.raises(k8s.ApiException) as listing:
        core.list_namespaced_secret("default")
    assert json.loads(listing.value.body)["message"].startswith("secrets is forbidden:")
    assert core.read_namespaced_secret("direktiv-ca", "cert-manager").type == "kubernetes.io/tls"


def test_fault_switches_fail_and_delay(api, api_client):
    core = k8s.CoreV1Api(api_client)
    api.store.fail("configmaps", 503)
    with pytest.raises(k8s.ApiException) as failed:
        core.read_namespaced_config_map("config-contour", "knative-serving-knative")
    assert failed.value.status == 503
    api.store.clear_faults()
    api.store.delay("configmaps", 1.0)
    with pytest.raises(Exception) as slow:
        core.read_namespaced_config_map("config-contour", "knative-serving-knative", _request_timeout=0.05)
    assert "timed out" in str(slow.value).lower()


# --- TLS, kubeconfig, lifecycle --------------------------------------------------------------------------------


@pytest.mark.parametrize("server_name", ["127.0.0.1", "localhost"])
def test_the_serving_certificate_verifies_against_its_ca(api, server_name):
    context = ssl.create_default_context(cadata=api.ca_pem.decode())
    port = int(api.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_the_kubeconfig_is_private_and_complete(api, tmp_path):
    path = api.write_kubeconfig(tmp_path / "config", context="lab", namespace="direktiv")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == "lab"
    assert config["contexts"][0]["context"]["namespace"] == "direktiv"
    assert config["users"][0]["user"]["token"] == api.token
    assert base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]) == api.ca_pem


def test_stop_joins_the_server_thread():
    server = ApiServer(ObjectStore()).start()
    thread = server._thread
    server.stop()
    assert not thread.is_alive()


# --- port-forward, as kubelet speaks it -------------------------------------------------------------------------


class _Echo:
    """A TCP echo server on 127.0.0.1."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.address = self.sock.getsockname()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        handlers = []
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            handler = threading.Thread(target=self._echo, args=(conn,), daemon=True)
            handler.start()
            handlers.append(handler)
        for handler in handlers:
            handler.join(5)

    def _echo(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        with conn:
            try:
                while data := conn.recv(1 << 20):
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def forward_api():
    echo = _Echo()
    store = ObjectStore()
    store.add(_pod("flow-0"))
    targets = {7777: echo.address}
    with ApiServer(store, port_target=lambda ns, pod, port: targets.get(port)) as server:
        yield server
    echo.close()


def _ws(api, path: str, protocols: list[str] | None) -> WebSocket:
    ws = WebSocket(sslopt={"context": ssl.create_default_context(cadata=api.ca_pem.decode())})
    url = api.url.replace("https://", "wss://") + path
    ws.connect(url, header=[f"Authorization: Bearer {api.token}"], subprotocols=protocols, timeout=5)
    return ws


def test_port_frames_come_first_and_a_refused_port_reports_containerds_text(forward_api):
    path = "/api/v1/namespaces/default/pods/flow-0/portforward?ports=7777&ports=8080"
    ws = _ws(forward_api, path, ["v5.channel.k8s.io", "v4.channel.k8s.io"])
    assert ws.subprotocol == "v4.channel.k8s.io"
    ws.send_binary(b"\x00hello")
    first = [ws.recv_data()[1] for _ in range(4)]
    assert first == [b"\x00\x61\x1e", b"\x01\x61\x1e", b"\x02\x90\x1f", b"\x03\x90\x1f"]
    rest = []
    while len(rest) < 2:
        rest.append(ws.recv_data()[1])
    uid = forward_api.store.get("", "pods", "default", "flow-0")["metadata"]["uid"]
    assert b"\x00hello" in rest
    assert b"\x03" + containerd_refused_message("flow-0", uid, 8080).encode() in rest
    assert "dial tcp 127.0.0.1:8080: connect: connection refused" in containerd_refused_message("flow-0", uid, 8080)
    ws.close()


def test_the_base64_protocol_and_server_frames_of_at_most_32_kib(forward_api):
    path = "/api/v1/namespaces/default/pods/flow-0/portforward?ports=7777"
    ws = _ws(forward_api, path, ["v4.base64.channel.k8s.io", "v4.channel.k8s.io"])
    assert ws.subprotocol == "v4.base64.channel.k8s.io"
    opcode, data = ws.recv_data()
    assert opcode == ABNF.OPCODE_TEXT and data == b"0" + base64.b64encode(b"\x61\x1e")
    assert ws.recv_data()[1] == b"1" + base64.b64encode(b"\x61\x1e")
    payload = os.urandom(200 * 1024)
    ws.send("0" + base64.b64encode(payload).decode())  # one client frame far above 32 KiB
    received = b""
    while len(received) < len(payload):
        opcode, data = ws.recv_data()
        chunk = base64.b64decode(data[1:])
        assert data[:1] == b"0" and len(chunk) <= MAX_FRAME
        received += chunk
    assert received == payload
    ws.close()


def test_no_subprotocol_means_binary(forward_api):
    ws = _ws(forward_api, "/api/v1/namespaces/default/pods/flow-0/portforward?ports=7777", None)
    assert ws.recv_data() == (ABNF.OPCODE_BINARY, b"\x00\x61\x1e")
    ws.close()


def test_portforward_refusals(forward_api):
    with pytest.raises(WebSocketBadStatusException) as unknown:
        _ws(forward_api, "/api/v1/namespaces/default/pods/ghost/portforward?ports=7777", ["v4.channel.k8s.io"])
    assert unknown.value.status_code == 404
    status, _, body = _raw(forward_api, "/api/v1/namespaces/default/pods/flow-0/portforward?ports=7777")
    assert status == 400 and json.loads(body)["message"] == "Upgrade request required"
    forward_api.store.forbid("pods/portforward")
    with pytest.raises(WebSocketBadStatusException) as forbidden:
        _ws(forward_api, "/api/v1/namespaces/default/pods/flow-0/portforward?ports=7777", ["v4.channel.k8s.io"])
    assert forbidden.value.status_code == 403
    assert b'cannot create resource \\"pods/portforward\\"' in forbidden.value.resp_body
