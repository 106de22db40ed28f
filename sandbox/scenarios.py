"""The sandbox's scenarios: named, declarative descriptions of a Direktiv installation and what it gets wrong.

A :class:`Scenario` says, as data only:

- the Helm user values (YAML, written the way the TLS documentation page writes them);
- the certificates cert-manager issued (:class:`CertSpec`) and the secrets that hold them, per namespace
  (:class:`SecretSpec`), including the ways a secret can be broken (wrong type, a foreign key, another CA);
- how each endpoint's server behaves where it departs from what the values configure (:class:`ServerSpec`:
  the TLS library, minimum version, client-certificate mode, verification quirks, ALPN, weak suites, plaintext on
  the TLS port, HTTP status, redirect, replicas serving stale certificates, SNI routing);
- the cluster objects around it (:class:`ClusterObjects`: config-contour, the TLSCertificateDelegation,
  cert-manager, knative services);
- ``expected_failures``: every (control ID, endpoint ID) that must fail (or error) when the suite runs against it,
  with ``cluster`` as the endpoint of the K-* controls.

Nothing here starts anything: :mod:`sandbox.cluster` turns a scenario into PKI, servers and API objects. The
``conformant``, ``tls-only`` and ``plaintext`` scenarios fail nothing; ``docs-verbatim`` is the TLS page followed
to the letter; every other scenario breaks one control (and lists what necessarily breaks with it).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Iterable, Mapping, TypeVar

import yaml

from probes.chartlines import MODEL_V04, MODEL_V07, MODEL_V08

__all__ = [
    "CONTROL_IDS",
    "ENDPOINT_IDS",
    "CLUSTER",
    "RELEASE",
    "NAMESPACE",
    "SERVICES_NAMESPACE",
    "CA_SECRET",
    "CA_KEY_SUITE_ARGS",
    "Issuer",
    "Engine",
    "ClientAuth",
    "VerifyQuirk",
    "CertSpec",
    "SecretSpec",
    "ServerSpec",
    "ClusterObjects",
    "Scenario",
    "ALL_SCENARIOS",
    "SCENARIOS",
    "BASELINES",
    "scenario",
    "scenario_names",
    "by_unique_name",
]

_Named = TypeVar("_Named")  # anything with a ``name``

# The control catalog's IDs (CONTROLS.md), in catalog order; tests compare them with the document.
CONTROL_IDS: tuple[str, ...] = (
    "K-SECRET-PRESENT", "K-SECRET-KEYPAIR", "K-SECRET-CHAIN", "K-CA-CONSISTENT", "K-FUNCTIONS-CA",
    "K-DELEGATION", "K-CONTOUR-DEFAULT-TLS", "K-PROTOCOL-CONSISTENT", "K-INITPOD-SAN", "K-CERTMANAGER-READY",
    "C-CHAIN-TRUSTED", "C-SAN-MATCH", "C-VALIDITY", "C-EKU", "C-KEY-STRENGTH", "C-SERVED-MATCHES-SECRET",
    "C-X509-STRICT", "T-MODE-MATCHES-CONFIG", "T-TLS-HANDSHAKE", "T-PLAINTEXT-REFUSED", "T-LEGACY-PROTOCOLS-REFUSED",
    "T-WEAK-CIPHERS-REFUSED", "T-ALPN-H2", "T-FORWARD-SECRECY", "T-SECURE-RENEGOTIATION", "T-DOWNGRADE-SCSV",
    "M-VALID-CERT-ACCEPTED", "M-NO-CERT-REJECTED", "M-UNTRUSTED-CA-REJECTED", "M-SELF-SIGNED-CLONE-REJECTED",
    "M-EXPIRED-CERT-REJECTED", "M-NO-CLIENTAUTH-EKU-REJECTED",
    "H-HTTPS-RESPONDS", "H-HTTP-REDIRECTS", "H-HSTS",
    "N-SNI-COVERAGE",
)
ENDPOINT_IDS: tuple[str, ...] = ("lb", "api", "ui", "ingress-grpc", "flow-grpc", "functions-grpc", "knative")
CLUSTER = "cluster"

RELEASE = "direktiv"
NAMESPACE = "default"
SERVICES_NAMESPACE = "direktiv-services-direktiv"
INTERNAL_CONTOUR = "contour-internal"
# cert-manager's CA secret of the TLS page (ClusterIssuer direktiv-ca, CA certificate CN direktiv-system).
CA_SECRET = "cert-manager/direktiv-ca"
# What the suite needs to mint the expired and no-clientAuth client certificates (M-EXPIRED-*, M-NO-CLIENTAUTH-*).
CA_KEY_SUITE_ARGS: tuple[str, ...] = ("--direktiv-ca-key-secret", CA_SECRET)

_GRPC_USAGES = ("digital signature", "key encipherment", "server auth", "client auth")
_DEFAULT_USAGES = ("digital signature", "key encipherment")


class Issuer(str, Enum):
    """Who signed a certificate."""

    CA = "direktiv-ca"                  # the TLS page's CA ClusterIssuer (CN direktiv-system)
    SELF_SIGNED = "selfsigned-issuer"   # the TLS page's selfSigned ClusterIssuer (the lb certificate)
    INTERMEDIATE = "intermediate"       # an intermediate CA under direktiv-ca (tls.crt holds leaf + intermediate)
    OTHER_CA = "other-ca"               # an unrelated CA that is also called direktiv-system
    ACME = "letsencrypt-prod"           # an ACME ClusterIssuer (Let's Encrypt): the sandbox signs with a stand-in
                                        # root and intermediate, and the secret gets no ca.crt, as from ACME


class Engine(str, Enum):
    """Which implementation runs a Direktiv server (the gRPC ports, the API, the UI)."""

    GO = "go"          # Direktiv's own stack: the Go program (Go 1.19 crypto/tls, grpc-go, net/http); needs Go
    PYTHON = "python"  # stand-ins: grpcio's TLS (BoringSSL, TLS 1.2+) where it can, else a pyOpenSSL Go-like front


class ClientAuth(str, Enum):
    """The client-certificate policy, named after Go's ``tls.ClientAuthType``."""

    NONE = "none"                              # NoClientCert
    REQUEST = "request"                        # VerifyClientCertIfGiven: asked for, verified if sent, not required
    REQUIRE_AND_VERIFY = "require-and-verify"  # RequireAndVerifyClientCert (Direktiv's mtls* switches)
    REQUIRE_ANY = "require-any"                # RequireAnyClientCert: a certificate is required, never verified


class VerifyQuirk(str, Enum):
    """A client-certificate verifier that ignores one kind of verification error."""

    ACCEPT_UNKNOWN_ISSUER = "accepts-unknown-issuer"  # ignores 'unable to get local issuer certificate'
    ACCEPT_SELF_SIGNED = "accepts-self-signed"  # ignores 'self-signed certificate' (a clone passes)
    IGNORE_EXPIRY = "ignores-expiry"            # ignores 'certificate has expired'
    IGNORE_PURPOSE = "ignores-eku-purpose"      # ignores 'unsupported certificate purpose' (no clientAuth EKU)


@dataclass(frozen=True)
class CertSpec:
    """A certificate as cert-manager would issue it.

    Attributes:
        id: how secrets and servers refer to it (unique within a scenario).
        issuer: who signs it (:class:`Issuer`).
        dns_names: the SANs (cert-manager's ``dnsNames``).
        usages: cert-manager's ``usages`` names (no EKU extension unless 'server auth' / 'client auth' is listed).
        age_days: how long ago it was issued (notBefore = now - age_days).
        lifetime_days: notAfter - notBefore (cert-manager's default ``duration`` is 90 days).
        key_type: ``ecdsa`` (P-256, the sandbox's default for speed) or ``rsa``.
        key_size: RSA bits or EC curve bits; None for the type's default.
        signature_hash: ``sha256`` or ``sha1`` (a weak signature for C-KEY-STRENGTH).
        common_name: cert-manager's ``commonName`` (None: none; a selfSigned certificate without one has an empty
            subject and issuer, which strict RFC 5280 verifiers refuse).
    """

    id: str
    issuer: Issuer = Issuer.CA
    dns_names: tuple[str, ...] = ()
    usages: tuple[str, ...] = _DEFAULT_USAGES
    age_days: float = 0.0
    lifetime_days: float = 90.0
    key_type: str = "ecdsa"
    key_size: int | None = None
    signature_hash: str = "sha256"
    common_name: str | None = None


