"""Start a scenario: its PKI, a real server per pod port on 127.0.0.1, and an emulated API server that serves the
Direktiv-shaped objects and forwards ``pods/portforward`` to those servers.

``start_sandbox("conformant")`` returns a :class:`RunningSandbox` with a kubeconfig the suite can use
(``direktiv-tls-conformance --kubeconfig PATH`` plus :attr:`RunningSandbox.suite_args`). The layout is Direktiv v0.4's
(TOPOLOGY.md), release ``direktiv`` in ``default``:

    contour-external  Service envoy 80->http(8080) 443->https(8443)   pod envoy-*       the LoadBalancer
    contour-internal  Service envoy 80->http(8080) 443->https(8443)   pod envoy-*       knative's Contour
    default           direktiv-api-service 8080, direktiv-ui 8080      pods direktiv-api-*, direktiv-ui-*
                      direktiv-ingress-hl 6666, direktiv-flow-hl 7777  pod direktiv-flow-* (containers ingress, flow)
                      direktiv-functions-hl 5555                       pod direktiv-functions-*
    direktiv-services-direktiv   knative Services, the sidecar's flow secret, the init pods' secret (or the
                                 values' functions.namespace)
    knative-serving-knative      ConfigMap config-contour
    cert-manager                 Secret direktiv-ca (the CA, with its key), Certificate direktiv-ca

Secrets are written as cert-manager writes them (``kubernetes.io/tls``: ``tls.crt``, ``tls.key``, ``ca.crt``,
and its annotations); the Helm release secret holds the chart's real defaults (``data/``) and the scenario's
values. A pod whose secret is missing stays Pending, one whose ``tls.key`` does not match stays not Ready (as the
Go servers refuse the pair), and neither gets a server. Keys are ECDSA P-256 unless a scenario asks for RSA.

Direktiv's own servers (the API, the UI, the gRPC ports) run on the Go program (:class:`sandbox.servers.GoServer`:
Go's crypto/tls with Go's defaults wherever the scenario sets nothing, grpc-go, net/http; one process serves them
all) where Go is installed, else on the Python stand-ins; ``$DIREKTIV_SANDBOX_ENGINE`` (``go`` or ``python``)
chooses, and :attr:`RunningSandbox.notice` says when they are not Go. The Envoy-like lb and knative servers are
Python either way.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import shutil
import sys
import ssl
import tempfile
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from probes import pki
from probes import x509 as facts
from probes.chartlines import MODEL_V04, MODEL_V07, MODEL_V08, chart_line
from probes.cipher_suites import SUITES
from probes.helm import HelmRelease, release_secret_object
from probes.topology import EndpointSpec, Mode, Topology, derive_topology
from sandbox.apiserver import ApiServer, ObjectStore, secret_object
from sandbox.podnet import PodNetwork
from sandbox.rbac import ClusterRole
from sandbox.scenarios import (
    NAMESPACE,
    RELEASE,
    ClientAuth,
    Engine,
    Issuer,
    Scenario,
    ServerSpec,
    VerifyQuirk,
    scenario as find_scenario,
)
from sandbox.servers import (
    ENVOY_CIPHERS,
    GO_1_15_CIPHERS,
    WEAK_CIPHERS,
    ClientAuth as ServerClientAuth,
    GoHttpsServer,
    GoListener,
    GoProcess,
    GoProtocol,
    GoServer,
    GoTLSGrpcServer,
    GoUnavailable,
    GrpcHealthServer,
    INGRESS_NGINX_POLICY,
    LoadBalancer,
    NginxIngress,
    NginxIngressImitation,
    OldStackFront,
    ServerTLS,
    TLSPolicy,
    VerifyErrorKind,
    go_available,
    nginx_available,
)

__all__ = ["ENGINE_ENV", "POD_IPS_CLUSTER", "POD_IPS_LOOPBACK", "PodPort",
           "RunningSandbox", "chart_defaults", "default_engine", "start_sandbox"]

EXTERNAL_CONTOUR = "contour-external"
INTERNAL_CONTOUR = "contour-internal"
KNATIVE_SERVING = "knative-serving-knative"
CERT_MANAGER = "cert-manager"
_NODE = "sandbox-node-1"
# Envoy's listener ports inside its pod (Contour's example deployment): the Service maps 80/443 onto them.
_ENVOY_HTTP, _ENVOY_HTTPS = 8080, 8443
# Chooses the engine of Direktiv's servers where a scenario names none: "go" or "python" (unset: Go if installed).
ENGINE_ENV = "DIREKTIV_SANDBOX_ENGINE"
# start_sandbox(pod_ips=...): pod addresses of a pod network that only port-forward reaches (10.244.0.x), or
# addresses of their own on 127.0.0.N where the pods' container ports listen (for --direktiv-connect direct).
POD_IPS_CLUSTER = "cluster"
POD_IPS_LOOPBACK = "loopback"


def chart_defaults(model: str = "v0.4") -> dict:
    """The default values of a modelled Direktiv chart line (``chart.values`` of the release)."""
    return chart_line(model).defaults()


def default_engine() -> Engine:
    """The engine of Direktiv's servers where the scenario names none: ``$DIREKTIV_SANDBOX_ENGINE`` when set,
    else Go where it is installed (:func:`sandbox.servers.go_available`), else Python. ValueError for another
    value of the variable; :class:`sandbox.servers.GoUnavailable` when it asks for Go and Go is not installed."""
    chosen = os.environ.get(ENGINE_ENV, "").strip().lower()
    if not chosen:
        return Engine.GO if go_available() else Engine.PYTHON
    try:
        engine = Engine(chosen)
    except ValueError:
        raise ValueError(f"{ENGINE_ENV} must be 'go' or 'python', given: {chosen!r}") from None
    if engine is Engine.GO and not go_available():
        raise GoUnavailable(f"{ENGINE_ENV}=go, but Go or grpc-go is not installed "
                            "(apt-get install golang-go golang-google-grpc-dev)")
    return engine


def _engine_notice(engine: Engine) -> str | None:
    if engine is Engine.GO:
        return None
    if os.environ.get(ENGINE_ENV, "").strip():
        return f"{ENGINE_ENV}={engine.value}: Direktiv's servers run on the Python stand-ins, not on Go"
    return ("Go is not installed: Direktiv's servers run on the Python stand-ins "
            "(apt-get install golang-go golang-google-grpc-dev for Go's own TLS)")


# ------------------------------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class PodPort:
    """One container port of a sandbox pod and where its real server listens.

    Attributes:
        namespace: the pod's namespace.
        pod: the pod's name.
        port: the container port (what ``pods/portforward?ports=`` names).
        endpoint: the endpoint ID it serves (CONTROLS.md), e.g. ``flow-grpc``.
        address: the real server's (host, port) on 127.0.0.1, None when nothing listens (port-forward refused).
    """

    namespace: str
    pod: str
    port: int
    endpoint: str
    address: tuple[str, int] | None


class RunningSandbox:
    """A started scenario; ``stop()`` (or leaving the ``with`` block) stops every server and the API server and
    removes the files it wrote.

    Attributes:
        scenario: the scenario it runs.
        kubeconfig_path: the kubeconfig selecting the emulated API server (0600).
        api_url: the API server's URL.
        suite_args: pytest options the scenario needs besides ``--kubeconfig``.
        topology: what the scenario's values make the suite expect (probes.topology).
        ports: every container port of every pod, with its server's address.
        ca_pem: the cluster CA (cert-manager/direktiv-ca) certificate.
        store: the API server's object store (tests may change it).
        api: the emulated API server (``write_kubeconfig`` for further kubeconfigs, e.g. with a wrong token).
        targets: where each pod port's port-forward leads, ``(namespace, pod, port) -> address`` (None: refused);
            the API server reads it on every port-forward, so tests may point a pod port at another server.
        engine: the engine of Direktiv's servers where the scenario names none (:func:`default_engine`).
        notice: one line for people when that engine is not Go (why, and how to get Go); None when it is.
    """

    def __init__(self, scenario: Scenario, *, kubeconfig_path: Path, api: ApiServer, store: ObjectStore,
                 topology: Topology, ports: tuple[PodPort, ...], ca_pem: bytes, cleanup: ExitStack,
                 targets: dict | None = None, engine: Engine = Engine.PYTHON) -> None:
        self.scenario = scenario
        self.kubeconfig_path = kubeconfig_path
        self.api_url = api.url
        self.suite_args: list[str] = list(scenario.suite_args)
        self.topology = topology
        self.ports = ports
        self.ca_pem = ca_pem
        self.store = store
        self.api = api
        self.targets = targets if targets is not None else {}
        self.engine = engine
        self.notice = _engine_notice(engine)
        self._cleanup = cleanup

    def __repr__(self) -> str:
        return f"RunningSandbox({self.scenario.name!r}, api_url={self.api_url!r})"

    def __enter__(self) -> "RunningSandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every server and the API server, remove the kubeconfig and temp files; idempotent."""
        self._cleanup.close()

    def suite_command(self) -> list[str]:
        """The command that points the suite at this sandbox: the installed command, by its path when it sits
        beside this interpreter (a virtualenv nobody activated, as after ``make demo``); in a checkout ``pytest
        suites/`` takes the same options."""
        beside = Path(sys.executable).with_name("direktiv-tls-conformance")
        command = str(beside) if beside.exists() and not shutil.which("direktiv-tls-conformance") else \
            "direktiv-tls-conformance"
        return [command, "--kubeconfig", str(self.kubeconfig_path), *self.suite_args]

    def pod_ports(self, endpoint: str) -> tuple[PodPort, ...]:
        """The pod ports serving ``endpoint``, replicas in order (for lb/knative: both of Envoy's ports)."""
        return tuple(p for p in self.ports if p.endpoint == endpoint)

    def address(self, endpoint: str, *, replica: int = 0, port: int | None = None) -> tuple[str, int]:
        """Where the real server of ``endpoint`` listens (skipping port-forward), for tests; ``port`` picks the
        container port (Envoy's 8080/8443), default the endpoint's main one. ``LookupError`` when none does."""
        candidates = [p for p in self.pod_ports(endpoint) if port is None or p.port == port]
        if port is None and endpoint in ("lb", "knative"):
            https = [p for p in candidates if p.port in (_ENVOY_HTTPS, 443) and p.address]
            candidates = https or candidates
        pods = list(dict.fromkeys(p.pod for p in candidates))
        if replica >= len(pods):
            raise LookupError(f"{endpoint} has no replica {replica} serving port {port or 'default'}")
        found = next(p for p in candidates if p.pod == pods[replica])
        if found.address is None:
            raise LookupError(f"nothing listens on {found.namespace}/{found.pod} port {found.port} ({endpoint})")
        return found.address


