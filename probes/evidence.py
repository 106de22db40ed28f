"""The evidence records: everything the suite observed, gathered once, read by every test and by the reports.

    Evidence
    ├── source, cluster, timing, notices            where the expectation came from, run metadata
    ├── secrets[(namespace, name)] -> SecretEvidence  what each named TLS secret holds (never its key)
    ├── objects[name] -> ObjectRead                  config-contour, delegations, Certificates, knative services
    └── endpoints[id] -> EndpointEvidence             the probes run against each endpoint
        ├── attempts[name] -> Attempt                 one handshake / plaintext / gRPC / HTTP observation
        └── pods -> PodObservation                    the leaf served by each ready pod

An ``Attempt`` holds either a result record from a probe or the sentence saying why it could not be observed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from probes.topology import EndpointSpec, Topology

__all__ = ["Attempt", "PodObservation", "EndpointEvidence", "SecretEvidence", "ObjectRead", "Evidence"]


@dataclass(frozen=True)
class Attempt:
    """One observation step.

    Attributes:
        name: what was tried, e.g. ``default``, ``no-client-cert``, ``legacy:TLSv1``, ``weak:NULL``, ``plaintext``.
        result: the probe's record (HandshakeResult, PlaintextResult, GrpcResult, HttpResult), or None.
        error: when nothing could be observed, one sentence saying why (timeout, forward refused, budget).
        elapsed: seconds spent.
    """

    name: str
    result: Any = None
    error: str | None = None
    elapsed: float = 0.0

    @property
    def observed(self) -> bool:
        return self.error is None and self.result is not None


@dataclass(frozen=True)
class PodObservation:
    """The leaf one ready pod served (C-SERVED-MATCHES-SECRET).

    Attributes:
        pod: the pod name.
        leaf_der: the served leaf, or None when nothing could be observed.
        error: why it could not be observed.
    """

    pod: str
    leaf_der: bytes | None = None
    error: str | None = None


@dataclass(frozen=True)
class EndpointEvidence:
    """What the probes saw on one endpoint.

    Attributes:
        spec: the expected endpoint (from the topology).
        pods: the ready pods behind the service, in port-forward order.
        unreachable: why the endpoint could not be reached at all (no ready pod, forward refused), or None.
        attempts: the observations by name.
        pod_leaves: the leaf served by each ready pod.
        anchor_source: where the trust anchor came from (``secret default/x ca.crt`` or ``--ca-file PATH``).
        anchors_der: the trust anchors used to judge the chain.
        anchor_missing: when there are no anchors, why (probes.trust), else None.
        anchor_store: the system trust store's path when the anchors are that store (an ACME-issued secret
            without ca.crt), so that reports name it instead of listing its roots; else None.
        hosts: for knative, the hosts probed.
        client_identities: labels of the client certificates available (``configured``, ``foreign-ca``, ...),
            with the reason when one could not be had.
    """

    spec: EndpointSpec
    pods: tuple[str, ...] = ()
    unreachable: str | None = None
    attempts: Mapping[str, Attempt] = field(default_factory=dict)
    pod_leaves: tuple[PodObservation, ...] = ()
    anchor_source: str | None = None
    anchors_der: tuple[bytes, ...] = ()
    anchor_missing: str | None = None
    anchor_store: str | None = None
    hosts: tuple[str, ...] = ()
    client_identities: Mapping[str, str | None] = field(default_factory=dict)

    def attempt(self, name: str) -> Attempt | None:
        return self.attempts.get(name)


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
        ca_key_available: whether the CA key was read (``--ca-key-secret``), enabling the expired and
            no-clientAuth client certificates; with the reason when not.
        incomplete: why the gathering stopped early (budget, interrupt), or None.
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

    def secret(self, namespace: str, name: str) -> SecretEvidence | None:
        return self.secrets.get((namespace, name))
