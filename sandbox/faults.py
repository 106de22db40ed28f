"""The fault matrix: what can go wrong around a running sandbox, and what the suite must say about it.

A scenario (:mod:`sandbox.scenarios`) is a misconfigured *installation*; a fault is a broken *environment*: a pod
that hangs, a stream the API server drops, an API server that refuses or never answers, a secret someone edited
by hand. Faults are switched on a running sandbox (the ``conformant`` one, usually) and switched off again, so
one sandbox serves the whole matrix:

    with start_sandbox("conformant") as running, ExitStack() as undo:
        changes = FAULTS["silent-server"].apply(running, undo)   # RunOptions changes, e.g. another kubeconfig
        ... gather and judge ...
    # leaving the ExitStack restores the sandbox

Each :class:`FaultCase` also documents its verdicts (like a scenario's ``expected_failures``): the controls whose
verdict changes from the conformant baseline, to what status, and the words their sentence must contain; every
other verdict must stay as it was. ``observation_error`` cases stop the gathering altogether (the expected
configuration cannot be learnt): every test then reports that one sentence as its error.

The fault switches (each registers its own undo on the ExitStack):

    serve_with(running, undo, endpoint, server)   point the endpoint's pod port(s) at another server
    refuse_port(running, undo, endpoint)          nothing listens inside the pod: kubelet reports "connection refused"
    cut_streams(running, undo, endpoint, n)       the API server drops the port-forward websocket after n bytes
    patch(running, undo, plural, ns, name, fn)    change a stored object (pod status, service spec, secret data)
    api_fault(running, undo, how, resource, ...)  the API server answers 401/403/404/500, or hangs
    kubeconfig_for(running, undo, server=, token=) a kubeconfig with another server URL or token
"""

from __future__ import annotations

import base64
import copy
import itertools
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from probes import pki
from probes.catalog import CONTROLS
from sandbox.apiserver import RefusedAfter
from sandbox.cluster import RunningSandbox
from sandbox.scenarios import CLUSTER, NAMESPACE, by_unique_name
from sandbox.servers import GarbageServer, RefusingPort, ResetServer, SilentServer, TricklingServer, Trickle

__all__ = [
    "ERROR", "FAIL", "PASS", "SKIP", "FAULT_TIMEOUT", "CA_KEY_SECRET",
    "FaultCase", "FAULTS", "FAULT_CASES", "fault_names",
    "serve_with", "refuse_port", "cut_streams", "patch", "api_fault", "kubeconfig_for", "values_file",
]

# Verdict statuses as CONTROLS.md names them (probes.controls.Status values; kept as text so that the sandbox
# does not depend on the judges).
PASS, FAIL, SKIP, ERROR = "pass", "fail", "skip", "error"

# The per-step limit the matrix runs with: small, so that a hung peer costs one second, not five.
FAULT_TIMEOUT = 1.0
# The CA key secret the baseline reads (--direktiv-ca-key-secret), as the sandbox's suite_args give it.
CA_KEY_SECRET = ("cert-manager", "direktiv-ca")
# The second certificate some ca.crt bundles carry (an old CA during a rotation).
_ROTATED_CA = "direktiv-system-previous"

Apply = Callable[[RunningSandbox, ExitStack], Mapping[str, Any]]
# Numbers the kubeconfig and values files the faults write beside the sandbox's kubeconfig.
_FILE_NUMBERS = itertools.count(1)


@dataclass(frozen=True)
class FaultCase:
    """One fault and the verdicts it must produce.

    Attributes:
        name: the fault's name (test IDs use it).
        description: one line: what breaks, as an operator would see it.
        apply: switches the fault on for a running sandbox, registering the undo on the ExitStack; returns changes
            to the run options (``kubeconfig``, ``values``, ``timeout``, ``budget``), usually none.
        verdicts: ``(control, endpoint) -> status`` for every verdict that must differ from the conformant
            baseline; all others must equal the baseline.
        names: words every changed verdict's sentence (or the observation error) must contain: the object.
        causes: every such sentence must contain at least one of these: the cause.
        observation_error: True when the gathering cannot even learn the expected configuration; then every
            test of the run errors with that one sentence (and ``verdicts`` is empty).
        steps: how many per-step deadlines the fault may cost one after the other (the deadline of the case is
            ``steps * timeout``, or the budget when one is set).
        justification: why these verdicts (error where the suite cannot observe; fail where the cluster is at fault).
    """

    name: str
    description: str
    apply: Apply
    verdicts: Mapping[tuple[str, str], str] = field(default_factory=dict)
    names: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    observation_error: bool = False
    steps: int = 1
    justification: str = ""