# ----------------------------------------------------------------------------------------------------------- PKI


def _intermediate(root: pki.CertificateAuthority,
                  common_name: str = "direktiv-intermediate") -> pki.CertificateAuthority:
    """An intermediate CA signed by ``root`` (cert-manager's CA issuer backed by an intermediate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    root_key = serialization.load_pem_private_key(root.key.bytes(), password=None)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + pki.DEFAULT_DURATION)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root.cert.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return pki.CertificateAuthority(cert, key)


class _Pki:
    """The scenario's CAs (made when first needed) and its issued certificates, by CertSpec id."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.ca = pki.CertificateAuthority.self_signed("direktiv-system", key_type=scenario.ca_key_type)
        self._cas: dict[Issuer, pki.CertificateAuthority] = {Issuer.CA: self.ca}
        self._certs: dict[str, pki.IssuedCertificate] = {}
        self._acme_root: pki.CertificateAuthority | None = None
        self._fake: pki.IssuedCertificate | None = None

    def authority(self, issuer: Issuer) -> pki.CertificateAuthority:
        if issuer not in self._cas:
            if issuer is Issuer.OTHER_CA:
                self._cas[issuer] = pki.CertificateAuthority.self_signed("direktiv-system",
                                                                          key_type=self.scenario.ca_key_type)
            elif issuer is Issuer.INTERMEDIATE:
                self._cas[issuer] = _intermediate(self.ca)
            elif issuer is Issuer.ACME:  # Let's Encrypt's shape: a root (in the system store) and an intermediate
                self._acme_root = pki.CertificateAuthority.self_signed("sandbox ACME stand-in root", key_type="ecdsa")
                self._cas[issuer] = _intermediate(self._acme_root, "sandbox ACME stand-in intermediate")
            else:
                raise ValueError(f"{issuer.value} is not a CA")
        return self._cas[issuer]

    def fake_ingress_certificate(self) -> pki.IssuedCertificate:
        """ingress-nginx's default certificate (internal/net/ssl/ssl.go GetFakeSSLCert): self-signed RSA 2048,
        O=Acme Co, CN=Kubernetes Ingress Controller Fake Certificate, DNS ingress.local."""
        if self._fake is None:
            subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme Co"),
                                 x509.NameAttribute(NameOID.COMMON_NAME,
                                                    "Kubernetes Ingress Controller Fake Certificate")])
            self._fake = pki.self_signed_certificate(["ingress.local"], subject=subject, key_type="rsa",
                                                     key_size=2048)
        return self._fake

    def ca_pem(self, issuer: Issuer) -> bytes:
        """What ``ca.crt`` holds for a certificate from ``issuer`` (the root, for the intermediates; an ACME
        issuer writes no ca.crt, and this is the root a client would trust)."""
        if issuer is Issuer.INTERMEDIATE:
            return self.ca.cert_pem
        if issuer is Issuer.ACME:
            self.authority(issuer)
            return self._acme_root.cert_pem
        return self.authority(issuer).cert_pem

    def issued(self, cert_id: str) -> pki.IssuedCertificate:
        if cert_id not in self._certs:
            self._certs[cert_id] = self._issue(self.scenario.certificate(cert_id))
        return self._certs[cert_id]

    def _issue(self, spec) -> pki.IssuedCertificate:
        now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
        start = now - _dt.timedelta(days=spec.age_days)
        window = dict(not_before=start, not_after=start + _dt.timedelta(days=spec.lifetime_days),
                      key_type=spec.key_type, key_size=spec.key_size)
        if spec.issuer is Issuer.SELF_SIGNED:
            return pki.self_signed_certificate(spec.dns_names, usages=spec.usages, common_name=spec.common_name,
                                               **window)
        authority = self.authority(spec.issuer)
        digest = hashes.SHA1() if spec.signature_hash == "sha1" else hashes.SHA256()
        issued = authority.issue(spec.dns_names, usages=spec.usages, signature_hash=digest,
                                 common_name=spec.common_name, **window)
        if spec.issuer in (Issuer.INTERMEDIATE, Issuer.ACME):  # tls.crt = leaf + intermediate, ca.crt = the root
            issued = replace(issued, chain_pem=issued.chain_pem + authority.cert_pem, ca_pem=self.ca_pem(spec.issuer))
        return issued


