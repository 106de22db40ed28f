"""Direktiv's TLS endpoints, secrets and cluster expectations, derived from the Helm values (pure).

Where each expectation comes from is TOPOLOGY.md; the endpoint IDs are CONTROLS.md's. Every derived record
carries the values keys it came from (``sources``), so a failure can say why something was expected, e.g.
"flow-grpc expects mTLS because flow.certificates.mtlsFlow is on".

Rules (Direktiv v0.4.x chart):
- a TLS value that is missing, ``none`` or ``""`` is off; anything else names a secret;
- ``mtls*`` values are on/off switches: the certificate's secret serves as server certificate, client certificate
  and CA alike, whatever name the ``mtls*`` value holds;
- mTLS needs the certificate too: with the switch on and the certificate off the server runs in plaintext;
- ``isolates.*`` (the TLS page's spelling) is read as ``functions.*`` (:func:`probes.helm.normalize_values`).
Anything the values imply but the chart would not do as written lands in :attr:`Topology.notices`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Any, Iterable, Mapping

from probes.chartlines import MODEL_V04, MODEL_V07, MODEL_V08
from probes.helm import is_off, normalize_values

__all__ = [
    "DEFAULT_RELEASE",
    "DEFAULT_NAMESPACE",
    "DEFAULT_SERVICES_NAMESPACE",
    "EXTERNAL_CONTOUR_NAMESPACE",
    "INTERNAL_CONTOUR_NAMESPACE",
    "KNATIVE_SERVING_NAMESPACE",
    "DEFAULT_KNATIVE_SECRET",
    "ENDPOINT_IDS",
    "Mode",
    "EndpointKind",
    "NamespaceSource",
    "SecretRef",
    "EndpointSpec",
    "SecretUse",
    "SecretRequirement",
    "CaGroup",
    "FunctionsCAExpectation",
    "DelegationExpectation",
    "ContourDefaultTLSExpectation",
    "ProtocolExpectation",
    "InitPodSANExpectation",
    "Topology",
    "derive_topology",
    "services_namespace_notice",
    "knative_host",
    "knative_probe_host",
    "with_knative_hosts",
]

DEFAULT_RELEASE = "direktiv"
DEFAULT_NAMESPACE = "default"
# The chart's functions.namespace default: where knative services and job pods run.
DEFAULT_SERVICES_NAMESPACE = "direktiv-services-direktiv"
# Direktiv's install scripts deploy two Contours: the external one behind the LoadBalancer, the internal one that
# knative (net-contour) uses for cluster-local traffic; and knative serving under the release name "knative".
EXTERNAL_CONTOUR_NAMESPACE = "contour-external"
INTERNAL_CONTOUR_NAMESPACE = "contour-internal"
KNATIVE_SERVING_NAMESPACE = "knative-serving-knative"
# The knative certificate's secret on the TLS documentation page, used when flow.functionsCA does not name one.
DEFAULT_KNATIVE_SECRET = "direktiv-cert-knative"
# A host under the services namespace, probed on the internal Contour when no knative service exists yet.
_KNATIVE_PROBE_LABEL = "conformance-probe"
# A pod-IP host name the engine dials for a job pod (https://<a-b-c-d>.<ns>.pod:8890), to test SAN coverage.
_SAMPLE_POD_LABEL = "10-244-0-17"

ENDPOINT_IDS: tuple[str, ...] = ("lb", "api", "ui", "ingress-grpc", "flow-grpc", "functions-grpc", "knative")


class Mode(str, Enum):
    """How a port is expected to speak."""

    PLAINTEXT = "plaintext"
    TLS = "tls"
    MTLS = "mtls"


class NamespaceSource(str, Enum):
    """Where the services namespace came from."""

    GIVEN = "given"      # the caller named it (the suite's --direktiv-services-namespace)
    VALUES = "values"    # the values' functions.namespace
    DEFAULT = "default"  # neither: the chart's default, direktiv-services-direktiv


class EndpointKind(str, Enum):
    """What sits behind an endpoint, which decides the probes that apply."""

    LB = "lb"            # external Contour/Envoy: HTTPS, and the port-80 redirect
    HTTP = "http"        # Direktiv's Go HTTP servers (API, UI)
    GRPC = "grpc"        # Direktiv's gRPC servers (TLS, optionally mTLS)
    KNATIVE = "knative"  # internal Contour/Envoy choosing certificates by SNI


@dataclass(frozen=True)
class SecretRef:
    """A Secret by namespace and name.

    Attributes:
        namespace: the Secret's namespace.
        name: the Secret's name.
    """

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class EndpointSpec:
    """One endpoint of CONTROLS.md as the configuration expects it.

    Attributes:
        id: the endpoint ID (``lb``, ``api``, ``ui``, ``ingress-grpc``, ``flow-grpc``, ``functions-grpc``,
            ``knative``).
        kind: what serves it (:class:`EndpointKind`).
        namespace: the Service's namespace.
        service: the Service reached through port-forward (its ready pods, as ``kubectl port-forward svc/``).
        port: the Service port to observe (443 or 80 for ``lb``/``knative``, depending on the mode).
        mode: the expected mode of that port.
        secret: the serving certificate's secret, ``None`` in plaintext.
        server_name: the SNI (and gRPC authority / HTTP Host) to use.
        expected_names: the names the served certificate must cover (C-SAN-MATCH); for ``knative``, one host per
            knative service once :func:`with_knative_hosts` filled them in, else the probe host.
        redirect_port: where plain HTTP must redirect to https (H-HTTP-REDIRECTS), ``None`` where not checked.
        client_identity_secret: with mTLS, the secret whose ``tls.crt``/``tls.key`` the real clients present (the
            same secret as ``secret``) and whose ``ca.crt`` the server trusts; ``None`` otherwise.
        needs_client_auth_eku: the served certificate is also a client identity, so it needs clientAuth (C-EKU).
        deployed: whether the chart deploys this endpoint at all (``withAPI``, ``withUI``, ``withFlow``).
        unlocated: why the endpoint exists but cannot be located from the values (e.g. a load balancer the chart
            does not install); every control on it is then an error with this reason. None when located.
        sources: the values keys this expectation comes from, e.g. ``flow.certificates.mtlsFlow``.
        explanation: one sentence saying why this mode is expected, for failure and skip messages.
        tls_settings: where the server's protocol and cipher settings are made, for fixes ("" where the server
            has none to set, as Direktiv's own Go servers).
    """

    id: str
    kind: EndpointKind
    namespace: str
    service: str
    port: int
    mode: Mode
    secret: SecretRef | None
    server_name: str
    expected_names: tuple[str, ...]
    redirect_port: int | None = None
    client_identity_secret: SecretRef | None = None
    needs_client_auth_eku: bool = False
    deployed: bool = True
    sources: tuple[str, ...] = ()
    explanation: str = ""
    unlocated: str | None = None
    tls_settings: str = ""

    @property
    def tls(self) -> bool:
        """TLS is expected (with or without client certificates)."""
        return self.mode is not Mode.PLAINTEXT

    @property
    def mtls(self) -> bool:
        return self.mode is Mode.MTLS


@dataclass(frozen=True)
class SecretUse:
    """One place a secret is mounted or referenced.

    Attributes:
        namespace: where the secret must exist for this use.
        purpose: what it is used for, in words.
        source: the values key that names it.
    """

    namespace: str
    purpose: str
    source: str


@dataclass(frozen=True)
class SecretRequirement:
    """A TLS secret the configuration names, with every namespace it must exist in (K-SECRET-*).

    Attributes:
        name: the Secret's name.
        namespaces: each namespace where it is mounted, in order of first use.
        purposes: what it is used for, one phrase per use.
        sources: the values keys that name it.
        uses: each (namespace, purpose, source) on its own.
    """

    name: str
    namespaces: tuple[str, ...]
    purposes: tuple[str, ...]
    sources: tuple[str, ...]
    uses: tuple[SecretUse, ...] = ()

    @property
    def refs(self) -> tuple[SecretRef, ...]:
        return tuple(SecretRef(ns, self.name) for ns in self.namespaces)

    def purposes_in(self, namespace: str) -> tuple[str, ...]:
        return tuple(use.purpose for use in self.uses if use.namespace == namespace)


@dataclass(frozen=True)
class CaGroup:
    """Secrets whose certificates must come from one CA (K-CA-CONSISTENT).

    Attributes:
        members: the secrets, each compared with the first.
        reason: why they must share a CA, in words.
        sources: the values keys behind it.
    """

    members: tuple[SecretRef, ...]
    reason: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class FunctionsCAExpectation:
    """K-FUNCTIONS-CA: with https to functions, the flow pod's CA secret must exist in the release namespace.

    Attributes:
        applies: ``flow.functionsProtocol`` is https.
        secret: the ``flow.functionsCA`` secret in the release namespace; ``None`` if the value is off (then flow
            trusts only the system roots and the control fails).
        reason: why it applies or not, in words (the skip reason when it does not).
        sources: the values keys behind it.
    """

    applies: bool
    secret: SecretRef | None
    reason: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class DelegationExpectation:
    """K-DELEGATION: a TLSCertificateDelegation lets knative's HTTPProxies use the internal Contour's secret.

    Attributes:
        applies: knative is expected in TLS.
        namespace: where the delegation and the secret live (internal Contour's namespace).
        secret_name: the delegated secret.
        target_namespaces: target namespaces, any one of which suffices (``*`` or the services namespace).
        reason: why it applies or not, in words.
        sources: the values keys behind it.
    """

    applies: bool
    namespace: str
    secret_name: str
    target_namespaces: tuple[str, ...]
    reason: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class ContourDefaultTLSExpectation:
    """K-CONTOUR-DEFAULT-TLS: net-contour's ConfigMap names the knative secret as default TLS secret.

    Attributes:
        applies: knative is expected in TLS.
        namespace: the knative serving namespace.
        configmap: the ConfigMap's name (``config-contour``).
        key: the data key (``default-tls-secret``).
        value: the expected value, ``<internal contour ns>/<knative secret>``.
        reason: why it applies or not, in words.
        sources: the values keys behind it.
    """

    applies: bool
    namespace: str
    configmap: str
    key: str
    value: str
    reason: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class ProtocolExpectation:
    """K-PROTOCOL-CONSISTENT: knative and pod-based functions both use TLS, or neither does.

    Attributes:
        functions_protocol: ``flow.functionsProtocol`` as configured (``http`` when unset).
        https: the protocol is https.
        init_pod_certificate: ``functions.initPodCertificate``, ``None`` when off.
        consistent: https exactly when the init-pod certificate is set.
        reason: the facts in one sentence (the skip reason when it does not apply).
        sources: the values keys behind it.
        applies: the chart line has both service types and the switches (False: nothing to compare).
    """

    functions_protocol: str
    https: bool
    init_pod_certificate: str | None
    consistent: bool
    reason: str
    sources: tuple[str, ...]
    applies: bool = True


@dataclass(frozen=True)
class InitPodSANExpectation:
    """K-INITPOD-SAN: the job pods' certificate must cover the names the engine dials.

    Attributes:
        applies: ``functions.initPodCertificate`` is set.
        secret: that secret in the services namespace, ``None`` when off.
        patterns: a SAN that covers every dialed name (``*.<services ns>.pod``).
        sample_names: a concrete dialed name (``<a-b-c-d>.<services ns>.pod``) to test coverage with.
        reason: why it applies or not, in words.
        sources: the values keys behind it.
    """

    applies: bool
    secret: SecretRef | None
    patterns: tuple[str, ...]
    sample_names: tuple[str, ...]
    reason: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Topology:
    """Everything the configuration makes the suite expect.

    Attributes:
        release: the Helm release name (service names follow it).
        namespace: the release namespace.
        services_namespace: where knative services and job pods run.
        services_namespace_source: where :attr:`services_namespace` came from (given, the values'
            ``functions.namespace``, or the built-in default).
        endpoints: the endpoints the chart line has, in :data:`ENDPOINT_IDS` order.
        secrets: each TLS secret the configuration names, once per name, with all its namespaces.
        ca_groups: secrets that must share a CA.
        functions_ca: K-FUNCTIONS-CA.
        delegation: K-DELEGATION.
        contour_default_tls: K-CONTOUR-DEFAULT-TLS.
        protocol: K-PROTOCOL-CONSISTENT.
        init_pod_san: K-INITPOD-SAN.
        knative_probe_host: the host probed on the internal Contour when no knative service is known.
        notices: sentences for the run's output: aliases used, inconsistent values and how they were read.
        values: the normalized values everything was derived from (not in the repr: it holds keys like
            ``secrets.key``).
        model: the chart line's model the topology follows (:data:`probes.chartlines.MODEL_NAMES`).
        absent: (endpoint ID, why) for each endpoint of :data:`ENDPOINT_IDS` the chart line does not have.
    """

    release: str
    namespace: str
    services_namespace: str
    endpoints: tuple[EndpointSpec, ...]
    secrets: tuple[SecretRequirement, ...]
    ca_groups: tuple[CaGroup, ...]
    functions_ca: FunctionsCAExpectation
    delegation: DelegationExpectation
    contour_default_tls: ContourDefaultTLSExpectation
    protocol: ProtocolExpectation
    init_pod_san: InitPodSANExpectation
    knative_probe_host: str
    notices: tuple[str, ...] = ()
    services_namespace_source: NamespaceSource = NamespaceSource.DEFAULT
    values: dict = field(default_factory=dict, repr=False, compare=False, hash=False)
    model: str = MODEL_V04
    absent: tuple[tuple[str, str], ...] = ()

    def endpoint(self, endpoint_id: str) -> EndpointSpec:
        """The endpoint with that ID; ``KeyError`` naming the known IDs otherwise."""
        for spec in self.endpoints:
            if spec.id == endpoint_id:
                return spec
        raise KeyError(f"no endpoint {endpoint_id!r}; known: {', '.join(s.id for s in self.endpoints)}")

    def absence(self, endpoint_id: str) -> str | None:
        """Why the chart line has no such endpoint, None when it has (or the ID is unknown)."""
        return dict(self.absent).get(endpoint_id)

    def secret(self, name: str) -> SecretRequirement | None:
        return next((s for s in self.secrets if s.name == name), None)

    def secret_refs(self) -> tuple[SecretRef, ...]:
        """Every (namespace, name) a secret must exist at: K-SECRET-PRESENT and K-CERTMANAGER-READY walk these."""
        return tuple(ref for requirement in self.secrets for ref in requirement.refs)

    def to_json(self) -> dict:
        """A JSON-ready dict of everything but ``values`` (which may hold keys such as ``secrets.key``)."""
        data = asdict(self)
        del data["values"]
        return _plain(data)


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, Enum):
        return obj.value
    return obj


# ------------------------------------------------------------------------------------------------------- helpers


def services_namespace_notice(topology: Topology, *, given_as: str = "--direktiv-services-namespace") -> str:
    """One sentence for the run's output: which services namespace is used and where it came from (``given_as``
    names how a caller-given namespace was given)."""
    ns = topology.services_namespace
    if topology.services_namespace_source is NamespaceSource.GIVEN:
        return f"the services namespace is {ns}, as given by {given_as}"
    if topology.services_namespace_source is NamespaceSource.VALUES:
        return f"the services namespace is {ns}, from the values' functions.namespace"
    return (f"the services namespace is {ns}, the built-in default (the values set no functions.namespace; "
            f"pass {given_as} NS if it is elsewhere)")


def knative_host(service: str, services_namespace: str = DEFAULT_SERVICES_NAMESPACE) -> str:
    """The host flow dials for a knative service: ``<service>.<services namespace>``."""
    return f"{service}.{services_namespace}"


def knative_probe_host(services_namespace: str = DEFAULT_SERVICES_NAMESPACE) -> str:
    return knative_host(_KNATIVE_PROBE_LABEL, services_namespace)


def with_knative_hosts(topology: Topology, hosts: Iterable[str]) -> Topology:
    """The topology with the knative endpoint expecting ``hosts`` (one per knative service found in the cluster).

    The first host (sorted) becomes the SNI. No hosts: back to the probe host.
    """
    names = tuple(sorted({h for h in hosts if h})) or (topology.knative_probe_host,)
    endpoints = tuple(
        replace(spec, expected_names=names, server_name=names[0]) if spec.kind is EndpointKind.KNATIVE else spec
        for spec in topology.endpoints
    )
    return replace(topology, endpoints=endpoints)


def _lookup(values: Mapping[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


class ValuesReader:
    """Reads switches and secret names from values, collecting notices about odd values."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values
        self.notices: list[str] = []

    def secret_name(self, key: str) -> str | None:
        """The secret a TLS value names, or ``None`` when off."""
        value = _lookup(self.values, key)
        if is_off(value):
            return None
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        self.notices.append(
            f"{key} is {value!r}, which is not a secret name; it is read as off"
        )
        return None

    def flag(self, key: str, default: bool = True) -> bool:
        value = _lookup(self.values, key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        self.notices.append(f"{key} is {value!r}, not true or false; it is read as {str(default).lower()}")
        return default

    def text(self, key: str, default: str) -> str:
        value = _lookup(self.values, key)
        if value is None or (isinstance(value, str) and not value.strip()):
            return default
        return str(value).strip()


class SecretCollector:
    """Collects secret uses and merges them per name, in order of first use."""

    def __init__(self) -> None:
        self._uses: dict[str, list[SecretUse]] = {}

    def add(self, name: str | None, namespace: str, purpose: str, source: str) -> None:
        if name:
            self._uses.setdefault(name, []).append(SecretUse(namespace, purpose, source))

    def requirements(self) -> tuple[SecretRequirement, ...]:
        return tuple(
            SecretRequirement(
                name=name,
                namespaces=unique_in_order(u.namespace for u in uses),
                purposes=unique_in_order(u.purpose for u in uses),
                sources=unique_in_order(u.source for u in uses),
                uses=tuple(uses),
            )
            for name, uses in self._uses.items()
        )


def unique_in_order(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


# -------------------------------------------------------------------------------------------------------- derive


def derive_topology(
    values: Mapping[str, Any],
    *,
    release: str = DEFAULT_RELEASE,
    namespace: str = DEFAULT_NAMESPACE,
    services_namespace: str | None = None,
    external_contour_namespace: str = EXTERNAL_CONTOUR_NAMESPACE,
    internal_contour_namespace: str = INTERNAL_CONTOUR_NAMESPACE,
    knative_serving_namespace: str = KNATIVE_SERVING_NAMESPACE,
    model: str = "v0.4",
) -> Topology:
    """Derive the expected endpoints, secrets and cluster objects from Helm values.

    ``values`` are the merged values (chart defaults and user config) or only the user's; a missing key reads as
    the chart default, which is off for every TLS value. They are normalized first (``isolates`` alias), so
    normalized input is fine too. ``services_namespace`` defaults to the values' ``functions.namespace``, else
    ``direktiv-services-direktiv``; an explicit one wins, with a notice if the values disagree.
    """
    if model in (MODEL_V07, MODEL_V08):
        from probes.topology_nginx import derive_v07, derive_v08

        derive = derive_v07 if model == MODEL_V07 else derive_v08
        return derive(values, release=release, namespace=namespace, services_namespace=services_namespace)
    if model != MODEL_V04:
        raise ValueError(f"no topology for chart model {model!r}")
    values, alias_notices = normalize_values(values)
    read = ValuesReader(values)
    notices: list[str] = list(alias_notices)
    services_namespace, ns_source = resolve_services_namespace(read, services_namespace, notices)
    secrets = SecretCollector()
    endpoints: list[EndpointSpec] = []

    # lb: external Contour, TLS from the Ingress's spec.tls (ingress.certificate).
    endpoints.append(_lb_endpoint(read, notices, secrets, namespace, external_contour_namespace, "envoy",
                                  "the external load balancer's certificate (the Ingress's spec.tls)"))

    # api, ui: Go HTTP servers, HTTPS iff their certificate is mounted.
    for endpoint_id, key, service, names, deployed_key in (
        ("api", "api.certificate", f"{release}-api-service",
         (f"{release}-api-service.{namespace}.svc.cluster.local", f"{release}-api-service.{namespace}"), "withAPI"),
        ("ui", "ui.certificate", f"{release}-ui", (f"{release}-ui.{namespace}.svc.cluster.local",), "withUI"),
    ):
        name = read.secret_name(key)
        secrets.add(name, namespace, f"the {endpoint_id.upper()} server's certificate (port 8080)", key)
        endpoints.append(EndpointSpec(
            id=endpoint_id, kind=EndpointKind.HTTP, namespace=namespace, service=service, port=8080,
            mode=Mode.TLS if name else Mode.PLAINTEXT, secret=SecretRef(namespace, name) if name else None,
            server_name=names[0], expected_names=names, deployed=read.flag(deployed_key),
            sources=(key,), explanation=_tls_sentence(endpoint_id, key, name),
        ))

    # gRPC: engine ingress 6666, engine flow 7777 (flow pod), functions controller 5555.
    flow_deployed = read.flag("withFlow")
    for endpoint_id, cert_key, mtls_key, service, port, deployed, what in (
        ("ingress-grpc", "flow.certificates.ingress", "flow.certificates.mtlsIngress", f"{release}-ingress-hl",
         6666, flow_deployed, "the engine ingress gRPC server"),
        ("flow-grpc", "flow.certificates.flow", "flow.certificates.mtlsFlow", f"{release}-flow-hl",
         7777, flow_deployed, "the engine flow gRPC server"),
        ("functions-grpc", "functions.certificate", "functions.mtls", f"{release}-functions-hl",
         5555, True, "the functions controller gRPC server"),
    ):
        spec = _grpc_endpoint(read, notices, endpoint_id, cert_key, mtls_key, service, namespace, port, deployed)
        if spec.secret is not None:
            role = " (server and client certificate and client CA, for mTLS)" if spec.mtls else ""
            secrets.add(spec.secret.name, namespace, f"{what}'s certificate (port {port}){role}", cert_key)
            if endpoint_id == "flow-grpc":
                secrets.add(spec.secret.name, services_namespace,
                            "the knative sidecar's copy for calling the engine's flow gRPC (it mounts the secret "
                            "from the services namespace)", cert_key)
        endpoints.append(spec)

    # Functions: flow -> knative (internal Contour) and flow -> job pods.
    protocol = read.text("flow.functionsProtocol", "http")
    https = protocol.lower() == "https"
    if protocol.lower() not in ("http", "https"):
        notices.append(f"flow.functionsProtocol is {protocol!r}, neither http nor https; it is read as http")
    functions_ca = read.secret_name("flow.functionsCA")
    init_pod = read.secret_name("functions.initPodCertificate")
    knative_secret = functions_ca or DEFAULT_KNATIVE_SECRET
    knative_sources = ("flow.functionsProtocol", "flow.functionsCA")
    if https and not functions_ca:
        notices.append(
            "flow.functionsProtocol is https but flow.functionsCA is not set, so flow trusts only the system roots "
            "for knative; the internal Contour's secret is expected under the TLS page's name "
            f"{DEFAULT_KNATIVE_SECRET}"
        )
    if functions_ca and not https:
        notices.append(
            f"flow.functionsCA names {functions_ca}, but flow.functionsProtocol is {protocol}, "
            "so flow does not use it"
        )

    probe_host = knative_probe_host(services_namespace)
    endpoints.append(EndpointSpec(
        id="knative", kind=EndpointKind.KNATIVE, namespace=internal_contour_namespace, service="envoy",
        port=443 if https else 80, mode=Mode.TLS if https else Mode.PLAINTEXT,
        secret=SecretRef(internal_contour_namespace, knative_secret) if https else None,
        server_name=probe_host, expected_names=(probe_host,), sources=knative_sources,
        explanation=(
            f"knative is expected in TLS because flow.functionsProtocol is https (secret {knative_secret})"
            if https else f"knative is expected in plaintext because flow.functionsProtocol is {protocol}"
        ),
    ))

    secrets.add(init_pod, services_namespace, "the job pods' init container HTTPS certificate (port 8890)",
                "functions.initPodCertificate")
    if https:
        secrets.add(functions_ca, namespace,
                    "the CA flow trusts for knative and job pods "
                    "(the flow pod mounts it from the release namespace)",
                    "flow.functionsCA")
        secrets.add(knative_secret, internal_contour_namespace,
                    "the internal Contour's default TLS certificate for knative services",
                    "flow.functionsCA" if functions_ca else "flow.functionsProtocol")

    ca_groups = _ca_groups(read, namespace, services_namespace, internal_contour_namespace, https,
                           functions_ca, knative_secret, init_pod)
    not_https = f"flow.functionsProtocol is {protocol}, so knative is reached in plaintext"
    # A pass of K-PROTOCOL-CONSISTENT needs the two values to be there: a chart that has neither (another line,
    # judged with a forced model) is no consistent configuration.
    protocol_known = any(_lookup(values, key) is not None
                         for key in ("flow.functionsProtocol", "functions.initPodCertificate"))
    pod_ns_pattern = f"*.{services_namespace}.pod"
    notices.extend(read.notices)
    return Topology(
        release=release,
        namespace=namespace,
        services_namespace=services_namespace,
        endpoints=tuple(endpoints),
        secrets=secrets.requirements(),
        ca_groups=ca_groups,
        functions_ca=FunctionsCAExpectation(
            applies=https,
            secret=SecretRef(namespace, functions_ca) if https and functions_ca else None,
            reason=(
                (f"flow.functionsProtocol is https, so the flow pod mounts flow.functionsCA ({functions_ca}) "
                 f"from {namespace}") if https and functions_ca else
                "flow.functionsProtocol is https but flow.functionsCA is not set" if https else not_https
            ),
            sources=knative_sources,
        ),
        delegation=DelegationExpectation(
            applies=https, namespace=internal_contour_namespace, secret_name=knative_secret,
            target_namespaces=("*", services_namespace),
            reason=(f"knative HTTPProxies in {services_namespace} use {internal_contour_namespace}/{knative_secret}"
                    if https else not_https),
            sources=knative_sources,
        ),
        contour_default_tls=ContourDefaultTLSExpectation(
            applies=https, namespace=knative_serving_namespace, configmap="config-contour",
            key="default-tls-secret", value=f"{internal_contour_namespace}/{knative_secret}",
            reason=(f"net-contour gives every knative HTTPProxy the default TLS secret "
                    f"{internal_contour_namespace}/{knative_secret}" if https else not_https),
            sources=knative_sources,
        ),
        protocol=ProtocolExpectation(
            functions_protocol=protocol, https=https, init_pod_certificate=init_pod,
            consistent=https == (init_pod is not None),
            reason=(f"flow.functionsProtocol is {protocol} and functions.initPodCertificate is "
                    f"{init_pod or 'not set'}") if protocol_known else (
                "the values hold neither flow.functionsProtocol nor functions.initPodCertificate (every v0.4 "
                "release's chart defaults have both): there is no configuration to compare"),
            sources=("flow.functionsProtocol", "functions.initPodCertificate"),
            applies=protocol_known,
        ),
        init_pod_san=InitPodSANExpectation(
            applies=init_pod is not None,
            secret=SecretRef(services_namespace, init_pod) if init_pod else None,
            patterns=(pod_ns_pattern,),
            sample_names=(f"{_SAMPLE_POD_LABEL}.{services_namespace}.pod",),
            reason=(f"the engine dials job pods as <a-b-c-d>.{services_namespace}.pod:8890" if init_pod
                    else "functions.initPodCertificate is not set, so job pods serve plaintext"),
            sources=("functions.initPodCertificate",),
        ),
        knative_probe_host=probe_host,
        notices=tuple(unique_in_order(notices)),
        services_namespace_source=ns_source,
        values=values,
    )


def resolve_services_namespace(read: ValuesReader, given: str | None,
                               notices: list[str]) -> tuple[str, NamespaceSource]:
    """The services namespace and where it came from: as given, else the values' ``functions.namespace``, else
    the chart's default; a notice when a given one overrides the values'."""
    configured = read.text("functions.namespace", "")
    if given is None:
        return (configured or DEFAULT_SERVICES_NAMESPACE,
                NamespaceSource.VALUES if configured else NamespaceSource.DEFAULT)
    if configured and configured != given:
        notices.append(f"values set functions.namespace to {configured}, but the run uses the services namespace "
                       f"{given} as given")
    return given, NamespaceSource.GIVEN


def _lb_endpoint(read: ValuesReader, notices: list[str], secrets: SecretCollector, namespace: str,
                 lb_namespace: str, service: str, purpose: str) -> EndpointSpec:
    """The load balancer in front of the API and UI: TLS from the Ingress's ``spec.tls`` (``ingress.certificate``
    names the secret in the release namespace, ``ingress.host`` the name), with the plain port redirecting."""
    lb_secret = read.secret_name("ingress.certificate")
    host = read.text("ingress.host", "")
    if lb_secret and not host:
        notices.append(
            "ingress.host is empty, so the lb endpoint is checked under the name localhost "
            "(the TLS page's lb certificate lists it)"
        )
    host = host or "localhost"
    secrets.add(lb_secret, namespace, purpose, "ingress.certificate")
    return EndpointSpec(
        id="lb", kind=EndpointKind.LB, namespace=lb_namespace, service=service,
        port=443 if lb_secret else 80, mode=Mode.TLS if lb_secret else Mode.PLAINTEXT,
        secret=SecretRef(namespace, lb_secret) if lb_secret else None,
        server_name=host, expected_names=(host,), redirect_port=80 if lb_secret else None,
        sources=("ingress.certificate", "ingress.host"),
        explanation=_tls_sentence("lb", "ingress.certificate", lb_secret),
    )


def _tls_sentence(endpoint_id: str, key: str, secret: str | None) -> str:
    if secret:
        return f"{endpoint_id} is expected in TLS because {key} names the secret {secret}"
    return f"{endpoint_id} is expected in plaintext because {key} is not set"


def _grpc_endpoint(
    read: ValuesReader, notices: list[str], endpoint_id: str, cert_key: str, mtls_key: str, service: str,
    namespace: str, port: int, deployed: bool,
) -> EndpointSpec:
    cert = read.secret_name(cert_key)
    mtls_value = read.secret_name(mtls_key)
    mtls_on = mtls_value is not None
    if mtls_on and not cert:
        notices.append(
            f"{mtls_key} is on but {cert_key} is not set; mTLS needs the TLS certificate, so {endpoint_id} "
            "is expected in plaintext"
        )
    elif mtls_on and mtls_value != cert:
        notices.append(
            f"{mtls_key} names {mtls_value}, but it is only an on/off switch: mTLS on {endpoint_id} uses the "
            f"{cert_key} secret {cert} as server certificate, client certificate and CA"
        )
    mode = Mode.PLAINTEXT if not cert else Mode.MTLS if mtls_on else Mode.TLS
    ref = SecretRef(namespace, cert) if cert else None
    name = f"{service}.{namespace}"  # what the Direktiv clients verify (the gRPC authority)
    if mode is Mode.MTLS:
        explanation = f"{endpoint_id} is expected in mTLS because {cert_key} names {cert} and {mtls_key} is on"
    elif mode is Mode.TLS:
        explanation = f"{endpoint_id} is expected in TLS without client certificates because {cert_key} names " \
                      f"{cert} and {mtls_key} is off"
    else:
        explanation = f"{endpoint_id} is expected in plaintext because {cert_key} is not set"
    return EndpointSpec(
        id=endpoint_id, kind=EndpointKind.GRPC, namespace=namespace, service=service, port=port, mode=mode,
        secret=ref, server_name=name, expected_names=(name,),
        client_identity_secret=ref if mode is Mode.MTLS else None,
        needs_client_auth_eku=mode is Mode.MTLS, deployed=deployed,
        sources=(cert_key, mtls_key), explanation=explanation,
    )


def _ca_groups(
    read: ValuesReader, namespace: str, services_namespace: str, internal_ns: str, https: bool,
    functions_ca: str | None, knative_secret: str, init_pod: str | None,
) -> tuple[CaGroup, ...]:
    groups: list[CaGroup] = []
    flow = read.secret_name("flow.certificates.flow")
    if flow:
        groups.append(CaGroup(
            members=(SecretRef(namespace, flow), SecretRef(services_namespace, flow)),
            reason="the knative sidecar's copy of the flow certificate must come from the engine's CA",
            sources=("flow.certificates.flow",),
        ))
    if https and functions_ca:
        groups.append(CaGroup(
            members=(SecretRef(namespace, functions_ca), SecretRef(internal_ns, knative_secret)),
            reason="flow verifies the internal Contour's knative certificate against flow.functionsCA",
            sources=("flow.functionsCA", "flow.functionsProtocol"),
        ))
        if init_pod:
            groups.append(CaGroup(
                members=(SecretRef(namespace, functions_ca), SecretRef(services_namespace, init_pod)),
                reason="flow verifies the job pods' certificate against flow.functionsCA (the TLS page: the same "
                       "certificate authority as the flow configuration)",
                sources=("flow.functionsCA", "functions.initPodCertificate"),
            ))
    return tuple(groups)
