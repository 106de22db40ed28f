"""The evidence records: everything the suite observed, gathered once, read by every test and by the reports.

    Evidence
    ├── source, cluster, timing, notices            where the expectation came from, run metadata
    ├── secrets[(namespace, name)] -> SecretEvidence  what each named TLS secret holds (never its key)
    ├── objects[name] -> ObjectRead                  config-contour, delegations, Certificates, knative services
    └── endpoints[id] -> EndpointEvidence             the probes run against each endpoint
        └── pods -> PodEvidence                       every ready pod behind the service, probed in full
            └── attempts[Key] -> Attempt              one handshake / plaintext / gRPC / HTTP observation

An ``Attempt`` holds either a result record from a probe or the sentence saying why it could not be observed.
Observations are named by a typed :class:`Key` (a :class:`Probe` and what it offered), shared by the gathering
(:mod:`probes.observe`), the judges (:mod:`probes.controls`) and the reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterator, Mapping

from probes.chartlines import ChartIdentity
from probes.topology import EndpointSpec, Topology

__all__ = [
    "Probe", "ClientCert", "Key", "Attempt", "PodEvidence", "EndpointEvidence", "SecretEvidence", "ObjectRead",
    "Evidence",
]


class Probe(str, Enum):
    """What one observation does."""

    BASELINE = "baseline"            # TLS with the expected SNI (and the configured client certificate under mTLS)
    BASELINE_AFTER = "baseline-after"  # the baseline again, once every other probe of the pod has ended
    CLIENT = "client"                # TLS presenting one of the :class:`ClientCert` identities (or none)
    PLAINTEXT = "plaintext"          # HTTP/1.1 and the h2c preface, in plaintext
    LEGACY = "legacy"                # a raw ClientHello offering one protocol version below the profile's minimum
    SUITES = "suites"                # at one version, a scan of every suite the profile forbids (weak, no FS)
    RENEGOTIATION = "renegotiation"  # a TLS 1.2 ClientHello: does renegotiation_info come back (RFC 5746)
    COMPRESSION = "compression"      # a TLS 1.2 ClientHello offering DEFLATE: is it chosen
    FALLBACK = "fallback"            # a lower-version ClientHello with TLS_FALLBACK_SCSV (RFC 7507)
    GRPC_HEALTH = "grpc-health"      # a gRPC health call through grpcio
    HTTPS_GET = "https-get"          # an HTTPS GET
    HTTP_GET = "http-get"            # a plain HTTP GET (TLS off)
    HTTP_REDIRECT = "http-redirect"  # a plain HTTP GET on the redirect port
    SNI = "sni"                      # TLS with one knative host as SNI


class ClientCert(str, Enum):
    """The client identities presented to an mTLS port, in the order the catalog lists their controls."""

    NONE = "no-client-cert"
    CONFIGURED = "configured"
    FOREIGN_CA = "foreign-ca"
    SELF_SIGNED_CLONE = "self-signed-clone"
    EXPIRED = "expired"
    NO_CLIENTAUTH = "no-clientauth"


@dataclass(frozen=True, order=True)
class Key:
    """The name of one observation: the probe and what it offered (a client identity, a version, a suite family,
    a host). ``str(key)`` is its name in reports, e.g. ``legacy:TLSv1`` or ``client:foreign-ca``.

    Attributes:
        probe: what was done.
        subject: what was offered: a :class:`ClientCert` or ``TLSVersion`` value, or a host.
    """

    probe: Probe
    subject: str = ""

    def __str__(self) -> str:
        return f"{self.probe.value}:{self.subject}" if self.subject else self.probe.value

    @classmethod
    def client(cls, identity: ClientCert) -> "Key":
        return cls(Probe.CLIENT, ClientCert(identity).value)

    @classmethod
    def legacy(cls, version) -> "Key":
        return cls(Probe.LEGACY, getattr(version, "value", version))

    @classmethod
    def suites(cls, version) -> "Key":
        return cls(Probe.SUITES, getattr(version, "value", version))

    @classmethod
    def sni(cls, host: str) -> "Key":
        return cls(Probe.SNI, host)


BASELINE = Key(Probe.BASELINE)
BASELINE_AFTER = Key(Probe.BASELINE_AFTER)
PLAINTEXT = Key(Probe.PLAINTEXT)
GRPC_HEALTH = Key(Probe.GRPC_HEALTH)
HTTPS_GET = Key(Probe.HTTPS_GET)
HTTP_GET = Key(Probe.HTTP_GET)
HTTP_REDIRECT = Key(Probe.HTTP_REDIRECT)
RENEGOTIATION = Key(Probe.RENEGOTIATION)
COMPRESSION = Key(Probe.COMPRESSION)
FALLBACK = Key(Probe.FALLBACK)
# The handshakes whose peer chain is the pod's served chain, in order of preference.
SERVED_CHAIN_FROM = (BASELINE, Key.client(ClientCert.NONE), Key.client(ClientCert.CONFIGURED))
# Why the expired and no-clientAuth client certificates were not minted when --direktiv-ca-key-secret was not given: the one
# reason that makes their controls not applicable (skip). Any other reason (the secret unreadable, another CA) is an
# error.
CA_KEY_NOT_GIVEN = "needs the CA key: pass --direktiv-ca-key-secret NAMESPACE/NAME (e.g. cert-manager/direktiv-ca)"
__all__ += ["CA_KEY_NOT_GIVEN", "SERVED_CHAIN_FROM", "RENEGOTIATION", "COMPRESSION", "FALLBACK", "BASELINE", "PLAINTEXT", "GRPC_HEALTH", "HTTPS_GET", "HTTP_GET", "HTTP_REDIRECT"]


@dataclass(frozen=True)
class Attempt:
    """One observation step.

    Attributes:
        key: what was tried.
        result: the probe's record (HandshakeResult, PlaintextResult, GrpcResult, HttpResult), or None.
        error: when nothing could be observed, one sentence saying why (timeout, forward refused, budget).
        elapsed: seconds spent.
    """

    key: Key
    result: Any = None
    error: str | None = None
    elapsed: float = 0.0

    @property
    def observed(self) -> bool:
        return self.error is None and self.result is not None

    @property
    def name(self) -> str:
        return str(self.key)


@dataclass(frozen=True)
class PodEvidence:
    """What the probes saw on one ready pod behind the endpoint's service.

    Attributes:
        pod: the pod name.
        port: the pod port probed (the container port behind the service port).
        unreachable: why nothing seen on this pod counts (the port-forward failed, kubelet reported an error on a
            stream, the API server dropped a stream), or None.
        attempts: the observations by key.
    """

    pod: str
    port: int = 0
    unreachable: str | None = None
    attempts: Mapping[Key, Attempt] = field(default_factory=dict)

    def attempt(self, key: Key) -> Attempt | None:
        return self.attempts.get(key)

    def served_chain(self) -> tuple[bytes, ...]:
        """The chain this pod served (DER, leaf first), from the first handshake on it that got one: the baseline,
        then the one without and the one with the configured client certificate; () when none did."""
        for key in SERVED_CHAIN_FROM:
            attempt = self.attempts.get(key)
            chain = getattr(attempt.result, "peer_chain_der", ()) if attempt is not None and attempt.observed else ()
            if chain:
                return tuple(chain)
        return ()


@dataclass(frozen=True)
class EndpointEvidence:
    """What the probes saw on one endpoint.

    Attributes:
        spec: the expected endpoint (from the topology).
        pods: every ready pod behind the service, in port-forward order, each with the full probe set.
        unreachable: why no pod could be probed at all (no ready pod, the service could not be read, the budget
            was spent), or None.
        anchor_source: where the trust anchor came from (``secret default/x ca.crt`` or ``--direktiv-ca-file PATH``).
        anchors_der: the trust anchors used to judge the chain.
        anchor_missing: when there are no anchors, why (probes.trust), else None.
        anchor_store: the system trust store's path when the anchors are that store (an ACME-issued secret
            without ca.crt), so that reports name it instead of listing its roots; else None.
        hosts: for knative, the hosts probed (those of the knative services; the probe name when none exist).
        hosts_error: for knative, why the knative services could not be listed (then the probe name stands in for
            them and N-SNI-COVERAGE cannot pass), or None.
        client_identities: per :class:`ClientCert`, None when that identity was presented, else why it could not
            be had.
    """

    spec: EndpointSpec
    pods: tuple[PodEvidence, ...] = ()
    unreachable: str | None = None
    anchor_source: str | None = None
    anchors_der: tuple[bytes, ...] = ()
    anchor_missing: str | None = None
    anchor_store: str | None = None
    hosts: tuple[str, ...] = ()
    hosts_error: str | None = None
    client_identities: Mapping[ClientCert, str | None] = field(default_factory=dict)

    @property
    def pod_names(self) -> tuple[str, ...]:
        return tuple(p.pod for p in self.pods)

    def attempts(self) -> Iterator[tuple[PodEvidence, Attempt]]:
        """Every observation on every pod."""
        for pod in self.pods:
            for attempt in pod.attempts.values():
                yield pod, attempt

    def missing_identity(self, identity: ClientCert) -> str | None:
        """Why ``identity`` was not presented (None: it was, or it is not an mTLS endpoint)."""
        return self.client_identities.get(ClientCert(identity))


@dataclass(frozen=True)
class SecretEvidence:
    """What a named TLS secret holds. The private key itself is never kept, only whether it matches.

    Attributes:
        namespace, name: where it was looked for.
        found: whether it exists.
        error: why it could not be read (RBAC, API error), or None.
        type: the secret's type.
        keys: the data keys present.
        cert_chain_der: the certificates of ``tls.crt``, leaf first.
        ca_der: the certificates of ``ca.crt``.
        key_matches: whether ``tls.key`` is the key of the ``tls.crt`` leaf; None when it could not be told.
        problems: parse problems, one sentence each (malformed PEM, unreadable key).
    """

    namespace: str
    name: str
    found: bool
    error: str | None = None
    type: str | None = None
    keys: tuple[str, ...] = ()
    cert_chain_der: tuple[bytes, ...] = ()
    ca_der: tuple[bytes, ...] = ()
    key_matches: bool | None = None
    problems: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ObjectRead:
    """A cluster object (or list) read for a K-* control.

    Attributes:
        what: a human name, e.g. ``ConfigMap knative-serving-knative/config-contour``.
        value: the object, list or mapping; None when absent.
        absent_reason: why it is absent (``not found``, ``CRD not installed``), or None.
        error: why it could not be read, or None.
    """

    what: str
    value: Any = None
    absent_reason: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Evidence:
    """Everything one run observed.

    Attributes:
        topology: the expected configuration.
        source: where the expectation came from (``helm release default/direktiv revision 3`` and/or a file).
        cluster_server, context: the API server and kubeconfig context.
        started_at, finished_at: ISO timestamps.
        secrets: per (namespace, name).
        objects: per name (``config-contour``, ``delegations``, ``certificates``, ``knative-services``).
        endpoints: per endpoint ID.
        notices: sentences the run should show (aliases used, inconsistent values).
        ca_key_available: whether the CA key was read (``--direktiv-ca-key-secret``), enabling the expired and
            no-clientAuth client certificates; with the reason when not.
        incomplete: why the gathering stopped early (budget, interrupt), or None.
        chart: the chart judged and the model used (:class:`probes.chartlines.ChartIdentity`), None when unknown.
    """

    topology: Topology
    source: str
    cluster_server: str = ""
    context: str = ""
    started_at: str = ""
    finished_at: str = ""
    secrets: Mapping[tuple[str, str], SecretEvidence] = field(default_factory=dict)
    objects: Mapping[str, ObjectRead] = field(default_factory=dict)
    endpoints: Mapping[str, EndpointEvidence] = field(default_factory=dict)
    notices: tuple[str, ...] = ()
    ca_key_available: bool = False
    ca_key_reason: str = ""
    incomplete: str | None = None
    chart: ChartIdentity | None = None

    def secret(self, namespace: str, name: str) -> SecretEvidence | None:
        return self.secrets.get((namespace, name))