def _secret_data(scenario: Scenario, authority: _Pki) -> dict[tuple[str, str], dict[str, bytes]]:
    data: dict[tuple[str, str], dict[str, bytes]] = {}
    for spec in scenario.secrets:
        issued = authority.issued(spec.cert)
        full = issued.secret_data()
        if spec.key_of:
            full["tls.key"] = authority.issued(spec.key_of).key.bytes()
        if spec.ca_of is not None:
            full["ca.crt"] = authority.ca_pem(spec.ca_of)
        data[(spec.namespace, spec.name)] = {k: v for k, v in full.items() if k in spec.keys}
    return data


# ------------------------------------------------------------------------------------------------------ workloads


@dataclass(frozen=True)
class _Container:
    name: str
    image: str
    ports: tuple[tuple[str, int, str | None], ...] = ()  # (port name, containerPort, endpoint served)


@dataclass(frozen=True)
class _Workload:
    """A Deployment or DaemonSet: its pods' labels and containers, and the endpoints its pods serve."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    containers: tuple[_Container, ...]
    kind: str = "Deployment"

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e for c in self.containers for _, _, e in c.ports if e))


@dataclass(frozen=True)
class _Service:
    namespace: str
    name: str
    selector: Mapping[str, str]
    ports: tuple[tuple[str, int, int | str], ...]  # (name, port, targetPort)
    headless: bool = False
    type: str = "ClusterIP"


def _direktiv_labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/instance": RELEASE}


_ENVOY_CONTAINERS = lambda endpoint: (  # noqa: E731 - a table entry
    _Container("shutdown-manager", "docker.io/projectcontour/contour:v1.18.0"),
    _Container("envoy", "docker.io/envoyproxy/envoy:v1.19.1",
               (("http", _ENVOY_HTTP, endpoint), ("https", _ENVOY_HTTPS, endpoint), ("metrics", 8002, None))),
)

_WORKLOADS: tuple[_Workload, ...] = (
    _Workload(EXTERNAL_CONTOUR, "envoy", {"app": "envoy"}, _ENVOY_CONTAINERS("lb"), kind="DaemonSet"),
    _Workload(INTERNAL_CONTOUR, "envoy", {"app": "envoy"}, _ENVOY_CONTAINERS("knative"), kind="DaemonSet"),
    _Workload(NAMESPACE, f"{RELEASE}-api", _direktiv_labels(f"{RELEASE}-api"),
              (_Container("api", "docker.io/vorteil/api:v0.4.1", (("api-http", 8080, "api"),)),)),
    _Workload(NAMESPACE, f"{RELEASE}-ui", _direktiv_labels(f"{RELEASE}-ui"),
              (_Container("ui", "docker.io/vorteil/direktiv-ui:v0.4.1", (("http", 8080, "ui"),)),)),
    _Workload(NAMESPACE, f"{RELEASE}-flow", _direktiv_labels(f"{RELEASE}-flow"), (
        _Container("flow", "docker.io/vorteil/flow:v0.4.1", (("grpc-flow", 7777, "flow-grpc"),)),
        _Container("ingress", "docker.io/vorteil/flow:v0.4.1", (("grpc-ingress", 6666, "ingress-grpc"),)),
        _Container("secrets", "docker.io/vorteil/secrets:v0.4.1"),
    )),
    _Workload(NAMESPACE, f"{RELEASE}-functions", _direktiv_labels(f"{RELEASE}-functions"),
              (_Container("functions-controller", "docker.io/vorteil/functions:v0.4.1",
                          (("grpc", 5555, "functions-grpc"),)),)),
)

_SERVICES: tuple[_Service, ...] = (
    _Service(EXTERNAL_CONTOUR, "envoy", {"app": "envoy"}, (("http", 80, "http"), ("https", 443, "https")),
             type="LoadBalancer"),
    _Service(INTERNAL_CONTOUR, "envoy", {"app": "envoy"}, (("http", 80, "http"), ("https", 443, "https"))),
    _Service(NAMESPACE, f"{RELEASE}-api-service", _direktiv_labels(f"{RELEASE}-api"), (("http", 8080, "api-http"),)),
    _Service(NAMESPACE, f"{RELEASE}-ui", _direktiv_labels(f"{RELEASE}-ui"), (("http", 8080, 8080),)),
    _Service(NAMESPACE, f"{RELEASE}-ingress", _direktiv_labels(f"{RELEASE}-flow"), (("grpc", 6666, "grpc-ingress"),)),
    _Service(NAMESPACE, f"{RELEASE}-ingress-hl", _direktiv_labels(f"{RELEASE}-flow"), (("grpc", 6666, 6666),),
             headless=True),
    _Service(NAMESPACE, f"{RELEASE}-flow", _direktiv_labels(f"{RELEASE}-flow"), (("grpc", 7777, "grpc-flow"),)),
    _Service(NAMESPACE, f"{RELEASE}-flow-hl", _direktiv_labels(f"{RELEASE}-flow"), (("grpc", 7777, 7777),),
             headless=True),
    _Service(NAMESPACE, f"{RELEASE}-functions", _direktiv_labels(f"{RELEASE}-functions"), (("grpc", 5555, "grpc"),)),
    _Service(NAMESPACE, f"{RELEASE}-functions-hl", _direktiv_labels(f"{RELEASE}-functions"), (("grpc", 5555, 5555),),
             headless=True),
)


# The chart line v0.5.10 to v0.7.x: the ingress-nginx subchart's controller (ingress-nginx chart 4.0.13, controller
# v1.1.0) in the release namespace is the load balancer; Direktiv's own pods serve plaintext (not probed).
_NGINX_LABELS = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/instance": RELEASE,
                 "app.kubernetes.io/component": "controller"}
_NGINX_CONTROLLER = f"{RELEASE}-ingress-nginx-controller"
_WORKLOADS_V07: tuple[_Workload, ...] = (
    _Workload(NAMESPACE, _NGINX_CONTROLLER, _NGINX_LABELS, (
        _Container("controller", "registry.k8s.io/ingress-nginx/controller:v1.1.0",
                   (("http", 80, "lb"), ("https", 443, "lb"), ("webhook", 8443, None))),)),
    _Workload(NAMESPACE, f"{RELEASE}-api", _direktiv_labels(f"{RELEASE}-api"),
              (_Container("api", "direktiv/api:v0.7.5", (("api-port", 8080, None),)),)),
    _Workload(NAMESPACE, f"{RELEASE}-flow", _direktiv_labels(f"{RELEASE}-flow"),
              (_Container("flow", "direktiv/flow:v0.7.5", (("grpc", 6666, None), ("grpc-internal", 7777, None))),)),
    _Workload(NAMESPACE, f"{RELEASE}-ui", _direktiv_labels(f"{RELEASE}-ui"),
              (_Container("ui", "direktiv/ui:v0.7.5", (("http", 1644, None),)),)),
)
_SERVICES_V07: tuple[_Service, ...] = (
    _Service(NAMESPACE, _NGINX_CONTROLLER, _NGINX_LABELS, (("http", 80, "http"), ("https", 443, "https")),
             type="LoadBalancer"),
    _Service(NAMESPACE, f"{_NGINX_CONTROLLER}-admission", _NGINX_LABELS, (("https-webhook", 443, "webhook"),)),
    _Service(NAMESPACE, f"{RELEASE}-api", _direktiv_labels(f"{RELEASE}-api"), (("http", 8080, 8080),)),
    _Service(NAMESPACE, f"{RELEASE}-flow", _direktiv_labels(f"{RELEASE}-flow"), (("grpc", 6666, 6666),)),
    _Service(NAMESPACE, f"{RELEASE}-ui", _direktiv_labels(f"{RELEASE}-ui"), (("http", 1644, 1644),)),
)
_WIRING: dict[str, tuple[tuple[_Workload, ...], tuple[_Service, ...]]] = {
    MODEL_V04: (_WORKLOADS, _SERVICES),
    MODEL_V07: (_WORKLOADS_V07, _SERVICES_V07),
    MODEL_V08: (_WORKLOADS_V07, _SERVICES_V07),  # the same ingress-nginx controller; Direktiv's pods are not probed
}


def _suffix(seed: str, size: int) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:size])


def _pod_name(workload: _Workload, replica: int) -> str:
    if workload.kind == "DaemonSet":
        return f"{workload.name}-{_suffix(f'{workload.namespace}/{workload.name}/{replica}', 5)}"
    template = _suffix(f"{workload.namespace}/{workload.name}", 10)
    return f"{workload.name}-{template}-{_suffix(f'{workload.namespace}/{workload.name}/{replica}', 5)}"


# -------------------------------------------------------------------------------------------------------- servers

_GO_ALPN = {"grpc": ("h2",), "http": ("h2", "http/1.1")}


def _openssl_names(iana_names: tuple[str, ...]) -> str:
    """An OpenSSL cipher string for suites given by their IANA names (the names Go and the scenarios use)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    by_code = {c["id"] & 0xFFFF: c["name"] for c in context.get_ciphers()}
    codes = {suite.name: code for code, suite in SUITES.items()}
    missing = [n for n in iana_names if codes.get(n) not in by_code]
    if missing:
        raise ValueError(f"the local OpenSSL cannot serve {', '.join(missing)}")
    return ":".join(by_code[codes[n]] for n in iana_names)


