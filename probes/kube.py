"""Cluster access: the kubeconfig, and the few reads the suite makes (namespaces, secrets, services and their pods,
configmaps, custom objects, the Helm release), through the real ``kubernetes`` client.

Every call carries ``_request_timeout=timeouts.api`` and at most one retry of a failed connect. Objects come back
as the JSON the API server sent (camelCase keys, as in manifests); Secrets become :class:`Secret` records with
decoded bytes and a masked repr. API errors are translated here, once, into the probes.errors tree:

    401 -> ClusterUnauthorized   403 -> ClusterForbidden   404 -> ClusterNotFound
    anything else, and an unreachable API server -> ClusterError

each with one sentence naming the object (``secret default/direktiv-cert-flow``) and the server's message.
A kubeconfig that is missing, unreadable or lacks the context is a UsageError saying what, where and what to do.

Inside a pod (``$KUBERNETES_SERVICE_HOST`` set) with no kubeconfig given or found, :meth:`Cluster.connect` logs in
with the pod's service account instead: its token, CA and namespace files (``/var/run/secrets/kubernetes.io/
serviceaccount/``) through the client's ``InClusterConfigLoader``, which re-reads the token as the kubelet rotates it.

The kubernetes client cannot take client certificates or CA data as bytes: it writes a kubeconfig's
``client-certificate-data``, ``client-key-data`` and ``certificate-authority-data`` to files, in the temp directory,
and removes them only at interpreter exit. Here they go to a private directory (0700, files 0600) made for each
:class:`Cluster` and removed by :meth:`Cluster.close`, and they never enter the client's process-wide file cache.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json
import os
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config import incluster_config as _incluster_config
from kubernetes.config import kube_config as _kube_config
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException

from probes.errors import ClusterError, ClusterForbidden, ClusterNotFound, ClusterUnauthorized, UsageError
from probes.timeouts import DEFAULT_TIMEOUTS, Timeouts

if TYPE_CHECKING:
    from probes.helm import HelmRelease

__all__ = ["Secret", "PodTarget", "ReleaseRef", "Cluster", "pod_is_ready", "kubectl_pod_order", "looks_like_key"]

# kubectl's default when neither --kubeconfig nor $KUBECONFIG is given.
DEFAULT_KUBECONFIG = "~/.kube/config"
# Where kubelet mounts a pod's service account (token, ca.crt, namespace), as client-go's rest.InClusterConfig reads it.
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# One retry of a failed TCP connect (a blip), never of a read: a request that timed out is not repeated.
_API_RETRIES = urllib3.util.Retry(total=1, connect=1, read=0, redirect=0, status=0, other=0)
# Concurrent API calls the pool keeps connections for: as many as the probe threads (the client's default is
# 5 per CPU, and every call beyond it opens and drops a connection with a warning).
_API_CONNECTIONS = 32
# Guards the swap of the kubernetes client's process-wide temp-file cache while a kubeconfig loads.
_TEMP_FILES_LOCK = threading.Lock()
# Secret keys whose values never appear in a repr: private keys and anything named like a credential.
_SECRET_KEY_MARKERS = ("key", "password", "passwd", "token", "secret", "credential")


def looks_like_key(name: str, value: bytes = b"") -> bool:
    """True when a secret entry must be masked: its name says key/password/token, or it holds a private key."""
    lowered = name.lower()
    return any(marker in lowered for marker in _SECRET_KEY_MARKERS) or b"PRIVATE KEY" in value


@dataclass(frozen=True, repr=False)
class Secret:
    """A Secret with its values decoded.

    Attributes:
        namespace: where it lives.
        name: its name.
        type: ``kubernetes.io/tls``, ``Opaque``, ``helm.sh/release.v1``, ...
        data: each key's value as bytes (the API's base64 removed); never shown by repr/str for keys that
            look like private keys or credentials (``tls.key``, ...), only sizes for the others.
        labels: the secret's labels.
    """

    namespace: str
    name: str
    type: str
    data: dict[str, bytes] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{key!r}: <redacted>" if looks_like_key(key, value) else f"{key!r}: <{len(value)} bytes>"
            for key, value in sorted(self.data.items())
        )
        return f"Secret(namespace={self.namespace!r}, name={self.name!r}, type={self.type!r}, data={{{shown}}})"

    __str__ = __repr__


@dataclass(frozen=True)
class PodTarget:
    """A pod behind a service, with the container port that the service port leads to.

    Attributes:
        namespace: the pod's namespace.
        name: the pod's name.
        port: the container port to forward to (the service's targetPort, resolved by name through the pod's
            container ports like kubectl does; the service port itself for a headless service, as kubectl does).
        ready: the pod's Ready condition is True.
        phase: ``Running``, ``Pending``, ``Succeeded``, ``Failed`` or ``Unknown``.
        ip: the pod's IP (``status.podIP``) that ``--direktiv-connect direct`` dials; "" while it has none.
    """

    namespace: str
    name: str
    port: int
    ready: bool
    phase: str
    ip: str = ""


@dataclass(frozen=True)
class ReleaseRef:
    """A Helm 3 release revision, as its release secret's labels name it (nothing decoded).

    Attributes:
        namespace: the release's namespace.
        name: the release's name.
        status: ``deployed``, ``superseded``, ``failed``, ``pending-install``, ... (the ``status`` label).
        revision: the revision number (the ``version`` label), 0 when the label is missing.
    """

    namespace: str
    name: str
    status: str
    revision: int = 0

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name} ({self.status})"


# --- pure helpers: kubectl's pod choice --------------------------------------------------------------------------


def _parse_time(value: Any) -> _dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _ready_condition(pod: dict) -> dict | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition
    return None


def pod_is_ready(pod: dict) -> bool:
    """kubectl's IsPodReady: the Ready condition is True."""
    condition = _ready_condition(pod)
    return bool(condition) and condition.get("status") == "True"


