"""An emulated kube-apiserver for the sandbox and the tests, including kubelet's port-forward.

What it serves (HTTPS with its own CA, bearer-token auth), with the wire shapes of a real API server, so that the
official clients (the ``kubernetes`` package's typed and dynamic APIs, kubectl) work against it:

- ``GET /version``; discovery: ``/api`` (APIVersions), ``/api/v1`` and ``/apis/{group}/{version}``
  (APIResourceList: kind, singularName, namespaced, verbs, shortNames, categories, subresources such as
  ``pods/portforward`` and ``pods/status``), ``/apis`` (APIGroupList) and ``/apis/{group}``, listing exactly what the
  store serves (a CRD that is not installed is in none of them); plain JSON also where a client asks for aggregated
  discovery, as a server without it answers;
- get and list of ``namespaces`` (every namespace an object was added to exists, as do ``default`` and
  ``kube-system``; ``ObjectStore.remove_namespace`` takes one away);
- get and list of namespaced ``secrets``, ``services``, ``pods``, ``configmaps``, ``endpoints`` (core v1) and
  ``endpointslices`` (discovery.k8s.io/v1), list across namespaces, ``labelSelector`` (equality and set-based),
  the ``status`` subresource; custom objects under ``/apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}]``
  for the resources the store serves; a ``Table`` (sandbox.tables) where the client asks for one, as kubectl does;
  the list of cluster-scoped ones (ClusterIssuers) under ``/apis/{group}/{version}/{plural}``;
- ``pods/{name}/portforward`` as kubelet serves it over websockets (``v4.channel.k8s.io``,
  ``v4.base64.channel.k8s.io`` or no subprotocol): per requested port *i* a ``[2i, lo, hi]`` frame on the data
  channel and ``[2i+1, lo, hi]`` on the error channel, then a TCP connection to ``port_target(ns, pod, port)``;
  a refused connection is reported on the error channel in containerd's words and the stream closes;
- ``SelfSubjectAccessReview`` and ``SelfSubjectRulesReview`` (``kubectl auth can-i [--list]``, in JSON or the
  protobuf kubectl sends), answered by the same rule that admits requests (:meth:`ApiServer.allows`).

Its user may get and list every resource (and get subresources) and open port-forwards, and nothing else: like a
real server, it authorizes before it routes, so a write or a watch is 403, and only then does a resource the
server lacks answer 404. Every error is a ``Status`` in the real server's words: 401 Unauthorized, 403 with the
RBAC message, 404 NotFound (``secrets "x" not found``; "the server could not find the requested resource" for a
path no resource serves, as recent servers say it), 400 BadRequest, 422 Invalid, and what a fault switch asks for.

Fault switches live on :class:`ObjectStore` and are keyed by resource (``"secrets"``,
``"certificates.cert-manager.io"``, ``"pods/portforward"``, or ``"*"`` for every resource), optionally by
namespace and by object name (a name matches gets, port-forwards and nothing else):

- ``store.forbid(resource)``: 403 with the RBAC message, as when the role lacks the verb (a rule for one
  namespace also forbids cluster-wide requests, which no cluster-wide grant would then allow);
- ``store.fail(resource, status)``: answer that status (a ``Status`` body) to every request;
- ``store.delay(resource, seconds)``: wait before answering (an API server or kubelet that hangs);
- ``store.cut(namespace, pod, after_bytes)``: drop that pod's port-forward websockets (no close frame) once
  ``after_bytes`` bytes of the pod's data have been sent, as when the API server or a proxy drops the stream.

With ``role`` (a :class:`sandbox.rbac.ClusterRole`, e.g. read from ``deploy/rbac.yaml``) its user may do exactly what
that role's rules allow instead, less what ``forbid`` takes away, and the reviews answer by those rules too.

With ``client_ca_pem`` the server also accepts a client certificate issued by that CA instead of the token
(``write_kubeconfig(client=...)`` writes such a kubeconfig, with ``client-certificate-data``/``client-key-data``).

The server runs aiohttp on its own event loop in a background thread: :meth:`ApiServer.start` returns once it
listens on 127.0.0.1 (ephemeral port), :meth:`ApiServer.stop` closes every connection and joins the thread.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as _dt
import hmac
import json
import os
import re
import secrets as _secrets
import socket
import ssl
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

import yaml
from aiohttp import WSMsgType, web

from probes.pki import CertificateAuthority
from sandbox import kubeproto, tables
from sandbox.rbac import ClusterRole

__all__ = [
    "DEFAULT_USER",
    "MAX_FRAME",
    "SERVER_VERSION",
    "ObjectStore",
    "ApiServer",
    "PortTarget",
    "secret_object",
    "namespace_object",
    "parse_label_selector",
    "containerd_refused_message",
    "RefusedAfter",
]

# The identity the RBAC messages name: what a least-privilege service account for the suite would be.
DEFAULT_USER = "system:serviceaccount:default:direktiv-tls-conformance"
# kubelet copies with io.Copy (32 KiB buffer): no server frame carries more than this much data.
MAX_FRAME = 32 * 1024
# How long a port-forward waits for the other side after one side has ended, and for a close handshake.
CLOSE_GRACE = 0.5
# How long a port-forward's dial to the pod may take (containerd's dial has no shorter limit that matters here).
BACKEND_CONNECT_TIMEOUT = 5.0
# The version the emulator claims: the Kubernetes line Direktiv v0.4 ran on.
SERVER_VERSION = {
    "major": "1",
    "minor": "21",
    "gitVersion": "v1.21.14",
    "gitCommit": "0f77da5bd4809927e15d1658fb4aa8f13ad890a5",
    "gitTreeState": "clean",
    "buildDate": "2022-06-15T14:11:36Z",
    "goVersion": "go1.16.15",
    "compiler": "gc",
    "platform": "linux/amd64",
}

PortTarget = Callable[[str, str, int], "tuple[str, int] | None"]

_BINARY_PROTOCOL = "v4.channel.k8s.io"
_BASE64_PROTOCOL = "v4.base64.channel.k8s.io"
# kubelet's portforward websocket protocols ("" = none offered: binary).
_FORWARD_PROTOCOLS = (_BINARY_PROTOCOL, _BASE64_PROTOCOL)

# (group, version, plural) -> kind of the resources every cluster serves.
_BUILTIN_RESOURCES = {
    ("", "v1", "namespaces"): "Namespace",
    ("", "v1", "secrets"): "Secret",
    ("", "v1", "services"): "Service",
    ("", "v1", "pods"): "Pod",
    ("", "v1", "configmaps"): "ConfigMap",
    ("", "v1", "endpoints"): "Endpoints",
    ("discovery.k8s.io", "v1", "endpointslices"): "EndpointSlice",
}
# The namespaces every cluster has, whatever it runs.
_SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# (group, kind) -> plural for the kinds the tool reads; anything else needs an explicit plural.
_PLURALS = {
    ("", "Namespace"): "namespaces",
    ("", "Secret"): "secrets",
    ("", "Service"): "services",
    ("", "Pod"): "pods",
    ("", "ConfigMap"): "configmaps",
    ("", "Endpoints"): "endpoints",
    ("discovery.k8s.io", "EndpointSlice"): "endpointslices",
    ("projectcontour.io", "TLSCertificateDelegation"): "tlscertificatedelegations",
    ("projectcontour.io", "HTTPProxy"): "httpproxies",
    ("cert-manager.io", "Certificate"): "certificates",
    ("cert-manager.io", "Issuer"): "issuers",
    ("cert-manager.io", "ClusterIssuer"): "clusterissuers",
    ("serving.knative.dev", "Service"): "services",
    ("networking.k8s.io", "Ingress"): "ingresses",
}


class _Facts(NamedTuple):
    """What discovery says of a resource besides its kind (the real servers' and CRDs' names)."""

    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()


# (group, plural) -> discovery facts; a resource defined with another plural gets none of these.
_FACTS = {
    ("", "namespaces"): _Facts(("ns",), (), ("status",)),
    ("", "services"): _Facts(("svc",), ("all",), ("status",)),
    ("", "pods"): _Facts(("po",), ("all",), ("portforward", "status")),
    ("", "configmaps"): _Facts(("cm",)),
    ("", "endpoints"): _Facts(("ep",)),
    ("projectcontour.io", "tlscertificatedelegations"): _Facts(("tlscerts",), (), ("status",)),
    ("projectcontour.io", "httpproxies"): _Facts(("proxy", "proxies"), (), ("status",)),
    ("cert-manager.io", "certificates"): _Facts(("cert", "certs"), ("cert-manager",), ("status",)),
    ("cert-manager.io", "issuers"): _Facts((), ("cert-manager",), ("status",)),
    ("serving.knative.dev", "services"): _Facts(("kservice", "ksvc"), ("all", "knative", "serving"), ("status",)),
    ("networking.k8s.io", "ingresses"): _Facts(("ing",), (), ("status",)),
}
# What a real server's storage offers for every resource (discovery lists these; RBAC decides who may use them).
_STORAGE_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
# subresource -> (kind, or None for the resource's own kind; verbs).
_SUBRESOURCES = {
    "status": (None, ("get", "patch", "update")),
    "portforward": ("PodPortForwardOptions", ("create", "get")),
}
# The reviews every server offers (authorization.k8s.io/v1, cluster-scoped, create only): plural -> kind.
_REVIEW_GROUP, _REVIEW_VERSION = "authorization.k8s.io", "v1"
_REVIEWS = {
    "selfsubjectaccessreviews": "SelfSubjectAccessReview",
    "selfsubjectrulesreviews": "SelfSubjectRulesReview",
}

# What the sandbox's user may do (RBAC verbs), before forbid() takes any of it away: read every resource and
# subresource, and open port-forwards (a websocket port-forward needs get, and create since Kubernetes 1.31).
_READ_VERBS = ("get", "list")
_SUBRESOURCE_READ_VERBS = ("get",)
_GRANTS = {("", "pods/portforward"): ("get", "create")}
# The non-resource URLs every authenticated user may GET (system:discovery, system:public-info-viewer).
_PUBLIC_URLS = ("/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/version", "/version/")
# HTTP method -> RBAC verb (a collection's get is list or watch, its delete deletecollection).
_METHOD_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def secret_object(
    namespace: str,
    name: str,
    data: dict[str, bytes],
    *,
    type: str = "Opaque",  # noqa: A002 - the field's name on the wire
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict:
    """A Secret as the API returns it: ``data`` values base64-encoded (pass the raw bytes here)."""
    metadata: dict = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": type,
        "data": {key: base64.b64encode(value).decode("ascii") for key, value in data.items()},
    }


def namespace_object(name: str) -> dict:
    """An active Namespace as the API returns it (with the name label every namespace gets since 1.21)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