def _policy(spec: ServerSpec, *, envoy: bool = False, grpc: bool = False) -> TLSPolicy:
    ciphers = _openssl_names(spec.suites) if spec.suites else ENVOY_CIPHERS if envoy else GO_1_15_CIPHERS
    if spec.weak_ciphers:
        ciphers = f"{ciphers}:{WEAK_CIPHERS}"
    alpn = (_GO_ALPN["grpc"] if grpc else _GO_ALPN["http"]) if spec.alpn else ()
    level = 1 if envoy and not spec.weak_ciphers else 0
    # No minimum set: Go's default, TLS 1.0 for a server.
    return TLSPolicy(min_version=spec.min_version or "TLSv1", ciphers=ciphers, security_level=level, alpn=alpn)


class _PodDown(Exception):
    """The pod cannot run its server: (phase, reason) as kubectl would show it."""

    def __init__(self, phase: str, reason: str) -> None:
        super().__init__(reason)
        self.phase, self.reason = phase, reason


@dataclass
class _Build:
    """Everything the servers are made from."""

    scenario: Scenario
    topology: Topology
    pki: _Pki
    secrets: dict[tuple[str, str], dict[str, bytes]]
    engine: Engine = Engine.PYTHON
    stack: ExitStack = field(default_factory=ExitStack)
    go: GoProcess | None = None

    def mounted(self, ref: str | tuple[str, str]) -> dict[str, bytes]:
        key = tuple(ref.split("/", 1)) if isinstance(ref, str) else ref
        data = self.secrets.get(key)
        if data is None:
            raise _PodDown("Pending", f'MountVolume.SetUp failed: secret "{key[1]}" not found')
        return data

    def started(self, server):
        self.stack.callback(server.stop)
        return server

    def go_process(self) -> GoProcess:
        """The sandbox's one Go program, started on first use; it serves every Go listener."""
        if self.go is None:
            self.go = self.started(GoProcess())
        return self.go

    def engine_of(self, spec: ServerSpec) -> Engine:
        """Which engine serves ``spec``'s endpoint: Python where a knob needs it, else the scenario's choice,
        else the sandbox's default."""
        if spec.needs_python_engine:
            return Engine.PYTHON
        return spec.engine or self.engine


def _identity(build: _Build, data: Mapping[str, bytes], spec: ServerSpec, replica: int, *,
              client_auth: ServerClientAuth = ServerClientAuth.NONE,
              ignore_errors: frozenset[VerifyErrorKind] = frozenset()) -> ServerTLS:
    cert_pem, key_pem = data.get("tls.crt"), data.get("tls.key")
    override = spec.pod_certs[replica] if replica < len(spec.pod_certs) else None
    if override:
        issued = build.pki.issued(override)
        cert_pem, key_pem = issued.chain_pem, issued.key.bytes()
    if not cert_pem or not key_pem:
        raise _PodDown("Running", "CrashLoopBackOff: open /etc/direktiv/certs/tls.key: no such file or directory")
    if not spec.send_chain:
        first = x509.load_pem_x509_certificates(cert_pem)[0]
        cert_pem = first.public_bytes(serialization.Encoding.PEM)
    client_ca = build.pki.ca_pem(spec.client_ca) if spec.client_ca else data.get("ca.crt")
    needs_ca = client_auth in (ServerClientAuth.VERIFY_IF_GIVEN, ServerClientAuth.REQUIRE_AND_VERIFY)
    if needs_ca and not client_ca:
        raise _PodDown("Running", "CrashLoopBackOff: open /etc/direktiv/certs/ca.crt: no such file or directory")
    return ServerTLS(cert_pem=cert_pem, key=pki.PrivateKeyPEM(key_pem), client_ca_pem=client_ca,
                     client_auth=client_auth, ignore_errors=ignore_errors)


def _checked(make: Callable[[], object]):
    try:
        return make()
    except ValueError as exc:  # the Go servers refuse a key that does not match, or unreadable PEM
        said = str(exc) if str(exc).startswith("tls: ") else f"tls: {exc}"  # Go's own words start so already
        raise _PodDown("Running", f"CrashLoopBackOff: {said}") from None