@dataclass(frozen=True)
class SecretSpec:
    """A TLS secret in one namespace, as cert-manager (or a person) wrote it.

    Attributes:
        namespace: where it lives.
        name: its name.
        cert: the :class:`CertSpec` id whose certificate ``tls.crt`` holds (leaf, then any intermediate).
        type: the secret's type (cert-manager writes ``kubernetes.io/tls``).
        keys: which data keys exist (``kubectl create secret tls`` writes no ``ca.crt``).
        key_of: write the private key of this other certificate into ``tls.key`` (a mismatched pair).
        ca_of: write this issuer's certificate into ``ca.crt`` instead of the real issuer's.
        certificate_ready: the Ready condition of the cert-manager Certificate that writes it; None when no
            Certificate object manages it.
        ready_reason: the Ready condition's reason when it is not True.
    """

    namespace: str
    name: str
    cert: str
    type: str = "kubernetes.io/tls"
    keys: tuple[str, ...] = ("tls.crt", "tls.key", "ca.crt")
    key_of: str | None = None
    ca_of: Issuer | None = None
    certificate_ready: bool | None = True
    ready_reason: str = "Ready"

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ServerSpec:
    """How one endpoint's server behaves; every field left at its default means 'as the values configure it'.

    Attributes:
        endpoint: the endpoint ID (CONTROLS.md).
        engine: for the API, the UI and the gRPC ports, which implementation serves (:class:`Engine`). None: the
            Go program where Go is installed (``sandbox.cluster.default_engine``), else the Python stand-ins;
            knobs Go cannot do (``weak_ciphers``: Go has no NULL or anonymous suites) keep the Python engine.
        serve_secret: serve this secret (``namespace/name``) even though the values say otherwise (Direktiv's
            package-global ``additionalServerOptions``: a server configured ``none`` inherits another's creds).
        serve_client_auth: with ``serve_secret``, the client-certificate mode served.
        min_version: the lowest TLS version accepted (``TLSv1``, ``TLSv1.1``, ``TLSv1.2``): the server sets it
            (``TLSv1.2`` is the conformant option). None sets nothing: Go's default, which for a Go server is
            TLS 1.0 (as Direktiv v0.4 leaves it).
        client_auth: the client-certificate mode (None: require-and-verify where mTLS is configured, else none).
        client_ca: whose certificate the server trusts for clients (None: the secret's own ``ca.crt``).
        verify_quirks: verification errors the client-certificate verifier ignores.
        alpn: whether the server negotiates ALPN (h2 for gRPC; h2/http1.1 for HTTPS).
        weak_ciphers: NULL and anonymous suites are enabled (the Python engine: Go has none).
        plaintext_too: the TLS port also answers plaintext HTTP (and h2c).
        send_chain: the server sends the intermediates of ``tls.crt`` (False: the leaf only).
        http_status: the status HTTPS (and plaintext) requests get.
        redirect: the lb's plain port redirects to https (where TLS is configured).
        pod_certs: one entry per replica: None serves the mounted secret, a :class:`CertSpec` id serves that
            certificate instead (a replica that did not reload after renewal). Empty: one replica.
        sni_names: for ``lb``, the SNI names Envoy has a TLS virtual host for (None: ``ingress.host``).
        fallback_certificate: for ``lb``, a handshake whose SNI matches no virtual host still gets the certificate
            (Contour's opt-in fallback certificate; off by default, as in Contour).
        hsts: for ``lb``, the Strict-Transport-Security header its HTTPS answers carry (set through a Contour
            response-headers policy; None: none, Contour's default).
        ignores_fallback_scsv: the server ignores TLS_FALLBACK_SCSV (RFC 7507), as pre-2014 stacks do.
        suites: the TLS 1.2-and-below suites the server accepts, by IANA name (Go's ``tls.Config.CipherSuites``);
            None: the server's defaults.
        no_secure_renegotiation: the server's TLS 1.2 ServerHello carries no renegotiation_info (RFC 5746), as
            pre-2010 stacks do. These two are imitated by a front that rewrites the hellos (sandbox.servers
            OldStackFront): no maintained server can be configured so.
        host_certs: for ``knative``, (host, :class:`CertSpec` id) pairs served instead of the default secret.
        plaintext: the port serves plaintext whatever the values configure (a pod started without its TLS flags).
        replica_overrides: per replica, changes to this spec for that replica only (None: none), e.g. a second
            replica rolled out with another minimum version. Their number counts towards the replicas.
    """

    endpoint: str
    engine: Engine | None = None
    serve_secret: str | None = None
    serve_client_auth: ClientAuth | None = None
    min_version: str | None = "TLSv1.2"
    client_auth: ClientAuth | None = None
    client_ca: Issuer | None = None
    verify_quirks: tuple[VerifyQuirk, ...] = ()
    alpn: bool = True
    weak_ciphers: bool = False
    plaintext_too: bool = False
    send_chain: bool = True
    http_status: int = 200
    redirect: bool = True
    pod_certs: tuple[str | None, ...] = ()
    sni_names: tuple[str, ...] | None = None
    fallback_certificate: bool = False
    hsts: str | None = "max-age=31536000; includeSubDomains"
    ignores_fallback_scsv: bool = False
    suites: tuple[str, ...] | None = None
    no_secure_renegotiation: bool = False
    host_certs: tuple[tuple[str, str], ...] = ()
    plaintext: bool = False
    replica_overrides: tuple[Mapping[str, Any] | None, ...] = ()

    @property
    def replicas(self) -> int:
        return max(1, len(self.pod_certs), len(self.replica_overrides))

    def for_replica(self, replica: int) -> "ServerSpec":
        """This spec as replica ``replica`` runs it."""
        changes = self.replica_overrides[replica] if replica < len(self.replica_overrides) else None
        return replace(self, **changes) if changes else self

    def __post_init__(self) -> None:
        if self.engine is Engine.GO and self.needs_python_engine:
            raise ValueError(f"{self.endpoint}: engine go cannot serve weak_ciphers (Go has no NULL or anonymous "
                             "suites); leave engine unset or choose python")

    @property
    def needs_python_engine(self) -> bool:
        """Whether these knobs need the Python engine: Go's crypto/tls has no NULL or anonymous suites."""
        return self.weak_ciphers or any("_NULL_" in n or "_anon_" in n for n in self.suites or ())

    @property
    def needs_go_like_front(self) -> bool:
        """Whether, on the Python engine, a gRPC server with these knobs needs the pyOpenSSL Go-like front
        (grpcio's own TLS cannot do them)."""
        return (
            self.min_version != "TLSv1.2"
            or self.client_auth in (ClientAuth.REQUEST, ClientAuth.REQUIRE_ANY)
            or bool(self.verify_quirks)
            or not self.alpn
            or self.weak_ciphers
            or self.plaintext_too
            or not self.send_chain
        )