# -------------------------------------------------------------------------------------------------- fault switches


def _pod_ports(running: RunningSandbox, endpoint: str) -> list[tuple[str, str, int]]:
    """The (namespace, pod, container port) keys of the endpoint's main port on every replica."""
    ports = running.pod_ports(endpoint)
    if endpoint in ("lb", "knative"):
        ports = tuple(p for p in ports if p.port == 8443)
    return [(p.namespace, p.pod, p.port) for p in ports]


def serve_with(running: RunningSandbox, undo: ExitStack, endpoint: str, server) -> None:
    """Every replica's main port of ``endpoint`` now leads to ``server`` (stopped on undo)."""
    undo.callback(server.stop)
    for key in _pod_ports(running, endpoint):
        undo.callback(running.targets.__setitem__, key, running.targets.get(key))
        running.targets[key] = server.address


def refuse_port(running: RunningSandbox, undo: ExitStack, endpoint: str, *, after: float | None = None) -> None:
    """Nothing listens on the endpoint's port inside its pods: kubelet answers containerd's 'connection refused'
    (``after`` seconds into each stream, past the forward check's settle time, when given)."""
    for key in _pod_ports(running, endpoint):
        undo.callback(running.targets.__setitem__, key, running.targets.get(key))
        running.targets[key] = None if after is None else RefusedAfter(after)


def cut_streams(running: RunningSandbox, undo: ExitStack, endpoint: str, after_bytes: int) -> None:
    """The API server drops every port-forward websocket to the endpoint's pods after ``after_bytes`` bytes."""
    undo.callback(running.store.clear_faults)
    for namespace, pod, _ in _pod_ports(running, endpoint):
        running.store.cut(namespace, pod, after_bytes)


def patch(running: RunningSandbox, undo: ExitStack, plural: str, namespace: str, name: str,
          change: Callable[[dict], None], *, group: str = "") -> None:
    """Change a stored object in place (``change`` mutates its JSON); undo stores the original again."""
    original = running.store.get(group, plural, namespace, name)
    if original is None:
        raise LookupError(f"the sandbox has no {plural} {namespace}/{name}")
    changed = copy.deepcopy(original)
    change(changed)
    running.store.add(changed)
    undo.callback(running.store.add, original)


def _pods_of(running: RunningSandbox, endpoint: str) -> list[tuple[str, str]]:
    return list(dict.fromkeys((ns, pod) for ns, pod, _ in _pod_ports(running, endpoint)))


def _service_of(running: RunningSandbox, endpoint: str) -> tuple[str, str]:
    spec = running.topology.endpoint(endpoint)
    return spec.namespace, spec.service


def api_fault(running: RunningSandbox, undo: ExitStack, how: str, resource: str, *, status: int = 0,
              seconds: float = 0.0, namespace: str | None = None, name: str | None = None) -> None:
    """``how`` is ``forbid`` (403), ``fail`` (``status``) or ``delay`` (``seconds``) on ``resource``."""
    undo.callback(running.store.clear_faults)
    if how == "forbid":
        running.store.forbid(resource, namespace, name=name)
    elif how == "fail":
        running.store.fail(resource, status, namespace=namespace, name=name)
    elif how == "delay":
        running.store.delay(resource, seconds, namespace=namespace, name=name)
    else:
        raise ValueError(f"unknown API fault {how!r}; use forbid, fail or delay")


def kubeconfig_for(running: RunningSandbox, undo: ExitStack, *, server: str | None = None,
                   token: str | None = None) -> str:
    """A kubeconfig beside the sandbox's with another API server URL or token (removed on undo)."""
    path = Path(running.kubeconfig_path).with_name(f"kubeconfig-fault-{next(_FILE_NUMBERS)}")
    running.api.write_kubeconfig(path, token=token)
    if server is not None:
        document = yaml.safe_load(path.read_text())
        document["clusters"][0]["cluster"]["server"] = server
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    undo.callback(path.unlink, True)
    return str(path)