# The scenarios' client-certificate modes as the servers name them (a scenario's "request" is Go's
# VerifyClientCertIfGiven), and their verification quirks as the error kinds the verifier ignores.
_SERVER_CLIENT_AUTH = {
    ClientAuth.NONE: ServerClientAuth.NONE,
    ClientAuth.REQUEST: ServerClientAuth.VERIFY_IF_GIVEN,
    ClientAuth.REQUIRE_AND_VERIFY: ServerClientAuth.REQUIRE_AND_VERIFY,
    ClientAuth.REQUIRE_ANY: ServerClientAuth.REQUIRE_ANY,
}
_IGNORED_ERRORS = {
    VerifyQuirk.ACCEPT_UNKNOWN_ISSUER: VerifyErrorKind.UNKNOWN_ISSUER,
    VerifyQuirk.ACCEPT_SELF_SIGNED: VerifyErrorKind.SELF_SIGNED,
    VerifyQuirk.IGNORE_EXPIRY: VerifyErrorKind.EXPIRED,
    VerifyQuirk.IGNORE_PURPOSE: VerifyErrorKind.WRONG_PURPOSE,
}


def _go_server(build: _Build, spec: ServerSpec, protocol: GoProtocol, tls: ServerTLS | None) -> GoServer:
    """A listener of the sandbox's Go program, set up as Direktiv's Go code sets it up, with the scenario's
    departures (minimum version, suites, ALPN, plaintext on the TLS port, status)."""
    listener = GoListener(protocol, tls, min_version=spec.min_version, alpn=spec.alpn, status=spec.http_status,
                          cipher_suites=spec.suites,
                          plaintext_too=spec.plaintext_too and protocol is GoProtocol.HTTP and tls is not None)
    return build.started(_checked(lambda: GoServer(listener, process=build.go_process())))


def _grpc_server(build: _Build, endpoint: EndpointSpec, spec: ServerSpec, replica: int):
    secret, mode = endpoint.secret and f"{endpoint.secret.namespace}/{endpoint.secret.name}", endpoint.mode
    configured_auth = ClientAuth.REQUIRE_AND_VERIFY if mode is Mode.MTLS else ClientAuth.NONE
    go = build.engine_of(spec) is Engine.GO
    if spec.serve_secret:  # additionalServerOptions: another server's creds
        secret, configured_auth = spec.serve_secret, spec.serve_client_auth or ClientAuth.NONE
    elif mode is Mode.PLAINTEXT or spec.plaintext:
        return _go_server(build, spec, GoProtocol.GRPC, None) if go else build.started(GrpcHealthServer())
    auth = spec.client_auth or configured_auth
    ignore_errors = frozenset(_IGNORED_ERRORS[quirk] for quirk in spec.verify_quirks)
    tls = _identity(build, build.mounted(secret), spec, replica, client_auth=_SERVER_CLIENT_AUTH[auth],
                    ignore_errors=ignore_errors)
    if go:
        return _go_server(build, spec, GoProtocol.GRPC, tls)
    if spec.needs_go_like_front or tls.client_auth is ServerClientAuth.VERIFY_IF_GIVEN:
        return build.started(_checked(lambda: GoTLSGrpcServer(tls, policy=_policy(spec, grpc=True))))
    return build.started(_checked(lambda: GrpcHealthServer(tls)))


def _http_server(build: _Build, endpoint: EndpointSpec, spec: ServerSpec, replica: int):
    tls = None
    if endpoint.mode is not Mode.PLAINTEXT:
        tls = _identity(build, build.mounted((endpoint.secret.namespace, endpoint.secret.name)), spec, replica)
    if build.engine_of(spec) is Engine.GO:
        return _go_server(build, spec, GoProtocol.HTTP, tls)
    return build.started(_checked(lambda: GoHttpsServer(tls, policy=_policy(spec), status=spec.http_status,
                                                        plaintext_too=spec.plaintext_too)))


def _envoy(build: _Build, endpoint: EndpointSpec, spec: ServerSpec, replica: int) -> dict[int, tuple | None]:
    """The external or internal Contour's Envoy: {container port: address} (no TLS listener without TLS)."""
    if endpoint.mode is Mode.PLAINTEXT:
        lb = build.started(LoadBalancer({}, None, redirect=False))
        return {_ENVOY_HTTP: lb.http_address, _ENVOY_HTTPS: None}
    tls = _identity(build, build.mounted((endpoint.secret.namespace, endpoint.secret.name)), spec, replica)
    if endpoint.id == "lb":
        names = spec.sni_names if spec.sni_names is not None else endpoint.expected_names
        by_sni = {name: tls for name in names}
        default = tls if spec.fallback_certificate else None
        redirect = spec.redirect
    else:
        # knative: net-contour gives every knative service's HTTPProxy the default TLS secret, unless one has its
        # own. Envoy answers only the SNI names it has a virtual host for: a made-up name gets no certificate.
        services_namespace = build.topology.services_namespace
        by_sni = {f"{name}.{services_namespace}": tls for name in build.scenario.objects.knative_services}
        by_sni.update({host: ServerTLS(cert_pem=build.pki.issued(cert).chain_pem, key=build.pki.issued(cert).key)
                       for host, cert in spec.host_certs})
        default, redirect = None, False
    hsts = spec.hsts if endpoint.id == "lb" else None
    lb = build.started(_checked(lambda: LoadBalancer(by_sni, default, redirect=redirect, hsts=hsts,
                                                     policy=_policy(spec, envoy=True))))
    return {_ENVOY_HTTP: lb.http_address, _ENVOY_HTTPS: lb.https_address}


def _ingress_nginx(build: _Build, endpoint: EndpointSpec, spec: ServerSpec) -> dict[int, tuple | None]:
    """The ingress-nginx controller: {container port: address}. ingress-nginx serves every Ingress host on both
    ports; a host with spec.tls gets its secret's certificate and the redirect, but the Fake Certificate while the
    secret is missing, empty, or does not name the host (createServers' VerifyHostname); every other name gets the
    Fake Certificate. Without ingress.host the rules are catch-all: the default server serves them, with the Fake
    Certificate."""
    fake = build.pki.fake_ingress_certificate()
    fake_tls = ServerTLS(cert_pem=fake.chain_pem, key=fake.key)
    ingress = build.scenario.values.get("ingress") or {}
    catch_all = not str(ingress.get("host") or "").strip()
    names = spec.sni_names if spec.sni_names is not None else endpoint.expected_names
    tls_by_host: dict[str, ServerTLS | None] = {}
    plain_hosts: tuple[str, ...] = ()
    if catch_all:
        names = ()
    if endpoint.mode is Mode.PLAINTEXT:
        plain_hosts = names
    else:
        data = build.secrets.get((endpoint.secret.namespace, endpoint.secret.name)) if endpoint.secret else None
        tls = _checked(lambda: _identity(build, data, spec, 0)) if data is not None else None
        tls_by_host = {name: tls if tls is not None and _names(tls, name) else None for name in names}
    min_version = spec.min_version or INGRESS_NGINX_POLICY.min_version
    # ingress-nginx v1.1.0 links OpenSSL 1.1.1, whose security level 1 still allows TLS 1.0 and 1.1; OpenSSL 3's
    # does not, so a ConfigMap that enables them is imitated at level 0.
    legacy = min_version in ("TLSv1", "TLSv1.1")
    policy = TLSPolicy(min_version=min_version,
                       ciphers=_openssl_names(spec.suites) if spec.suites else INGRESS_NGINX_POLICY.ciphers,
                       security_level=0 if legacy else INGRESS_NGINX_POLICY.security_level,
                       alpn=INGRESS_NGINX_POLICY.alpn)
    kind = NginxIngress if build.engine_of(spec) is Engine.GO and nginx_available() else NginxIngressImitation
    lb = build.started(_checked(lambda: kind(tls_by_host, fake_tls, plain_hosts=plain_hosts, hsts=spec.hsts,
                                             redirect=spec.redirect, policy=policy, catch_all=catch_all)))
    return {80: lb.http_address, 443: lb.https_address}