@dataclass(frozen=True)
class ClusterObjects:
    """The objects around the release that the K-* controls read.

    Attributes:
        cert_manager: cert-manager is installed (its Certificate CRD is served; ``cert-manager/direktiv-ca``
            exists with ``tls.key``).
        default_tls_secret: ``default-tls-secret`` in ConfigMap ``knative-serving-knative/config-contour``
            (None: the key is absent, as in a fresh knative install).
        delegation_secret: the secret the TLSCertificateDelegation in ``contour-internal`` delegates (None: no
            delegation object).
        delegation_targets: its ``targetNamespaces``.
        knative_services: names of the knative services (serving.knative.dev/v1) in the services namespace.
        forbidden: (resource, namespace or None) pairs that RBAC forbids the suite to read, e.g.
            ``("services.serving.knative.dev", "direktiv-services-direktiv")``.
        service_env: environment variables (name, value) of every knative Service's container, as people put
            credentials there; no judgement reads them.
        annotations: annotations put on every knative Service and every cert-manager Certificate.
    """

    cert_manager: bool = True
    default_tls_secret: str | None = f"{INTERNAL_CONTOUR}/direktiv-cert-knative"
    delegation_secret: str | None = "direktiv-cert-knative"
    delegation_targets: tuple[str, ...] = ("*",)
    knative_services: tuple[str, ...] = ("greeting", "hello-world")
    forbidden: tuple[tuple[str, str | None], ...] = ()
    service_env: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Scenario:
    """One named installation of Direktiv, and what the suite must find wrong with it.

    Attributes:
        name: the scenario's name (``python -m sandbox up --scenario NAME``).
        description: one line.
        values_yaml: the Helm user values (the release's ``config``), as the TLS page writes them.
        certificates: every certificate issued, by id.
        secrets: every TLS secret, per namespace.
        servers: per-endpoint departures from what the values configure (endpoints not listed behave as
            configured).
        objects: config-contour, the delegation, cert-manager, knative services.
        expected_failures: the (control ID, endpoint ID) pairs that must fail; ``cluster`` for K-*.
        expected_errors: the pairs that must be errors (what the misconfiguration leaves unobservable, e.g. every
            refusal control of a port whose baseline handshake cannot complete); every other pair passes or skips.
        ca_key_readable: the suite may read ``cert-manager/direktiv-ca`` (and gets ``--direktiv-ca-key-secret``).
        extra_suite_args: further pytest options the scenario needs.
        acme_root_for: endpoints whose trust anchor the suite gets as ``--direktiv-ca-file ID=PATH``, PATH holding the
            sandbox's stand-in ACME root (the real one would be in the system trust store; the sandbox cannot
            reach Let's Encrypt).
        ca_key_type: the key of the root CAs (``direktiv-ca`` and the other CA): ``ecdsa`` (P-256, the sandbox's
            default for speed) or ``rsa`` (2048 bits, cert-manager's default).
        chart_name, chart_version, app_version: what the Helm release records as its chart (``chart.metadata``:
            Direktiv's v0.4.1 chart is ``direktiv`` ``0.1.0`` with appVersion ``v0.4.1``).
        model: the chart line whose wiring the sandbox builds (:data:`probes.chartlines.MODEL_NAMES`).
    """

    name: str
    description: str
    values_yaml: str
    certificates: tuple[CertSpec, ...] = ()
    secrets: tuple[SecretSpec, ...] = ()
    servers: tuple[ServerSpec, ...] = ()
    objects: ClusterObjects = field(default_factory=ClusterObjects)
    expected_failures: frozenset[tuple[str, str]] = frozenset()
    expected_errors: frozenset[tuple[str, str]] = frozenset()
    ca_key_readable: bool = True
    extra_suite_args: tuple[str, ...] = ()
    acme_root_for: tuple[str, ...] = ()
    ca_key_type: str = "ecdsa"
    chart_name: str = "direktiv"
    chart_version: str = "0.1.0"
    app_version: str = "v0.4.1"
    model: str = MODEL_V04

    @property
    def values(self) -> dict:
        """The user values as a mapping (parsed from :attr:`values_yaml`; a fresh copy each time)."""
        return copy.deepcopy(_parsed_values(self.values_yaml))

    @property
    def services_namespace(self) -> str:
        """Where the knative services and job pods run: the values' ``functions.namespace``, else the chart's."""
        functions = self.values.get("functions")
        configured = functions.get("namespace") if isinstance(functions, Mapping) else None
        return str(configured) if configured else SERVICES_NAMESPACE

    @property
    def suite_args(self) -> tuple[str, ...]:
        """The pytest options the suite needs for this scenario, beyond ``--kubeconfig``."""
        key = CA_KEY_SUITE_ARGS if self.ca_key_readable and self.objects.cert_manager else ()
        return key + self.extra_suite_args

    @property
    def broken_controls(self) -> frozenset[str]:
        return frozenset(control for control, _ in self.expected_failures)

    def certificate(self, cert_id: str) -> CertSpec:
        for cert in self.certificates:
            if cert.id == cert_id:
                return cert
        raise KeyError(f"scenario {self.name} has no certificate {cert_id!r}")

    def secret(self, namespace: str, name: str) -> SecretSpec | None:
        return next((s for s in self.secrets if s.namespace == namespace and s.name == name), None)

    def server(self, endpoint: str) -> ServerSpec:
        """The endpoint's server behaviour (the defaults when the scenario does not change it)."""
        return next((s for s in self.servers if s.endpoint == endpoint), ServerSpec(endpoint))


# -------------------------------------------------------------------------------------------- building blocks


@functools.lru_cache(maxsize=None)
def _parsed_values(values_yaml: str) -> dict:
    return yaml.safe_load(values_yaml) or {}


def _dump(values: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(values), sort_keys=False, default_flow_style=False)


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict:
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _grpc_names(service: str) -> tuple[str, ...]:
    """The dnsNames the TLS page gives each gRPC certificate."""
    return (f"{service}.{NAMESPACE}.svc.cluster.local", f"{service}.{NAMESPACE}", service,
            f"*.{NAMESPACE}.svc.cluster.local", f"*.{NAMESPACE}")


# The endpoints Direktiv's own Go code serves (the rest are Contour's Envoy).
_GO_SERVERS = ("api", "ui", "ingress-grpc", "flow-grpc", "functions-grpc")
_FLOW_HL_NAMES = (f"direktiv-flow-hl.{NAMESPACE}.svc.cluster.local", f"direktiv-flow-hl.{NAMESPACE}",
                  "direktiv-flow-hl")
_LB_HOST = "myhost.mydomain"

# The conformant installation's values: the TLS page's, with the gaps closed (a pod certificate of its own).
_CONFORMANT_VALUES = """\
ingress:
  certificate: direktiv-lb
  host: myhost.mydomain

api:
  certificate: direktiv-cert
ui:
  certificate: direktiv-cert

flow:
  functionsProtocol: "https"
  functionsCA: "direktiv-cert-knative"
  certificates:
    flow: direktiv-cert-flow
    mtlsFlow: direktiv-cert-flow
    ingress: direktiv-cert-ingress
    mtlsIngress: direktiv-cert-ingress

functions:
  certificate: direktiv-cert-fn
  mtls: direktiv-cert-fn
  initPodCertificate: direktiv-cert-pod
"""

# The TLS page, followed to the letter: its snippets in its order, isolates.* included.
_DOCS_VALUES = """\
ingress:
  certificate: direktiv-lb
  host: myhost.mydomain

ui:
  certificate: direktiv-cert

api:
  certificate: direktiv-cert

flow:
  certificates:
    flow: direktiv-cert-flow
    mtlsFlow: direktiv-cert-flow
    ingress: direktiv-cert-ingress
    mtlsIngress: direktiv-cert-ingress
  functionsProtocol: "https"
  functionsCA: "direktiv-cert-knative"

isolates:
  certificate: direktiv-cert-fn
  mtls: direktiv-cert-fn

functions:
  initPodCertificate: direktiv-cert-flow
"""

_TLS_ONLY_VALUES = """\
ingress:
  certificate: direktiv-lb
  host: myhost.mydomain

api:
  certificate: direktiv-cert
ui:
  certificate: direktiv-cert

flow:
  functionsProtocol: "https"
  functionsCA: "direktiv-cert-knative"
  certificates:
    flow: direktiv-cert-flow
    mtlsFlow: none
    ingress: direktiv-cert-ingress
    mtlsIngress: none

functions:
  certificate: direktiv-cert-fn
  mtls: none
  initPodCertificate: direktiv-cert-pod
"""

