"""The TLS wiring of Direktiv's chart line v0.5.10 to v0.7.x (direktiv/direktiv-charts ``charts/direktiv`` 0.1.0
to 0.1.20), derived from its Helm values (pure).

Where each fact comes from is docs/CHART_LINES.md. What differs from v0.4 (:func:`probes.topology.derive_topology`):
- the load balancer is the chart's ingress-nginx subchart (``ingress-nginx.install``, default true): Service
  ``<release>-ingress-nginx-controller`` in the release namespace, ports 80 and 443. Its TLS comes from the same
  two values as v0.4's (``ingress.certificate``, ``none`` is off, on the Ingresses ``<release>-ingress-api`` and
  ``<release>-ingress-ui``; ``ingress.host``);
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
    DelegationExpectation, FunctionsCAExpectation, InitPodSANExpectation, ProtocolExpectation, SecretCollector,
    Topology, ValuesReader, lb_endpoint, resolve_services_namespace, unique_in_order,
)

__all__ = ["derive_v07", "ingress_controller_service"]

_LINE = "the chart line v0.5.10 to v0.7.x (direktiv-charts 0.1.0 to 0.1.20)"
_NOT_IN_LINE = f"{_LINE} has no such TLS setting"
_PLAINTEXT_HOPS = (f"{_LINE} configures no TLS for it: the chart serves it in plaintext and leaves mTLS between "
                   "Direktiv's pods to a Linkerd mesh installed beside the chart, which this tool does not judge")
_ABSENT: tuple[tuple[str, str], ...] = tuple((endpoint, _PLAINTEXT_HOPS) for endpoint in ENDPOINT_IDS if endpoint != "lb")


def ingress_controller_service(values: Mapping[str, Any], release: str) -> str:
    """The ingress-nginx controller's Service: ``<fullname>-controller``, the subchart's fullname being its
    ``fullnameOverride``, else ``<release>-<nameOverride or ingress-nginx>`` (the release name alone when it
    already contains that name), as the ingress-nginx chart's ``ingress-nginx.fullname`` helper renders it."""
    read = ValuesReader(values)
    override = read.text("ingress-nginx.fullnameOverride", "")
    if override:
        return f"{override[:63].rstrip('-')}-controller"
    name = read.text("ingress-nginx.nameOverride", "ingress-nginx")
    fullname = release if name in release else f"{release}-{name}"
    return f"{fullname[:63].rstrip('-')}-controller"


def derive_v07(values: Mapping[str, Any], *, release: str = DEFAULT_RELEASE, namespace: str = "default",
               services_namespace: str | None = None) -> Topology:
    """The expectations of a release of this line (merged values or only the user's; a missing key reads as the
    chart's default)."""
    values, alias_notices = normalize_values(values)
    read = ValuesReader(values)
    notices: list[str] = list(alias_notices)
    services_namespace, ns_source = resolve_services_namespace(read, services_namespace, notices)
    secrets = SecretCollector()

    installed = read.flag("ingress-nginx.install")
    enabled = read.flag("ingress.enabled")
    service = ingress_controller_service(values, release)
    unlocated = None
    if enabled and not installed:
        unlocated = ("ingress-nginx.install is false: the Ingresses are served by a controller of class "
                     f"{read.text('ingress.class', 'nginx')} installed outside the chart, which the values do not "
                     "locate")
    lb = lb_endpoint(read, notices, secrets, namespace, namespace, service,
                     "the ingress-nginx controller's certificate (the Ingresses' spec.tls)",
                     deployed=enabled, unlocated=unlocated)
    if not enabled:
        lb = _replace_explanation(lb, "ingress.enabled is false: the chart renders no Ingress")
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


def _replace_explanation(spec, explanation: str):
    from dataclasses import replace

    return replace(spec, explanation=explanation)