def values_file(running: RunningSandbox, undo: ExitStack) -> str:
    """The scenario's Helm values in a file beside the kubeconfig (for runs that cannot read the release)."""
    path = Path(running.kubeconfig_path).with_name(f"values-fault-{next(_FILE_NUMBERS)}.yaml")
    path.write_text(running.scenario.values_yaml)
    undo.callback(path.unlink, True)
    return str(path)


def _set_secret_data(running: RunningSandbox, undo: ExitStack, namespace: str, name: str,
                     change: Callable[[dict[str, bytes]], None]) -> None:
    def edit(obj: dict) -> None:
        data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        change(data)
        obj["data"] = {k: base64.b64encode(v).decode("ascii") for k, v in data.items()}
    patch(running, undo, "secrets", namespace, name, edit)


# ------------------------------------------------------------------------------------------------------ the cases

_MALFORMED_PEM = b"-----BEGIN CERTIFICATE-----\nTUlJQ this is no certificate ===\n-----END CERTIFICATE-----\n"


def _not_running(running: RunningSandbox, undo: ExitStack, endpoint: str, *, phase: str) -> None:
    for namespace, pod in _pods_of(running, endpoint):
        def change(obj: dict) -> None:
            obj["status"]["phase"] = phase
            for condition in obj["status"]["conditions"]:
                if condition["type"] in ("Ready", "ContainersReady"):
                    condition["status"] = "False"
                    condition["reason"] = "ContainersNotReady"
            for status in obj["status"].get("containerStatuses") or []:
                status["ready"] = False
                status["state"] = ({"waiting": {"reason": "ContainerCreating"}} if phase == "Pending" else
                                   {"running": {"startedAt": obj["status"].get("startTime", "")}})
        patch(running, undo, "pods", namespace, pod, change)


def _no_selector(running: RunningSandbox, undo: ExitStack, endpoint: str) -> None:
    namespace, service = _service_of(running, endpoint)
    patch(running, undo, "services", namespace, service, lambda obj: obj["spec"].pop("selector", None))


def _bundle_with_old_ca(data: dict[str, bytes]) -> None:
    old = pki.CertificateAuthority.self_signed(_ROTATED_CA, key_type="ecdsa")
    data["ca.crt"] = old.cert_pem + data["ca.crt"]


def _release_secret_name(running: RunningSandbox) -> str:
    items, _ = running.store.list("", "secrets", NAMESPACE)
    return next(s["metadata"]["name"] for s in items if s["metadata"]["name"].startswith("sh.helm.release.v1."))


def _case(name: str, description: str, apply: Apply, **kwargs) -> FaultCase:
    return FaultCase(name, description, apply, **kwargs)


def _every(endpoint: str, status: str = ERROR, *, but: tuple[str, ...] = ()) -> dict[tuple[str, str], str]:
    """Every control of the catalog on ``endpoint`` (all pass in the baseline) -> ``status``, except ``but``."""
    return {(c.id, endpoint): status for c in CONTROLS if endpoint in c.endpoints and c.id not in but}


def _on(endpoint: str, status: str, *controls: str) -> dict[tuple[str, str], str]:
    return {(control, endpoint): status for control in controls}


_SERVED_CERTIFICATE = ("C-CHAIN-TRUSTED", "C-SAN-MATCH", "C-VALIDITY", "C-EKU", "C-KEY-STRENGTH",
                       "C-SERVED-MATCHES-SECRET", "C-X509-STRICT")
_MTLS_CONTROLS = ("M-VALID-CERT-ACCEPTED", "M-NO-CERT-REJECTED", "M-UNTRUSTED-CA-REJECTED",
                  "M-SELF-SIGNED-CLONE-REJECTED", "M-EXPIRED-CERT-REJECTED", "M-NO-CLIENTAUTH-EKU-REJECTED")
_MTLS_ENDPOINTS = ("ingress-grpc", "flow-grpc", "functions-grpc")
_REFUSING_PORT = ("a refusal of plaintext, legacy versions or weak suites counts only after a completed baseline "
                  "handshake, so those are errors too, as are the certificate controls, which have nothing to judge "
                  "(see T-TLS-HANDSHAKE)")
