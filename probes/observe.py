"""Evidence gathering: every probe for every endpoint, concurrently, once.

``gather(cluster, topology, options)`` reads the named secrets and the cluster objects, resolves each
endpoint's service to its ready pods, opens one port-forward per pod and port, runs the handshakes, plaintext,
gRPC and HTTP probes in a thread pool, closes everything and returns an :class:`~probes.evidence.Evidence`.
Nothing here judges: a refused handshake is a fact, not a failure. What could not be observed is recorded as
an ``Attempt`` error sentence, and the rest is still gathered.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from probes import pki, trust, x509 as x509facts
from probes.errors import BudgetExhausted, CertificateError, ProbeError
from probes.evidence import Attempt, EndpointEvidence, Evidence, ObjectRead, PodObservation, SecretEvidence
from probes.forward import PortForwarder
from probes.grpc_health import health_check
from probes.https import http_get, https_get
from probes.kube import Cluster
from probes.plaintext import probe_plaintext
from probes.profile import Profile
from probes.timeouts import DEFAULT_TIMEOUTS, Budget, Timeouts
from probes.tls import ClientIdentity, TLSOffer, TLSVersion, WeakFamily, handshake, local_support, weak_cipher_offer
from probes.topology import EndpointSpec, Mode, Topology

__all__ = ["ObserveOptions", "GatherInterrupted", "gather", "MTLS_CLIENTS"]

# Weak suites exist only up to TLS 1.2; with TLS 1.3 offered the server would pick a 1.3 suite instead.
_UP_TO_TLS12 = (TLSVersion.TLSv1, TLSVersion.TLSv1_1, TLSVersion.TLSv1_2)
# The client certificates presented to an mTLS port, in the order the catalog lists their controls.
MTLS_CLIENTS = ("no-client-cert", "foreign-ca", "self-signed-clone", "expired", "no-clientauth")
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
        ca_files: trust anchors from ``--ca-file`` (per endpoint or for all) instead of each secret's ``ca.crt``.
        ca_key_secret: ``(namespace, name)`` of the CA secret whose key mints the expired and no-clientAuth
            client certificates (``--ca-key-secret``); None skips those two probes.
        workers: size of the probe thread pool.
    """

    timeouts: Timeouts = DEFAULT_TIMEOUTS
    budget: float | None = None
    profile: Profile | None = None
    ca_files: trust.CaFiles = trust.CaFiles()  # [trust]
    ca_key_secret: tuple[str, str] | None = None
    workers: int = DEFAULT_WORKERS


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


class _Run:
    """One gathering: the budget, the pools, the forwards to close."""

    def __init__(self, cluster: Cluster, topology: Topology, options: ObserveOptions) -> None:
        self.cluster = cluster
        self.topology = topology
        self.options = options
        self.budget = Budget(options.budget)
        self.pool = cf.ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="probe")
        self.checks = cf.ThreadPoolExecutor(max_workers=_CHECK_WORKERS, thread_name_prefix="forward-check")
        self.forwarders: list[PortForwarder] = []
        self._lock = threading.Lock()
        self.raw: dict[tuple[str, str], _RawSecret] = {}
        self.objects: dict[str, ObjectRead] = {}  # [trust] the object reads, for the ACME issuer of a secret
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

    def forward(self, namespace: str, pod: str, port: int) -> tuple[PortForwarder, cf.Future]:
        """A port-forward to the pod port, and the Future of its check (ProbeError/OSError when the forward is
        broken). The check takes a round trip plus a short settle time, so the probes run meanwhile, and whoever
        uses the forward waits for the check before trusting what came through it."""
        forwarder = PortForwarder(self.cluster.api_client, namespace, pod, port, timeouts=self.timeouts())
        with self._lock:
            self.forwarders.append(forwarder)
        return forwarder, self.checks.submit(forwarder.check)

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