# --- label selectors ------------------------------------------------------------------------------------------

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"^({_KEY})\s+(in|notin)\s+\(([^()]*)\)$")
_EQ_RE = re.compile(rf"^({_KEY})\s*(==|!=|=)\s*({_VALUE})$")
_EXISTS_RE = re.compile(rf"^(!?)\s*({_KEY})$")


def _split_requirements(selector: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(selector: str) -> Callable[[dict[str, str]], bool]:
    """A predicate over a labels dict for a ``labelSelector`` string (``a=b``, ``a==b``, ``a!=b``,
    ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``); raises ``ValueError`` on a malformed requirement."""
    checks: list[Callable[[dict[str, str]], bool]] = []
    for requirement in _split_requirements(selector):
        if match := _SET_RE.match(requirement):
            key, op = match.group(1), match.group(3)
            values = {v.strip() for v in match.group(4).split(",") if v.strip()}
            if op == "in":
                checks.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                checks.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
        elif match := _EQ_RE.match(requirement):
            key, op, value = match.group(1), match.group(3), match.group(4)
            if op == "!=":
                checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                checks.append(lambda labels, k=key, v=value: k in labels and labels[k] == v)
        elif match := _EXISTS_RE.match(requirement):
            negate, key = match.group(1) == "!", match.group(2)
            checks.append(lambda labels, k=key, n=negate: (k in labels) != n)
        else:
            raise ValueError(f"unable to parse requirement: {requirement!r}")
    return lambda labels: all(check(labels) for check in checks)


# --- the store ------------------------------------------------------------------------------------------------


def _rule_matches(rule: str, group: str, plural: str) -> bool:
    return rule in ("*", plural) or (bool(group) and rule == f"{plural}.{group}")


class ObjectStore:
    """JSON-shaped Kubernetes objects as the API returns them, plus the fault switches.

    Thread-safe: tests change it while the server reads it. Objects are copied in and out.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str, str, str], dict] = {}
        self._resources: dict[tuple[str, str, str], str] = dict(_BUILTIN_RESOURCES)
        self._forbidden: set[tuple[str, str | None, str | None]] = set()
        self._failures: dict[tuple[str, str | None, str | None], int] = {}
        self._delays: dict[tuple[str, str | None, str | None], float] = {}
        self._cuts: dict[tuple[str, str], int] = {}
        self._resource_version = 1000
        for name in _SYSTEM_NAMESPACES:
            self.add(namespace_object(name))

    # -- content

    def define(self, api_version: str, kind: str, plural: str | None = None) -> None:
        """Serve a resource, as installing its CRD does (``add`` does this for the kinds it knows)."""
        group, version = _split_api_version(api_version)
        plural = plural or _PLURALS.get((group, kind))
        if plural is None:
            raise ValueError(f"no known plural for kind {kind!r} in group {group!r}; pass plural=")
        with self._lock:
            self._resources[(group, version, plural)] = kind

    def add(self, obj: dict, *, plural: str | None = None) -> dict:
        """Store an object (``apiVersion``, ``kind``, ``metadata.name``, and ``metadata.namespace`` unless it is
        cluster-scoped, e.g. a ClusterIssuer: listed only at ``/apis/{group}/{version}/{plural}``), replacing one
        with the same name; fills uid, resourceVersion and creationTimestamp when absent."""
        try:
            group, version = _split_api_version(obj["apiVersion"])
            kind, metadata = obj["kind"], obj["metadata"]
            name, namespace = metadata["name"], metadata.get("namespace", "")
        except (KeyError, TypeError, AttributeError):
            raise ValueError("an object needs apiVersion, kind, metadata.name and metadata.namespace") from None
        plural = plural or _PLURALS.get((group, kind))
        if plural is None:
            raise ValueError(f"no known plural for kind {kind!r} in group {group!r}; pass plural=")
        obj = copy.deepcopy(obj)
        metadata = obj["metadata"]
        if namespace and self.get("", "namespaces", "", namespace) is None:
            self.add(namespace_object(namespace))  # as if created first: no object lives outside a namespace
        with self._lock:
            self._resources.setdefault((group, version, plural), kind)
            self._resource_version += 1
            metadata.setdefault("uid", str(uuid.uuid5(uuid.NAMESPACE_URL, f"{group}/{plural}/{namespace}/{name}")))
            metadata["resourceVersion"] = str(self._resource_version)
            metadata.setdefault("creationTimestamp", _now())
            self._objects[(group, plural, namespace, name)] = obj
        return copy.deepcopy(obj)

    def remove(self, plural: str, namespace: str, name: str, *, group: str = "") -> None:
        with self._lock:
            self._objects.pop((group, plural, namespace, name), None)
            self._resource_version += 1

    def remove_namespace(self, name: str) -> None:
        """Take a namespace away (its objects stay listed, as while a namespace terminates)."""
        self.remove("namespaces", "", name)

    def get(self, group: str, plural: str, namespace: str, name: str) -> dict | None:
        with self._lock:
            obj = self._objects.get((group, plural, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, group: str, plural: str, namespace: str | None) -> tuple[list[dict], str]:
        """Objects of a resource (all namespaces when ``namespace`` is None), in etcd key order."""
        with self._lock:
            items = [
                copy.deepcopy(obj)
                for (g, p, ns, _), obj in sorted(self._objects.items())
                if g == group and p == plural and (namespace is None or ns == namespace)
            ]
            return items, str(self._resource_version)

    def kind(self, group: str, version: str, plural: str) -> str | None:
        """The kind of a served resource, or None when the server has no such resource (CRD absent)."""
        with self._lock:
            return self._resources.get((group, version, plural))

    def resources(self) -> list[tuple[str, str, str, str]]:
        """(group, version, plural, kind) of every served resource, sorted."""
        with self._lock:
            return sorted((group, version, plural, kind) for (group, version, plural), kind in self._resources.items())

    # -- faults

    def forbid(self, plural: str, namespace: str | None = None, *, name: str | None = None) -> None:
        """RBAC forbids every verb on the resource (``"secrets"``, ``"certificates.cert-manager.io"``,
        ``"pods/portforward"``, ``"*"``), in one namespace or everywhere, on one object or all."""
        with self._lock:
            self._forbidden.add((plural, namespace, name))

    def fail(self, plural: str, status: int, *, namespace: str | None = None, name: str | None = None) -> None:
        """Answer ``status`` (with a Status body) to every request for the resource."""
        with self._lock:
            self._failures[(plural, namespace, name)] = status

    def delay(self, plural: str, seconds: float, *, namespace: str | None = None, name: str | None = None) -> None:
        """Wait ``seconds`` before answering any request for the resource (a hung API server or kubelet)."""
        with self._lock:
            self._delays[(plural, namespace, name)] = seconds

    def cut(self, namespace: str, pod: str, after_bytes: int = 1) -> None:
        """Drop every port-forward websocket to ``namespace/pod`` without a close frame once ``after_bytes``
        bytes of the pod's data have been sent on it."""
        with self._lock:
            self._cuts[(namespace, pod)] = after_bytes

    def stream_cut(self, namespace: str, pod: str) -> int | None:
        """After how many bytes a port-forward to the pod is dropped, None when it is not."""
        with self._lock:
            return self._cuts.get((namespace, pod))

    def clear_faults(self) -> None:
        with self._lock:
            self._forbidden.clear()
            self._failures.clear()
            self._delays.clear()
            self._cuts.clear()

    def _fault(self, table, group: str, plural: str, namespace: str | None, name: str | None, *,
               cluster_wide: bool = False):
        for (rule, rule_ns, rule_name), value in table.items():
            in_scope = rule_ns is None or rule_ns == namespace or (cluster_wide and namespace is None)
            if _rule_matches(rule, group, plural) and in_scope and (rule_name is None or rule_name == name):
                return value
        return None

    def faults(self, group: str, plural: str, namespace: str | None,
               name: str | None = None) -> tuple[bool, int | None, float]:
        """(forbidden, failure status, delay seconds) for a request (``name`` for a get or a port-forward).

        A request at the cluster scope (``namespace`` None) is forbidden by a rule for any namespace, as no
        cluster-wide grant survives RBAC's denial in one namespace."""
        with self._lock:
            forbidden = dict.fromkeys(self._forbidden, True)
            return (
                self._fault(forbidden, group, plural, namespace, name, cluster_wide=True) is not None,
                self._fault(self._failures, group, plural, namespace, name),
                self._fault(self._delays, group, plural, namespace, name) or 0.0,
            )

    def forbidden_names(self, group: str, plural: str, namespace: str | None) -> list[str]:
        """The objects of a resource forbidden one by one (by name) in a namespace (any, for None)."""
        with self._lock:
            return sorted(rule_name for rule, rule_ns, rule_name in self._forbidden
                          if rule_name is not None and _rule_matches(rule, group, plural)
                          and (rule_ns is None or namespace is None or rule_ns == namespace))


# --- Status bodies --------------------------------------------------------------------------------------------

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
# The message of a failure that has no more specific one: the words of apimachinery's NewGenericServerResponse,
# which the real server's generic errors and client-go's translations carry.
_GENERIC_MESSAGES = {
    400: "the server rejected our request for an unknown reason",
    401: "Unauthorized",
    404: "the server could not find the requested resource",
    405: "the server does not allow this method on the requested resource",
    409: "the server reported a conflict",
    429: "the server has received too many requests and has asked us to try again later",
    500: 'an error on the server ("unknown") has prevented the request from succeeding',
    503: "the server is currently unable to handle the request",
    504: "the server was unable to return a response in the time allotted, but may still be processing the request",
}


def _json(document: dict, status: int = 200) -> web.Response:
    """A JSON answer with the real server's Content-Type (``application/json``, no charset)."""
    return web.Response(body=json.dumps(document).encode(), status=status,
                        headers={"Content-Type": "application/json"})


def _status(code: int, message: str | None = None, *, details: dict | None = None) -> web.Response:
    body: dict = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message or _GENERIC_MESSAGES.get(code, f"the server answered {code}"),
        "reason": _REASONS.get(code, ""),
        "code": code,
    }
    if details:
        body["details"] = details
    return _json(body, status=code)