# The refusal controls that need a completed baseline handshake on the same pod and port (else: error).
_REFUSALS = ("T-PLAINTEXT-REFUSED", "T-LEGACY-PROTOCOLS-REFUSED", "T-WEAK-CIPHERS-REFUSED", "T-FORWARD-SECRECY",
             "T-SECURE-RENEGOTIATION", "T-DOWNGRADE-SCSV")
_UNOBSERVABLE = ("nothing can be observed on the endpoint, so every control on it errors with the reason; no "
                 "catalog control is about reachability, and the run still fails (errors fail it)")
_NO_EXPECTATION = ("without the expected configuration nothing can be judged: the run stops with one sentence that "
                   "every test reports as its error")


def _secrets_forbidden() -> dict[tuple[str, str], str]:
    verdicts = {(k, CLUSTER): ERROR for k in ("K-SECRET-PRESENT", "K-SECRET-KEYPAIR", "K-SECRET-CHAIN",
                                              "K-CA-CONSISTENT", "K-FUNCTIONS-CA", "K-INITPOD-SAN")}
    for endpoint in ("lb", "api", "ui", *_MTLS_ENDPOINTS, "knative"):
        verdicts.update(_on(endpoint, ERROR, "C-CHAIN-TRUSTED", "C-X509-STRICT", "C-SERVED-MATCHES-SECRET"))
    for endpoint in _MTLS_ENDPOINTS:  # no configured client certificate: no baseline, so no refusal counts
        verdicts.update(_on(endpoint, ERROR, "T-TLS-HANDSHAKE", *_MTLS_CONTROLS, *_REFUSALS))
    verdicts[("N-SNI-COVERAGE", "knative")] = ERROR
    return verdicts


def _applying(switch: Callable[..., object], *args, **kwargs) -> Apply:
    """An ``apply`` that calls ``switch(running, undo, *args, **kwargs)`` and changes no run option."""
    def apply(running: RunningSandbox, undo: ExitStack) -> Mapping[str, Any]:
        switch(running, undo, *args, **kwargs)
        return {}
    return apply


def _serving(endpoint: str, factory: Callable[[], object], **run_options) -> Apply:
    def apply(running: RunningSandbox, undo: ExitStack) -> Mapping[str, Any]:
        serve_with(running, undo, endpoint, factory())
        return run_options
    return apply


def _with_kubeconfig(**kubeconfig) -> Apply:
    def apply(running: RunningSandbox, undo: ExitStack) -> Mapping[str, Any]:
        return {"kubeconfig": kubeconfig_for(running, undo, **kubeconfig)}
    return apply


def _api_behind(server_factory: Callable[[], object]) -> Apply:
    """The kubeconfig names a server that is not the API server (refusing, silent)."""
    def apply(running: RunningSandbox, undo: ExitStack) -> Mapping[str, Any]:
        server = server_factory()
        undo.callback(server.stop)
        host, port = server.address
        return {"kubeconfig": kubeconfig_for(running, undo, server=f"https://{host}:{port}")}
    return apply


def _forbid_secrets_with_values(running: RunningSandbox, undo: ExitStack) -> Mapping[str, Any]:
    api_fault(running, undo, "forbid", "secrets")
    return {"values": values_file(running, undo), "chart_version": running.scenario.chart_version,
            "app_version": running.scenario.app_version}


def _undecodable_release(running: RunningSandbox, undo: ExitStack) -> None:
    _set_secret_data(running, undo, NAMESPACE, _release_secret_name(running),
                     lambda data: data.__setitem__("release", b"H4sI this is not a Helm release"))


def _undecodable_release_with_values(running: RunningSandbox, undo: ExitStack) -> Mapping[str, Any]:
    _undecodable_release(running, undo)
    return {"values": values_file(running, undo), "chart_version": running.scenario.chart_version,
            "app_version": running.scenario.app_version}


def _silent_with_budget(running: RunningSandbox, undo: ExitStack) -> Mapping[str, Any]:
    serve_with(running, undo, "flow-grpc", SilentServer(hold=60.0))
    return {"timeout": 30.0, "budget": 3.0}