_BASE_CERTS: tuple[CertSpec, ...] = (
    CertSpec("lb", Issuer.SELF_SIGNED, ("localhost", _LB_HOST), common_name=_LB_HOST),
    CertSpec("http", Issuer.CA, (f"*.{NAMESPACE}.svc.cluster.local", f"*.{NAMESPACE}")),
    CertSpec("fn", Issuer.CA, _grpc_names("direktiv-functions-hl"), _GRPC_USAGES),
    CertSpec("flow", Issuer.CA, _grpc_names("direktiv-flow-hl"), _GRPC_USAGES),
    CertSpec("ingress", Issuer.CA, _grpc_names("direktiv-ingress-hl"), _GRPC_USAGES),
    CertSpec("knative", Issuer.CA, (f"*.{SERVICES_NAMESPACE}",)),
    # The sidecar's copy of the flow certificate in the services namespace (its own Certificate there).
    CertSpec("flow-copy", Issuer.CA, _FLOW_HL_NAMES, _GRPC_USAGES),
    CertSpec("pod", Issuer.CA, (f"*.{SERVICES_NAMESPACE}.pod",), _GRPC_USAGES),
)


def _base_secrets(*, pod_secret: str | None = "direktiv-cert-pod") -> tuple[SecretSpec, ...]:
    secrets = [
        SecretSpec(NAMESPACE, "direktiv-lb", "lb"),
        SecretSpec(NAMESPACE, "direktiv-cert", "http"),
        SecretSpec(NAMESPACE, "direktiv-cert-fn", "fn"),
        SecretSpec(NAMESPACE, "direktiv-cert-flow", "flow"),
        SecretSpec(NAMESPACE, "direktiv-cert-ingress", "ingress"),
        SecretSpec(SERVICES_NAMESPACE, "direktiv-cert-flow", "flow-copy"),
        SecretSpec(INTERNAL_CONTOUR, "direktiv-cert-knative", "knative"),
        # flow mounts flow.functionsCA from the release namespace: a second copy of the knative certificate.
        SecretSpec(NAMESPACE, "direktiv-cert-knative", "knative"),
    ]
    if pod_secret:
        secrets.append(SecretSpec(SERVICES_NAMESPACE, pod_secret, "pod"))
    return tuple(secrets)


# The controls that judge the served certificate: without a certificate served they cannot be judged.
_SERVED_CERTIFICATE = ("C-CHAIN-TRUSTED", "C-SAN-MATCH", "C-VALIDITY", "C-EKU", "C-KEY-STRENGTH",
                       "C-SERVED-MATCHES-SECRET", "C-X509-STRICT")
# The controls that count a refusal only after a baseline handshake completed on the same pod and port.
_REFUSALS = ("T-PLAINTEXT-REFUSED", "T-LEGACY-PROTOCOLS-REFUSED", "T-WEAK-CIPHERS-REFUSED", "T-FORWARD-SECRECY",
             "T-SECURE-RENEGOTIATION", "T-DOWNGRADE-SCSV")
# The K-* controls over every required secret, which cannot pass while a required copy is missing or unread.
_UNCOMPARED_SECRETS = ("K-SECRET-KEYPAIR", "K-SECRET-CHAIN", "K-CA-CONSISTENT")
_MTLS_REFUSALS = ("M-NO-CERT-REJECTED", "M-UNTRUSTED-CA-REJECTED", "M-SELF-SIGNED-CLONE-REJECTED",
                  "M-EXPIRED-CERT-REJECTED", "M-NO-CLIENTAUTH-EKU-REJECTED")


def _fails(*pairs: tuple[str, str]) -> frozenset[tuple[str, str]]:
    return frozenset(pairs)


def _on(endpoint: str, *controls: str) -> tuple[tuple[str, str], ...]:
    return tuple((control, endpoint) for control in controls)


def _replace_secret(secrets: Iterable[SecretSpec], ref: str, **changes) -> tuple[SecretSpec, ...]:
    out, hit = [], False
    for secret in secrets:
        if secret.ref == ref:
            secret, hit = replace(secret, **changes), True
        out.append(secret)
    if not hit:
        raise KeyError(f"no secret {ref} to change")
    return tuple(out)


def _without_secret(secrets: Iterable[SecretSpec], ref: str) -> tuple[SecretSpec, ...]:
    return tuple(s for s in secrets if s.ref != ref)


CONFORMANT = Scenario(
    name="conformant",
    description="TLS everywhere, mTLS on the three gRPC ports, knative and job pods in TLS: nothing fails",
    values_yaml=_CONFORMANT_VALUES,
    certificates=_BASE_CERTS,
    secrets=_base_secrets(),
)


def _variant(name: str, description: str, *, values: Mapping[str, Any] | None = None,
             certificates: Iterable[CertSpec] = (), secrets: tuple[SecretSpec, ...] | None = None,
             servers: Iterable[ServerSpec] = (), objects: ClusterObjects | None = None,
             fails: Iterable[tuple[str, str]] = (), errors: Iterable[tuple[str, str]] = (),
             base: Scenario = CONFORMANT) -> Scenario:
    """A scenario that changes the conformant one in a few places."""
    return replace(
        base,
        name=name,
        description=description,
        values_yaml=_dump(_merge(base.values, values)) if values else base.values_yaml,
        certificates=base.certificates + tuple(certificates),
        secrets=base.secrets if secrets is None else secrets,
        servers=tuple(servers),
        objects=objects or base.objects,
        expected_failures=frozenset(fails),
        expected_errors=frozenset(errors),
    )


def _api_cert(cert: CertSpec, *, ca_of: Issuer | None = None, **server) -> dict:
    """The api gets a secret of its own (direktiv-cert-api), issued as ``cert``; ``server`` changes its server."""
    return dict(
        values={"api": {"certificate": "direktiv-cert-api"}},
        certificates=(cert,),
        secrets=CONFORMANT.secrets + (SecretSpec(NAMESPACE, "direktiv-cert-api", cert.id, ca_of=ca_of),),
        servers=(ServerSpec("api", **server),) if server else (),
    )


_API_NAMES = (f"direktiv-api-service.{NAMESPACE}.svc.cluster.local", f"direktiv-api-service.{NAMESPACE}")

# ------------------------------------------------------------------------------------------------- baselines

TLS_ONLY = replace(
    CONFORMANT,
    name="tls-only",
    description="TLS everywhere, no client certificates anywhere (mtls* none): nothing fails",
    values_yaml=_TLS_ONLY_VALUES,
)

PLAINTEXT = Scenario(
    name="plaintext",
    description="the chart defaults: no TLS at all, the lb answers HTTP on port 80, no cert-manager: nothing fails",
    values_yaml="{}\n",
    objects=ClusterObjects(cert_manager=False, default_tls_secret=None, delegation_secret=None),
    ca_key_readable=False,
)