def _max_restarts(pod: dict) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(s.get("restartCount") or 0) for s in statuses), default=0)


_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}  # others count as 0, as in kubectl's map
_FAR_FUTURE = _dt.datetime.max.replace(tzinfo=_dt.timezone.utc)


def kubectl_pod_order(pod: dict) -> tuple:
    """Sort key putting pods in the order ``kubectl port-forward svc/NAME`` prefers them: the reverse of
    kubectl's podutils.ActivePods (assigned to a node; Running > Unknown > Pending; Ready; ready the longest;
    fewest restarts; oldest; a zero time counts as least active). The name breaks the remaining ties."""
    spec, status, metadata = pod.get("spec") or {}, pod.get("status") or {}, pod.get("metadata") or {}
    ready = pod_is_ready(pod)
    ready_since = _parse_time((_ready_condition(pod) or {}).get("lastTransitionTime")) if ready else None
    created = _parse_time(metadata.get("creationTimestamp"))
    return (
        0 if spec.get("nodeName") else 1,
        -_PHASE_ORDINAL.get(status.get("phase", ""), 0),
        0 if ready else 1,
        (ready_since or _FAR_FUTURE) if ready else _FAR_FUTURE,
        _max_restarts(pod),
        created or _FAR_FUTURE,
        metadata.get("name", ""),
    )


def _container_port(pod: dict, name: str) -> int | None:
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == name:
                return int(port["containerPort"])
    return None


def _target_port(service: dict, service_port: dict, pod: dict) -> int | None:
    """kubectl's LookupContainerPortNumberByServicePort for one pod (None: the pod lacks the named port)."""
    if (service.get("spec") or {}).get("clusterIP") == "None":
        return int(service_port["port"])
    target = service_port.get("targetPort")
    if target is None or target == 0 or target == "":
        return int(service_port["port"])
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    return _container_port(pod, target)


def _selector_string(selector: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(selector.items()))


def _selector_query(label_selector: str) -> tuple[tuple[str, str], ...]:
    return (("labelSelector", label_selector),) if label_selector else ()