def _read_object(what: str, read: Callable[[], object], absent: str) -> ObjectRead:
    try:
        value = read()
    except ProbeError as exc:
        return ObjectRead(what, error=str(exc))
    return ObjectRead(what, value=value, absent_reason=absent if value is None else None)


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
    futures = {k: run.pool.submit(_read_object, what, fn, absent) for k, (what, fn, absent) in jobs.items()}

    def cert_manager(plural: str):
        found: list[dict] = []
        for ns in secret_namespaces:
            items = c.custom_objects("cert-manager.io", "v1", ns, plural)
            if items is None:
                return None
            found.extend(items)
        return found

    futures["certificates"] = run.pool.submit(
        _read_object, "cert-manager Certificates", lambda: cert_manager("certificates"),
        "the cert-manager Certificate CRD is not installed")
    # [trust] who issues a secret without ca.crt (probes.trust.acme_issuance)
    futures[trust.ISSUERS] = run.pool.submit(
        _read_object, "cert-manager Issuers", lambda: cert_manager("issuers"),
        "the cert-manager Issuer CRD is not installed")
    futures[trust.CLUSTER_ISSUERS] = run.pool.submit(
        _read_object, "cert-manager ClusterIssuers", lambda: c.cluster_custom_objects(
            "cert-manager.io", "v1", "clusterissuers"), "the cert-manager ClusterIssuer CRD is not installed")
    return {k: f.result() for k, f in futures.items()}


def _knative_hosts(objects: dict[str, ObjectRead], topology: Topology) -> tuple[str, ...]:
    items = objects["knative-services"].value or []
    hosts = sorted({f"{item['metadata']['name']}.{topology.services_namespace}" for item in items
                    if isinstance(item, dict) and item.get("metadata", {}).get("name")})
    return tuple(hosts)


# -- client identities ----------------------------------------------------------------------------------------


def _identities(run: _Run, spec: EndpointSpec, ca: pki.CertificateAuthority | None, ca_reason: str):
    """The client certificates for an mTLS endpoint: label -> ClientIdentity, and label -> why missing."""
    ids: dict[str, ClientIdentity | None] = {"no-client-cert": None}
    missing: dict[str, str] = {}
    raw = run.raw.get((spec.secret.namespace, spec.secret.name)) if spec.secret else None
    if raw is None or "tls.crt" not in raw.data or "tls.key" not in raw.data:
        if spec.secret is None:
            reason = "no secret is configured"
        elif raw is None:
            reason = f"secret {spec.secret.namespace}/{spec.secret.name} with tls.crt and tls.key could not be read"
        else:
            lacking = " and ".join(k for k in ("tls.crt", "tls.key") if k not in raw.data)
            reason = f"secret {spec.secret.namespace}/{spec.secret.name} lacks {lacking}"
        for label in ("configured", "foreign-ca", "self-signed-clone", "expired", "no-clientauth"):
            missing[label] = reason
        return ids, missing
    cert_pem, key_pem = raw.data["tls.crt"], raw.data["tls.key"]
    ids["configured"] = ClientIdentity(cert_pem, pki.PrivateKeyPEM(key_pem), "configured")
    try:
        leaf_pem = _first_pem(cert_pem, source=f"secret {spec.secret.namespace}/{spec.secret.name} key tls.crt")
    except CertificateError as exc:
        for label in ("foreign-ca", "self-signed-clone", "expired", "no-clientauth"):
            missing[label] = str(exc)
        return ids, missing
    for label, mint in (("foreign-ca", pki.foreign_ca_client), ("self-signed-clone", pki.self_signed_clone)):
        issued = mint(leaf_pem)
        ids[label] = ClientIdentity(issued.chain_pem, issued.key, label)
    for label, mint in (("expired", pki.expired_client), ("no-clientauth", pki.no_clientauth_client)):
        if ca is None:
            missing[label] = ca_reason
        else:
            issued = mint(ca, leaf_pem)
            ids[label] = ClientIdentity(issued.chain_pem, issued.key, label)
    return ids, missing


def _first_pem(bundle: bytes, *, source: str) -> bytes:
    certs = x509facts.load_pem_bundle(bundle, source=source)
    return certs[0].public_bytes(Encoding.PEM)