DOCS_VERBATIM = Scenario(
    name="docs-verbatim",
    description=("the TLS page followed to the letter: functionsCA only in contour-internal, a pod certificate "
                 "for direktiv-flow-hl, isolates.* values, Go 1.15 servers that accept TLS 1.0"),
    values_yaml=_DOCS_VALUES,
    certificates=(
        CertSpec("lb", Issuer.SELF_SIGNED, ("localhost", _LB_HOST)),
        CertSpec("http", Issuer.CA, (f"*.{NAMESPACE}.svc.cluster.local", f"*.{NAMESPACE}")),
        CertSpec("fn", Issuer.CA, _grpc_names("direktiv-functions-hl"), _GRPC_USAGES),
        CertSpec("flow", Issuer.CA, _grpc_names("direktiv-flow-hl"), _GRPC_USAGES),
        CertSpec("ingress", Issuer.CA, _grpc_names("direktiv-ingress-hl"), _GRPC_USAGES),
        CertSpec("knative", Issuer.CA, (f"*.{SERVICES_NAMESPACE}",)),
        CertSpec("flow-copy", Issuer.CA, _FLOW_HL_NAMES, _GRPC_USAGES),
    ),
    secrets=(
        SecretSpec(NAMESPACE, "direktiv-lb", "lb"),
        SecretSpec(NAMESPACE, "direktiv-cert", "http"),
        SecretSpec(NAMESPACE, "direktiv-cert-fn", "fn"),
        SecretSpec(NAMESPACE, "direktiv-cert-flow", "flow"),
        SecretSpec(NAMESPACE, "direktiv-cert-ingress", "ingress"),
        SecretSpec(INTERNAL_CONTOUR, "direktiv-cert-knative", "knative"),
        # The page's "Pod" Certificate: direktiv-cert-flow in the services namespace, flow-hl names only. It is
        # both the sidecar's copy of the flow certificate and the init pods' certificate.
        SecretSpec(SERVICES_NAMESPACE, "direktiv-cert-flow", "flow-copy"),
    ),
    # Direktiv v0.4's servers are Go with default tls.Configs: no MinVersion, so TLS 1.0 is accepted. Contour's
    # Envoy (lb, knative) keeps its own TLS 1.2 minimum. The page sets no response headers on the Ingress, so the lb
    # sends no Strict-Transport-Security, and its selfSigned lb certificate has no commonName: an empty subject and
    # issuer, which strict verifiers refuse.
    servers=tuple(ServerSpec(e, min_version=None) for e in _GO_SERVERS) + (ServerSpec("lb", hsts=None),),
    expected_failures=_fails(
        ("K-FUNCTIONS-CA", CLUSTER), ("K-SECRET-PRESENT", CLUSTER), ("K-INITPOD-SAN", CLUSTER),
        *(("T-LEGACY-PROTOCOLS-REFUSED", e) for e in _GO_SERVERS),
        ("H-HSTS", "lb"), ("C-X509-STRICT", "lb"),
    ),
    # The missing functionsCA copy cannot have its key pair, chain or CA compared: error, pointing at K-SECRET-PRESENT.
    expected_errors=_fails(*_on(CLUSTER, *_UNCOMPARED_SECRETS)),
)

# The TLS page followed to the letter once more, with certificates as cert-manager issues them by default (RSA 2048:
# its default privateKey algorithm, for the CA too) and Go's defaults on every Go server. With an RSA certificate a
# Go 1.19 server's default suites include RSA key transport and 3DES (TLS_RSA_WITH_3DES_EDE_CBC_SHA,
# TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA), besides TLS 1.0: what a real Direktiv v0.4 installation accepts.
GO_DEFAULTS = replace(
    DOCS_VERBATIM,
    name="go-defaults",
    description=("the TLS page followed to the letter with cert-manager's default RSA 2048 keys and Go's defaults on "
                 "every Go server: TLS 1.0, 3DES and static-RSA suites accepted"),
    certificates=tuple(replace(c, key_type="rsa", key_size=2048) for c in DOCS_VERBATIM.certificates),
    ca_key_type="rsa",
    # With RSA certificates Go's default suites are all usable: 3DES and RSA key transport (CBC and GCM), which the
    # raw ClientHello prober offers by code although no local TLS library has them any more.
    expected_failures=DOCS_VERBATIM.expected_failures | _fails(
        *((control, e) for e in _GO_SERVERS for control in ("T-WEAK-CIPHERS-REFUSED", "T-FORWARD-SECRECY"))),
)

BASELINES: tuple[str, ...] = ("conformant", "tls-only", "plaintext", "docs-verbatim")

# ------------------------------------------------------------------------------------------ one per control

