"""What to observe on one endpoint: a plan per endpoint kind, apart from the runner that carries it out.

As sslyze separates scan jobs from results, :func:`plan_endpoint` lists the probes an endpoint of a given kind and
mode needs (each a :class:`PlannedProbe`: a :class:`~probes.evidence.Key` and a function of the pod port's address),
and :mod:`probes.observe` runs that plan on every ready pod. Nothing here touches the network.

What each kind gets (TLS configured; with TLS off only the plaintext probe, a handshake to see whether the port
speaks TLS anyway, and the plain GET):

    every TLS endpoint   baseline handshake (expected SNI; the configured client certificate under mTLS), made
                         again once every other probe of the pod has ended (the closing baseline), plaintext
                         probe, one raw ClientHello per legacy version, per version up to TLS 1.2
                         a scan of every forbidden suite, renegotiation_info, compression and fallback-SCSV
                         checks (:mod:`probes.hello`)
    gRPC (6666/7777/5555) a gRPC health call; under mTLS one handshake per client identity (none, foreign CA,
                         self-signed clone, expired, no clientAuth); under TLS a handshake with the configured
                         certificate, so that a port demanding client certificates is told by behaviour
    lb, api, ui          an HTTPS GET; lb also plain HTTP on the redirect port
    knative              one handshake per knative host (the baseline uses the first host as SNI)

An observation that cannot be made (a client certificate that could not be had, a gRPC call without a trust anchor)
is not left out: it is planned as :attr:`Plan.unofferable` with the reason, so the judges see it and can never
count it as refused.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

from probes.evidence import (
    BASELINE, BASELINE_AFTER, COMPRESSION, FALLBACK, GRPC_HEALTH, HTTP_GET, HTTP_REDIRECT, HTTPS_GET, PLAINTEXT,
    RENEGOTIATION, ClientCert, Key,
)
from probes.grpc_health import health_check
from probes.https import http_get, https_get
from probes.plaintext import probe_plaintext
from probes.profile import Profile
from probes.timeouts import Timeouts
from probes.cipher_suites import SuiteFamily, cipher_suite, is_forward_secret, suites_for_version, suites_in_family
from probes.hello import (
    ClientHello, accepted_suites, check_compression, check_fallback_scsv, check_renegotiation_info, send_hello,
)
from probes.tls import ClientIdentity, TLSOffer, TLSVersion, handshake
from probes.topology import EndpointSpec, Mode

__all__ = ["PlannedProbe", "Plan", "plan_endpoint", "weak_suites", "forbidden_suites", "MTLS_CLIENTS",
           "SUITE_SCAN_VERSIONS"]

# Weak suites and suites without forward secrecy exist only up to TLS 1.2 (TLS 1.3's five suites are neither):
# each version is scanned on its own.
SUITE_SCAN_VERSIONS = (TLSVersion.SSLv3, TLSVersion.TLSv1, TLSVersion.TLSv1_1, TLSVersion.TLSv1_2)
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
        closing: the baseline handshake once more, made after every other probe of the pod has ended: that the
            pod still accepts it shows that what it refused was refused for what was offered, not because it
            refused every connection by then (rate limits, a crash, a pod going away). None where nothing is
            refused (TLS off) or no baseline can be offered.
    """

    spec: EndpointSpec
    probes: tuple[PlannedProbe, ...]
    unofferable: Mapping[Key, str] = field(default_factory=dict)
    closing: PlannedProbe | None = None


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

    closing = None
    if mtls:
        if configured is None:
            unofferable[BASELINE] = missing_identities.get(ClientCert.CONFIGURED, "no configured client certificate")
        else:
            probes.append(_shake(BASELINE, _offer(spec, configured)))
            closing = _shake(BASELINE_AFTER, _offer(spec, configured))
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
        closing = _shake(BASELINE_AFTER, _offer(spec, None)) if tls else None
        if spec.kind == "grpc" and configured is not None:
            probes.append(_shake(Key.client(ClientCert.CONFIGURED), _offer(spec, configured)))

    if tls:
        probes += _legacy_and_suites(spec, profile)
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
    return Plan(spec, tuple(probes), unofferable, closing)


def _family_suites(family: str, version: TLSVersion) -> tuple[int, ...]:
    if family == "kRSA-CBC":  # static-RSA key transport with a CBC cipher
        return tuple(c for c in suites_in_family(SuiteFamily.STATIC_RSA, version=version)
                     if SuiteFamily.CBC in cipher_suite(c).families)
    return suites_in_family(family, version=version)


@functools.lru_cache(maxsize=None)
def weak_suites(profile: Profile, version: TLSVersion) -> tuple[int, ...]:
    """Every suite of the profile's weak families a server could pick at ``version``, by IANA code."""
    return tuple(dict.fromkeys(code for family in profile.weak_cipher_families
                               for code in _family_suites(family, version)))


@functools.lru_cache(maxsize=None)
def forbidden_suites(profile: Profile, version: TLSVersion) -> tuple[int, ...]:
    """What a server must refuse at ``version``: the weak suites, and (where T-FORWARD-SECRECY is judged) every
    suite without forward secrecy."""
    suites = weak_suites(profile, version)
    if profile.judges("T-FORWARD-SECRECY"):
        suites += tuple(c for c in suites_for_version(version) if not is_forward_secret(c))
    return tuple(dict.fromkeys(suites))


def _legacy_and_suites(spec: EndpointSpec, profile: Profile) -> list[PlannedProbe]:
    """Raw ClientHellos (:mod:`probes.hello`): one per protocol version below the minimum, offering only that
    version with every suite usable at it; per version up to TLS 1.2, a scan of every forbidden suite by IANA
    code; and the renegotiation, compression and fallback checks. Acceptance shows in the ServerHello, so no
    legacy crypto library is needed and nothing is left unoffered."""
    name = spec.server_name
    probes = []
    for version in map(TLSVersion, profile.refused_versions):
        hello = ClientHello(version, suites_for_version(version), name)
        probes.append(PlannedProbe(Key.legacy(version), lambda address, t, hello=hello: send_hello(
            address, hello, timeouts=t)))
    for version in SUITE_SCAN_VERSIONS:
        candidates = forbidden_suites(profile, version)
        probes.append(PlannedProbe(Key.suites(version), lambda address, t, version=version, candidates=candidates:
                                   accepted_suites(address, version, candidates, server_name=name, timeouts=t)))
    if profile.judges("T-SECURE-RENEGOTIATION"):
        probes.append(PlannedProbe(RENEGOTIATION, lambda address, t: check_renegotiation_info(
            address, server_name=name, timeouts=t)))
        probes.append(PlannedProbe(COMPRESSION, lambda address, t: check_compression(
            address, server_name=name, timeouts=t)))
    if profile.judges("T-DOWNGRADE-SCSV"):
        probes.append(PlannedProbe(FALLBACK, lambda address, t: check_fallback_scsv(
            address, server_name=name, timeouts=t)))
    return probes
