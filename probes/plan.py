"""What to observe on one endpoint: a plan per endpoint kind, apart from the runner that carries it out.

As sslyze separates scan jobs from results, :func:`plan_endpoint` lists the probes an endpoint of a given kind and
mode needs (each a :class:`PlannedProbe`: a :class:`~probes.evidence.Key` and a function of the pod port's address),
and :mod:`probes.observe` runs that plan on every ready pod. Nothing here touches the network.

What each kind gets (TLS configured; with TLS off only the plaintext probe, a handshake to see whether the port
speaks TLS anyway, and the plain GET):

    every TLS endpoint   baseline handshake (expected SNI; the configured client certificate under mTLS),
                         plaintext probe, one handshake per legacy version and per weak suite family
    gRPC (6666/7777/5555) a gRPC health call; under mTLS one handshake per client identity (none, foreign CA,
                         self-signed clone, expired, no clientAuth); under TLS a handshake with the configured
                         certificate, so that a port demanding client certificates is told by behaviour
    lb, api, ui          an HTTPS GET; lb also plain HTTP on the redirect port
    knative              one handshake per knative host (the baseline uses the first host as SNI)

An offer this machine cannot make is not left out: it is planned as :attr:`Plan.unofferable` with the reason, so
the judges see it and can never count it as refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

from probes.evidence import BASELINE, GRPC_HEALTH, HTTP_GET, HTTP_REDIRECT, HTTPS_GET, PLAINTEXT, ClientCert, Key
from probes.grpc_health import health_check
from probes.https import http_get, https_get
from probes.plaintext import probe_plaintext
from probes.profile import Profile
from probes.timeouts import Timeouts
from probes.tls import ClientIdentity, TLSOffer, TLSVersion, WeakFamily, handshake, local_support, weak_cipher_offer
from probes.topology import EndpointSpec, Mode

__all__ = ["PlannedProbe", "Plan", "plan_endpoint", "ANY_CIPHER", "MTLS_CLIENTS"]

# At security level 0 OpenSSL offers every suite it was built with, so legacy versions can be offered.
ANY_CIPHER = "ALL:COMPLEMENTOFALL:@SECLEVEL=0"
# Weak suites exist only up to TLS 1.2; with TLS 1.3 offered the server would pick a 1.3 suite instead.
_UP_TO_TLS12 = (TLSVersion.TLSv1, TLSVersion.TLSv1_1, TLSVersion.TLSv1_2)
# The client identities presented to an mTLS port besides the configured one, in catalog order.
MTLS_CLIENTS = (ClientCert.NONE, ClientCert.FOREIGN_CA, ClientCert.SELF_SIGNED_CLONE, ClientCert.EXPIRED,
                ClientCert.NO_CLIENTAUTH)

Address = tuple[str, int]


@dataclass(frozen=True)
class PlannedProbe:
    """One observation to make on every ready pod.

    Attributes:
        key: its name in the evidence.
        run: ``(address of the forwarded pod port, limits) -> result record``.
        redirect_port: run it against the pod port behind this service port instead of the endpoint's own
            (the lb's plain port 80), or None.
    """

    key: Key
    run: Callable[[Address, Timeouts], object] = field(repr=False)
    redirect_port: int | None = None


@dataclass(frozen=True)
class Plan:
    """What to observe on each pod of one endpoint.

    Attributes:
        spec: the endpoint as probed (for knative, its SNI is the first knative host).
        probes: the observations to make.
        unofferable: observations that belong to the plan but cannot be made from here, with the reason (a
            client certificate that could not be had, a version or suite family the local library cannot offer).
    """

    spec: EndpointSpec
    probes: tuple[PlannedProbe, ...]
    unofferable: Mapping[Key, str] = field(default_factory=dict)


def _offer(spec: EndpointSpec, client: ClientIdentity | None, **changes) -> TLSOffer:
    grpc = spec.kind == "grpc"
    offer = TLSOffer(server_name=spec.server_name, alpn=("h2",) if grpc else ("http/1.1",), client=client,
                     after_handshake="h2" if grpc else "http1")
    return replace(offer, **changes)


def _shake(key: Key, offer: TLSOffer) -> PlannedProbe:
    return PlannedProbe(key, lambda address, t: handshake(address, offer, timeouts=t))


def plan_endpoint(
    spec: EndpointSpec,
    *,
    identities: Mapping[ClientCert, ClientIdentity],
    missing_identities: Mapping[ClientCert, str],
    anchors_pem: bytes | None,
    anchor_source: str | None,
    profile: Profile,
    hosts: tuple[str, ...] = (),
) -> Plan:
    """The plan for one endpoint. ``identities`` are the client certificates that could be had (the configured
    one under the key :attr:`ClientCert.CONFIGURED`), ``missing_identities`` why the others could not; ``hosts``
    the knative hosts (none: the endpoint's probe name stands in)."""
    if spec.kind == "knative":
        # Every knative probe uses the hosts of existing knative services: Envoy answers only names it routes.
        hosts = hosts or (spec.server_name,)
        spec = replace(spec, server_name=hosts[0], expected_names=(hosts[0],))
    probes: list[PlannedProbe] = [
        PlannedProbe(PLAINTEXT, lambda address, t: probe_plaintext(address, host=spec.server_name, timeouts=t))]
    unofferable: dict[Key, str] = {}
    tls = spec.mode is not Mode.PLAINTEXT
    mtls = spec.mode is Mode.MTLS
    configured = identities.get(ClientCert.CONFIGURED)

    if mtls:
        if configured is None:
            unofferable[BASELINE] = missing_identities.get(ClientCert.CONFIGURED, "no configured client certificate")
        else:
            probes.append(_shake(BASELINE, _offer(spec, configured)))
        for label in MTLS_CLIENTS:
            key = Key.client(label)
            if label is ClientCert.NONE:
                probes.append(_shake(key, _offer(spec, None)))
            elif identities.get(label) is not None:
                probes.append(_shake(key, _offer(spec, identities[label])))
            else:
                unofferable[key] = missing_identities.get(label, "not available")
    else:
        # With TLS off this handshake only asks whether the port speaks TLS anyway (T-MODE-MATCHES-CONFIG).
        probes.append(_shake(BASELINE, _offer(spec, None)))
        if spec.kind == "grpc" and configured is not None:
            probes.append(_shake(Key.client(ClientCert.CONFIGURED), _offer(spec, configured)))

    if tls:
        probes += _legacy_and_weak(spec, configured if mtls else None, profile, unofferable)
        if spec.kind == "knative":
            probes += [_shake(Key.sni(host), _offer(spec, None, server_name=host, after_handshake="none"))
                       for host in hosts]

    if spec.kind == "grpc":
        if tls and anchors_pem is None:
            unofferable[GRPC_HEALTH] = (f"no trust anchor to verify the server with: "
                                        f"{anchor_source or 'no secret'} holds no usable ca.crt")
        else:
            client = configured if mtls else None
            probes.append(PlannedProbe(GRPC_HEALTH, lambda address, t: health_check(
                address, authority=spec.server_name, ca_pem=anchors_pem, client=client, plaintext=not tls,
                timeouts=t)))
    if spec.kind in ("lb", "http"):
        if tls:
            probes.append(PlannedProbe(HTTPS_GET, lambda address, t: https_get(address, host=spec.server_name,
                                                                                timeouts=t)))
        else:
            probes.append(PlannedProbe(HTTP_GET, lambda address, t: http_get(address, host=spec.server_name,
                                                                              timeouts=t)))
    if spec.redirect_port:
        probes.append(PlannedProbe(HTTP_REDIRECT, lambda address, t: http_get(address, host=spec.server_name,
                                                                               timeouts=t),
                                   redirect_port=spec.redirect_port))
    return Plan(spec, tuple(probes), unofferable)


def _legacy_and_weak(spec: EndpointSpec, client: ClientIdentity | None, profile: Profile,
                     unofferable: dict[Key, str]) -> list[PlannedProbe]:
    """One handshake per protocol version below the minimum and per weak family, each offered alone."""
    support = local_support()
    probes = []
    for name in profile.refused_versions:
        version, key = TLSVersion(name), Key.legacy(name)
        if support.can_offer_version(version):
            probes.append(_shake(key, _offer(spec, client, versions=(version,), ciphers=ANY_CIPHER,
                                             after_handshake="none")))
        else:
            unofferable[key] = f"{name} cannot be offered by the local TLS library ({support.library})"
    for name in profile.weak_cipher_families:
        family, key = WeakFamily(name), Key.weak(name)
        if support.can_offer_family(family):
            probes.append(_shake(key, _offer(spec, client, versions=_UP_TO_TLS12, ciphers=weak_cipher_offer(family),
                                             after_handshake="none")))
        else:
            unofferable[key] = f"no {name} suite can be offered by the local TLS library ({support.library})"
    return probes