_MISCONFIGURATIONS: tuple[Scenario, ...] = (
    # -- cluster objects
    _variant(
        "secret-wrong-type",
        "the gRPC ingress secret was created as an Opaque secret (same keys), not kubernetes.io/tls",
        secrets=_replace_secret(CONFORMANT.secrets, f"{NAMESPACE}/direktiv-cert-ingress", type="Opaque",
                                certificate_ready=None),
        fails=[("K-SECRET-PRESENT", CLUSTER)],
    ),
    _variant(
        "secret-key-mismatch",
        "the init pods' secret holds the tls.key of another certificate",
        certificates=(CertSpec("stray", Issuer.CA, (f"*.{SERVICES_NAMESPACE}.pod",)),),
        secrets=_replace_secret(CONFORMANT.secrets, f"{SERVICES_NAMESPACE}/direktiv-cert-pod", key_of="stray",
                                certificate_ready=None),
        fails=[("K-SECRET-KEYPAIR", CLUSTER)],
    ),
    _variant(
        "secret-chain-foreign",
        "the api's secret holds a certificate from another CA than its ca.crt (so the served chain is untrusted)",
        **_api_cert(CertSpec("api", Issuer.OTHER_CA, _API_NAMES), ca_of=Issuer.CA),
        fails=[("K-SECRET-CHAIN", CLUSTER), ("C-CHAIN-TRUSTED", "api"), ("C-X509-STRICT", "api")],
    ),
    _variant(
        "flow-copy-other-ca",
        "the flow secret's copy in the services namespace was issued by another CA",
        certificates=(CertSpec("flow-copy-foreign", Issuer.OTHER_CA, _FLOW_HL_NAMES, _GRPC_USAGES),),
        secrets=_replace_secret(CONFORMANT.secrets, f"{SERVICES_NAMESPACE}/direktiv-cert-flow",
                                cert="flow-copy-foreign"),
        fails=[("K-CA-CONSISTENT", CLUSTER)],
    ),
    _variant(
        "functions-ca-missing",
        "flow.functionsCA exists only in contour-internal, not in the release namespace the flow pod mounts it from",
        secrets=_without_secret(CONFORMANT.secrets, f"{NAMESPACE}/direktiv-cert-knative"),
        fails=[("K-FUNCTIONS-CA", CLUSTER), ("K-SECRET-PRESENT", CLUSTER)],
        errors=_on(CLUSTER, *_UNCOMPARED_SECRETS),
    ),
    _variant(
        "functions-ca-unset",
        "flow.functionsProtocol is https but flow.functionsCA is none, so flow trusts only the system roots",
        values={"flow": {"functionsCA": "none"}},
        secrets=_without_secret(CONFORMANT.secrets, f"{NAMESPACE}/direktiv-cert-knative"),
        fails=[("K-FUNCTIONS-CA", CLUSTER)],
    ),
    # The next scenarios change cluster objects only. A real internal Contour would drop the knative TLS virtual
    # hosts once the delegation or config-contour's default-tls-secret is wrong; the sandbox's keeps serving the
    # certificate, so that each scenario fails its own K-* control and nothing else.
    _variant(
        "delegation-wrong-namespace",
        "the TLSCertificateDelegation delegates the knative secret to 'default' instead of '*' or the services "
        "namespace",
        objects=replace(ClusterObjects(), delegation_targets=(NAMESPACE,)),
        fails=[("K-DELEGATION", CLUSTER)],
    ),
    _variant(
        "contour-default-tls-unset",
        "config-contour was never patched: no default-tls-secret",
        objects=replace(ClusterObjects(), default_tls_secret=None),
        fails=[("K-CONTOUR-DEFAULT-TLS", CLUSTER)],
    ),
    _variant(
        "https-without-initpod-cert",
        "flow.functionsProtocol is https but functions.initPodCertificate is none",
        values={"functions": {"initPodCertificate": "none"}},
        secrets=_base_secrets(pod_secret=None),
        fails=[("K-PROTOCOL-CONSISTENT", CLUSTER)],
    ),
    _variant(
        "initpod-san-flow-only",
        "the init pods' certificate names only direktiv-flow-hl.*, not *.direktiv-services-direktiv.pod",
        certificates=(CertSpec("pod-flow-names", Issuer.CA, _FLOW_HL_NAMES, _GRPC_USAGES),),
        secrets=_replace_secret(CONFORMANT.secrets, f"{SERVICES_NAMESPACE}/direktiv-cert-pod", cert="pod-flow-names"),
        fails=[("K-INITPOD-SAN", CLUSTER)],
    ),
    _variant(
        "certificate-not-ready",
        "cert-manager's Certificate for the gRPC ingress secret is Ready=False (renewal failing; the old secret "
        "is still valid)",
        secrets=_replace_secret(CONFORMANT.secrets, f"{NAMESPACE}/direktiv-cert-ingress", certificate_ready=False,
                                ready_reason="Failed"),
        fails=[("K-CERTMANAGER-READY", CLUSTER)],
    ),
    # -- the certificate an endpoint serves
    _variant(
        "api-missing-intermediate",
        "the api's certificate comes from an intermediate CA that the server does not send (the secret is fine)",
        **_api_cert(CertSpec("api", Issuer.INTERMEDIATE, _API_NAMES), send_chain=False),
        fails=[("C-CHAIN-TRUSTED", "api"), ("C-X509-STRICT", "api")],
    ),
    _variant(
        "api-wrong-san",
        "the api serves a certificate for the ui's names",
        **_api_cert(CertSpec("api", Issuer.CA, (f"direktiv-ui.{NAMESPACE}.svc.cluster.local",
                                                f"direktiv-ui.{NAMESPACE}"))),
        fails=[("C-SAN-MATCH", "api"), ("C-X509-STRICT", "api")],
    ),
    _variant(
        "api-expires-soon",
        "the api's certificate has 5 days left",
        **_api_cert(CertSpec("api", Issuer.CA, _API_NAMES, age_days=85, lifetime_days=90)),
        fails=[("C-VALIDITY", "api")],
    ),
    _variant(
        "api-eku-clientauth-only",
        "the api's certificate allows clientAuth only",
        **_api_cert(CertSpec("api", Issuer.CA, _API_NAMES, _DEFAULT_USAGES + ("client auth",))),
        fails=[("C-EKU", "api"), ("C-X509-STRICT", "api")],
    ),
    _variant(
        "grpc-eku-serverauth-only",
        "the gRPC ingress certificate lacks clientAuth, so it is no valid client identity for its own mTLS",
        certificates=(CertSpec("ingress-server-only", Issuer.CA, _grpc_names("direktiv-ingress-hl"),
                               _DEFAULT_USAGES + ("server auth",)),),
        secrets=_replace_secret(CONFORMANT.secrets, f"{NAMESPACE}/direktiv-cert-ingress", cert="ingress-server-only"),
        fails=_on("ingress-grpc", "C-EKU", "M-VALID-CERT-ACCEPTED", "T-TLS-HANDSHAKE"),
    ),
    _variant(
        "api-rsa-1024",
        "the api's certificate has an RSA 1024-bit key (behind a modern ECDHE-only suite list)",
        **_api_cert(CertSpec("api", Issuer.CA, _API_NAMES, key_type="rsa", key_size=1024),
                    suites=("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")),
        fails=[("C-KEY-STRENGTH", "api")],
    ),
    _variant(
        "api-stale-replica",
        "two api replicas; the second still serves the certificate from before the last renewal",
        certificates=(CertSpec("http-old", Issuer.CA, (f"*.{NAMESPACE}.svc.cluster.local", f"*.{NAMESPACE}"),
                               age_days=60),),
        servers=(ServerSpec("api", pod_certs=(None, "http-old")),),
        fails=[("C-SERVED-MATCHES-SECRET", "api")],
    ),
    # -- transport
    _variant(
        "ingress-inherits-flow-creds",
        "gRPC ingress configured without TLS, but it serves flow's mTLS credentials (package-global "
        "additionalServerOptions)",
        values={"flow": {"certificates": {"ingress": "none", "mtlsIngress": "none"}}},
        secrets=_without_secret(CONFORMANT.secrets, f"{NAMESPACE}/direktiv-cert-ingress"),
        servers=(ServerSpec("ingress-grpc", serve_secret=f"{NAMESPACE}/direktiv-cert-flow",
                            serve_client_auth=ClientAuth.REQUIRE_AND_VERIFY),),
        fails=[("T-MODE-MATCHES-CONFIG", "ingress-grpc")],
    ),
    _variant(
        "lb-no-cert-for-host",
        "Envoy has a TLS virtual host for localhost only and no fallback certificate: myhost.mydomain gets none",
        servers=(ServerSpec("lb", sni_names=("localhost",)),),
        # The handshake fails (an alert): everything else about the port needs a certificate or a completed
        # baseline handshake, so it cannot be judged. The mode cannot be told either: an alert during the handshake
        # is no sign of mTLS.
        fails=_on("lb", "T-TLS-HANDSHAKE"),
        errors=_on("lb", "T-MODE-MATCHES-CONFIG", "H-HTTPS-RESPONDS", "H-HSTS", *_SERVED_CERTIFICATE, *_REFUSALS),
    ),
    _variant(
        "api-plaintext-too",
        "the api's TLS port also answers plaintext HTTP",
        servers=(ServerSpec("api", plaintext_too=True),),
        fails=_on("api", "T-PLAINTEXT-REFUSED", "T-MODE-MATCHES-CONFIG"),
    ),
    _variant(
        "api-accepts-tls10",
        "the api accepts TLS 1.0 and 1.1 (Go 1.15's default minimum)",
        servers=(ServerSpec("api", min_version="TLSv1"),),
        fails=[("T-LEGACY-PROTOCOLS-REFUSED", "api")],
    ),
    _variant(
        "api-null-ciphers",
        "the api enables NULL and anonymous cipher suites",
        servers=(ServerSpec("api", weak_ciphers=True),),
        # anonymous (EC)DH is ephemeral but unauthenticated: no forward secrecy against an active attacker either
        fails=[("T-WEAK-CIPHERS-REFUSED", "api"), ("T-FORWARD-SECRECY", "api")],
    ),
    _variant(
        "api-ecdhe-null",
        "the api accepts TLS_ECDHE_ECDSA_WITH_NULL_SHA: forward secret, authenticated, and not encrypted",
        servers=(ServerSpec("api", suites=("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_NULL_SHA")),),
        fails=[("T-WEAK-CIPHERS-REFUSED", "api")],
    ),
    _variant(
        "functions-no-alpn",
        "the functions controller serves TLS (no mTLS) through a front that negotiates no ALPN",
        values={"functions": {"mtls": "none"}},
        servers=(ServerSpec("functions-grpc", alpn=False),),
        fails=[("T-ALPN-H2", "functions-grpc")],
    ),
    # -- mutual TLS
    _variant(
        "flow-trusts-other-client-ca",
        "flow's gRPC server trusts another CA for client certificates, so the configured client is refused",
        servers=(ServerSpec("flow-grpc", client_ca=Issuer.OTHER_CA),),
        fails=_on("flow-grpc", "M-VALID-CERT-ACCEPTED", "T-TLS-HANDSHAKE"),
    ),
    _variant(
        "flow-mtls-optional",
        "flow's gRPC server asks for client certificates but does not require them",
        servers=(ServerSpec("flow-grpc", client_auth=ClientAuth.REQUEST),),
        fails=_on("flow-grpc", "M-NO-CERT-REJECTED", "T-MODE-MATCHES-CONFIG"),
    ),
    _variant(
        "functions-any-client-cert",
        "the functions controller requires a client certificate but verifies none (RequireAnyClientCert)",
        servers=(ServerSpec("functions-grpc", client_auth=ClientAuth.REQUIRE_ANY),),
        fails=_on("functions-grpc", "M-UNTRUSTED-CA-REJECTED", "M-SELF-SIGNED-CLONE-REJECTED",
                  "M-EXPIRED-CERT-REJECTED", "M-NO-CLIENTAUTH-EKU-REJECTED"),
    ),
    _variant(
        "ingress-accepts-unknown-issuer",
        "the gRPC ingress's client verifier ignores 'unable to get local issuer certificate'",
        servers=(ServerSpec("ingress-grpc", verify_quirks=(VerifyQuirk.ACCEPT_UNKNOWN_ISSUER,)),),
        fails=[("M-UNTRUSTED-CA-REJECTED", "ingress-grpc")],
    ),
    _variant(
        "ingress-accepts-self-signed",
        "the gRPC ingress's client verifier ignores 'self-signed certificate' errors",
        servers=(ServerSpec("ingress-grpc", verify_quirks=(VerifyQuirk.ACCEPT_SELF_SIGNED,)),),
        fails=[("M-SELF-SIGNED-CLONE-REJECTED", "ingress-grpc")],
    ),
    _variant(
        "flow-ignores-expiry",
        "flow's client verifier ignores expiry",
        servers=(ServerSpec("flow-grpc", verify_quirks=(VerifyQuirk.IGNORE_EXPIRY,)),),
        fails=[("M-EXPIRED-CERT-REJECTED", "flow-grpc")],
    ),
    _variant(
        "functions-ignores-eku",
        "the functions controller's client verifier ignores the certificate purpose (no clientAuth EKU passes)",
        servers=(ServerSpec("functions-grpc", verify_quirks=(VerifyQuirk.IGNORE_PURPOSE,)),),
        fails=[("M-NO-CLIENTAUTH-EKU-REJECTED", "functions-grpc")],
    ),
    # -- HTTP and knative
    _variant(
        "api-503",
        "the api answers 503 Service Unavailable over HTTPS",
        servers=(ServerSpec("api", http_status=503),),
        fails=[("H-HTTPS-RESPONDS", "api")],
    ),
    _variant(
        "lb-no-redirect",
        "the lb's plain port 80 answers 200 instead of redirecting to https",
        servers=(ServerSpec("lb", redirect=False),),
        fails=[("H-HTTP-REDIRECTS", "lb")],
    ),
    _variant(
        "knative-uncovered-host",
        "one knative service (payments) has an explicit certificate that does not cover its host",
        certificates=(CertSpec("payments-wrong", Issuer.CA, (f"payment.{SERVICES_NAMESPACE}",)),),
        objects=replace(ClusterObjects(), knative_services=("greeting", "hello-world", "payments")),
        servers=(ServerSpec("knative", host_certs=((f"payments.{SERVICES_NAMESPACE}", "payments-wrong"),)),),
        fails=[("N-SNI-COVERAGE", "knative")],
    ),
    # -- what sslyze checks and the catalog now does too
    _variant(
        "api-static-rsa",
        "the api has an RSA certificate and accepts TLS_RSA_WITH_AES_128_GCM_SHA256 besides ECDHE: RSA key "
        "transport, no forward secrecy",
        **_api_cert(CertSpec("api", Issuer.CA, _API_NAMES, key_type="rsa", key_size=2048),
                    suites=("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256")),
        fails=[("T-FORWARD-SECRECY", "api")],
    ),
    _variant(
        "api-no-secure-renegotiation",
        "the api answers TLS 1.2 clients like a pre-2010 stack: no renegotiation_info in its ServerHello",
        servers=(ServerSpec("api", no_secure_renegotiation=True),),
        fails=[("T-SECURE-RENEGOTIATION", "api")],
    ),
    _variant(
        "ui-ignores-fallback-scsv",
        "the ui ignores TLS_FALLBACK_SCSV: a client downgraded to TLS 1.2 by an attacker goes unnoticed",
        servers=(ServerSpec("ui", ignores_fallback_scsv=True),),
        fails=[("T-DOWNGRADE-SCSV", "ui")],
    ),
    _variant(
        "lb-no-hsts",
        "the lb's HTTPS answers carry no Strict-Transport-Security (Contour's default: no response-headers policy)",
        servers=(ServerSpec("lb", hsts=None),),
        fails=[("H-HSTS", "lb")],
    ),
    _variant(
        "lb-hsts-short",
        "the lb sends Strict-Transport-Security with max-age one day",
        servers=(ServerSpec("lb", hsts="max-age=86400"),),
        fails=[("H-HSTS", "lb")],
    ),
    _variant(
        "lb-empty-subject",
        "the lb's selfSigned certificate has no commonName (the TLS page's): an empty subject and issuer, which "
        "Go accepts and strict RFC 5280 verifiers refuse",
        certificates=(CertSpec("lb-empty", Issuer.SELF_SIGNED, ("localhost", _LB_HOST)),),
        secrets=_replace_secret(CONFORMANT.secrets, f"{NAMESPACE}/direktiv-lb", cert="lb-empty"),
        fails=[("C-X509-STRICT", "lb")],
    ),
    # -- sound verdicts: a refusal counts only after a completed baseline, every replica is judged, knative hosts
    # are the real ones, and our own client's failures are ours
    _variant(
        "flow-serves-plaintext",
        "values say flow-grpc is mTLS, but its pod serves plaintext gRPC (started without its TLS settings)",
        servers=(ServerSpec("flow-grpc", plaintext=True),),
        fails=_on("flow-grpc", "T-MODE-MATCHES-CONFIG", "T-TLS-HANDSHAKE", "T-PLAINTEXT-REFUSED"),
        # A peer that does not speak TLS refuses nothing by TLS: no rejection on this port proves anything.
        errors=_on("flow-grpc", *_SERVED_CERTIFICATE, *(c for c in _REFUSALS if c != "T-PLAINTEXT-REFUSED"),
                   "T-ALPN-H2", "M-VALID-CERT-ACCEPTED", *_MTLS_REFUSALS),
    ),
    _variant(
        "api-second-replica-accepts-tls10",
        "two api replicas; the second was rolled out without a minimum version and accepts TLS 1.0 and 1.1",
        servers=(ServerSpec("api", replica_overrides=(None, {"min_version": "TLSv1"})),),
        fails=[("T-LEGACY-PROTOCOLS-REFUSED", "api")],
    ),
    _variant(
        "flow-second-replica-mtls-optional",
        "two flow replicas; the second asks for client certificates but does not require them",
        servers=(ServerSpec("flow-grpc", replica_overrides=(None, {"client_auth": ClientAuth.REQUEST})),),
        fails=_on("flow-grpc", "M-NO-CERT-REJECTED", "T-MODE-MATCHES-CONFIG"),
    ),
    _variant(
        "knative-services-forbidden",
        "RBAC forbids listing knative services, so their hosts are unknown and the internal Contour, which answers "
        "only the hosts it routes, refuses the probe name",
        objects=replace(ClusterObjects(), forbidden=(("services.serving.knative.dev", SERVICES_NAMESPACE),)),
        # Envoy rightly refuses a name it has no route for: that refusal is evidence of nothing.
        errors=_on("knative", "N-SNI-COVERAGE", "T-TLS-HANDSHAKE", "T-MODE-MATCHES-CONFIG", *_SERVED_CERTIFICATE,
                   *_REFUSALS),
    ),
    _variant(
        "flow-wrong-san",
        "flow serves (and presents) a certificate without the direktiv-flow-hl names: the server accepts the client "
        "certificate, our gRPC client rejects the server's name",
        certificates=(CertSpec("flow-other-names", Issuer.CA, (f"direktiv-flow.{NAMESPACE}",), _GRPC_USAGES),),
        secrets=_replace_secret(CONFORMANT.secrets, f"{NAMESPACE}/direktiv-cert-flow", cert="flow-other-names"),
        fails=[("C-SAN-MATCH", "flow-grpc"), ("C-X509-STRICT", "flow-grpc")],
        # grpcio refusing the server's certificate is a check of ours, not the server refusing the client.
        errors=[("M-VALID-CERT-ACCEPTED", "flow-grpc")],
    ),
)