def _names(tls: ServerTLS, host: str) -> bool:
    """Whether the served certificate's SANs cover ``host`` (ingress-nginx keeps a secret only for hosts it names)."""
    leaf = x509.load_pem_x509_certificates(tls.cert_pem)[0]
    return not facts.names_covered(leaf, (host,)).missing


def _start_endpoint(build: _Build, endpoint_id: str, replica: int) -> dict[int, tuple | None]:
    """Start ``endpoint_id``'s server for one replica: {container port: address}."""
    endpoint = build.topology.endpoint(endpoint_id)
    spec = build.scenario.server(endpoint_id).for_replica(replica)
    if build.topology.model in (MODEL_V07, MODEL_V08) and endpoint.id == "lb":
        addresses = _ingress_nginx(build, endpoint, spec)
    elif endpoint.kind.value in ("lb", "knative"):
        addresses = _envoy(build, endpoint, spec, replica)
    elif endpoint.kind.value == "http":
        addresses = {8080: _http_server(build, endpoint, spec, replica).address}
    else:
        addresses = {endpoint.port: _grpc_server(build, endpoint, spec, replica).address}
    if spec.ignores_fallback_scsv or spec.no_secure_renegotiation:  # an old stack, imitated by a front
        addresses = {port: address and build.started(OldStackFront(
            address, ignores_fallback_scsv=spec.ignores_fallback_scsv,
            no_secure_renegotiation=spec.no_secure_renegotiation)).address for port, address in addresses.items()}
    return addresses


# -------------------------------------------------------------------------------------------------------- objects


def _ts(moment: _dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def _owner(workload: _Workload, pod: str) -> dict:
    """The pod's controller: its ReplicaSet (a Deployment's pods) or its DaemonSet, as an ownerReference."""
    kind = "ReplicaSet" if workload.kind == "Deployment" else workload.kind
    name = pod.rsplit("-", 1)[0]
    uid = uuid.uuid5(uuid.NAMESPACE_URL, f"apps/{kind.lower()}s/{workload.namespace}/{name}")
    return {"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": str(uid), "controller": True,
            "blockOwnerDeletion": True}


def _pod(workload: _Workload, name: str, ip: str, started: _dt.datetime, down: _PodDown | None) -> dict:
    ready = down is None
    phase = down.phase if down else "Running"
    since = _ts(started)
    statuses = []
    for container in workload.containers:
        status: dict = {"name": container.name, "image": container.image, "imageID": "", "ready": ready,
                        "restartCount": 0 if ready or phase == "Pending" else 5, "started": phase == "Running"}
        if phase == "Running":  # the image was pulled and a container created (kubelet reports both)
            status["imageID"] = f"{container.image.rsplit(':', 1)[0]}@sha256:{_digest(container.image)}"
            status["containerID"] = f"containerd://{_digest(f'{name}/{container.name}')}"
        if ready:
            status["state"] = {"running": {"startedAt": since}}
        elif phase == "Pending":
            status["state"] = {"waiting": {"reason": "ContainerCreating"}}
        else:
            status["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": down.reason}}
        statuses.append(status)
    condition = "True" if ready else "False"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": workload.namespace, "labels": dict(workload.labels),
                     "creationTimestamp": since, "ownerReferences": [_owner(workload, name)]},
        "spec": {
            "nodeName": _NODE,
            "containers": [{"name": c.name, "image": c.image,
                            "ports": [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p, _ in c.ports]}
                           for c in workload.containers],
        },
        "status": {
            "phase": phase,
            "hostIP": "10.0.0.10",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": since,
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": since},
                {"type": "Ready", "status": condition, "lastTransitionTime": since,
                 **({} if ready else {"reason": "ContainersNotReady"})},
                {"type": "ContainersReady", "status": condition, "lastTransitionTime": since},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": since},
            ],
            "containerStatuses": statuses,
        },
    }


def _pod_ref(pod: dict) -> dict:
    """An ObjectReference to a stored pod (what Endpoints and EndpointSlices point at)."""
    metadata = pod["metadata"]
    return {"kind": "Pod", "namespace": metadata["namespace"], "name": metadata["name"], "uid": metadata["uid"]}


def _service_objects(service: _Service, pods: list[dict], cluster_ip: str) -> list[dict]:
    spec: dict = {
        "selector": dict(service.selector),
        "ports": [{"name": n, "port": p, "targetPort": t, "protocol": "TCP"} for n, p, t in service.ports],
        "type": service.type,
        "clusterIP": "None" if service.headless else cluster_ip,
        "sessionAffinity": "None",
    }
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": service.name, "namespace": service.namespace, "labels": dict(service.selector)},
           "spec": spec}
    if service.type == "LoadBalancer":
        svc["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}

    def resolve(pod: dict, target) -> int:
        if isinstance(target, int):
            return target
        for container in pod["spec"]["containers"]:
            for port in container["ports"]:
                if port["name"] == target:
                    return port["containerPort"]
        raise ValueError(f"service {service.name}: no container port named {target}")

    ready = [p for p in pods if p["status"]["phase"] == "Running" and
             any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])]
    not_ready = [p for p in pods if p not in ready]

    def address(pod: dict) -> dict:
        return {"ip": pod["status"]["podIP"], "nodeName": _NODE, "targetRef": _pod_ref(pod)}

    sample = (ready or not_ready or [None])[0]
    ports = [{"name": n, "port": resolve(sample, t) if sample else p, "protocol": "TCP"} for n, p, t in service.ports]
    subsets = []
    if pods:
        subset: dict = {"ports": ports}
        if ready:
            subset["addresses"] = [address(p) for p in ready]
        if not_ready:
            subset["notReadyAddresses"] = [address(p) for p in not_ready]
        subsets.append(subset)
    endpoints = {"apiVersion": "v1", "kind": "Endpoints",
                 "metadata": {"name": service.name, "namespace": service.namespace}, "subsets": subsets}
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{service.name}-{_suffix(service.name, 5)}", "namespace": service.namespace,
                     "labels": {"kubernetes.io/service-name": service.name,
                                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "addressType": "IPv4",
        "ports": ports,
        "endpoints": [{"addresses": [p["status"]["podIP"]],
                       "conditions": {"ready": p in ready, "serving": p in ready, "terminating": False},
                       "nodeName": _NODE,
                       "targetRef": _pod_ref(p)} for p in pods],
    }
    return [svc, endpoints, slice_]


