"""Evidence gathering: every probe for every endpoint, concurrently, once.

``gather(cluster, topology, options)`` reads the named secrets and the cluster objects, resolves each
endpoint's service to its ready pods, opens one port-forward per pod and port (with ``connect="direct"``: dials the
pod's IP instead, :class:`_DirectDial`), runs the handshakes, plaintext,
gRPC and HTTP probes in a thread pool, closes everything and returns an :class:`~probes.evidence.Evidence`.
Nothing here judges: a refused handshake is a fact, not a failure. What could not be observed is recorded as
an ``Attempt`` error sentence, and the rest is still gathered.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from probes import pki, trust, x509 as x509facts
from probes.chartlines import ChartIdentity
from probes.errors import BudgetExhausted, CertificateError, ConnectError, ConnectTimeout, ProbeError
from probes.evidence import (
    CA_KEY_NOT_GIVEN, Attempt, ClientCert, EndpointEvidence, Evidence, Key, ObjectRead, PodEvidence, SecretEvidence,
)
from probes.forward import PortForwarder
from probes.kube import Cluster
from probes.minimal import minimal_object
from probes.plan import Plan, PlannedProbe, plan_endpoint
from probes.profile import Profile
from probes.timeouts import DEFAULT_TIMEOUTS, Budget, Timeouts
from probes.tls import ClientIdentity
from probes.topology import EndpointSpec, Mode, Topology

__all__ = ["ObserveOptions", "GatherInterrupted", "gather"]

# Enough threads that every endpoint's probes overlap; each waits on I/O, not CPU.
DEFAULT_WORKERS = 32
# At security level 0 OpenSSL offers every suite it was built with, so legacy versions can be offered.
_ANY_CIPHER = "ALL:COMPLEMENTOFALL:@SECLEVEL=0"
# Port-forward checks run beside the probes in their own small pool, so that they never queue behind them.
_CHECK_WORKERS = 8
# A step that ran until this close to its budget-shrunk limit was cut by the budget, not by its own limit.
_BUDGET_SLACK = 0.05
# Near the end of the budget each waiting phase of a step gets this share of what is left: a step waits in at most
# three phases one after the other (an HTTPS GET: connect, handshake, read), so it ends by the budget's end.
_PHASES_PER_STEP = 3
_PHASES = ("connect", "forward_open", "handshake", "read", "rpc", "api")


@dataclass(frozen=True)
class ObserveOptions:
    """How to gather.

    Attributes:
        timeouts: per-step limits.
        budget: seconds for the whole gathering (None: unbounded).
        profile: the TLS profile (which legacy versions and weak families to offer).
        ca_files: trust anchors from ``--direktiv-ca-file`` (per endpoint or for all) instead of each secret's ``ca.crt``.
        ca_key_secret: ``(namespace, name)`` of the CA secret whose key mints the expired and no-clientAuth
            client certificates (``--direktiv-ca-key-secret``); None skips those two probes.
        workers: size of the probe thread pool.
        connect: how the probes reach a pod port: ``port-forward`` (through the API server) or ``direct`` (the
            pod's IP, from inside the cluster; see :class:`_DirectDial`).
    """

    timeouts: Timeouts = DEFAULT_TIMEOUTS
    budget: float | None = None
    profile: Profile | None = None
    ca_files: trust.CaFiles = trust.CaFiles()
    ca_key_secret: tuple[str, str] | None = None
    workers: int = DEFAULT_WORKERS
    connect: str = "port-forward"


@dataclass
class _RawSecret:
    """A secret's bytes, kept in memory for this run only (never in evidence)."""

    data: dict[str, bytes] = field(repr=False)


def _internal_error(exc: Exception) -> str:
    return (f"the probe failed unexpectedly ({type(exc).__name__}: {exc}); this is a bug in "
            "direktiv-tls-conformance, please report it")


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _pem(ders) -> bytes:
    return b"".join(x509.load_der_x509_certificate(d).public_bytes(Encoding.PEM) for d in ders)


# -- --direktiv-connect direct --------------------------------------------------------------------------------


class _DirectDial:
    """The pod's own IP and container port, dialled by the probes themselves with their own deadlines: no
    port-forward. The surface of :class:`PortForwarder` that the gathering uses (``address``, ``check()``,
    ``errors``, ``drops``, ``close()``); nothing sits between the probes and the pod, so no stream can report an
    error or be dropped, and ``errors``/``drops`` stay empty.
    """

    def __init__(self, namespace: str, pod: str, port: int, ip: str, *, timeouts: Timeouts) -> None:
        if not ip:
            raise ProbeError(f"pod {namespace}/{pod} has no IP (status.podIP is empty), so it cannot be dialled "
                             "directly")
        self.namespace, self.pod, self.port = namespace, pod, port
        self.address: tuple[str, int] = (ip, port)
        self.errors: list[str] = []
        self.drops: list[str] = []
        self._timeouts = timeouts

    def __repr__(self) -> str:
        return f"_DirectDial(pod={self.namespace}/{self.pod}, port={self.port}, address={self.address})"

    def check(self) -> None:
        """One TCP connect within ``timeouts.connect``, closed at once: ConnectTimeout or ConnectError when the pod
        port cannot be reached (what the port-forward's check learns from kubelet)."""
        ip, port = self.address
        try:
            sock = socket.create_connection(self.address, timeout=self._timeouts.connect)
        except (socket.timeout, TimeoutError):
            raise ConnectTimeout(self._timeouts.connect, f"{ip}:{port}") from None
        except OSError as exc:
            raise ConnectError(f"the TCP connect to {ip}:{port} failed ({exc.strerror or exc})") from None
        sock.close()

    def close(self) -> None:
        """Nothing to close: every probe closes its own connection."""


class _Run:
    """One gathering: the budget, the pools, the forwards to close."""

    def __init__(self, cluster: Cluster, topology: Topology, options: ObserveOptions) -> None:
        self.cluster = cluster
        self.topology = topology
        self.options = options
        self.budget = Budget(options.budget)
        self.pool = cf.ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="probe")
        self.checks = cf.ThreadPoolExecutor(max_workers=_CHECK_WORKERS, thread_name_prefix="forward-check")
        self.forwarders: list[PortForwarder | _DirectDial] = []
        # Every forward opened for an (endpoint, pod), closed or not: what kubelet and the API server said on
        # their streams is read once all of them are closed.
        self.forwards_of: dict[tuple[str, str], list[PortForwarder | _DirectDial]] = {}
        self._lock = threading.Lock()
        self.raw: dict[tuple[str, str], _RawSecret] = {}
        self.objects: dict[str, ObjectRead] = {}  # the object reads, for the ACME issuer of a secret
        self.budget_cut = False  # some step was cut short by the budget

    # -- budget -----------------------------------------------------------------------------------------------
    def timeouts(self) -> Timeouts:
        """The per-step limits, shrunk to a share of what is left of the budget (BudgetExhausted once it is
        spent), so that a step with several waiting phases still ends by the end of the budget."""
        t = self.options.timeouts
        left = self.budget.remaining()
        if left is None:
            return t
        self.budget.limit(0.0)  # BudgetExhausted when nothing is left
        share = left / _PHASES_PER_STEP
        return Timeouts(*(min(getattr(t, f), share) for f in _PHASES))

    def budget_spent(self) -> str:
        """The sentence for what the budget left unobserved (or cut short)."""
        return str(BudgetExhausted(self.budget.seconds or 0.0))

    def attempt(self, name: str, fn: Callable[[Timeouts], object]) -> Attempt:
        start = time.monotonic()
        try:
            limits = self.timeouts()
            shrunk = [getattr(limits, f) for f in _PHASES if getattr(limits, f) < getattr(self.options.timeouts, f)]
            result = fn(limits)
        except BudgetExhausted:
            self.budget_cut = True
            return Attempt(name, error=self.budget_spent(), elapsed=time.monotonic() - start)
        except ProbeError as exc:
            result, error = None, str(exc)
        except Exception as exc:  # a bug in one probe must not cost the endpoint its other observations
            result, error = None, _internal_error(exc)
        else:
            error = None
        elapsed = time.monotonic() - start
        if shrunk and elapsed >= min(shrunk) - _BUDGET_SLACK:
            # The budget shrank the step's limits and it waited one of them out: whatever it saw (a timeout, most
            # likely) says nothing about the endpoint.
            self.budget_cut = True
            return Attempt(name, error=self.budget_spent(), elapsed=elapsed)
        if error is not None:
            return Attempt(name, error=error, elapsed=elapsed)
        return Attempt(name, result=result, elapsed=elapsed)

    @property
    def transport(self) -> str:
        """How the probes reach a pod, as sentences name it."""
        return "direct dial" if self.options.connect == "direct" else "port-forward"

    def forward(self, namespace: str, pod: str, port: int, *, owner: tuple[str, str],
                ip: str = "") -> tuple[PortForwarder | _DirectDial, cf.Future]:
        """A port-forward to the pod port (with ``--direktiv-connect direct``: the pod's ``ip`` and port, dialled
        directly), and the Future of its check (ProbeError/OSError when the forward is broken). The check takes a
        round trip plus a short settle time, so the probes run meanwhile, and whoever uses the forward waits for
        the check before trusting what came through it."""
        if self.options.connect == "direct":
            forwarder = _DirectDial(namespace, pod, port, ip, timeouts=self.timeouts())
        else:
            forwarder = PortForwarder(self.cluster.api_client, namespace, pod, port, timeouts=self.timeouts())
        with self._lock:
            self.forwarders.append(forwarder)
            self.forwards_of.setdefault(owner, []).append(forwarder)
        return forwarder, self.checks.submit(forwarder.check)

    def stream_trouble(self, owner: tuple[str, str]) -> str | None:
        """Why nothing that came through the forwards of ``owner`` counts: a kubelet error on any stream's error
        channel, or a stream the API server dropped (read after the forwards are closed, so every pump has
        ended and reported); None when every stream was clean."""
        errors = [e for fw in self.forwards_of.get(owner, ()) for e in fw.errors]
        drops = [d for fw in self.forwards_of.get(owner, ()) for d in fw.drops]
        if errors:
            fw = self.forwards_of[owner][0]
            more = f" ({len(errors)} streams reported errors)" if len(errors) > 1 else ""
            return (f"kubelet reported an error on a port-forward stream to pod {fw.namespace}/{fw.pod}: "
                    f"{errors[0].strip()}{more}; nothing observed through it is judged")
        if drops:
            more = f" ({len(drops)} streams were dropped)" if len(drops) > 1 else ""
            return f"{drops[0]}; what came through it may be cut short, so nothing observed on it is judged{more}"
        return None

    def close_forwarders(self) -> None:
        """Close every forward at once (each close waits for its own pumps to end)."""
        with self._lock:
            forwarders, self.forwarders = self.forwarders, []
        if len(forwarders) <= 1:
            for forwarder in forwarders:
                forwarder.close()
            return
        threads = [threading.Thread(target=f.close, name="forward-close", daemon=True) for f in forwarders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


# -- cluster objects ----------------------------------------------------------------------------------------


def _read_secret(run: _Run, namespace: str, name: str) -> SecretEvidence:
    try:
        secret = run.cluster.secret(namespace, name)
    except ProbeError as exc:
        return SecretEvidence(namespace, name, found=False, error=str(exc))
    if secret is None:
        return SecretEvidence(namespace, name, found=False)
    data = dict(secret.data)
    run.raw[(namespace, name)] = _RawSecret(data)
    problems: list[str] = []
    chain: list[bytes] = []
    ca: list[bytes] = []
    where = f"secret {namespace}/{name}"
    for key, out in (("tls.crt", chain), ("ca.crt", ca)):
        if key in data:
            try:
                out.extend(c.public_bytes(Encoding.DER) for c in x509facts.load_pem_bundle(data[key], source=f"{where} key {key}"))
            except CertificateError as exc:
                problems.append(str(exc))
    key_matches = None
    if chain and "tls.key" in data:
        try:
            key_matches = x509facts.key_matches_certificate(chain[0], data["tls.key"])
        except CertificateError as exc:
            problems.append(str(exc))
    return SecretEvidence(
        namespace, name, found=True, type=secret.type, keys=tuple(sorted(data)),
        cert_chain_der=tuple(chain), ca_der=tuple(ca), key_matches=key_matches, problems=tuple(problems),
    )


def _read_object(name: str, what: str, read: Callable[[], object], absent: str) -> ObjectRead:
    """One object read, keeping only the fields the judgements read (:mod:`probes.minimal`)."""
    try:
        value = read()
    except ProbeError as exc:
        return ObjectRead(what, error=str(exc))
    return ObjectRead(what, value=minimal_object(name, value), absent_reason=absent if value is None else None)


def _read_objects(run: _Run) -> dict[str, ObjectRead]:
    topo, c = run.topology, run.cluster
    secret_namespaces = sorted({ns for req in topo.secrets for ns in req.namespaces})
    jobs = {
        "config-contour": (
            "ConfigMap knative-serving-knative/config-contour",
            lambda: c.configmap("knative-serving-knative", "config-contour"), "not found"),
        "delegations": (
            "TLSCertificateDelegations in contour-internal",
            lambda: c.custom_objects("projectcontour.io", "v1", "contour-internal", "tlscertificatedelegations"),
            "the TLSCertificateDelegation CRD is not installed"),
        "knative-services": (
            f"knative Services in {topo.services_namespace}",
            lambda: c.custom_objects("serving.knative.dev", "v1", topo.services_namespace, "services"),
            "the knative Service CRD is not installed"),
    }
    futures = {k: run.pool.submit(_read_object, k, what, fn, absent) for k, (what, fn, absent) in jobs.items()}

    def cert_manager(plural: str):
        found: list[dict] = []
        for ns in secret_namespaces:
            items = c.custom_objects("cert-manager.io", "v1", ns, plural)
            if items is None:
                return None
            found.extend(items)
        return found

    futures["certificates"] = run.pool.submit(
        _read_object, "certificates", "cert-manager Certificates", lambda: cert_manager("certificates"),
        "the cert-manager Certificate CRD is not installed")
    # who issues a secret without ca.crt (probes.trust.acme_issuance)
    futures[trust.ISSUERS] = run.pool.submit(
        _read_object, trust.ISSUERS, "cert-manager Issuers", lambda: cert_manager("issuers"),
        "the cert-manager Issuer CRD is not installed")
    futures[trust.CLUSTER_ISSUERS] = run.pool.submit(
        _read_object, trust.CLUSTER_ISSUERS, "cert-manager ClusterIssuers", lambda: c.cluster_custom_objects(
            "cert-manager.io", "v1", "clusterissuers"), "the cert-manager ClusterIssuer CRD is not installed")
    return {k: f.result() for k, f in futures.items()}


def _knative_hosts(objects: dict[str, ObjectRead], topology: Topology) -> tuple[tuple[str, ...], str | None]:
    """The hosts of the knative services, and why they could not be listed (None when they could)."""
    read = objects["knative-services"]
    if read.error:
        return (), f"{read.what} could not be listed: {read.error}"
    items = read.value or []
    hosts = sorted({f"{item['metadata']['name']}.{topology.services_namespace}" for item in items
                    if isinstance(item, dict) and item.get("metadata", {}).get("name")})
    return tuple(hosts), None


def _with_stream_trouble(run: _Run, ep: EndpointEvidence) -> EndpointEvidence:
    """Mark every pod whose port-forward streams reported an error or were dropped: what came through them is not
    about the pod."""
    pods = tuple(replace(p, unreachable=p.unreachable or run.stream_trouble((ep.spec.id, p.pod))) for p in ep.pods)
    return replace(ep, pods=pods)


# -- client identities ----------------------------------------------------------------------------------------


def _identities(run: _Run, spec: EndpointSpec, ca: pki.CertificateAuthority | None, ca_reason: str):
    """The client certificates for an endpoint: {ClientCert: ClientIdentity} that could be had, and
    {ClientCert: why not} for the others. Only mTLS endpoints get the minted bad ones; a TLS gRPC endpoint gets
    the configured one (to tell a port that demands client certificates by behaviour)."""
    ids: dict[ClientCert, ClientIdentity] = {}
    missing: dict[ClientCert, str] = {}
    mtls = spec.mode is Mode.MTLS
    if not mtls and not (spec.kind == "grpc" and spec.mode is Mode.TLS):
        return ids, missing
    minted = (ClientCert.FOREIGN_CA, ClientCert.SELF_SIGNED_CLONE, ClientCert.EXPIRED, ClientCert.NO_CLIENTAUTH)
    wanted = (ClientCert.CONFIGURED, *minted) if mtls else (ClientCert.CONFIGURED,)
    raw = run.raw.get((spec.secret.namespace, spec.secret.name)) if spec.secret else None
    if raw is None or "tls.crt" not in raw.data or "tls.key" not in raw.data:
        if spec.secret is None:
            reason = "no secret is configured"
        elif raw is None:
            reason = f"secret {spec.secret.namespace}/{spec.secret.name} with tls.crt and tls.key could not be read"
        else:
            lacking = " and ".join(k for k in ("tls.crt", "tls.key") if k not in raw.data)
            reason = f"secret {spec.secret.namespace}/{spec.secret.name} lacks {lacking}"
        return ids, {label: reason for label in wanted}
    cert_pem, key_pem = raw.data["tls.crt"], raw.data["tls.key"]
    ids[ClientCert.CONFIGURED] = ClientIdentity(cert_pem, pki.PrivateKeyPEM(key_pem), ClientCert.CONFIGURED.value)
    if not mtls:
        return ids, missing
    try:
        leaf_pem = _first_pem(cert_pem, source=f"secret {spec.secret.namespace}/{spec.secret.name} key tls.crt")
    except CertificateError as exc:
        return ids, {label: str(exc) for label in minted}
    for label, mint in ((ClientCert.FOREIGN_CA, pki.foreign_ca_client),
                        (ClientCert.SELF_SIGNED_CLONE, pki.self_signed_clone)):
        issued = mint(leaf_pem)
        ids[label] = ClientIdentity(issued.chain_pem, issued.key, label.value)
    not_issuer = _not_the_issuer(ca, cert_pem, spec) if ca is not None else None
    for label, mint in ((ClientCert.EXPIRED, pki.expired_client), (ClientCert.NO_CLIENTAUTH, pki.no_clientauth_client)):
        if ca is None or not_issuer:
            missing[label] = ca_reason if ca is None else not_issuer
        else:
            issued = mint(ca, leaf_pem)
            ids[label] = ClientIdentity(issued.chain_pem, issued.key, label.value)
    return ids, missing


def _not_the_issuer(ca: pki.CertificateAuthority, cert_pem: bytes, spec: EndpointSpec) -> str | None:
    """Why certificates minted by ``ca`` would not come 'from the right CA' for this endpoint (None: they would).
    Minted from another CA, a refusal would be about the issuer, not about expiry or the missing clientAuth."""
    try:
        chain = [c.public_bytes(Encoding.DER) for c in x509facts.load_pem_bundle(cert_pem, source="tls.crt")]
    except CertificateError as exc:
        return str(exc)
    result = x509facts.verify_chain(chain, [ca.cert])
    if result.trusted:
        return None
    return (f"the CA of --direktiv-ca-key-secret ({ca.cert.subject.rfc4514_string() or 'empty subject'}) did not issue the "
            f"configured client certificate of secret {spec.secret.namespace}/{spec.secret.name} ({result.reason}): "
            "pass the secret of the CA that issues it")


def _first_pem(bundle: bytes, *, source: str) -> bytes:
    certs = x509facts.load_pem_bundle(bundle, source=source)
    return certs[0].public_bytes(Encoding.PEM)


def _read_ca(run: _Run) -> tuple[pki.CertificateAuthority | None, str]:
    ref = run.options.ca_key_secret
    if ref is None:
        return None, CA_KEY_NOT_GIVEN
    ns, name = ref
    try:
        secret = run.cluster.secret(ns, name)
    except ProbeError as exc:
        return None, f"the CA key secret {ns}/{name} could not be read: {exc}"
    if secret is None or "tls.crt" not in secret.data or "tls.key" not in secret.data:
        return None, f"the CA key secret {ns}/{name} does not exist or lacks tls.crt/tls.key"
    try:
        return pki.CertificateAuthority.from_pem(secret.data["tls.crt"], secret.data["tls.key"]), ""
    except Exception:  # the key's bytes must not reach a message, whatever went wrong
        return None, f"the CA key secret {ns}/{name} does not hold a usable certificate and private key"


# -- endpoints ------------------------------------------------------------------------------------------------


def _anchors(run: _Run, spec: EndpointSpec) -> trust.TrustAnchors:
    # the choice (--direktiv-ca-file, the secret's ca.crt, the system store for an ACME-issued secret) is
    # probes.trust.endpoint_anchors; this only hands it what was read.
    raw = run.raw.get((spec.secret.namespace, spec.secret.name)) if spec.secret else None
    return trust.endpoint_anchors(
        spec, secret_data=raw.data if raw is not None else None, ca_files=run.options.ca_files,
        issuance=lambda: trust.acme_issuance_in(run.objects, spec.secret))


def _no_pod_reason(run: _Run, spec: EndpointSpec) -> str:
    """Why a service with no candidate pod has none (one more read, on this failure path only)."""
    try:
        service = run.cluster.service(spec.namespace, spec.service) or {}
    except ProbeError:
        return "no pod matches its selector"
    if not (service.get("spec") or {}).get("selector"):
        return (f"it has no selector (its endpoints are managed by hand; kubectl port-forward svc/{spec.service} "
                "cannot pick a pod either)")
    return "no pod matches its selector"


def _where_pod(pod) -> str:
    return f"pod {pod.namespace}/{pod.name} port {pod.port}"


def _name_the_pod(attempt: Attempt, address: tuple[str, int], where: str) -> Attempt:
    """Sentences name the pod and port, not the local forwarder's ephemeral address."""
    local = f"{address[0]}:{address[1]}"

    def fix(text):
        return text.replace(local, where) if isinstance(text, str) else text

    result = attempt.result
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        changes = {f.name: fix(getattr(result, f.name)) for f in dataclasses.fields(result)
                   if f.name in ("detail", "error") and isinstance(getattr(result, f.name), str)}
        result = replace(result, **changes) if changes else result
    return replace(attempt, result=result, error=fix(attempt.error))


@dataclass
class _PodRun:
    """The probes of one pod in flight: its forward, the check of that forward, and the attempts' futures."""

    pod: object
    forwarder: PortForwarder | _DirectDial | None = None
    checked: cf.Future | None = None
    futures: dict[Key, cf.Future] = field(default_factory=dict)
    failed: str | None = None


def _redirected(run: _Run, spec: EndpointSpec, pod, probe: PlannedProbe, owner):
    """Run ``probe`` against the pod port behind the service port ``probe.redirect_port`` (Envoy's plain 8080
    behind service port 80), resolved the way kubectl resolves it."""
    def go(t: Timeouts):
        targets = [p for p in run.cluster.ready_pods(spec.namespace, spec.service, probe.redirect_port)
                   if p.name == pod.name]
        if not targets:
            raise ProbeError(f"pod {pod.namespace}/{pod.name} is not behind service port {probe.redirect_port}")
        fw, fw_checked = run.forward(pod.namespace, pod.name, targets[0].port, owner=owner, ip=targets[0].ip)
        result = probe.run(fw.address, t)
        fw_checked.result()  # a broken forward's error, not what came through it, is the observation
        return _name_the_pod(Attempt(probe.key, result=result), fw.address, _where_pod(targets[0])).result
    return go


def _start_pod(run: _Run, spec: EndpointSpec, plan: Plan, pod) -> _PodRun:
    owner = (spec.id, pod.name)
    state = _PodRun(pod)
    try:
        state.forwarder, state.checked = run.forward(pod.namespace, pod.name, pod.port, owner=owner, ip=pod.ip)
    except BudgetExhausted:
        state.failed = run.budget_spent()
        return state
    except (ProbeError, OSError) as exc:
        state.failed = f"{run.transport} to {_where_pod(pod)} failed: {exc}"
        return state
    address = state.forwarder.address
    for probe in plan.probes:
        if probe.redirect_port:
            fn = _redirected(run, spec, pod, probe, owner)
        else:
            fn = (lambda p: lambda t: p.run(address, t))(probe)
        state.futures[probe.key] = run.pool.submit(run.attempt, probe.key, fn)
    return state


def _finish_pod(run: _Run, plan: Plan, state: _PodRun) -> PodEvidence:
    pod = state.pod
    if state.failed:
        return PodEvidence(pod.name, pod.port, unreachable=state.failed)
    try:
        state.checked.result()
    except (ProbeError, OSError) as exc:
        # Everything went through a broken forward: what the probes saw is not about the endpoint.
        for future in state.futures.values():
            future.cancel()
        state.forwarder.close()  # ends the probes still waiting on it
        return PodEvidence(pod.name, pod.port, unreachable=f"{run.transport} to {_where_pod(pod)} failed: {exc}")
    where = _where_pod(pod)
    attempts = {key: Attempt(key, error=f"cannot be observed: {why}") for key, why in plan.unofferable.items()}
    for key, future in state.futures.items():
        attempts[key] = _name_the_pod(future.result(), state.forwarder.address, where)
    if plan.closing is not None:  # only now: every other probe of this pod has ended
        address, closing = state.forwarder.address, plan.closing
        attempts[closing.key] = _name_the_pod(run.attempt(closing.key, lambda t: closing.run(address, t)), address,
                                              where)
    return PodEvidence(pod.name, pod.port, attempts=attempts)


def _observe_endpoint(run: _Run, spec: EndpointSpec, hosts: tuple[str, ...], hosts_error: str | None,
                      ca, ca_reason: str) -> EndpointEvidence:
    trusted = _anchors(run, spec)  # the anchors, and why there are none, come from probes.trust
    anchors, anchor_source = trusted.anchors_der, trusted.source
    base = dict(anchors_der=anchors, anchor_source=anchor_source, anchor_missing=trusted.missing,
                anchor_store=trusted.store, hosts=hosts, hosts_error=hosts_error)
    if not spec.deployed:
        return EndpointEvidence(spec, **base)
    if spec.unlocated:
        return EndpointEvidence(spec, unreachable=spec.unlocated, **base)
    if run.budget.exhausted:
        return EndpointEvidence(spec, unreachable=run.budget_spent(), **base)
    try:
        candidates = run.cluster.ready_pods(spec.namespace, spec.service, spec.port)
    except ProbeError as exc:
        return EndpointEvidence(spec, unreachable=str(exc), **base)
    pods = [p for p in candidates if p.ready]
    if not pods:
        others = ", ".join(f"{p.name} ({p.phase}, not ready)" for p in candidates[:5])
        why = f"its pods are {others}" if others else _no_pod_reason(run, spec)
        return EndpointEvidence(
            spec, unreachable=f"service {spec.namespace}/{spec.service} has no ready pod to forward to: {why}", **base)
    identities, missing = _identities(run, spec, ca, ca_reason)
    plan = plan_endpoint(spec, identities=identities, missing_identities=missing,
                         anchors_pem=_pem(anchors) if anchors else None, anchor_source=anchor_source,
                         profile=run.options.profile or Profile(), hosts=hosts)
    states = [_start_pod(run, spec, plan, pod) for pod in pods]  # every pod's probes run at once
    observed = tuple(_finish_pod(run, plan, state) for state in states)
    presented = {label: None for label in identities} if spec.mode is Mode.MTLS else {}
    return EndpointEvidence(plan.spec, pods=observed, client_identities={**presented, **missing}, **base)


# -- the whole run --------------------------------------------------------------------------------------------


class GatherInterrupted(KeyboardInterrupt):
    """Ctrl-C during the gathering; carries what had been observed by then (marked incomplete)."""

    def __init__(self, evidence: Evidence) -> None:
        super().__init__("interrupted while gathering evidence")
        self.evidence = evidence


def gather(cluster: Cluster, topology: Topology, options: ObserveOptions = ObserveOptions(), *, source: str = "",
           chart: ChartIdentity | None = None, notices: tuple[str, ...] = (),
           on_endpoint: Callable[[EndpointEvidence, float], None] | None = None) -> Evidence:
    """Observe everything the topology names; never raises for what the cluster does.

    ``on_endpoint(evidence, seconds)`` is called in this thread as each endpoint completes, in completion order,
    with the seconds since its observation started (for progress lines; what it raises is ignored).
    On Ctrl-C it stops, closes every forward, and raises :class:`GatherInterrupted` with the partial evidence.
    """
    run = _Run(cluster, topology, options)
    started = _now_iso()
    secrets: dict = {}
    objects: dict = {}
    endpoints: dict = {}
    ca, ca_reason = None, ""
    interrupted = None
    outer = cf.ThreadPoolExecutor(max_workers=len(topology.endpoints) or 1, thread_name_prefix="endpoint")
    futures: dict[str, cf.Future] = {}
    try:
        secret_jobs = {(ns, req.name): run.pool.submit(_read_secret, run, ns, req.name)
                       for req in topology.secrets for ns in req.namespaces}
        objects = run.objects = _read_objects(run)  # run.objects: the ACME issuers behind the anchors
        for key, future in secret_jobs.items():
            secrets[key] = future.result()
        ca, ca_reason = _read_ca(run)
        hosts, hosts_error = _knative_hosts(objects, topology)
        submitted = time.monotonic()
        for spec in topology.endpoints:
            knative = spec.kind == "knative"
            futures[spec.id] = outer.submit(_observe_endpoint, run, spec, hosts if knative else (),
                                            hosts_error if knative else None, ca, ca_reason)
        specs = {futures[spec.id]: spec for spec in topology.endpoints}
        for future in cf.as_completed(specs):
            spec = specs[future]
            try:
                endpoints[spec.id] = future.result()
            except Exception as exc:  # a bug in a probe must not cost the other endpoints their evidence
                endpoints[spec.id] = EndpointEvidence(spec, unreachable=_internal_error(exc))
            if on_endpoint is not None:
                try:
                    on_endpoint(endpoints[spec.id], time.monotonic() - submitted)
                except Exception:  # noqa: BLE001 - progress output must never cost evidence
                    pass
        endpoints = {spec.id: endpoints[spec.id] for spec in topology.endpoints}  # the topology's order
    except KeyboardInterrupt:
        interrupted = "interrupted (Ctrl-C) while gathering evidence"
    finally:
        run.close_forwarders()
        outer.shutdown(wait=True, cancel_futures=True)
        run.pool.shutdown(wait=True, cancel_futures=True)
        run.checks.shutdown(wait=True, cancel_futures=True)
        run.close_forwarders()  # any opened while the pools wound down (after a Ctrl-C)
    if interrupted:
        for eid, future in futures.items():
            if eid not in endpoints and future.done() and not future.cancelled() and future.exception() is None:
                endpoints[eid] = future.result()
    endpoints = {eid: _with_stream_trouble(run, ep) for eid, ep in endpoints.items()}
    budget_note = (f"the evidence budget of {options.budget}s ran out" if run.budget.exhausted or run.budget_cut
                   else None)
    evidence = Evidence(
        topology=topology, source=source, cluster_server=cluster.server, context=cluster.context,
        started_at=started, finished_at=_now_iso(), secrets=secrets, objects=objects, endpoints=endpoints,
        notices=tuple(notices) + tuple(topology.notices), ca_key_available=ca is not None, ca_key_reason=ca_reason,
        incomplete=interrupted or budget_note, chart=chart,
    )
    if interrupted:
        raise GatherInterrupted(evidence)
    return evidence
