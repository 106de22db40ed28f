"""The TLS wiring of Direktiv's chart line v0.5.10 to v0.7.x (direktiv/direktiv-charts ``charts/direktiv`` 0.1.0
to 0.1.20), derived from its Helm values (pure).

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
"""

from __future__ import annotations

from typing import Any, Mapping

from probes.chartlines import MODEL_V07
from probes.helm import normalize_values
from probes.topology import (
    DEFAULT_RELEASE, ENDPOINT_IDS, INTERNAL_CONTOUR_NAMESPACE, KNATIVE_SERVING_NAMESPACE, ContourDefaultTLSExpectation,
    DelegationExpectation, EndpointKind, EndpointSpec, FunctionsCAExpectation, InitPodSANExpectation, Mode,
    ProtocolExpectation, SecretCollector, SecretRef, Topology, ValuesReader, resolve_services_namespace,
    unique_in_order,
)

__all__ = ["derive_v07", "ingress_controller_service"]

_LINE = "the chart line v0.5.10 to v0.7.x (direktiv-charts 0.1.0 to 0.1.20)"
_NOT_IN_LINE = f"{_LINE} has no such TLS setting"
_PLAINTEXT_HOPS = (f"{_LINE} has no TLS setting for it (its pods listen without TLS; mTLS between them is a "
                   "Linkerd mesh installed beside the chart), and this tool neither locates nor probes it there")
_ABSENT: tuple[tuple[str, str], ...] = tuple((endpoint, _PLAINTEXT_HOPS) for endpoint in ENDPOINT_IDS if endpoint != "lb")


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


def _certificate_value(values: Mapping[str, Any]) -> tuple[bool, str | None]:
    """(TLS on, secret name) as the templates read ``ingress.certificate``: ``{{ if ne .Values.ingress.certificate
    "none" }}``, so only the exact string ``none`` (the chart default, also where the key is missing) is off and an
    empty string is on without a secret."""
    ingress = values.get("ingress")
    value = ingress.get("certificate") if isinstance(ingress, Mapping) else None
    if value is None or value == "none":
        return False, None
    text = str(value).strip()
    return True, text or None


def _lb(values: Mapping[str, Any], read: ValuesReader, notices: list[str], secrets: SecretCollector, release: str,
        namespace: str) -> EndpointSpec:
    tls, secret = _certificate_value(values)
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
        explanation = "lb is expected in plaintext because ingress.certificate is none"
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
    """The expectations of a release of this line (merged values or only the user's; a missing key reads as the
    chart's default)."""
    values, alias_notices = normalize_values(values)
    read = ValuesReader(values)
    notices: list[str] = list(alias_notices)
    services_namespace, ns_source = resolve_services_namespace(read, services_namespace, notices)
    secrets = SecretCollector()

    lb = _lb(values, read, notices, secrets, release, namespace)
    for key in ("ui.certificate",):
        if read.secret_name(key):
            notices.append(f"{key} names a secret, but no template of {_LINE} reads it: the UI serves plaintext")
    notices.extend(read.notices)
    return Topology(
        release=release,
        namespace=namespace,
        services_namespace=services_namespace,
        endpoints=(lb,),
        secrets=secrets.requirements(),
        ca_groups=(),
        functions_ca=FunctionsCAExpectation(applies=False, secret=None, reason=_NOT_IN_LINE + " (flow.functionsCA)",
                                            sources=()),
        delegation=DelegationExpectation(
            applies=False, namespace=INTERNAL_CONTOUR_NAMESPACE, secret_name="", target_namespaces=(),
            reason=f"{_LINE} reaches knative in plaintext: no delegated TLS secret", sources=()),
        contour_default_tls=ContourDefaultTLSExpectation(
            applies=False, namespace=KNATIVE_SERVING_NAMESPACE, configmap="config-contour", key="default-tls-secret",
            value="", reason=f"{_LINE} reaches knative in plaintext: no default TLS secret", sources=()),
        protocol=ProtocolExpectation(
            functions_protocol="http", https=False, init_pod_certificate=None, consistent=True,
            reason=_NOT_IN_LINE + " (flow.functionsProtocol, functions.initPodCertificate)", sources=(),
            applies=False),
        init_pod_san=InitPodSANExpectation(
            applies=False, secret=None, patterns=(), sample_names=(),
            reason=_NOT_IN_LINE + " (functions.initPodCertificate)", sources=()),
        knative_probe_host="",
        notices=tuple(unique_in_order(notices)),
        services_namespace_source=ns_source,
        values=values,
        model=MODEL_V07,
        absent=_ABSENT,
    )

