"""The TLS wiring of Direktiv's chart lines behind the ingress-nginx subchart, derived from their Helm values
(pure): v0.5.10 to v0.7.x (direktiv/direktiv-charts ``charts/direktiv`` 0.1.0 to 0.1.20) and v0.8.x (chart 0.1.21
and later, in direktiv-charts and then in direktiv/direktiv ``charts/direktiv``).

Where each fact comes from is docs/CHART_LINES.md. What differs from v0.4 (:func:`probes.topology.derive_topology`):
- the load balancer is the chart's ingress-nginx subchart (``ingress-nginx.install``, default true): Service
  ``<release>-ingress-nginx-controller`` in the release namespace, ports 80 and 443. Its TLS comes from the same
  two values as v0.4's (``ingress.certificate`` on the Ingresses ``<release>-ingress-api`` and
  ``<release>-ingress-ui``, ``ingress.host``), read as this chart's templates read them: only ``none`` is off (an
  empty value is TLS without a secret: ingress-nginx's Fake Certificate), and without a host every name gets the
  Fake Certificate;
- no other hop has a TLS value: the API, the UI, flow's gRPC ports and the functions controller serve plaintext,
  knative is reached in plaintext; mTLS between them is a Linkerd mesh installed beside the chart (namespace
  annotations, not chart values), which this tool does not judge. ``ui.certificate`` is still in the values but no
  template reads it. Those endpoints are :attr:`~probes.topology.Topology.absent`, with the reason;
- so no secret but the load balancer's, no CA shared between secrets, no Contour delegation or default TLS secret,
  no job-pod certificate: the cluster controls about them do not apply.
v0.8 differs from v0.7 only in the value's off state: its template reads ``{{ if .Values.ingress.certificate }}``, so
an empty (or missing) value is off and ``none``, v0.7's off value, names a secret called "none"; and its
``frontend.certificate`` is mounted into a frontend that serves plain HTTP on 2304 (nothing reads it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from probes.chartlines import MODEL_V07, MODEL_V08
from probes.helm import normalize_values
from probes.topology import (
    DEFAULT_RELEASE, ENDPOINT_IDS, INTERNAL_CONTOUR_NAMESPACE, KNATIVE_SERVING_NAMESPACE, ContourDefaultTLSExpectation,
    DelegationExpectation, EndpointKind, EndpointSpec, FunctionsCAExpectation, InitPodSANExpectation, Mode,
    ProtocolExpectation, SecretCollector, SecretRef, Topology, ValuesReader, resolve_services_namespace,
    unique_in_order,
)

__all__ = ["IngressNginxLine", "V07", "V08", "derive_v07", "derive_v08", "ingress_controller_service"]


@dataclass(frozen=True)
class IngressNginxLine:
    """What sets one ingress-nginx chart line apart.

    Attributes:
        model: the model's name.
        text: the line in words, for reasons and notices.
        off_is_empty: ``ingress.certificate`` is off when empty (v0.8: ``{{ if ... }}``), else only when ``none``
            (v0.7: ``{{ if ne ... "none" }}``).
        dead_keys: (values key, what the chart does with it) for TLS-looking values no server reads.
    """

    model: str
    text: str
    off_is_empty: bool
    dead_keys: tuple[tuple[str, str], ...] = ()

    @property
    def not_in_line(self) -> str:
        return f"{self.text} has no such TLS setting"

    @property
    def absent(self) -> tuple[tuple[str, str], ...]:
        why = (f"{self.text} has no TLS setting for it (its pods listen without TLS; mTLS between them is a Linkerd "
               "mesh installed beside the chart), and this tool neither locates nor probes it there")
        return tuple((endpoint, why) for endpoint in ENDPOINT_IDS if endpoint != "lb")


V07 = IngressNginxLine(MODEL_V07, "the chart line v0.5.10 to v0.7.x (direktiv-charts 0.1.0 to 0.1.20)",
                       off_is_empty=False, dead_keys=(("ui.certificate", "the UI serves plaintext"),))
V08 = IngressNginxLine(MODEL_V08, "the chart line v0.8.x (chart 0.1.21 and later)", off_is_empty=True,
                       dead_keys=(("frontend.certificate", "it is mounted, but the frontend serves plain HTTP on "
                                                           "2304"),))


def _trunc63(name: str) -> str:
    """Helm's ``trunc 63 | trimSuffix "-"``."""
    return name[:63].removesuffix("-")