_ISSUER_NAMES = {Issuer.CA: "direktiv-ca", Issuer.SELF_SIGNED: "selfsigned-issuer",
                 Issuer.INTERMEDIATE: "direktiv-intermediate-ca", Issuer.OTHER_CA: "other-ca",
                 Issuer.ACME: "letsencrypt-prod"}


def _issuer_ref(issuer: Issuer) -> dict:
    return {"name": _ISSUER_NAMES[issuer], "kind": "ClusterIssuer", "group": "cert-manager.io"}


def _cluster_issuer(issuer: Issuer) -> dict:
    """The ClusterIssuer object behind ``_issuer_ref(issuer)``, with the spec cert-manager's docs give it."""
    name = _ISSUER_NAMES[issuer]
    if issuer is Issuer.SELF_SIGNED:
        spec: dict = {"selfSigned": {}}
    elif issuer is Issuer.ACME:
        spec = {"acme": {"server": "https://acme-v02.api.letsencrypt.org/directory", "email": "ops@mydomain",
                         "privateKeySecretRef": {"name": f"{name}-account-key"},
                         "solvers": [{"http01": {"ingress": {"class": "contour-external"}}}]}}
    else:
        spec = {"ca": {"secretName": name}}
    return {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": name},
            "spec": spec, "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}]}}


def _certificate_objects(scenario: Scenario, authority: _Pki, data) -> list[dict]:
    objects = []
    for spec in scenario.secrets:
        cert_spec = scenario.certificate(spec.cert)
        issued = authority.issued(spec.cert)
        annotations = {
            "cert-manager.io/certificate-name": spec.name,
            "cert-manager.io/issuer-name": _issuer_ref(cert_spec.issuer)["name"],
            "cert-manager.io/issuer-kind": "ClusterIssuer",
            "cert-manager.io/issuer-group": "cert-manager.io",
            "cert-manager.io/alt-names": ",".join(cert_spec.dns_names),
            "cert-manager.io/common-name": "",
        } if spec.certificate_ready is not None else None
        objects.append(secret_object(spec.namespace, spec.name, data[(spec.namespace, spec.name)], type=spec.type,
                                     annotations=annotations))
        if spec.certificate_ready is None or not scenario.objects.cert_manager:
            continue
        not_before, not_after = issued.cert.not_valid_before_utc, issued.cert.not_valid_after_utc
        renewal = not_before + (not_after - not_before) * 2 / 3
        ready = spec.certificate_ready
        objects.append({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": spec.name, "namespace": spec.namespace,
                         **({"annotations": dict(scenario.objects.annotations)} if scenario.objects.annotations else {})},
            "spec": {"secretName": spec.name, "dnsNames": list(cert_spec.dns_names),
                     "usages": list(cert_spec.usages), "issuerRef": _issuer_ref(cert_spec.issuer)},
            "status": {
                "conditions": [{
                    "type": "Ready", "status": "True" if ready else "False",
                    "reason": "Ready" if ready else spec.ready_reason,
                    "message": "Certificate is up to date and has not expired" if ready else
                    "The certificate request has failed to complete and will be retried: issuer direktiv-ca is not "
                    "ready",
                    "lastTransitionTime": _ts(not_before), "observedGeneration": 1,
                }],
                "notBefore": _ts(not_before), "notAfter": _ts(not_after), "renewalTime": _ts(renewal),
                "revision": 1,
            },
        })
    return objects


def _cluster_objects(scenario: Scenario, authority: _Pki) -> list[dict]:
    objects: list[dict] = []
    o = scenario.objects
    contour = {"_example": "# net-contour's settings; see the knative docs\n",
               "visibility": "ExternalIP:\n  class: contour-external\n  service: contour-external/envoy\n"
                             "ClusterLocal:\n  class: contour-internal\n  service: contour-internal/envoy\n"}
    if o.default_tls_secret is not None:
        contour["default-tls-secret"] = o.default_tls_secret
    objects.append({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "config-contour", "namespace": KNATIVE_SERVING,
                                 "labels": {"serving.knative.dev/release": "v0.25.0"}},
                    "data": contour})
    if o.delegation_secret is not None:
        objects.append({"apiVersion": "projectcontour.io/v1", "kind": "TLSCertificateDelegation",
                        "metadata": {"name": "default-delegation", "namespace": INTERNAL_CONTOUR},
                        "spec": {"delegations": [{"secretName": o.delegation_secret,
                                                  "targetNamespaces": list(o.delegation_targets)}]}})
    services_namespace = scenario.services_namespace  # functions.namespace, else the chart's default
    for name in o.knative_services:
        url = f"http://{name}.{services_namespace}.svc.cluster.local"
        objects.append({
            "apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": name, "namespace": services_namespace,
                         "labels": {"networking.knative.dev/visibility": "cluster-local",
                                    "direktiv.io/scope": "namespace"},
                         **({"annotations": dict(o.annotations)} if o.annotations else {})},
            "spec": {"template": {"spec": {"containers": [{
                "image": f"direktiv/{name}:v1",
                **({"env": [{"name": k, "value": v} for k, v in o.service_env]} if o.service_env else {})}]}}},
            "status": {"url": url, "address": {"url": url},
                       "conditions": [{"type": t, "status": "True"} for t in
                                      ("ConfigurationsReady", "Ready", "RoutesReady")]},
        })
    if o.cert_manager:
        ca = authority.ca
        objects.append(secret_object(CERT_MANAGER, "direktiv-ca", ca.secret_data(), type="kubernetes.io/tls",
                                     annotations={"cert-manager.io/certificate-name": "direktiv-ca",
                                                  "cert-manager.io/issuer-name": "selfsigned-issuer",
                                                  "cert-manager.io/issuer-kind": "ClusterIssuer",
                                                  "cert-manager.io/common-name": "direktiv-system"}))
        objects.append({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                        "metadata": {"name": "direktiv-ca", "namespace": CERT_MANAGER},
                        "spec": {"isCA": True, "commonName": "direktiv-system", "secretName": "direktiv-ca",
                                 "issuerRef": _issuer_ref(Issuer.SELF_SIGNED)},
                        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}]}})
        used = {Issuer.SELF_SIGNED} | {scenario.certificate(s.cert).issuer for s in scenario.secrets
                                       if s.certificate_ready is not None}
        objects.extend(_cluster_issuer(issuer) for issuer in sorted(used, key=lambda i: i.value))
    release = HelmRelease(name=RELEASE, namespace=NAMESPACE, revision=1, status="deployed",
                          chart_values=chart_defaults(scenario.model), config=scenario.values,
                          chart_name=scenario.chart_name, chart_version=scenario.chart_version,
                          app_version=scenario.app_version)
    objects.append(release_secret_object(release))
    return objects