# -------------------------------------------------------------------------------------- how the suite reads it

_MY_FUNCTIONS = "my-functions"


def _in_my_functions(secrets: Iterable[SecretSpec]) -> tuple[SecretSpec, ...]:
    """The conformant secrets with the services namespace's copies moved to my-functions and the knative and pod
    certificates issued for it."""
    certs = {"knative": "knative-my-functions", "pod": "pod-my-functions"}
    return tuple(replace(s, namespace=_MY_FUNCTIONS if s.namespace == SERVICES_NAMESPACE else s.namespace,
                         cert=certs.get(s.cert, s.cert)) for s in secrets)


_READINGS: tuple[Scenario, ...] = (
    _variant(
        "services-namespace-from-values",
        "functions.namespace is my-functions: knative services, the flow secret's copy and the init pods' secret "
        "live there, and the suite finds them without --direktiv-services-namespace: nothing fails",
        values={"functions": {"namespace": _MY_FUNCTIONS}},
        certificates=(CertSpec("knative-my-functions", Issuer.CA, (f"*.{_MY_FUNCTIONS}",)),
                      CertSpec("pod-my-functions", Issuer.CA, (f"*.{_MY_FUNCTIONS}.pod",), _GRPC_USAGES)),
        secrets=_in_my_functions(CONFORMANT.secrets),
    ),
    replace(_variant(
        "lb-acme",
        "the lb's certificate comes from an ACME ClusterIssuer (letsencrypt-prod), so its secret has no ca.crt; the "
        "suite trusts the (stand-in) ACME root for the lb through --direktiv-ca-file lb=PATH: nothing fails",
        certificates=(CertSpec("lb-acme", Issuer.ACME, (_LB_HOST,), _DEFAULT_USAGES + ("server auth",)),),
        secrets=_replace_secret(CONFORMANT.secrets, f"{NAMESPACE}/direktiv-lb", cert="lb-acme",
                                keys=("tls.crt", "tls.key")),
    ), acme_root_for=("lb",)),
)