def ingress_controller_service(values: Mapping[str, Any], release: str) -> str:
    """The ingress-nginx controller's Service, as the ingress-nginx chart's helpers render it:
    ``ingress-nginx.controller.fullname`` is ``<fullname>-<controller.name>`` cut to 63 characters, the fullname
    being ``fullnameOverride``, else ``<release>-<nameOverride or ingress-nginx>`` (the release name alone when it
    already contains that name), cut to 63."""
    read = ValuesReader(values)
    override = read.text("ingress-nginx.fullnameOverride", "")
    if override:
        fullname = _trunc63(override)
    else:
        name = read.text("ingress-nginx.nameOverride", "ingress-nginx")
        fullname = _trunc63(release if name in release else f"{release}-{name}")
    return _trunc63(f"{fullname}-{read.text('ingress-nginx.controller.name', 'controller')}")


def _certificate_value(values: Mapping[str, Any], line: IngressNginxLine) -> tuple[bool, str | None]:
    """(TLS on, secret name) as the line's templates read ``ingress.certificate``. v0.7: ``{{ if ne
    .Values.ingress.certificate "none" }}``, so only the exact string ``none`` (the chart default, also where the key
    is missing) is off and an empty string is on without a secret. v0.8: ``{{ if .Values.ingress.certificate }}``,
    so empty or missing is off and anything else, ``none`` too, names the secret."""
    ingress = values.get("ingress")
    value = ingress.get("certificate") if isinstance(ingress, Mapping) else None
    if value is None or (not line.off_is_empty and value == "none"):
        return False, None
    text = str(value).strip()
    if line.off_is_empty and not text:
        return False, None
    return True, text or None


def _lb(values: Mapping[str, Any], read: ValuesReader, notices: list[str], secrets: SecretCollector, release: str,
        namespace: str, line: IngressNginxLine) -> EndpointSpec:
    tls, secret = _certificate_value(values, line)
    if line.off_is_empty and secret == "none":
        notices.append("ingress.certificate is none, which this chart line reads as the name of a secret (its off "
                       "value is empty, no longer none): the Ingress asks for a secret called none")
    host = read.text("ingress.host", "")
    enabled = read.flag("ingress.enabled")
    installed = read.flag("ingress-nginx.install")
    if tls and secret is None:
        notices.append("ingress.certificate is empty, which this chart line reads as on: the Ingresses get spec.tls "
                       "without a secret, so ingress-nginx serves its Fake Certificate")
    if tls and not host:
        notices.append("ingress.host is empty: the Ingresses name no host, so ingress-nginx serves every name from "
                       "its default server with its Fake Certificate; the lb is checked under the name localhost")
    name = host or "localhost"
    if enabled and secret:
        secrets.add(secret, namespace, "the ingress-nginx controller's certificate (the Ingresses' spec.tls)",
                    "ingress.certificate")
    unlocated = None
    if enabled and not installed:
        unlocated = ("ingress-nginx.install is false: the Ingresses are served by a controller of class "
                     f"{read.text('ingress.class', 'nginx')} installed outside the chart, which the values do not "
                     "locate")
    if not enabled:
        explanation = "ingress.enabled is false: the chart renders no Ingress"
    elif tls:
        explanation = (f"lb is expected in TLS because ingress.certificate names the secret {secret}" if secret else
                       "lb is expected in TLS because ingress.certificate is not none (it is empty: no secret)")
    else:
        explanation = (f"lb is expected in plaintext because ingress.certificate is "
                       f"{'empty' if line.off_is_empty else 'none'}")
    return EndpointSpec(
        id="lb", kind=EndpointKind.LB, namespace=namespace, service=ingress_controller_service(values, release),
        port=443 if tls else 80, mode=Mode.TLS if tls else Mode.PLAINTEXT,
        secret=SecretRef(namespace, secret) if secret else None, server_name=name, expected_names=(name,),
        redirect_port=80 if tls else None, deployed=enabled, unlocated=unlocated,
        tls_settings="ingress-nginx's ConfigMap: ssl-protocols and ssl-ciphers under ingress-nginx.controller.config "
                     "in the chart values",
        sources=("ingress.certificate", "ingress.host", "ingress.enabled", "ingress-nginx.install"),
        explanation=explanation,
    )