def _fill_store(store: ObjectStore, scenario: Scenario, authority: _Pki, data, pods: dict[str, list[dict]]) -> None:
    # The CRDs of what is installed, so that an empty list reads as "none", not "CRD absent".
    store.define("projectcontour.io/v1", "TLSCertificateDelegation")
    store.define("projectcontour.io/v1", "HTTPProxy")
    store.define("serving.knative.dev/v1", "Service", "services")
    if scenario.objects.cert_manager:
        store.define("cert-manager.io/v1", "Certificate")
        store.define("cert-manager.io/v1", "Issuer")
        store.define("cert-manager.io/v1", "ClusterIssuer")
    for obj in _certificate_objects(scenario, authority, data) + _cluster_objects(scenario, authority):
        store.add(obj)
    for resource, namespace in scenario.objects.forbidden:
        store.forbid(resource, namespace)
    all_pods = [store.add(p) for group in pods.values() for p in group]  # as stored: with their uids
    for index, service in enumerate(_WIRING[scenario.model][1]):
        selected = [p for p in all_pods if p["metadata"]["namespace"] == service.namespace
                    and all(p["metadata"]["labels"].get(k) == v for k, v in service.selector.items())]
        for obj in _service_objects(service, selected, f"10.96.0.{20 + index}"):
            store.add(obj)


# ----------------------------------------------------------------------------------------------------------- start


def _replicas(scenario: Scenario, workload: _Workload) -> int:
    return max((scenario.server(e).replicas for e in workload.endpoints), default=1)


def start_sandbox(name_or_scenario: str | Scenario, *, workdir: str | Path | None = None,
                  kubeconfig: str | Path | None = None, client_ca_pem: bytes | None = None,
                  pod_ips: str = POD_IPS_CLUSTER, role: str | Path | ClusterRole | None = None) -> RunningSandbox:
    """Start a scenario (by name or as a record) and return it running.

    The kubeconfig goes to ``kubeconfig`` if given, else ``workdir/kubeconfig``, else a private temp dir; it is
    removed on stop (with the temp dir). ``KeyError`` for an unknown scenario name. With ``client_ca_pem`` the
    API server also accepts client certificates from that CA (see ``ApiServer.write_kubeconfig(client=...)``).

    ``pod_ips``: ``"cluster"`` gives the pods addresses of a pod network (10.244.0.x) that only the port-forward
    reaches; ``"loopback"`` gives each pod an address of its own on 127.0.0.N, where its real container ports
    listen (:class:`sandbox.podnet.PodNetwork`), so that ``--direktiv-connect direct`` can dial them.
    ``role``: a ClusterRole (or a YAML file holding one, e.g. ``deploy/rbac.yaml``) whose rules the API server
    enforces for its user, instead of letting it read everything.
    """
    scenario = find_scenario(name_or_scenario) if isinstance(name_or_scenario, str) else name_or_scenario
    if pod_ips not in (POD_IPS_CLUSTER, POD_IPS_LOOPBACK):
        raise ValueError(f"pod_ips must be {POD_IPS_CLUSTER!r} or {POD_IPS_LOOPBACK!r}, given: {pod_ips!r}")
    if role is not None and not isinstance(role, ClusterRole):
        role = ClusterRole.from_manifest(role)
    cleanup = ExitStack()
    try:
        return _start(scenario, cleanup, workdir=workdir, kubeconfig=kubeconfig, client_ca_pem=client_ca_pem,
                      pod_ips=pod_ips, role=role)
    except BaseException:
        cleanup.close()
        raise


def _start(scenario: Scenario, cleanup: ExitStack, *, workdir, kubeconfig, client_ca_pem=None,
           pod_ips: str = POD_IPS_CLUSTER, role: ClusterRole | None = None) -> RunningSandbox:
    topology = derive_topology(scenario.values, model=scenario.model)
    authority = _Pki(scenario)
    data = _secret_data(scenario, authority)
    build = _Build(scenario, topology, authority, data, engine=default_engine())
    cleanup.push(build.stack)  # servers stop last-started first
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0) - _dt.timedelta(minutes=5)
    pods: dict[str, list[dict]] = {}
    ports: list[PodPort] = []
    targets: dict[tuple[str, str, int], tuple | None] = {}  # filled below; the pod network reads it per connection
    network = None
    if pod_ips == POD_IPS_LOOPBACK:
        network = PodNetwork(lambda namespace, pod, port: targets.get((namespace, pod, port)))
        cleanup.callback(network.stop)
    ip = 10
    for workload in _WIRING[scenario.model][0]:
        for replica in range(_replicas(scenario, workload)):
            name = _pod_name(workload, replica)
            addresses: dict[int, tuple | None] = {}
            down = None
            try:
                for endpoint_id in workload.endpoints:
                    addresses.update(_start_endpoint(build, endpoint_id, replica))
            except _PodDown as exc:
                down, addresses = exc, {}
            for container in workload.containers:
                for _, port, endpoint_id in container.ports:
                    if endpoint_id:
                        ports.append(PodPort(workload.namespace, name, port, endpoint_id, addresses.get(port)))
            pod_ip = f"10.244.0.{ip}"
            if network is not None:
                pod_ip = network.add_pod(workload.namespace, name, [port for port, a in addresses.items() if a])
            pods.setdefault(workload.name, []).append(
                _pod(workload, name, pod_ip, now + _dt.timedelta(seconds=replica), down))
            ip += 1
    store = ObjectStore()
    _fill_store(store, scenario, authority, data, pods)
    targets.update({(p.namespace, p.pod, p.port): p.address for p in ports})
    if network is not None:
        network.start()
    api = ApiServer(store, port_target=lambda namespace, pod, port: targets.get((namespace, pod, port)),
                    client_ca_pem=client_ca_pem, role=role)
    api.start()
    cleanup.callback(api.stop)
    path = _kubeconfig_path(cleanup, workdir, kubeconfig)
    api.write_kubeconfig(path)
    running = RunningSandbox(scenario, kubeconfig_path=path, api=api, store=store, topology=topology,
                             ports=tuple(ports), ca_pem=authority.ca.cert_pem, cleanup=cleanup, targets=targets,
                             engine=build.engine)
    running.suite_args += _acme_root_args(scenario, authority, path, cleanup)
    return running


def _acme_root_args(scenario: Scenario, authority: _Pki, kubeconfig: Path, cleanup: ExitStack) -> list[str]:
    """``--direktiv-ca-file ID=PATH`` for each endpoint the scenario names, PATH (beside the kubeconfig, removed on stop)
    holding the stand-in ACME root that a real cluster's clients would find in the system trust store."""
    if not scenario.acme_root_for:
        return []
    root = kubeconfig.with_name(f"{kubeconfig.name}-acme-root.pem")
    root.write_bytes(authority.ca_pem(Issuer.ACME))
    cleanup.callback(root.unlink, True)
    return [arg for endpoint in scenario.acme_root_for for arg in ("--direktiv-ca-file", f"{endpoint}={root}")]


def _kubeconfig_path(cleanup: ExitStack, workdir, kubeconfig) -> Path:
    if kubeconfig is not None:
        path = Path(kubeconfig)
    elif workdir is not None:
        path = Path(workdir) / "kubeconfig"
    else:
        directory = Path(tempfile.mkdtemp(prefix="direktiv-sandbox-"))
        cleanup.callback(shutil.rmtree, directory, True)
        path = directory / "kubeconfig"
    cleanup.callback(path.unlink, True)
    return path