def _read_ca(run: _Run) -> tuple[pki.CertificateAuthority | None, str]:
    ref = run.options.ca_key_secret
    if ref is None:
        return None, "needs the CA key: pass --ca-key-secret NAMESPACE/NAME (e.g. cert-manager/direktiv-ca)"
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
    # [trust] the choice (--ca-file, the secret's ca.crt, the system store for an ACME-issued secret) is
    # probes.trust.endpoint_anchors; this only hands it what was read.
    raw = run.raw.get((spec.secret.namespace, spec.secret.name)) if spec.secret else None
    return trust.endpoint_anchors(
        spec, secret_data=raw.data if raw is not None else None, ca_files=run.options.ca_files,
        issuance=lambda: trust.acme_issuance_in(run.objects, spec.secret))


def _offer(spec: EndpointSpec, client: ClientIdentity | None, **changes) -> TLSOffer:
    grpc = spec.kind == "grpc"
    offer = TLSOffer(
        server_name=spec.server_name,
        alpn=("h2",) if grpc else ("http/1.1",),
        client=client,
        after_handshake="h2" if grpc else "http1",
    )
    return replace(offer, **changes)


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


def _observe_endpoint(run: _Run, spec: EndpointSpec, hosts: tuple[str, ...], ca, ca_reason: str) -> EndpointEvidence:
    # [trust] the anchors, and why there are none, come from probes.trust; the probes use anchors and source.
    trusted = _anchors(run, spec)
    observed = _probe_endpoint(run, spec, hosts, ca, ca_reason, trusted.anchors_der, trusted.source)
    return replace(observed, anchor_missing=trusted.missing, anchor_store=trusted.store)