def _pod_fault(how: str, endpoint: str, **kwargs) -> Apply:
    def apply(running: RunningSandbox, undo: ExitStack) -> Mapping[str, Any]:
        namespace, pod = _pods_of(running, endpoint)[0]
        api_fault(running, undo, how, "pods/portforward", namespace=namespace, name=pod, **kwargs)
        return {}
    return apply


def _service_fault(how: str, endpoint: str, **kwargs) -> Apply:
    def apply(running: RunningSandbox, undo: ExitStack) -> Mapping[str, Any]:
        namespace, service = _service_of(running, endpoint)
        api_fault(running, undo, how, "services", namespace=namespace, name=service, **kwargs)
        return {}
    return apply


FAULT_CASES: tuple[FaultCase, ...] = (
    # -- the pod's server misbehaves
    _case("silent-server", "flow's gRPC port accepts connections and never answers",
          _serving("flow-grpc", lambda: SilentServer(hold=60.0)),
          verdicts=_every("flow-grpc"), names=("direktiv-flow-",), causes=("no verdict within 1.0s", "no complete answer within 1.0s", "sent nothing back within 1.0s"), steps=2,
          justification="every probe waits out its deadline, so nothing is observed (error); silence to plaintext "
                        "proves nothing when TLS is silent too; the plaintext probe's two reads are the slowest chain"),
    _case("silent-lb", "the external Envoy's HTTPS port accepts connections and never answers (port 80 still does)",
          _serving("lb", lambda: SilentServer(hold=60.0)),
          verdicts=_every("lb", but=("H-HTTP-REDIRECTS",)), names=("envoy-",),
          causes=("within 1.0s", "timed out after 1.0s"), steps=2,
          justification="as silent-server, through the HTTPS GET's own deadline; the redirect on port 80 is "
                        "served by another listener and is still judged"),
    _case("reset-handshake", "the api's port resets every connection mid-handshake (after the ClientHello)",
          _serving("api", ResetServer),
          verdicts={**_on("api", FAIL, "T-TLS-HANDSHAKE"),
                    **_on("api", ERROR, *_SERVED_CERTIFICATE, "H-HTTPS-RESPONDS", "T-MODE-MATCHES-CONFIG",
                          *_REFUSALS)},
          names=("direktiv-api-",), causes=("closed the TCP connection", "closed the connection", "eof"),
          justification="the pod's server refuses every handshake: T-TLS-HANDSHAKE fails (the server is at fault); "
                        + _REFUSING_PORT),
    _case("garbage-server", "the ui's port answers random bytes that are not TLS",
          _serving("ui", GarbageServer),
          verdicts={**_on("ui", FAIL, "T-TLS-HANDSHAKE"),
                    **_on("ui", ERROR, *_SERVED_CERTIFICATE, "H-HTTPS-RESPONDS", "T-MODE-MATCHES-CONFIG",
                          *_REFUSALS)},
          names=("direktiv-ui-",), causes=("did not answer in TLS", "wrong version number", "bytes that are not HTTP"),
          justification="the port does not speak TLS: T-TLS-HANDSHAKE fails (the server is at fault); "
                        + _REFUSING_PORT),
    _case("trickling-server", "the functions port sends its ServerHello one byte a second (step limit 2s)",
          _serving("functions-grpc", lambda: TricklingServer(Trickle.SERVER_HELLO, interval=1.0), timeout=2.0),
          verdicts=_every("functions-grpc"), names=("direktiv-functions-",),
          causes=("no verdict within 2.0s", "no complete answer within 2.0s", "bytes that are not HTTP"), steps=2,
          justification="no handshake finishes within its deadline (error); the bytes that do come to plaintext "
                        "are not HTTP, but without a completed baseline handshake that is no refusal either "
                        "(error); a 2s step limit keeps the first trickled byte (at 1s) clear of the read deadline"),
    # -- port-forward
    _case("forward-refused", "nothing listens on the gRPC ingress port inside its pod (kubelet: connection refused)",
          _applying(refuse_port, "ingress-grpc"), verdicts=_every("ingress-grpc"),
          names=("direktiv-flow-", "6666"), causes=("connection refused",), justification=_UNOBSERVABLE),
    _case("kubelet-late-refused", "kubelet reports 'connection refused' for the flow port only after the "
          "forward check settled (the pod's process restarts)",
          _applying(refuse_port, "flow-grpc", after=0.6), verdicts=_every("flow-grpc"),
          names=("direktiv-flow-",), causes=("connection refused",),
          justification="a stream that kubelet reports as failed carried nothing from the pod: the close that "
                        "follows reads like a refusal, so nothing seen through it is judged (error)"),
    _case("stream-dropped", "the API server drops the port-forward websocket to knative's Envoy mid-stream",
          _applying(cut_streams, "knative", 100), verdicts=_every("knative"), names=("envoy-", "8443"),
          causes=("dropped the port-forward stream",),
          justification="a cut stream hands the client a truncated answer that would read as a refusal: nothing "
                        "seen through it is judged (error), never a pass or a fail"),
    _case("kubelet-hung", "the port-forward to the api's pod never opens (kubelet or API server hangs)",
          _pod_fault("delay", "api", seconds=30.0), verdicts=_every("api"), names=("direktiv-api-", "8080"),
          causes=("port-forward open timed out after 1.0s",), justification=_UNOBSERVABLE),
    _case("portforward-404", "the lb's pod is gone when the port-forward is opened (404)",
          _pod_fault("fail", "lb", status=404), verdicts=_every("lb"), names=("envoy-",), causes=("HTTP 404",),
          justification=_UNOBSERVABLE),
    # -- pods and services
    _case("pod-not-running", "the api's pod is Pending", _applying(_not_running, "api", phase="Pending"),
          verdicts=_every("api"), names=("direktiv-api-service", "direktiv-api-"), causes=("Pending, not ready",),
          justification="the installation is broken, but no TLS control can pass or fail on an endpoint no pod "
                        "serves: " + _UNOBSERVABLE),
    _case("pod-not-ready", "the ui's pod is Running but not Ready (no ready pod behind the service)",
          _applying(_not_running, "ui", phase="Running"), verdicts=_every("ui"), names=("direktiv-ui",),
          causes=("Running, not ready",), justification=_UNOBSERVABLE),
    _case("service-without-selector", "the functions service has no selector (endpoints managed by hand)",
          _applying(_no_selector, "functions-grpc"), verdicts=_every("functions-grpc"),
          names=("direktiv-functions-hl",), causes=("no selector",), justification=_UNOBSERVABLE),
    _case("service-404", "the flow service is not found (404)", _service_fault("fail", "flow-grpc", status=404),
          verdicts=_every("flow-grpc"), names=("direktiv-flow-hl",), causes=("not found",),
          justification=_UNOBSERVABLE),
    # -- the API server
    _case("api-401", "the kubeconfig's token is not accepted (401 on every request)",
          _with_kubeconfig(token="not-the-token"), observation_error=True, names=("401",),
          causes=("credentials",), justification=_NO_EXPECTATION),
    _case("api-403-secrets-in-a-namespace", "RBAC forbids reading secrets in contour-internal",
          _applying(api_fault, "forbid", "secrets", namespace="contour-internal"),
          verdicts={("K-SECRET-PRESENT", CLUSTER): ERROR, ("K-CA-CONSISTENT", CLUSTER): ERROR,
                    ("K-SECRET-KEYPAIR", CLUSTER): ERROR, ("K-SECRET-CHAIN", CLUSTER): ERROR,
                    **_on("knative", ERROR, "C-CHAIN-TRUSTED", "C-X509-STRICT", "C-SERVED-MATCHES-SECRET",
                          "N-SNI-COVERAGE")},
          names=("contour-internal/direktiv-cert-knative",), causes=("forbidden",),
          justification="only what needs that secret cannot be judged (error, naming the secret and RBAC); the "
                        "handshakes themselves need no secret and are still judged"),
    _case("api-403-secrets", "RBAC forbids reading secrets anywhere (the expectation comes from --direktiv-values)",
          _forbid_secrets_with_values, verdicts=_secrets_forbidden(), names=("secret",),
          causes=("forbidden", "could not be read"),
          justification="every control that needs a secret (the K-* checks, trust anchors, the client "
                        "certificates of mTLS) errors; the rest is judged as usual"),
    _case("api-500-configmaps", "the API server answers 500 to configmap reads",
          _applying(api_fault, "fail", "configmaps", status=500),
          verdicts={("K-CONTOUR-DEFAULT-TLS", CLUSTER): ERROR}, names=("config-contour",), causes=("HTTP 500",),
          justification="the one control that reads the ConfigMap cannot be judged (error)"),
    _case("api-hung", "the API server accepts requests and never answers",
          _applying(api_fault, "delay", "*", seconds=60.0), observation_error=True, names=("127.0.0.1",),
          causes=("did not answer within 1s",), justification=_NO_EXPECTATION),
    _case("api-refused", "nothing listens at the kubeconfig's API server address", _api_behind(RefusingPort),
          observation_error=True, names=("127.0.0.1",), causes=("could not be reached",),
          justification=_NO_EXPECTATION),
    _case("api-silent", "the kubeconfig's API server address accepts TCP and never answers (no TLS)",
          _api_behind(lambda: SilentServer(hold=60.0)), observation_error=True, names=("127.0.0.1",),
          causes=("did not answer within 1s", "timed out"), steps=2, justification=_NO_EXPECTATION),
    # -- secrets
    _case("secret-malformed-pem", "the tls.crt of default/direktiv-cert is not a PEM certificate",
          _applying(_set_secret_data, NAMESPACE, "direktiv-cert", lambda d: d.__setitem__("tls.crt", _MALFORMED_PEM)),
          verdicts={("K-SECRET-PRESENT", CLUSTER): FAIL, ("K-SECRET-KEYPAIR", CLUSTER): ERROR,
                    ("K-SECRET-CHAIN", CLUSTER): ERROR, **_on("api", ERROR, "C-SERVED-MATCHES-SECRET"),
                    **_on("ui", ERROR, "C-SERVED-MATCHES-SECRET")},
          names=("default/direktiv-cert",), causes=("not a valid X.509 certificate",),
          justification="the secret holds no usable tls.crt: K-SECRET-PRESENT fails (the cluster is at fault), "
                        "the checks that compare against it error and point there; the pods still serve the "
                        "certificate they mounted, and that is judged as usual"),
    _case("secret-key-missing", "default/direktiv-cert-flow has no tls.key",
          _applying(_set_secret_data, NAMESPACE, "direktiv-cert-flow", lambda d: d.pop("tls.key")),
          verdicts={("K-SECRET-PRESENT", CLUSTER): FAIL, ("K-SECRET-KEYPAIR", CLUSTER): ERROR,
                    **_on("flow-grpc", ERROR, "T-TLS-HANDSHAKE", *_MTLS_CONTROLS, *_REFUSALS)},
          names=("default/direktiv-cert-flow",), causes=("lacks tls.key",),
          justification="K-SECRET-PRESENT fails; without the configured client key no baseline handshake can be "
                        "made, so no refusal on the port counts (error); the served certificate is still judged"),
    _case("ca-bundle", "the ca.crt of default/direktiv-cert-ingress holds the previous CA and the current one",
          _applying(_set_secret_data, NAMESPACE, "direktiv-cert-ingress", _bundle_with_old_ca),
          justification="a CA bundle is how a CA rotation is done: every anchor in it is used, nothing changes"),
    _case("helm-release-undecodable", "the Helm release secret does not decode",
          _applying(_undecodable_release), observation_error=True, names=("sh.helm.release.v1.direktiv.v1",),
          causes=("does not decode",), justification=_NO_EXPECTATION + "; it says to pass --direktiv-values"),
    _case("helm-release-undecodable-with-values",
          "the Helm release secret does not decode, and --direktiv-values gives the expectation",
          _undecodable_release_with_values,
          justification="--direktiv-values gives the same expectation, so every verdict is the baseline's"),
    # -- the budget
    _case("budget-spent", "flow's gRPC port never answers, the step limit is 30s and --direktiv-budget 3",
          _silent_with_budget, verdicts=_every("flow-grpc"), names=("",), causes=("--direktiv-budget 3s",),
          justification="what the budget cut short is not observed, and each verdict says the budget ran out; "
                        "the run ends within twice the budget"),
)


def fault_names() -> tuple[str, ...]:
    return tuple(FAULTS)


FAULTS: dict[str, FaultCase] = by_unique_name(FAULT_CASES, kind="fault case")