def _no_such_path() -> web.Response:
    """A path that no resource serves (a resource or group the server lacks): recent servers' 404 Status."""
    return _status(404)


def _qualified(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural


def _details(group: str, plural: str, name: str | None) -> dict:
    details: dict = {"kind": plural}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    return details


@dataclass(frozen=True)
class RefusedAfter:
    """A port-forward target that kubelet reports as refused only ``seconds`` after the stream opened (a pod whose
    process is restarting): whatever the client sent meanwhile is lost, and the error comes late on its channel."""

    seconds: float


def _not_found(group: str, plural: str, name: str) -> web.Response:
    return _status(404, f'{_qualified(group, plural)} "{name}" not found', details=_details(group, plural, name))


def _invalid(kind: str, field: str, problem: str) -> web.Response:
    """A review the server cannot evaluate (422 Invalid, in the validation's words)."""
    return _status(422, f'{kind}.{_REVIEW_GROUP} "" is invalid: {field}: {problem}',
                   details={"group": _REVIEW_GROUP, "kind": kind})


def _review(kind: str, spec: dict, status: dict) -> web.Response:
    """A created review, as the server returns it (nothing is stored)."""
    return _json({"kind": kind, "apiVersion": f"{_REVIEW_GROUP}/{_REVIEW_VERSION}",
                  "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}, status=201)


def _granted_verbs(group: str, plural: str) -> tuple[str, ...]:
    return _GRANTS.get((group, plural), _SUBRESOURCE_READ_VERBS if "/" in plural else _READ_VERBS)


def _public_url(path: str) -> bool:
    """RBAC's match of a non-resource URL against _PUBLIC_URLS (a trailing ``*`` matches any rest)."""
    return any(path == url or (url.endswith("*") and path.startswith(url[:-1])) for url in _PUBLIC_URLS)


# --- discovery documents --------------------------------------------------------------------------------------


def _facts(group: str, plural: str) -> _Facts:
    return _FACTS.get((group, plural), _Facts())


def _api_resource(name: str, kind: str, *, namespaced: bool = True, verbs: Iterable[str] = _STORAGE_VERBS,
                  facts: _Facts = _Facts(), singular: str | None = None) -> dict:
    """One APIResource of an APIResourceList."""
    entry: dict = {"name": name, "singularName": kind.lower() if singular is None else singular,
                   "namespaced": namespaced, "kind": kind, "verbs": list(verbs)}
    if facts.short_names:
        entry["shortNames"] = list(facts.short_names)
    if facts.categories:
        entry["categories"] = list(facts.categories)
    return entry


# The resources the store serves that live outside namespaces.
_CLUSTER_SCOPED = frozenset({("", "namespaces"), ("cert-manager.io", "clusterissuers")})


def _api_resource_entries(group: str, plural: str, kind: str) -> list[dict]:
    """A resource's APIResource and its subresources' (whose singularName is empty, as a real server has it)."""
    facts = _facts(group, plural)
    entries = [_api_resource(plural, kind, facts=facts, namespaced=(group, plural) not in _CLUSTER_SCOPED)]
    for sub in facts.subresources:
        sub_kind, verbs = _SUBRESOURCES[sub]
        entries.append(_api_resource(f"{plural}/{sub}", sub_kind or kind, verbs=verbs, singular=""))
    return entries


def containerd_refused_message(pod: str, uid: str, port: int, *, reason: str = "connect: connection refused") -> str:
    """The error-channel text kubelet writes when containerd (1.4-1.6, the Direktiv v0.4 era) cannot reach the
    port inside the pod: kubelet's "error forwarding port" prefix around containerd's dial error."""
    netns = f"/var/run/netns/cni-{uuid.uuid5(uuid.NAMESPACE_OID, uid or pod)}"
    sandbox = uuid.uuid5(uuid.NAMESPACE_DNS, uid or pod).hex * 2
    return (
        f"error forwarding port {port} to pod {pod}, uid {uid}: failed to execute portforward in network "
        f'namespace "{netns}": failed to connect to localhost:{port} inside namespace "{sandbox}": '
        f"dial tcp 127.0.0.1:{port}: {reason}"
    )


# --- the server -----------------------------------------------------------------------------------------------


class ApiServer:
    """The emulated API server; ``with ApiServer(store).start() as api: ...`` or start()/stop().

    Attributes (after :meth:`start`):
        url: ``https://127.0.0.1:PORT``.
        ca_pem: the CA that signed the serving certificate (SANs 127.0.0.1 and localhost).
        token: the bearer token every request must carry.
    """

    def __init__(
        self,
        store: ObjectStore,
        *,
        port_target: PortTarget | None = None,
        token: str | None = None,
        user: str = DEFAULT_USER,
        client_ca_pem: bytes | None = None,
        role: ClusterRole | None = None,
    ) -> None:
        self.store = store
        self.role = role
        self.client_ca_pem = client_ca_pem
        self.token = token or _secrets.token_urlsafe(24)
        self.user = user
        self._port_target = port_target or (lambda namespace, pod, port: None)
        self._ca = CertificateAuthority.self_signed("sandbox-apiserver-ca", key_type="ecdsa")
        self._leaf = self._ca.issue(
            ["localhost"], ip_addresses=["127.0.0.1"], usages=("digital signature", "server auth"),
            key_type="ecdsa",
        )
        self.ca_pem = self._ca.cert_pem
        self.url = ""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._websockets: set[web.WebSocketResponse] = set()

    def __repr__(self) -> str:
        return f"ApiServer(url={self.url!r})"

    # -- lifecycle

    def start(self) -> "ApiServer":
        """Listen on 127.0.0.1 (ephemeral port) in a background thread; returns once listening."""
        if self._thread is not None:
            raise RuntimeError("this ApiServer was already started")
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._run, name="sandbox-apiserver", daemon=True)
        self._thread.start()
        if not self._ready.wait(10.0) or self._startup_error is not None:
            self.stop()
            raise RuntimeError(f"the sandbox API server did not start: {self._startup_error!r}")
        return self

    def stop(self) -> None:
        """Close every connection (port-forwards included), stop the loop and join the thread."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(15.0)
        if getattr(self, "_sock", None) is not None:
            self._sock.close()

    def __enter__(self) -> "ApiServer":
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        # ssl can only load a key from a file: a private 0600 file in a private directory, removed at once.
        directory = tempfile.mkdtemp(prefix="sandbox-apiserver-")
        cert_path, key_path = os.path.join(directory, "tls.crt"), os.path.join(directory, "tls.key")
        try:
            with open(cert_path, "wb") as out:
                out.write(self._leaf.chain_pem)
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(self._leaf.key.bytes())
            context.load_cert_chain(cert_path, key_path)
            if self.client_ca_pem:  # a client certificate from this CA authenticates like the token
                context.verify_mode = ssl.CERT_OPTIONAL
                context.load_verify_locations(cadata=self.client_ca_pem.decode("ascii"))
        finally:
            for path in (cert_path, key_path):
                if os.path.exists(path):
                    os.unlink(path)
            os.rmdir(directory)
        return context

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to start() or lost at interpreter exit
            self._startup_error = exc
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        app = web.Application(middlewares=[self._authenticate], client_max_size=1024**2)
        routes = app.router
        for path, handler in (("/version", self._version), ("/api", self._api_versions),
                              ("/api/v1", self._api_resources), ("/apis", self._api_groups),
                              ("/apis/{group}", self._api_group), ("/apis/{group}/{version}", self._api_resources)):
            routes.add_get(path, handler)
            routes.add_get(f"{path}/", handler)  # the kubernetes client asks for /api/, /apis/, /api/v1/
        reviews = f"/apis/{_REVIEW_GROUP}/{_REVIEW_VERSION}"
        routes.add_post(f"{reviews}/selfsubjectaccessreviews", self._access_review)
        routes.add_post(f"{reviews}/selfsubjectrulesreviews", self._rules_review)
        routes.add_route("*", "/api/v1/namespaces/{ns}/pods/{name}/portforward", self._portforward)
        routes.add_route("*", "/api/v1/{plural:namespaces}/{name}", self._resource)  # a namespace is cluster-scoped
        for prefix in ("/api/v1", "/apis/{group}/{version}"):
            for rest in ("/{plural}", "/namespaces/{ns}/{plural}", "/namespaces/{ns}/{plural}/{name}",
                         "/namespaces/{ns}/{plural}/{name}/{sub}"):
                routes.add_route("*", prefix + rest, self._resource)
        routes.add_route("*", "/{path:.*}", self._unknown_path)
        runner = web.AppRunner(app, shutdown_timeout=CLOSE_GRACE, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.SockSite(runner, self._sock, ssl_context=self._ssl_context())
        await site.start()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            for ws in list(self._websockets):
                await ws.close(code=1001, message=b"server shutting down")
            await runner.cleanup()
            # Handlers still sleeping in a delay fault, or pumping: cancel them rather than leak them.
            others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

    # -- gates

    @web.middleware
    async def _authenticate(self, request: web.Request, handler):
        transport = request.transport
        if self.client_ca_pem and transport is not None and transport.get_extra_info("peercert"):
            return await handler(request)  # verified against client_ca_pem during the handshake
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip(), self.token):
            return _status(401)
        return await handler(request)

    def allows(self, verb: str, group: str, plural: str, namespace: str | None, name: str | None = None) -> bool:
        """RBAC's answer for this server's user: reads of every resource and port-forwards (or what ``role``
        allows, when it is given), less what ``store.forbid`` took away (``plural`` may name a subresource,
        ``pods/portforward``)."""
        granted = (verb in _granted_verbs(group, plural) if self.role is None
                   else self.role.allows(verb, group, plural, name))
        return granted and not self.store.faults(group, plural, namespace, name)[0]

    def _candidate_verbs(self, group: str, plural: str) -> tuple[str, ...]:
        """The verbs a rules review asks :meth:`allows` about for a resource or subresource."""
        if self.role is None:
            return _granted_verbs(group, plural)
        if "/" in plural:
            return _SUBRESOURCES.get(plural.split("/", 1)[1], (None, _SUBRESOURCE_READ_VERBS))[1]
        return tuple(sorted(set(_STORAGE_VERBS)))

    async def _gate(
        self, verb: str, group: str, plural: str, namespace: str | None, name: str | None, *, authorize: bool = True
    ) -> web.Response | None:
        """The fault switches, then RBAC unless ``authorize`` is off, for a request (as a real server authorizes
        before it routes)."""
        _, failure, delay = self.store.faults(group, plural, namespace, name)
        if delay:
            try:  # a stopping server stops waiting at once
                await asyncio.wait_for(asyncio.shield(self._stop.wait()), delay)
            except asyncio.TimeoutError:
                pass
        resource = plural.split("/")[0]
        if failure == 403 or (authorize and not self.allows(verb, group, plural, namespace, name)):
            subject = f'{_qualified(group, resource)} "{name}"' if name else _qualified(group, resource)
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            message = (
                f'{subject} is forbidden: User "{self.user}" cannot {verb} resource "{plural}" '
                f'in API group "{group}" {scope}'
            )
            return _status(403, message, details=_details(group, resource, name))
        if failure == 404 and name:
            return _not_found(group, resource, name)
        if failure:
            return _status(failure)
        return None

    # -- discovery

    async def _version(self, request: web.Request) -> web.Response:
        return _json(SERVER_VERSION)

    async def _api_versions(self, request: web.Request) -> web.Response:
        address = self.url.removeprefix("https://")
        return _json({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
        })

    def _group_versions(self) -> dict[str, list[str]]:
        """Every served group (the reviews' one included) and its versions; "" is the core group."""
        groups: dict[str, list[str]] = {_REVIEW_GROUP: [_REVIEW_VERSION]}
        for group, version, _, _ in self.store.resources():
            if version not in groups.setdefault(group, []):
                groups[group].append(version)
        return groups

    def _group_entry(self, group: str) -> dict | None:
        versions = self._group_versions().get(group) if group else None
        if not versions:
            return None
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": entries, "preferredVersion": entries[0]}

    async def _api_groups(self, request: web.Request) -> web.Response:
        groups = [self._group_entry(group) for group in sorted(self._group_versions()) if group]
        return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})

    async def _api_group(self, request: web.Request) -> web.Response:
        entry = self._group_entry(request.match_info["group"])
        if entry is None:
            return _no_such_path()
        return _json({"kind": "APIGroup", "apiVersion": "v1", **entry})

    async def _api_resources(self, request: web.Request) -> web.Response:
        group, version = request.match_info.get("group", ""), request.match_info.get("version", "v1")
        resources = [entry for g, v, plural, kind in self.store.resources() if (g, v) == (group, version)
                     for entry in _api_resource_entries(group, plural, kind)]
        if (group, version) == (_REVIEW_GROUP, _REVIEW_VERSION):
            resources += [_api_resource(plural, kind, namespaced=False, verbs=("create",))
                          for plural, kind in _REVIEWS.items()]
        if not resources:
            return _no_such_path()
        return _json({"kind": "APIResourceList", "apiVersion": "v1",
                      "groupVersion": f"{group}/{version}" if group else version, "resources": resources})

    async def _unknown_path(self, request: web.Request) -> web.Response:
        return _no_such_path()

    # -- reviews (kubectl auth can-i)

    async def _review_spec(self, request: web.Request, plural: str) -> tuple[str, dict] | web.Response:
        """A posted review's kind and spec, from JSON or (as kubectl sends it) protobuf; or the refusal."""
        kind, body = _REVIEWS[plural], await request.read()
        try:
            if request.content_type == kubeproto.PROTOBUF:
                spec = kubeproto.review_spec(body, kind)
            elif request.content_type == "application/json":
                spec = json.loads(body).get("spec")
            else:
                return _status(415, f"the body of the request was in an unknown format - accepted media types "
                                    f"include: application/json, {kubeproto.PROTOBUF}")
        except (ValueError, AttributeError) as exc:
            return _status(400, f"the object provided is unrecognized (must be of type {kind}): {exc}")
        if not isinstance(spec, dict):
            return _invalid(kind, "spec", "Required value")
        # Every user may create reviews (system:basic-user), whatever forbid() took away.
        refusal = await self._gate("create", _REVIEW_GROUP, plural, None, None, authorize=False)
        return refusal or (kind, spec)

    async def _access_review(self, request: web.Request) -> web.Response:
        """SelfSubjectAccessReview: may this server's user do that? Answered by :meth:`allows` itself."""
        read = await self._review_spec(request, "selfsubjectaccessreviews")
        if isinstance(read, web.Response):
            return read
        kind, spec = read
        attributes, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if bool(attributes) == bool(non_resource):
            return _invalid(kind, "spec", "exactly one of nonResourceAttributes or resourceAttributes must be "
                                          "specified")
        if attributes:
            plural = "/".join(p for p in (attributes.get("resource", ""), attributes.get("subresource", "")) if p)
            allowed = self.allows(attributes.get("verb", ""), attributes.get("group", ""), plural,
                                  attributes.get("namespace") or None, attributes.get("name") or None)
        else:
            allowed = non_resource.get("verb") == "get" and _public_url(non_resource.get("path", ""))
        return _review(kind, spec, {"allowed": allowed})

    async def _rules_review(self, request: web.Request) -> web.Response:
        """SelfSubjectRulesReview: every served resource this server's user may read in a namespace (a resource
        forbidden only by name is left out, and the answer marked incomplete)."""
        read = await self._review_spec(request, "selfsubjectrulesreviews")
        if isinstance(read, web.Response):
            return read
        kind, spec = read
        namespace = spec.get("namespace")
        if not namespace:
            return _invalid(kind, "spec.namespace", "Required value: no namespace on request")
        by_verbs: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        partly = []
        for group, _, plural, _ in self.store.resources():
            for name in [plural] + [f"{plural}/{sub}" for sub in _facts(group, plural).subresources]:
                if self.store.forbidden_names(group, name, namespace):
                    partly.append(_qualified(group, name))
                    continue
                verbs = tuple(v for v in self._candidate_verbs(group, name) if self.allows(v, group, name, namespace))
                if verbs:
                    by_verbs.setdefault((group, verbs), []).append(name)
        rules = [{"verbs": ["create"], "apiGroups": [_REVIEW_GROUP], "resources": sorted(_REVIEWS)}]
        rules += [{"verbs": list(verbs), "apiGroups": [group], "resources": names}
                  for (group, verbs), names in sorted(by_verbs.items())]
        status: dict = {"resourceRules": rules,
                        "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": list(_PUBLIC_URLS)}],
                        "incomplete": bool(partly)}
        if partly:
            status["evaluationError"] = f"some objects of {', '.join(partly)} are forbidden by name"
        return _review(kind, spec, status)

    # -- reads

    async def _resource(self, request: web.Request) -> web.Response:
        """Any request on a resource path: RBAC first (so any verb may be refused), then get, list, or 404."""
        info = request.match_info
        group, version, namespace = info.get("group", ""), info.get("version", "v1"), info.get("ns")
        resource, name, sub = info["plural"], info.get("name"), info.get("sub")
        plural = f"{resource}/{sub}" if sub else resource
        verb = _METHOD_VERBS.get(request.method, request.method.lower())
        if name is None and verb in ("get", "delete"):
            verb = {"get": "watch" if request.query.get("watch") in ("true", "1") else "list",
                    "delete": "deletecollection"}[verb]
        if refusal := await self._gate(verb, group, plural, namespace, name):
            return refusal
        kind = self.store.kind(group, version, resource)
        if kind is None or (sub and sub not in _facts(group, resource).subresources):
            return _no_such_path()
        as_table = tables.table_version(request.headers.get("Accept", ""))
        if verb == "get":  # an object, or its status subresource: the object itself
            obj = self.store.get(group, resource, namespace or "", name)
            if obj is None:
                return _not_found(group, resource, name)
            version_now = obj["metadata"]["resourceVersion"]
            return _json(tables.table(group, resource, [obj], resource_version=version_now, version=as_table)
                         if as_table else obj)
        if verb == "list":
            return self._list(request, group, version, resource, namespace, kind, as_table=as_table)
        return _status(405)

    def _list(self, request: web.Request, group: str, version: str, plural: str, namespace: str | None,
              kind: str, *, as_table: str | None = None) -> web.Response:
        try:
            matches = parse_label_selector(request.query.get("labelSelector", ""))
        except ValueError as exc:
            return _status(400, str(exc))
        items, resource_version = self.store.list(group, plural, namespace)
        items = [obj for obj in items if matches(obj["metadata"].get("labels") or {})]
        if as_table:
            return _json(tables.table(group, plural, items, resource_version=resource_version, version=as_table))
        if (group, version, plural) in _BUILTIN_RESOURCES:
            # A real server drops kind and apiVersion from the items of a built-in list.
            for obj in items:
                obj.pop("kind", None)
                obj.pop("apiVersion", None)
        return _json({
            "kind": f"{kind}List",
            "apiVersion": f"{group}/{version}" if group else version,
            "metadata": {"resourceVersion": resource_version},
            "items": items,
        })

    # -- port-forward

    async def _portforward(self, request: web.Request) -> web.StreamResponse:
        namespace, name = request.match_info["ns"], request.match_info["name"]
        # kubectl POSTs (SPDY); a websocket GET is authorized for create too (Kubernetes 1.31 and later).
        verb = "create" if request.method in ("GET", "POST") else _METHOD_VERBS.get(request.method, "")
        if refusal := await self._gate(verb, "", "pods/portforward", namespace, name):
            return refusal
        if verb != "create":
            return _status(405)
        pod = self.store.get("", "pods", namespace, name)
        if pod is None:
            return _not_found("", "pods", name)
        try:
            ports = _forward_ports(request.query.getall("ports", []) + request.query.getall("port", []))
        except ValueError as exc:
            return _status(400, str(exc))
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return _status(400, "Upgrade request required")
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        chosen = next((p for p in offered if p in _FORWARD_PROTOCOLS), None)
        if offered and chosen is None:
            return _status(400, f"requested protocol(s) are not supported: {offered}; supports "
                                f"{list(_FORWARD_PROTOCOLS)}")
        ws = web.WebSocketResponse(
            protocols=(chosen,) if chosen else (), max_msg_size=0, timeout=CLOSE_GRACE, compress=False
        )
        try:
            await ws.prepare(request)
        except ConnectionResetError:  # the client gave up while a delay fault held the request
            return web.Response(status=499)
        self._websockets.add(ws)
        transport = request.transport
        try:
            session = _ForwardSession(ws, chosen != _BASE64_PROTOCOL, ports, namespace, pod, self._port_target,
                                      cut_after=self.store.stream_cut(namespace, name),
                                      abort=transport.abort if transport is not None else None)
            await session.run()
        finally:
            self._websockets.discard(ws)
            if not ws.closed:
                try:
                    await ws.close()
                except (ConnectionError, OSError, RuntimeError):  # the stream was cut on purpose
                    pass
        return ws

    # -- kubeconfig

    def write_kubeconfig(self, path, *, context: str = "sandbox", namespace: str = "default",
                         client=None, token: str | None = None) -> Path:
        """Write a kubeconfig (server URL, CA data, token) that selects this server; 0600 since it holds
        the token. ``client`` (an ``IssuedCertificate`` from ``client_ca_pem``'s CA) writes
        ``client-certificate-data``/``client-key-data`` instead of the token; ``token`` overrides the token
        (a wrong one gets 401)."""
        if not self.url:
            raise RuntimeError("start() the server before writing its kubeconfig")
        user: dict = {"token": token if token is not None else self.token}
        if client is not None:
            user = {"client-certificate-data": base64.b64encode(client.chain_pem).decode("ascii"),
                    "client-key-data": base64.b64encode(client.key.bytes()).decode("ascii")}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {
                "server": self.url,
                "certificate-authority-data": base64.b64encode(self.ca_pem).decode("ascii"),
            }}],
            "users": [{"name": f"{context}-user", "user": user}],
            "contexts": [{"name": context, "context": {
                "cluster": context, "user": f"{context}-user", "namespace": namespace,
            }}],
            "current-context": context,
            "preferences": {},
        }
        path = Path(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            yaml.safe_dump(config, out, sort_keys=False)
        return path


def _forward_ports(values: Iterable[str]) -> list[int]:
    """kubelet's parsing of the ``ports`` query parameter (repeatable, comma-separated)."""
    ports: list[int] = []
    for value in values:
        if not value:
            raise ValueError('query parameter "port" cannot be empty')
        for item in value.split(","):
            if not item.isdigit() or not 0 < int(item) < 65536:
                raise ValueError(f'unable to parse "{value}" as a port')
            ports.append(int(item))
    if not ports:
        raise ValueError('query parameter "port" is required')
    return ports


class _ForwardSession:
    """One websocket port-forward: kubelet's handleWebSocketStreams with containerd's dial and copy."""

    def __init__(self, ws, binary: bool, ports: list[int], namespace: str, pod: dict, port_target, *,
                 cut_after: int | None = None, abort: Callable[[], None] | None = None) -> None:
        self.ws = ws
        self.cut_after = cut_after
        self.abort = abort
        self.sent = 0
        self.binary = binary
        self.ports = ports
        self.namespace = namespace
        self.pod = pod
        self.port_target = port_target
        self.writers: list[asyncio.Future] = []
        self.closing = False

    async def send(self, channel: int, payload: bytes) -> None:
        if self.binary:
            await self.ws.send_bytes(bytes([channel]) + payload)
        else:
            await self.ws.send_str(chr(ord("0") + channel) + base64.b64encode(payload).decode("ascii"))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for index, port in enumerate(self.ports):
            frame = port.to_bytes(2, "little")
            await self.send(2 * index, frame)
            await self.send(2 * index + 1, frame)
        self.writers = [loop.create_future() for _ in self.ports]
        port_tasks = [asyncio.ensure_future(self.serve_port(i, p)) for i, p in enumerate(self.ports)]
        all_ports = asyncio.ensure_future(asyncio.gather(*port_tasks, return_exceptions=True))
        client = asyncio.ensure_future(self.read_client())
        try:
            await asyncio.wait({all_ports, client}, return_when=asyncio.FIRST_COMPLETED)
            if client.done():
                # The client went away: close the pod connections, give them the grace period to wind down.
                self.close_backends()
                await asyncio.wait({all_ports}, timeout=CLOSE_GRACE)
            # else every backend ended: close the websocket (its close handshake is bounded by CLOSE_GRACE).
        finally:
            for task in (*port_tasks, all_ports, client):
                task.cancel()
            await asyncio.gather(*port_tasks, all_ports, client, return_exceptions=True)
            self.close_backends()
            if not self.ws.closed:
                await self.ws.close()

    def close_backends(self) -> None:
        self.closing = True
        for future in self.writers:
            if future.done() and future.result() is not None:
                future.result().close()

    async def serve_port(self, index: int, port: int) -> None:
        writer_future = self.writers[index]
        metadata = self.pod["metadata"]
        target = self.port_target(self.namespace, metadata["name"], port)
        try:
            if isinstance(target, RefusedAfter):  # kubelet's dial fails, and says so, only after a while
                await asyncio.sleep(target.seconds)
                target = None
            if target is None:
                raise ConnectionRefusedError
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*target), BACKEND_CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as exc:
            writer_future.set_result(None)
            reason = "i/o timeout" if isinstance(exc, asyncio.TimeoutError) else "connect: connection refused"
            text = containerd_refused_message(metadata["name"], metadata.get("uid", ""), port, reason=reason)
            await self.send(2 * index + 1, text.encode())
            return
        writer_future.set_result(writer)
        if self.closing:
            writer.close()
            return
        try:
            while chunk := await reader.read(MAX_FRAME):
                if self.cut_after is not None and self.abort is not None:
                    room = self.cut_after - self.sent
                    if len(chunk) >= room:  # the fault: drop the websocket mid-stream, no close frame
                        if room > 0:
                            await self.send(2 * index, chunk[:room])
                        self.abort()
                        return
                    self.sent += len(chunk)
                await self.send(2 * index, chunk)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def read_client(self) -> None:
        async for message in self.ws:
            if message.type == WSMsgType.BINARY and self.binary:
                if not message.data:
                    continue
                channel, payload = message.data[0], message.data[1:]
            elif message.type == WSMsgType.TEXT and not self.binary:
                if not message.data:
                    continue
                channel = ord(message.data[0]) - ord("0")
                try:
                    payload = base64.b64decode(message.data[1:], validate=True)
                except ValueError:
                    continue
            else:
                continue
            index = channel // 2
            if channel % 2 or index >= len(self.ports) or not payload:
                continue  # the error channels are server-to-client only
            writer = await self.writers[index]
            if writer is None or writer.is_closing():
                continue
            try:
                writer.write(payload)
                await writer.drain()
            except (ConnectionError, OSError):
                writer.close()