def _probe_endpoint(run: _Run, spec: EndpointSpec, hosts: tuple[str, ...], ca, ca_reason: str,
                    anchors: tuple[bytes, ...], anchor_source: str | None) -> EndpointEvidence:
    if not spec.deployed:
        return EndpointEvidence(spec, anchors_der=anchors, anchor_source=anchor_source)
    if run.budget.exhausted:
        return EndpointEvidence(spec, unreachable=run.budget_spent(), anchors_der=anchors, anchor_source=anchor_source)
    try:
        candidates = run.cluster.ready_pods(spec.namespace, spec.service, spec.port)
    except ProbeError as exc:
        return EndpointEvidence(spec, unreachable=str(exc), anchors_der=anchors, anchor_source=anchor_source)
    pods = [p for p in candidates if p.ready]
    names = tuple(p.name for p in pods)
    if not pods:
        others = ", ".join(f"{p.name} ({p.phase}, not ready)" for p in candidates[:5])
        why = f"its pods are {others}" if others else _no_pod_reason(run, spec)
        return EndpointEvidence(
            spec, unreachable=f"service {spec.namespace}/{spec.service} has no ready pod to forward to: {why}",
            anchors_der=anchors, anchor_source=anchor_source)

    def forward_failed(exc: BaseException) -> EndpointEvidence:
        return EndpointEvidence(
            spec, pods=names, anchors_der=anchors, anchor_source=anchor_source,
            unreachable=f"port-forward to pod {pods[0].namespace}/{pods[0].name} port {pods[0].port} failed: {exc}")

    try:
        forwarder, checked = run.forward(pods[0].namespace, pods[0].name, pods[0].port)
    except BudgetExhausted:
        return EndpointEvidence(spec, pods=names, unreachable=run.budget_spent(), anchors_der=anchors,
                                anchor_source=anchor_source)
    except (ProbeError, OSError) as exc:
        return forward_failed(exc)
    forwarders = [forwarder]
    address = forwarder.address
    where = _where_pod(pods[0])
    tls_expected = spec.mode is not Mode.PLAINTEXT
    mtls = spec.mode is Mode.MTLS
    identities, missing = _identities(run, spec, ca, ca_reason) if mtls else ({"no-client-cert": None}, {})
    configured = identities.get("configured")
    jobs: dict[str, Callable[[Timeouts], object]] = {}

    def shake(offer: TLSOffer, addr=address):
        return lambda t: handshake(addr, offer, timeouts=t)

    jobs["plaintext"] = lambda t: probe_plaintext(address, host=spec.server_name, timeouts=t)
    jobs["no-client-cert"] = shake(_offer(spec, None))
    if tls_expected:
        if mtls and configured is not None:
            jobs["default"] = shake(_offer(spec, configured))
        for label in MTLS_CLIENTS[1:] if mtls else ():
            if identities.get(label) is not None:
                jobs[label] = shake(_offer(spec, identities[label]))
        legacy_client = configured if mtls else None
        support = local_support()
        profile = run.options.profile or Profile()
        for name in profile.refused_versions:
            version = TLSVersion(name)
            if support.can_offer_version(version):
                jobs[f"legacy:{name}"] = shake(
                    _offer(spec, legacy_client, versions=(version,), ciphers=_ANY_CIPHER, after_handshake="none"))
        for name in profile.weak_cipher_families:
            family = WeakFamily(name)
            if support.can_offer_family(family):
                jobs[f"weak:{name}"] = shake(
                    _offer(spec, legacy_client, versions=_UP_TO_TLS12, ciphers=weak_cipher_offer(family),
                           after_handshake="none"))
    anchor_pem = _pem(anchors) if anchors else None
    preset: dict[str, Attempt] = {}
    if spec.kind == "grpc" and tls_expected and anchor_pem is None:
        preset["grpc-health"] = Attempt("grpc-health", error=(
            f"no trust anchor to verify the server with: {anchor_source or 'no secret'} holds no usable ca.crt"))
    elif spec.kind == "grpc":
        jobs["grpc-health"] = lambda t: health_check(
            address, authority=spec.server_name, ca_pem=anchor_pem, client=configured if mtls else None,
            plaintext=not tls_expected, timeouts=t)
    if spec.kind in ("lb", "http"):
        if tls_expected:
            jobs["https-get"] = lambda t: https_get(address, host=spec.server_name, timeouts=t)
        else:
            jobs["http-get"] = lambda t: http_get(address, host=spec.server_name, timeouts=t)
    if spec.redirect_port:
        def redirect(t, pod=pods[0]):
            # The service port (80) maps to the pod's own port (Envoy listens on 8080): resolve it like kubectl.
            targets = [p for p in run.cluster.ready_pods(spec.namespace, spec.service, spec.redirect_port)
                       if p.name == pod.name]
            if not targets:
                raise ProbeError(f"pod {pod.namespace}/{pod.name} is not behind service port {spec.redirect_port}")
            fw, fw_checked = run.forward(pod.namespace, pod.name, targets[0].port)
            forwarders.append(fw)
            result = http_get(fw.address, host=spec.server_name, timeouts=t)
            fw_checked.result()  # a broken forward's error, not what came through it, is the observation
            return _name_the_pod(Attempt("http-redirect", result=result), fw.address,
                                 _where_pod(targets[0])).result
        jobs["http-redirect"] = redirect
    if spec.kind == "knative" and tls_expected:
        for host in hosts:
            jobs[f"sni:{host}"] = shake(_offer(spec, None, server_name=host, after_handshake="none"))

    futures = {name: run.pool.submit(run.attempt, name, fn) for name, fn in jobs.items()}
    pod_futures = []
    if tls_expected:
        for pod in pods[1:]:
            pod_futures.append(run.pool.submit(_served_leaf, run, spec, pod, configured if mtls else None))
    try:
        checked.result()
    except (ProbeError, OSError) as exc:
        # Everything went through a broken forward: what the probes saw is not about the endpoint.
        for future in (*futures.values(), *pod_futures):
            future.cancel()
        forwarder.close()  # ends the probes still waiting on it
        return forward_failed(exc)
    attempts = {**preset, **{name: _name_the_pod(f.result(), address, where) for name, f in futures.items()}}
    first = attempts.get("default") or attempts.get("no-client-cert")
    leaves = [PodObservation(pods[0].name, *_leaf_of(first))] if tls_expected else []
    leaves += [f.result() for f in pod_futures]
    if "default" not in attempts and "no-client-cert" in attempts:
        attempts["default"] = replace(attempts["no-client-cert"], name="default")
    drops = [d for fw in forwarders for d in fw.drops]
    # A dropped stream delivers a truncated answer that reads like a refusal: nothing seen through it counts.
    unreachable = (f"{drops[0]}; what came through it may be cut short, so nothing observed on {spec.id} is judged"
                   + (f" ({len(drops)} streams were dropped)" if len(drops) > 1 else "")) if drops else None
    return EndpointEvidence(
        spec, pods=names, unreachable=unreachable, attempts=attempts, pod_leaves=tuple(leaves),
        anchor_source=anchor_source, anchors_der=anchors, hosts=hosts,
        client_identities={**{k: None for k, v in identities.items() if v is not None}, **missing},
    )