def _listing(kind: str, namespace: str, label_selector: str) -> str:
    """How a list read is named in error sentences, e.g. "pods in namespace default with labels app=flow"."""
    return f"{kind} in namespace {namespace}" + (f" with labels {label_selector}" if label_selector else "")


def _one_line(text: object) -> str:
    return ": ".join(line.strip() for line in str(text).splitlines() if line.strip())


def _decode_data(data: dict | None, where: str) -> dict[str, bytes]:
    decoded = {}
    for key, value in (data or {}).items():
        try:
            decoded[key] = base64.b64decode(value or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise ClusterError(f"The value of {key!r} in {where} is not base64, as the API always sends it.",
                               obj=where) from None
    return decoded


def _decode_helm_release(data: bytes, where: str) -> "HelmRelease":
    """The one place this module depends on probes.helm."""
    from probes import helm

    return helm.release_from_json(helm.decode_release(data, source=where), source=where)


# --- kubeconfig ----------------------------------------------------------------------------------------------------


def _kubeconfig_paths(path: str | os.PathLike | None) -> tuple[str, list[Path]]:
    if path is not None:
        return "--kubeconfig", [Path(path).expanduser()]
    env = os.environ.get("KUBECONFIG", "")
    if env.strip():
        # Like kubectl: files of the $KUBECONFIG list that do not exist are skipped, unless none exists.
        listed = [Path(p).expanduser() for p in env.split(os.pathsep) if p]
        return "$KUBECONFIG", [p for p in listed if p.exists()] or listed[:1]
    return DEFAULT_KUBECONFIG, [Path(DEFAULT_KUBECONFIG).expanduser()]


def _read_kubeconfig(path: Path, source: str) -> dict:
    if not path.is_file():
        raise UsageError(
            f"No kubeconfig at {path} (from {source}); pass --kubeconfig PATH or set KUBECONFIG to a kubeconfig file."
        )
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(
            f"The kubeconfig {path} (from {source}) cannot be read ({reason}); point --kubeconfig at a valid "
            "kubeconfig file."
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("contexts"), list):
        raise UsageError(
            f"The kubeconfig {path} (from {source}) is not a kubeconfig (no contexts list); point --kubeconfig "
            "at the file kubectl uses."
        )
    return document


def _load_kube_config(paths: list[Path], context: str, configuration, private_dir: str) -> None:
    """``load_kube_config`` with its data files in ``private_dir`` and out of the client's process-wide cache
    (which would hand another Cluster a path that this one removes, and keeps files until exit)."""
    with _TEMP_FILES_LOCK:
        saved = _kube_config._temp_files
        _kube_config._temp_files = {}
        try:
            k8s_config.load_kube_config(
                config_file=os.pathsep.join(str(p) for p in paths), context=context,
                client_configuration=configuration, persist_config=False, temp_file_path=private_dir,
            )
        finally:
            _kube_config._temp_files = saved


def _remove_private_dir(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


class Cluster:
    """A connection to one cluster through one kubeconfig context.

    Attributes:
        server: the API server URL.
        context: the kubeconfig context in use.
        namespace: the context's namespace (``default`` when it sets none).
        api_client: the ``kubernetes`` ApiClient (also what :class:`probes.forward.PortForwarder` takes).
        timeouts: per-step limits; API calls use ``timeouts.api``.
    """

    def __init__(self, api_client, *, context: str = "", namespace: str = "default",
                 timeouts: Timeouts = DEFAULT_TIMEOUTS, private_dir: str | None = None) -> None:
        self.api_client = api_client
        # close() removes the private directory; a Cluster that is never closed still removes it when it is
        # collected or, at the latest, when the interpreter exits.
        self._cleanup = weakref.finalize(self, _remove_private_dir, private_dir) if private_dir else None
        self.server = api_client.configuration.host
        self.context = context
        self.namespace = namespace
        self.timeouts = timeouts

    def __repr__(self) -> str:
        return f"Cluster(server={self.server!r}, context={self.context!r})"

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike | None = None, *, context: str | None = None,
                        timeouts: Timeouts = DEFAULT_TIMEOUTS) -> "Cluster":
        """Load a kubeconfig like kubectl: ``path``, else ``$KUBECONFIG`` (a path list, merged), else
        ``~/.kube/config``; ``context`` or the file's current-context. UsageError on anything unusable."""
        source, paths = _kubeconfig_paths(path)
        documents = [_read_kubeconfig(p, source) for p in paths]
        where = ", ".join(str(p) for p in paths)
        contexts: dict[str, dict] = {}
        current = ""
        for document in documents:
            for entry in document.get("contexts") or []:
                if isinstance(entry, dict) and entry.get("name") and entry["name"] not in contexts:
                    contexts[entry["name"]] = entry.get("context") or {}
            current = current or document.get("current-context") or ""
        name = context or current
        known = ", ".join(sorted(contexts)) or "none"
        if not name:
            raise UsageError(f"The kubeconfig {where} sets no current-context; pass --context NAME (one of: {known}).")
        if name not in contexts:
            raise UsageError(f"The context {name!r} is not in the kubeconfig {where}; use one of: {known}.")
        configuration = k8s.Configuration()
        private_dir = tempfile.mkdtemp(prefix="direktiv-tls-kube-")  # 0700: the client's key file goes here
        try:
            _load_kube_config(paths, name, configuration, private_dir)
        except (ConfigException, ValueError, TypeError, KeyError, AttributeError, OSError) as exc:
            _remove_private_dir(private_dir)
            raise UsageError(
                f"The kubeconfig {where} cannot be used with context {name!r} ({exc}); fix that context's "
                "cluster and user entries."
            ) from None
        configuration.retries = _API_RETRIES
        configuration.connection_pool_maxsize = _API_CONNECTIONS
        namespace = contexts[name].get("namespace") or "default"
        return cls(k8s.ApiClient(configuration), context=name, namespace=namespace, timeouts=timeouts,
                   private_dir=private_dir)

    @classmethod
    def in_cluster(cls, *, service_account_dir: str | os.PathLike | None = None,
                   environ: Mapping[str, str] | None = None, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> "Cluster":
        """Log in with the pod's service account: ``token`` and ``ca.crt`` in ``service_account_dir`` (default
        :data:`SERVICE_ACCOUNT_DIR`), the API server at ``$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT``
        (from ``environ``, default the process's); the namespace from the directory's ``namespace`` file
        (``default`` without one). The token is re-read every minute, as the kubelet rotates it. UsageError when
        any of that is missing or empty."""
        directory = Path(SERVICE_ACCOUNT_DIR if service_account_dir is None else service_account_dir)
        environ = os.environ if environ is None else environ
        configuration = k8s.Configuration()
        loader = _incluster_config.InClusterConfigLoader(
            token_filename=str(directory / "token"), cert_filename=str(directory / "ca.crt"), environ=environ)
        try:
            loader.load_and_set(configuration)
        except (ConfigException, OSError, UnicodeDecodeError) as exc:
            host = environ.get(_incluster_config.SERVICE_HOST_ENV_NAME, "")
            raise UsageError(
                f"Cannot log in with the pod's service account ({_one_line(exc).rstrip('.')}; KUBERNETES_SERVICE_HOST="
                f"{host!r}, token and ca.crt in {directory}); mount the service account token "
                "(automountServiceAccountToken) or pass --kubeconfig PATH."
            ) from None
        configuration.retries = _API_RETRIES
        configuration.connection_pool_maxsize = _API_CONNECTIONS
        try:
            namespace = (directory / "namespace").read_text(encoding="utf-8").strip() or "default"
        except (OSError, UnicodeDecodeError):
            namespace = "default"
        return cls(k8s.ApiClient(configuration), context="in-cluster", namespace=namespace, timeouts=timeouts)

    @classmethod
    def connect(cls, path: str | os.PathLike | None = None, *, context: str | None = None,
                timeouts: Timeouts = DEFAULT_TIMEOUTS, service_account_dir: str | os.PathLike | None = None,
                environ: Mapping[str, str] | None = None) -> "Cluster":
        """The cluster the suite checks: the kubeconfig like kubectl finds it (:meth:`from_kubeconfig`); or, when
        none is given (no ``path``, no ``$KUBECONFIG``) or found (no ``~/.kube/config``) and
        ``$KUBERNETES_SERVICE_HOST`` is set, the pod's service account (:meth:`in_cluster`), as client-go does."""
        environ = os.environ if environ is None else environ
        given = path is not None or bool(environ.get("KUBECONFIG", "").strip())
        if (not given and not Path(DEFAULT_KUBECONFIG).expanduser().exists()
                and environ.get(_incluster_config.SERVICE_HOST_ENV_NAME)):
            if context:
                raise UsageError(f"--context {context} needs a kubeconfig, and none was given or found at "
                                 f"{DEFAULT_KUBECONFIG}; leave --context out to use the pod's service account.")
            return cls.in_cluster(service_account_dir=service_account_dir, environ=environ, timeouts=timeouts)
        return cls.from_kubeconfig(path, context=context, timeouts=timeouts)

    def close(self) -> None:
        """Close the connections and remove the files the client needed (client key, certificates)."""
        self.api_client.close()
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the one boundary with the client

    def _get(self, path: str, query: tuple[tuple[str, str], ...] = (), **path_params: str) -> dict:
        """GET one API path (``{name}`` placeholders filled from ``path_params``, quoted) as JSON.

        The typed APIs (``CoreV1Api`` & co.) are not used: touching them imports the client's 251 pydantic model
        modules (most of a second), and every read here wants the JSON as sent anyway. Non-2xx answers raise
        ApiException exactly as the typed APIs do with ``_preload_content=False``."""
        method, url, headers, _, _ = self.api_client.param_serialize(
            "GET", path, path_params=path_params or None, query_params=list(query) or None,
            header_params={"Accept": "application/json"}, auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(method, url, header_params=headers, _request_timeout=self.timeouts.api)
        response.read()
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return json.loads(response.data)

    def _call(self, what: str, path: str, query: tuple[tuple[str, str], ...] = (), **path_params: str) -> dict:
        """One API read, the JSON it returned, errors translated."""
        try:
            return self._get(path, query, **path_params)
        except ApiException as exc:
            raise self._translate(what, exc) from None
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            if isinstance(reason, (urllib3.exceptions.ReadTimeoutError, TimeoutError)):
                raise ClusterError(
                    f"Reading {what} failed: the API server at {self.server} did not answer within "
                    f"{self.timeouts.api:g}s.", obj=what
                ) from exc
            raise ClusterError(
                f"Reading {what} failed: the API server at {self.server} could not be reached ({_one_line(reason)}).",
                obj=what,
            ) from exc
        except ValueError as exc:
            raise ClusterError(f"Reading {what} failed: the API server sent something that is not JSON ({exc}).",
                               obj=what) from None

    def _translate(self, what: str, exc: ApiException) -> ClusterError:
        status = exc.status or 0
        try:
            message = json.loads(exc.body or "").get("message", "")
        except (ValueError, AttributeError):
            message = (exc.body or "").strip()
        message = _one_line(message or (exc.reason or "")).rstrip(".")
        if status == 401:
            return ClusterUnauthorized(
                f"Reading {what} was refused with 401 ({message}); the credentials of context {self.context!r} "
                "are not accepted by the API server.", status=status, obj=what)
        if status == 403:
            return ClusterForbidden(f"Reading {what} is forbidden by RBAC: {message}.", status=status, obj=what)
        if status == 404:
            return ClusterNotFound(f"Reading {what} found nothing: {message}.", status=status, obj=what)
        if status == 0:
            return ClusterError(f"Reading {what} failed: the API server at {self.server} could not be reached "
                                f"({_one_line(exc.reason)}).", status=None, obj=what)
        return ClusterError(f"Reading {what} failed with HTTP {status}: {_one_line(message)}.", status=status,
                            obj=what)

    def _get_or_none(self, what: str, path: str, **path_params: str) -> dict | None:
        try:
            return self._call(what, path, **path_params)
        except ClusterNotFound:
            return None

    # -- reads

    def server_version(self) -> str:
        """The API server's gitVersion, e.g. ``v1.29.2``."""
        return str(self._call("the server version", "/version/").get("gitVersion", ""))

    def namespace_exists(self, name: str) -> bool:
        """Whether the namespace exists (ClusterError when the API cannot say: RBAC, an API server down)."""
        return self._get_or_none(f"namespace {name}", "/api/v1/namespaces/{name}", name=name) is not None

    def namespaces(self) -> list[str]:
        """The names of every namespace, sorted."""
        listed = self._call("namespaces", "/api/v1/namespaces")
        return sorted(str((obj.get("metadata") or {}).get("name", "")) for obj in listed.get("items") or [])

    def helm_releases(self, namespace: str | None = None, *, name: str = "") -> list[ReleaseRef]:
        """The Helm 3 release revisions in a namespace (every namespace for None), optionally of one release, from
        the release secrets' labels; sorted by namespace, name and revision."""
        selector = "owner=helm" + (f",name={name}" if name else "")
        if namespace is None:
            where = f"secrets in all namespaces with labels {selector}"
            listed = self._call(where, "/api/v1/secrets", _selector_query(selector))
        else:
            where = _listing("secrets", namespace, selector)
            listed = self._call(where, "/api/v1/namespaces/{namespace}/secrets", _selector_query(selector),
                                namespace=namespace)
        refs = set()
        for obj in listed.get("items") or []:
            metadata = obj.get("metadata") or {}
            labels = metadata.get("labels") or {}
            if not str(metadata.get("name", "")).startswith("sh.helm.release.v1."):
                continue
            version = str(labels.get("version", ""))
            refs.add(ReleaseRef(str(metadata.get("namespace") or namespace or ""), str(labels.get("name", "")),
                                str(labels.get("status", "")), int(version) if version.isdigit() else 0))
        return sorted(refs, key=lambda r: (r.namespace, r.name, r.revision))

    def secret(self, namespace: str, name: str) -> Secret | None:
        """The secret, or None when it does not exist."""
        where = f"secret {namespace}/{name}"
        obj = self._get_or_none(where, "/api/v1/namespaces/{namespace}/secrets/{name}", namespace=namespace, name=name)
        return None if obj is None else _secret_record(obj, namespace, where)

    def secrets(self, namespace: str, *, label_selector: str = "") -> list[Secret]:
        """Secrets in a namespace matching a label selector."""
        where = _listing("secrets", namespace, label_selector)
        listed = self._call(where, "/api/v1/namespaces/{namespace}/secrets", _selector_query(label_selector),
                            namespace=namespace)
        items = listed.get("items") or []
        return [_secret_record(obj, namespace, f"secret {namespace}/{obj['metadata']['name']}") for obj in items]

    def service(self, namespace: str, name: str) -> dict | None:
        """The Service object as JSON, or None when it does not exist."""
        return self._get_or_none(f"service {namespace}/{name}", "/api/v1/namespaces/{namespace}/services/{name}",
                                 namespace=namespace, name=name)

    def pods(self, namespace: str, *, label_selector: str = "") -> list[dict]:
        where = _listing("pods", namespace, label_selector)
        return self._call(where, "/api/v1/namespaces/{namespace}/pods", _selector_query(label_selector),
                          namespace=namespace).get("items") or []

    def ready_pods(self, namespace: str, service: str, port: int) -> list["PodTarget"]:
        """The pods behind a service port, in the order ``kubectl port-forward svc/NAME PORT`` prefers them
        (Running and Ready first; kubectl takes the first). Not-ready pods are included (``ready=False``);
        pods lacking a named targetPort are left out (the service would not route to them either). A service
        without a selector gives []. ClusterNotFound when the service does not exist, ClusterError when it has
        no such port."""
        where = f"service {namespace}/{service}"
        svc = self.service(namespace, service)
        if svc is None:
            raise ClusterNotFound(f"Reading {where} found nothing: services \"{service}\" not found.", status=404,
                                  obj=where)
        spec = svc.get("spec") or {}
        selector = spec.get("selector") or {}
        service_port = next((p for p in spec.get("ports") or [] if p.get("port") == port), None)
        if service_port is None:
            ports = ", ".join(str(p.get("port")) for p in spec.get("ports") or []) or "none"
            raise ClusterError(f"The {where} has no port {port} (its ports: {ports}).", obj=where)
        if not selector:
            return []
        targets = []
        for pod in sorted(self.pods(namespace, label_selector=_selector_string(selector)), key=kubectl_pod_order):
            target = _target_port(svc, service_port, pod)
            if target is None:
                continue
            status = pod.get("status") or {}
            targets.append(PodTarget(namespace=namespace, name=pod["metadata"]["name"], port=target,
                                     ready=pod_is_ready(pod), phase=status.get("phase", ""),
                                     ip=status.get("podIP") or ""))
        return targets

    def configmap(self, namespace: str, name: str) -> dict[str, str] | None:
        """A ConfigMap's data, or None when it does not exist."""
        obj = self._get_or_none(f"configmap {namespace}/{name}", "/api/v1/namespaces/{namespace}/configmaps/{name}",
                                namespace=namespace, name=name)
        return None if obj is None else dict(obj.get("data") or {})

    def custom_objects(self, group: str, version: str, namespace: str, plural: str) -> list[dict] | None:
        """The custom objects of one kind in a namespace, or None when the cluster does not serve the kind
        (its CRD is absent: the list answers 404)."""
        where = f"{plural}.{group}/{version} in namespace {namespace}"
        listed = self._get_or_none(where, "/apis/{group}/{version}/namespaces/{namespace}/{plural}", group=group,
                                   version=version, namespace=namespace, plural=plural)
        return None if listed is None else list(listed.get("items") or [])

    def cluster_custom_objects(self, group: str, version: str, plural: str) -> list[dict] | None:
        """The cluster-scoped custom objects of one kind (e.g. cert-manager's ClusterIssuers), or None when the
        cluster does not serve the kind (its CRD is absent)."""
        where = f"{plural}.{group}/{version} at the cluster scope"
        listed = self._get_or_none(where, "/apis/{group}/{version}/{plural}", group=group, version=version,
                                   plural=plural)
        return None if listed is None else list(listed.get("items") or [])

    def helm_release(self, namespace: str, release: str) -> "HelmRelease | None":
        """The installed revision of a Helm 3 release: the highest-version ``deployed`` release secret
        (labels owner=helm, name=<release>, status=deployed), decoded; None when there is none."""
        secrets = self.secrets(namespace, label_selector=f"owner=helm,name={release},status=deployed")
        candidates = [s for s in secrets if s.name.startswith(f"sh.helm.release.v1.{release}.v")]
        if not candidates:
            return None

        def revision(secret: Secret) -> int:
            label = secret.labels.get("version", "")
            suffix = secret.name.rsplit(".v", 1)[-1]
            return int(label) if label.isdigit() else int(suffix) if suffix.isdigit() else -1

        latest = max(candidates, key=revision)
        where = f"{latest.namespace}/{latest.name}"
        if "release" not in latest.data:
            raise ClusterError(f"The Helm release secret {where} has no 'release' key.", obj=where)
        return _decode_helm_release(latest.data["release"], where)


def _secret_record(obj: dict, namespace: str, where: str) -> Secret:
    metadata = obj.get("metadata") or {}
    return Secret(
        namespace=metadata.get("namespace") or namespace,
        name=metadata.get("name", ""),
        type=obj.get("type") or "Opaque",
        data=_decode_data(obj.get("data"), where),
        labels=dict(metadata.get("labels") or {}),
    )