def derive_v07(values: Mapping[str, Any], *, release: str = DEFAULT_RELEASE, namespace: str = "default",
               services_namespace: str | None = None) -> Topology:
    """The expectations of a release of the line v0.5.10 to v0.7.x."""
    return derive_ingress_nginx_line(values, V07, release=release, namespace=namespace,
                                     services_namespace=services_namespace)


def derive_v08(values: Mapping[str, Any], *, release: str = DEFAULT_RELEASE, namespace: str = "default",
               services_namespace: str | None = None) -> Topology:
    """The expectations of a release of the line v0.8.x."""
    return derive_ingress_nginx_line(values, V08, release=release, namespace=namespace,
                                     services_namespace=services_namespace)


def derive_ingress_nginx_line(values: Mapping[str, Any], line: IngressNginxLine, *, release: str = DEFAULT_RELEASE,
                              namespace: str = "default", services_namespace: str | None = None) -> Topology:
    """The expectations of a release of ``line`` (merged values or only the user's; a missing key reads as the
    chart's default)."""
    values, alias_notices = normalize_values(values)
    read = ValuesReader(values)
    notices: list[str] = list(alias_notices)
    services_namespace, ns_source = resolve_services_namespace(read, services_namespace, notices)
    secrets = SecretCollector()

    lb = _lb(values, read, notices, secrets, release, namespace, line)
    for key, fate in line.dead_keys:
        if read.secret_name(key):
            notices.append(f"{key} names a secret, but no server of {line.text} uses it: {fate}")
    notices.extend(read.notices)
    return Topology(
        release=release,
        namespace=namespace,
        services_namespace=services_namespace,
        endpoints=(lb,),
        secrets=secrets.requirements(),
        ca_groups=(),
        functions_ca=FunctionsCAExpectation(applies=False, secret=None,
                                            reason=line.not_in_line + " (flow.functionsCA)", sources=()),
        delegation=DelegationExpectation(
            applies=False, namespace=INTERNAL_CONTOUR_NAMESPACE, secret_name="", target_namespaces=(),
            reason=f"{line.text} reaches knative in plaintext: no delegated TLS secret", sources=()),
        contour_default_tls=ContourDefaultTLSExpectation(
            applies=False, namespace=KNATIVE_SERVING_NAMESPACE, configmap="config-contour", key="default-tls-secret",
            value="", reason=f"{line.text} reaches knative in plaintext: no default TLS secret", sources=()),
        protocol=ProtocolExpectation(
            functions_protocol="http", https=False, init_pod_certificate=None, consistent=True,
            reason=line.not_in_line + " (flow.functionsProtocol, functions.initPodCertificate)", sources=(),
            applies=False),
        init_pod_san=InitPodSANExpectation(
            applies=False, secret=None, patterns=(), sample_names=(),
            reason=line.not_in_line + " (functions.initPodCertificate)", sources=()),
        knative_probe_host="",
        notices=tuple(unique_in_order(notices)),
        services_namespace_source=ns_source,
        values=values,
        model=line.model,
        absent=line.absent,
    )