def _leaf_of(attempt: Attempt | None) -> tuple[bytes | None, str | None]:
    if attempt is None:
        return None, "no handshake was attempted"
    if attempt.error:
        return None, attempt.error
    chain = getattr(attempt.result, "peer_chain_der", ())
    if not chain:
        return None, f"the server sent no certificate ({attempt.result.detail})"
    return chain[0], None


def _served_leaf(run: _Run, spec: EndpointSpec, pod, client) -> PodObservation:
    try:
        forwarder, checked = run.forward(pod.namespace, pod.name, pod.port)
        offer = _offer(spec, client, after_handshake="none")
        attempt = run.attempt("pod", lambda t: handshake(forwarder.address, offer, timeouts=t))
        checked.result()
    except (ProbeError, OSError) as exc:
        return PodObservation(pod.name, error=f"port-forward to pod {pod.namespace}/{pod.name} failed: {exc}")
    return PodObservation(pod.name, *_leaf_of(attempt))


# -- the whole run --------------------------------------------------------------------------------------------


class GatherInterrupted(KeyboardInterrupt):
    """Ctrl-C during the gathering; carries what had been observed by then (marked incomplete)."""

    def __init__(self, evidence: Evidence) -> None:
        super().__init__("interrupted while gathering evidence")
        self.evidence = evidence


def gather(cluster: Cluster, topology: Topology, options: ObserveOptions = ObserveOptions(), *, source: str = "",
           notices: tuple[str, ...] = ()) -> Evidence:
    """Observe everything the topology names; never raises for what the cluster does.

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
        objects = run.objects = _read_objects(run)  # [trust] run.objects: the ACME issuers behind the anchors
        for key, future in secret_jobs.items():
            secrets[key] = future.result()
        ca, ca_reason = _read_ca(run)
        hosts = _knative_hosts(objects, topology)
        for spec in topology.endpoints:
            knative_hosts = (hosts or (spec.server_name,)) if spec.kind == "knative" else ()
            futures[spec.id] = outer.submit(_observe_endpoint, run, spec, knative_hosts, ca, ca_reason)
        for spec in topology.endpoints:
            try:
                endpoints[spec.id] = futures[spec.id].result()
            except Exception as exc:  # a bug in a probe must not cost the other endpoints their evidence
                endpoints[spec.id] = EndpointEvidence(spec, unreachable=_internal_error(exc))
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
    budget_note = (f"the evidence budget of {options.budget}s ran out" if run.budget.exhausted or run.budget_cut
                   else None)
    evidence = Evidence(
        topology=topology, source=source, cluster_server=cluster.server, context=cluster.context,
        started_at=started, finished_at=_now_iso(), secrets=secrets, objects=objects, endpoints=endpoints,
        notices=tuple(notices) + tuple(topology.notices), ca_key_available=ca is not None, ca_key_reason=ca_reason,
        incomplete=interrupted or budget_note,
    )
    if interrupted:
        raise GatherInterrupted(evidence)
    return evidence