# ------------------------------------------------------------------------- the chart line v0.5.10 to v0.7.x

# Direktiv v0.7.5 from chart.direktiv.io (chart direktiv 0.1.20): the chart's only TLS value is the load balancer's,
# written as the install docs' ingress snippet writes it. ingress-nginx's own defaults serve it (TLS 1.2 and 1.3,
# HSTS of 182 days, 308 redirects, the fake certificate for unknown names).
_V07_VALUES = """\
ingress:
  host: myhost.mydomain
  certificate: direktiv-lb
"""
_V07_OBJECTS = ClusterObjects(default_tls_secret=None, delegation_secret=None, knative_services=())
_INGRESS_NGINX_HSTS = "max-age=15724800; includeSubDomains"  # ingress-nginx v1.1.0's default hsts-max-age

V07_CONFORMANT = Scenario(
    name="v0.7-conformant",
    description=("Direktiv v0.7.5 (chart 0.1.20): ingress-nginx serves ingress.host with the direktiv-lb "
                 "certificate, every other hop is plaintext by the chart: nothing fails"),
    values_yaml=_V07_VALUES,
    certificates=(CertSpec("lb", Issuer.CA, ("localhost", _LB_HOST), _DEFAULT_USAGES + ("server auth",)),),
    secrets=(SecretSpec(NAMESPACE, "direktiv-lb", "lb"),),
    servers=(ServerSpec("lb", hsts=_INGRESS_NGINX_HSTS),),
    objects=_V07_OBJECTS,
    chart_version="0.1.20",
    app_version="v0.7.5",
    model=MODEL_V07,
)

_V07: tuple[Scenario, ...] = (
    V07_CONFORMANT,
    replace(
        V07_CONFORMANT,
        name="v0.7-lb-secret-missing",
        description=("Direktiv v0.7.5: ingress.certificate names direktiv-tls, a secret that was never created, so "
                     "ingress-nginx serves its Fake Certificate for ingress.host"),
        values_yaml=_V07_VALUES.replace("direktiv-lb", "direktiv-tls"),
        expected_failures=_fails(("K-SECRET-PRESENT", CLUSTER), *_on("lb", "C-SAN-MATCH")),
        expected_errors=_fails(*_on("lb", "C-CHAIN-TRUSTED", "C-SERVED-MATCHES-SECRET", "C-X509-STRICT"),
                               ("K-SECRET-KEYPAIR", CLUSTER), ("K-SECRET-CHAIN", CLUSTER)),
    ),
    replace(
        V07_CONFORMANT,
        name="v0.7-lb-cert-wrong-host",
        description=("Direktiv v0.7.5: the direktiv-lb certificate names direktiv.example.org, not ingress.host, so "
                     "ingress-nginx keeps its Fake Certificate for the host"),
        certificates=(CertSpec("lb", Issuer.CA, ("direktiv.example.org",), _DEFAULT_USAGES + ("server auth",)),),
        expected_failures=_fails(*_on("lb", "C-SAN-MATCH", "C-CHAIN-TRUSTED", "C-SERVED-MATCHES-SECRET",
                                      "C-X509-STRICT")),
    ),
    replace(
        V07_CONFORMANT,
        name="v0.7-lb-accepts-tls10",
        description=("Direktiv v0.7.5: for old clients the ingress-nginx ConfigMap sets ssl-protocols to TLSv1 "
                     "TLSv1.1 TLSv1.2 TLSv1.3 and adds CBC suites to ssl-ciphers (its defaults are TLS 1.2-only)"),
        servers=(ServerSpec("lb", hsts=_INGRESS_NGINX_HSTS, min_version="TLSv1", suites=(
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA")),),
        expected_failures=_fails(*_on("lb", "T-LEGACY-PROTOCOLS-REFUSED")),
    ),
)

# ---------------------------------------------------------------------------------- the chart line v0.8.x

# Direktiv v0.8.1 (chart direktiv 0.1.22): the same load balancer, its certificate off when empty. ingress-nginx
# controller v1.9 (chart 4.9.0) sends HSTS for a year (kubernetes/ingress-nginx PR 10564, inferred to be in it).
V08_CONFORMANT = replace(
    V07_CONFORMANT,
    name="v0.8-conformant",
    description=("Direktiv v0.8.1 (chart 0.1.22): ingress-nginx serves ingress.host with the direktiv-lb certificate; "
                 "the frontend and every other hop are plaintext by the chart: nothing fails"),
    servers=(ServerSpec("lb", hsts="max-age=31536000; includeSubDomains"),),
    chart_version="0.1.22",
    app_version="v0.8.1",
    model=MODEL_V08,
)

_V08: tuple[Scenario, ...] = (
    V08_CONFORMANT,
    replace(
        V08_CONFORMANT,
        name="v0.8-certificate-none",
        description=("Direktiv v0.8.1 upgraded with v0.7 values that wrote ingress.certificate: none for 'no "
                     "certificate yet': v0.8 reads it as a secret named none, which does not exist, so ingress-nginx "
                     "serves its Fake Certificate"),
        values_yaml=_V07_VALUES.replace("direktiv-lb", "none"),
        expected_failures=_fails(("K-SECRET-PRESENT", CLUSTER), *_on("lb", "C-SAN-MATCH")),
        expected_errors=_fails(*_on("lb", "C-CHAIN-TRUSTED", "C-SERVED-MATCHES-SECRET", "C-X509-STRICT"),
                               ("K-SECRET-KEYPAIR", CLUSTER), ("K-SECRET-CHAIN", CLUSTER)),
    ),
)

# Every scenario, the baselines first.
ALL_SCENARIOS: tuple[Scenario, ...] = ((CONFORMANT, TLS_ONLY, PLAINTEXT, DOCS_VERBATIM, GO_DEFAULTS) + _MISCONFIGURATIONS
                                       + _READINGS + _V07 + _V08)


def by_unique_name(items: Iterable[_Named], *, kind: str = "scenario") -> dict[str, _Named]:
    """``{item.name: item}`` in the items' order; ValueError when two share a name (``kind`` says what they are:
    "scenario", "fault case")."""
    registry: dict[str, _Named] = {}
    for item in items:
        if item.name in registry:
            raise ValueError(f"two {kind}s are named {item.name!r}; {kind} names must be unique")
        registry[item.name] = item
    return registry


SCENARIOS: Mapping[str, Scenario] = by_unique_name(ALL_SCENARIOS)


def scenario_names() -> tuple[str, ...]:
    """Every scenario's name: the baselines first, then one misconfiguration after another."""
    return tuple(SCENARIOS)


def scenario(name: str) -> Scenario:
    """The scenario with that name; ``KeyError`` with one sentence naming the known ones otherwise."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KeyError(f"there is no scenario {name!r}; known scenarios: {', '.join(SCENARIOS)}") from None
