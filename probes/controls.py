"""Judging: each control of the catalog as a pure function of the evidence.

``judge(control_id, endpoint_id, evidence, profile) -> Verdict``. Verdicts follow CONTROLS.md: **pass**;
**fail** (the installation breaks the control: expected vs observed, and the fix where it helps); **skip** (not
applicable under the expected configuration, with the reason); **error** (the suite could not observe, with why).
One misconfiguration fails the most specific control: a judge that lacks the facts another control is about
(a missing secret, a failed handshake) says *error* or *skip* and points there, it does not fail as well.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Mapping

from cryptography import x509

from probes import trust, x509 as facts
from probes.catalog import applies
from probes.cipher_suites import is_forward_secret
from probes.evidence import (
    BASELINE, BASELINE_AFTER, COMPRESSION, FALLBACK, GRPC_HEALTH, HTTP_REDIRECT, HTTPS_GET, PLAINTEXT, RENEGOTIATION,
    CA_KEY_NOT_GIVEN, SERVED_CHAIN_FROM, Attempt, ClientCert, EndpointEvidence, Evidence, Key, PodEvidence,
)
from probes.hello import FallbackVerdict, Verdict as HelloVerdict, judge as hello_verdict
from probes.plan import SUITE_SCAN_VERSIONS, weak_suites
from probes.profile import Profile
from probes.tls import HandshakeOutcome, HandshakeResult, Rejection
from probes.topology import Mode, SecretRef

__all__ = ["Status", "Verdict", "judge", "observed_mode", "hsts_max_age"]


class Status(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"


@dataclass(frozen=True)
class Verdict:
    """The judgement of one control on one endpoint.

    Attributes:
        control: the control ID.
        endpoint: the endpoint ID, or ``cluster``.
        status: pass, fail, skip or error.
        message: one or more sentences: for fail, expected vs observed and the fix; for skip and error, why.
        facts: key facts for the JUnit properties and reports (fingerprint, notAfter, version, rejection).
    """

    control: str
    endpoint: str
    status: Status
    message: str = ""
    facts: Mapping[str, str] = field(default_factory=dict)


class _Verdict(Exception):
    """Raised inside a judge to return early with a verdict."""

    def __init__(self, status: Status, message: str, **found: str) -> None:
        super().__init__(message)
        self.status, self.message, self.found = status, message, found


def _skip(message: str) -> None:
    raise _Verdict(Status.SKIP, message)


def _error(message: str) -> None:
    raise _Verdict(Status.ERROR, message)


# -- evidence rules ---------------------------------------------------------------------------------------------
#
# A control passes only on positive evidence observed on every ready pod behind the endpoint, in this run.
# Each endpoint judge below judges one pod (``(ev, ep, pod, profile) -> (status, message, facts)``); _per_pod runs
# it on every pod and combines: any pod that fails fails the control (naming the pods), otherwise any pod that
# could not be judged makes it an error, and it passes only when every pod passed.
#
# A refusal (of plaintext, a legacy version, a weak suite, a bad client certificate) counts only when the baseline
# handshake (expected SNI, and the configured client certificate under mTLS) completed on the same pod and port,
# and the offer was then refused by TLS: an alert, or a close or reset during or after the handshake. Anything
# else (a timeout, a peer that answered in something else than TLS, our own library aborting, an offer that could
# not be made, a kubelet error or a dropped stream on that pod) is an error, never a pass and never a fail.


def _keys(spec) -> str:
    return f" ({', '.join(spec.sources)})" if spec.sources else ""


def _endpoint(ev: Evidence, endpoint: str) -> EndpointEvidence:
    ep = ev.endpoints.get(endpoint)
    if ep is None:
        absence = ev.topology.absence(endpoint)
        _skip(f"{endpoint} is not part of this chart line's wiring: {absence}" if absence
              else f"{endpoint} is not part of the expected configuration")
    if not ep.spec.deployed:
        _skip(f"{endpoint} is not deployed: {ep.spec.explanation}")
    return ep


def _tls_endpoint(ev: Evidence, endpoint: str) -> EndpointEvidence:
    ep = _endpoint(ev, endpoint)
    if ep.spec.mode is Mode.PLAINTEXT:
        _skip(f"TLS is not configured for {endpoint}{_keys(ep.spec)}")
    return ep


def _mtls_endpoint(ev: Evidence, endpoint: str) -> EndpointEvidence:
    ep = ev.endpoints.get(endpoint)
    if ep is not None and ep.spec.mode is not Mode.MTLS:
        _skip(f"mTLS is not enabled for {endpoint}{_keys(ep.spec)}")
    return _tls_endpoint(ev, endpoint)


PodJudge = Callable[[Evidence, EndpointEvidence, PodEvidence, Profile], tuple]


def _pods_listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _per_pod(ev: Evidence, ep: EndpointEvidence, profile: Profile, judge_pod: PodJudge):
    """Judge every ready pod and combine: fail if any pod fails, else error if any could not be judged, else
    pass. The message names the pod(s) it speaks of."""
    if ep.unreachable:
        _error(f"{ep.spec.id} could not be observed: {ep.unreachable}")
    if not ep.pods:
        _error(f"{ep.spec.id}: no pod was observed")
    results = []
    for pod in ep.pods:
        if pod.unreachable:
            results.append((pod.pod, Status.ERROR, f"{ep.spec.id} could not be observed on pod {pod.pod}: "
                                                    f"{pod.unreachable}", {}))
            continue
        try:
            status, message, found = judge_pod(ev, ep, pod, profile)
        except _Verdict as v:
            status, message, found = v.status, v.message, v.found
        results.append((pod.pod, status, message, found))
    total = len(results)
    for status in (Status.FAIL, Status.ERROR, Status.SKIP):
        hit = [r for r in results if r[1] is status]
        if hit and (status is not Status.SKIP or len(hit) == total):
            names = [r[0] for r in hit]
            where = f"pod {names[0]}" if len(names) == 1 else f"pods {_pods_listed(names)}"
            share = f", {len(hit)} of {total} pods" if total > 1 else ""
            return status, f"{hit[0][2]} [{where}{share}]", {**hit[0][3], "pods": ", ".join(names)}
    skipped = [r for r in results if r[1] is Status.SKIP]
    if skipped:  # some pods passed, others had nothing to judge: not every replica showed it
        names = [r[0] for r in skipped]
        _error(f"{ep.spec.id}: judged on some pods only: {skipped[0][2]} [pod(s) {_pods_listed(names)}]")
    passed = [r for r in results if r[1] is Status.PASS]
    where = f"pod {passed[0][0]}" if total == 1 else f"all {total} pods"
    return Status.PASS, f"{passed[0][2]} [{where}]", {**passed[0][3], "pods": ", ".join(r[0] for r in results)}


def _pod_judge(judge_pod: PodJudge, endpoint_check=_tls_endpoint):
    """A control judged pod by pod on endpoints that ``endpoint_check`` admits."""
    def judge_(ev: Evidence, endpoint: str, profile: Profile):
        return _per_pod(ev, endpoint_check(ev, endpoint), profile, judge_pod)
    judge_.__doc__ = judge_pod.__doc__
    return judge_


def _demanded_where_absent(judge_):
    """T-MODE-MATCHES-CONFIG: where the profile demands TLS of an endpoint the chart line has no setting for, which
    the tool does not probe, an error; neither a pass nor the absent endpoint's skip may hide that."""
    def judge_or_error(ev: Evidence, endpoint: str, profile: Profile):
        absence, demanded = ev.topology.absence(endpoint), profile.demanded_mode(endpoint)
        if absence and demanded:
            _error(f"the profile '{profile.name}' demands {'mTLS' if demanded == 'mtls' else 'TLS'} on {endpoint}, "
                   f"but it cannot be observed: {absence}")
        return judge_(ev, endpoint, profile)
    judge_or_error.__doc__ = judge_.__doc__
    return judge_or_error


def _switchable(control_id: str, judge_):
    """A control a profile may switch off: then it skips, saying so."""
    def judge_or_skip(ev: Evidence, endpoint: str, profile: Profile):
        if not profile.judges(control_id):
            _skip(f"the profile '{profile.name}' switches {control_id} off (controls_off)")
        return judge_(ev, endpoint, profile)
    return judge_or_skip


def _attempt(ep: EndpointEvidence, pod: PodEvidence, key: Key) -> Attempt:
    attempt = pod.attempt(key)
    if attempt is None:
        _error(f"{ep.spec.id}: no '{key}' observation was made")
    if not attempt.observed:
        why = attempt.error or "nothing was observed"
        _error(f"{ep.spec.id}: '{key}' {why}" if why.startswith("cannot be observed")
               else f"{ep.spec.id}: '{key}' could not be observed: {why}")
    return attempt


def _baseline(ep: EndpointEvidence, pod: PodEvidence) -> HandshakeResult:
    """The baseline handshake of this pod, which must have completed for any refusal on it to count, and again
    after every other probe of the pod (the closing baseline): a pod that refused it by then may have refused
    every connection (rate-limited, crashing, going away), whatever was offered."""
    client = " with the configured client certificate" if ep.spec.mode is Mode.MTLS else ""
    attempt = pod.attempt(BASELINE)
    why = None
    if attempt is None:
        why = "no baseline handshake was made"
    elif attempt.error:
        why = f"the baseline handshake{client} could not be made ({attempt.error})"
    elif not attempt.result.completed:
        why = (f"the baseline handshake with SNI {attempt.result.offer.server_name}{client} did not complete "
               f"({attempt.result.detail})")
    if why:
        _error(f"cannot judge {ep.spec.id}: {why}, so a refusal would prove nothing; see T-TLS-HANDSHAKE")
    closing = pod.attempt(BASELINE_AFTER)
    if closing is None:
        why = "the baseline handshake was not made again after the other offers"
    elif closing.error:
        why = f"the baseline handshake{client}, made again after the other offers, could not be made ({closing.error})"
    elif not closing.result.completed:
        why = (f"the baseline handshake{client}, made again after the other offers, did not complete "
               f"({closing.result.detail}): the pod may refuse every connection by now, whatever is offered")
    if why:
        _error(f"cannot judge {ep.spec.id}: {why}, so its refusals prove nothing")
    return attempt.result


def _tls_refusal(result: HandshakeResult) -> bool:
    """Whether the peer refused the offer by TLS: an alert, or a close or reset during the handshake or, under TLS
    1.3 (where a server judges the client's certificate after it), right after it. (That the peer speaks TLS at all
    is the baseline's to show.)"""
    return (result.outcome is HandshakeOutcome.REJECTED
            and result.rejection in (Rejection.ALERT, Rejection.EOF, Rejection.RESET)
            and (not result.late_rejection or result.version == "TLSv1.3"))


def _tls_accepted(result: HandshakeResult) -> bool:
    """Whether the TLS layer accepted the offer: the handshake completed and nothing refused it, or it completed
    under TLS 1.2 or below, where a server settles client certificates inside the handshake (a close afterwards is
    the application's, not a refusal of the certificate)."""
    return result.outcome is HandshakeOutcome.ACCEPTED or (result.completed and result.version != "TLSv1.3")


def _how_refused(result: HandshakeResult) -> str:
    if result.alert:
        how = f"alert '{result.alert}'"
    else:
        how = {Rejection.EOF: "close", Rejection.RESET: "reset"}.get(result.rejection, str(result.rejection))
    return how + (" after the handshake" if result.late_rejection else "")


def _served_chain(ep: EndpointEvidence, pod: PodEvidence) -> tuple[bytes, ...]:
    """The chain this pod served; an error pointing at T-TLS-HANDSHAKE when it served none."""
    chain = pod.served_chain()
    if not chain:
        first = next((pod.attempt(k) for k in SERVED_CHAIN_FROM if pod.attempt(k) is not None), None)
        why = first.error or first.result.detail if first is not None else "no handshake was made"
        _error(f"{ep.spec.id} served no certificate to judge ({why}); see T-TLS-HANDSHAKE")
    return chain


def _no_anchor(ev: Evidence, ep: EndpointEvidence) -> str:
    """Why an endpoint has no trust anchor, naming the secret and the cause."""
    spec = ep.spec
    secret = ev.secret(spec.secret.namespace, spec.secret.name) if spec.secret else None
    if secret is not None and secret.error:
        return f"no trust anchor for {spec.id}: secret {secret.ref} could not be read ({secret.error.rstrip('.')})"
    if secret is not None and not secret.found:
        return f"no trust anchor for {spec.id}: secret {secret.ref} does not exist"
    # probes.trust says why there is none (no ca.crt, an ACME issuer that could not be read, ...)
    why = ep.anchor_missing or f"{ep.anchor_source or 'no secret'} holds no usable ca.crt"
    return f"no trust anchor for {spec.id}: {why}"


def _cert(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def _leaf_facts(der: bytes) -> dict[str, str]:
    f = facts.certificate_facts(der)
    return {"fingerprint_sha256": f.sha256_fingerprint, "not_after": f.not_after.isoformat(),
            "subject": f.subject or "(empty)", "san": ", ".join(f.dns_names + f.ip_addresses)}


def _mode_name(mode: Mode) -> str:
    return {"plaintext": "plaintext", "tls": "TLS", "mtls": "mTLS"}[mode.value]


# -- certificate served by an endpoint ------------------------------------------------------------------------


# ingress-nginx's default certificate (internal/net/ssl/ssl.go): what it serves for a host whose secret is missing,
# empty or does not name the host. Seeing it served explains every certificate failure at once.
_INGRESS_NGINX_FAKE_CN = "Kubernetes Ingress Controller Fake Certificate"


def _fallback(chain: list[bytes]) -> str:
    """A sentence when the served leaf is a controller's stand-in certificate, else ""."""
    names = _cert(chain[0]).subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if names and names[0].value == _INGRESS_NGINX_FAKE_CN:
        return ("; ingress-nginx serves its Fake Certificate here, as it does when the Ingress's TLS secret is "
                "missing or empty or its certificate does not name the host: fix the secret (see K-SECRET-PRESENT), "
                "not the served certificate")
    return ""


def _chain_trusted(ev, ep, pod, profile):
    chain = _served_chain(ep, pod)
    if not ep.anchors_der:
        _error(f"{_no_anchor(ev, ep)} (see K-SECRET-PRESENT), or pass --direktiv-ca-file {ep.spec.id}=PATH"
               f"{_fallback(chain)}")
    result = facts.verify_chain(chain, [_cert(d) for d in ep.anchors_der])
    found = {**_leaf_facts(chain[0]), "anchor": ep.anchor_source or "",
             "trust_method": getattr(result.method, "value", str(result.method))}
    if result.trusted:
        return Status.PASS, f"the served chain validates to {ep.anchor_source} ({result.reason})", found
    return Status.FAIL, (f"expected the chain served by {ep.spec.id} to validate to {ep.anchor_source}; "
                         f"observed: {result.reason}{_fallback(chain)}"), found


def _san_match(ev, ep, pod, profile):
    chain = _served_chain(ep, pod)
    names = ep.spec.expected_names
    coverage = facts.names_covered(_cert(chain[0]), names)
    found = _leaf_facts(chain[0])
    if not coverage.missing:
        return Status.PASS, f"the leaf covers {', '.join(names)}", found
    fix = _fallback(chain) or ": reissue it with those dnsNames"
    return Status.FAIL, (f"expected the certificate served by {ep.spec.id} to cover {', '.join(coverage.missing)}; "
                         f"its SANs are [{found['san'] or 'none'}]{fix}"), found


def _validity(ev, ep, pod, profile):
    chain = _served_chain(ep, pod)
    v = facts.validity(_cert(chain[0]), min_days=profile.min_days_valid)
    found = {**_leaf_facts(chain[0]), "days_left": f"{v.days_left:.1f}"}
    endpoint = ep.spec.id
    if v.not_yet_valid:
        return Status.FAIL, f"the certificate served by {endpoint} is not valid yet (notBefore in the future)", found
    if v.expired:
        return Status.FAIL, f"the certificate served by {endpoint} expired on {found['not_after']}: renew it", found
    if not v.meets_minimum:
        return Status.FAIL, (f"expected at least {profile.min_days_valid} days of validity on {endpoint}; "
                             f"observed {v.days_left:.1f} days left (notAfter {found['not_after']}): renew it"), found
    return Status.PASS, f"valid for {v.days_left:.0f} more days", found


def _eku(ev, ep, pod, profile):
    chain = _served_chain(ep, pod)
    leaf = _cert(chain[0])
    f = facts.certificate_facts(chain[0])
    needed = ["serverAuth"]
    if ep.spec.mode is Mode.MTLS:
        needed.append("clientAuth")
    lacking = [p for p in needed if not facts.eku_allows(leaf, p)]
    found = {**_leaf_facts(chain[0]), "eku": ", ".join(f.ekus) if f.ekus is not None else "(none: any)"}
    if not lacking:
        return Status.PASS, f"the leaf allows {' and '.join(needed)}", found
    why = " (the same secret is the mTLS client identity)" if "clientAuth" in lacking else ""
    return Status.FAIL, (f"expected the certificate served by {ep.spec.id} to allow {', '.join(lacking)}{why}; "
                         f"its extendedKeyUsage is {found['eku']}: add usages 'server auth' and 'client auth'"), found


def _key_strength(ev, ep, pod, profile):
    chain = _served_chain(ep, pod)
    r = facts.key_strength([_cert(d) for d in chain], rsa_min_bits=profile.rsa_min_bits, ec_min_bits=profile.ec_min_bits)
    f = facts.certificate_facts(chain[0])
    found = {**_leaf_facts(chain[0]), "key": f"{f.key_type} {f.key_bits}", "signature": f.signature_algorithm}
    if r.ok:
        return Status.PASS, f"{f.key_type} {f.key_bits}-bit key, {f.signature_algorithm}", found
    return Status.FAIL, f"{ep.spec.id}: " + "; ".join(r.problems), found


def _served_matches_secret(ev, ep, pod, profile):
    if ep.spec.secret is None:
        _error(f"no secret is configured for {ep.spec.id} ({', '.join(ep.spec.sources[:1])} names none): there is no "
               "certificate the served one should match")
    secret = ev.secret(ep.spec.secret.namespace, ep.spec.secret.name)
    if secret is None or not secret.found or not secret.cert_chain_der:
        why = (secret.error.rstrip(".") if secret and secret.error else "; ".join(secret.problems)
               if secret and secret.problems else "missing or without tls.crt")
        _error(f"the configured secret {ep.spec.secret.namespace}/{ep.spec.secret.name} could not be read "
               f"({why}); see K-SECRET-PRESENT")
    chain = _served_chain(ep, pod)
    expected_fp = facts.certificate_facts(secret.cert_chain_der[0]).sha256_fingerprint
    served = facts.certificate_facts(chain[0])
    found = {"secret_fingerprint_sha256": expected_fp, "fingerprint_sha256": served.sha256_fingerprint}
    if served.sha256_fingerprint != expected_fp:
        fix = _fallback(chain) or ": restart it so that it loads the renewed certificate"
        return Status.FAIL, (f"expected every pod behind {ep.spec.service} to serve the tls.crt of secret "
                             f"{secret.ref} ({expected_fp[:16]}...); pod {pod.pod} serves "
                             f"{served.sha256_fingerprint[:16]}... (notAfter {served.not_after.isoformat()}){fix}"), found
    return Status.PASS, f"serves the tls.crt of secret {secret.ref}", found


# -- transport --------------------------------------------------------------------------------------------------


def _answers_plaintext(pod: PodEvidence) -> bool:
    plain = pod.attempt(PLAINTEXT)
    return bool(plain and plain.observed and (plain.result.http1_answered or plain.result.h2c_settings))


def observed_mode(ep: EndpointEvidence, pod: PodEvidence) -> tuple[str | None, str]:
    """What the pod's port does, from behaviour with and without a client certificate:
    ('plaintext' | 'tls' | 'mtls' | 'tls+plaintext' | 'mtls+plaintext' | None, how we know)."""
    mtls = ep.spec.mode is Mode.MTLS
    bare = pod.attempt(Key.client(ClientCert.NONE) if mtls else BASELINE)
    with_cert = pod.attempt(BASELINE if mtls else Key.client(ClientCert.CONFIGURED))
    plain = _answers_plaintext(pod)
    also = "+plaintext" if plain else ""
    also_how = " (and the port answered a plaintext request too)" if plain else ""
    bare_r = bare.result if bare is not None and bare.observed else None
    cert_r = with_cert.result if with_cert is not None and with_cert.observed else None
    if bare_r is not None and _tls_accepted(bare_r):
        return "tls" + also, "a handshake without a client certificate was accepted" + also_how
    if bare_r is not None and _tls_refusal(bare_r):
        if cert_r is not None and cert_r.outcome is HandshakeOutcome.ACCEPTED:
            return "mtls" + also, ("a handshake without a client certificate was refused "
                                   f"({_how_refused(bare_r)}), one with the configured certificate accepted" + also_how)
        if bare_r.late_rejection and bare_r.version == "TLSv1.3":  # TLS 1.2 settles client certificates in it
            return "mtls" + also, ("a handshake without a client certificate completed and was then refused "
                                   f"({_how_refused(bare_r)}): the port demands client certificates" + also_how)
    if plain:
        return "plaintext", "the port answered a plaintext request"
    reasons = []
    for attempt in (bare, with_cert):
        if attempt is not None:
            reasons.append(f"'{attempt.key}': {attempt.error or attempt.result.detail}")
    if bare_r is not None and _tls_refusal(bare_r):
        reasons.append("no accepted handshake with a client certificate tells mTLS from a refusal for another reason")
    return None, "; ".join(reasons) or "no observation"


# Modes from weakest to strongest: a profile's demand raises the configured mode, never lowers it.
_MODE_ORDER = (Mode.PLAINTEXT, Mode.TLS, Mode.MTLS)


def _expected_mode(ep: EndpointEvidence, profile: Profile) -> tuple[Mode, str]:
    """The mode T-MODE-MATCHES-CONFIG expects, and why: the configured one, unless the profile demands more."""
    configured = ep.spec.mode
    demanded = profile.demanded_mode(ep.spec.id)
    if demanded is not None and _MODE_ORDER.index(Mode(demanded)) > _MODE_ORDER.index(configured):
        return Mode(demanded), (f" (the profile '{profile.name}' demands it; the configuration has "
                                f"{_mode_name(configured)}{_keys(ep.spec)})")
    return configured, _keys(ep.spec)


def _mode_matches(ev, ep, pod, profile):
    mode, how = observed_mode(ep, pod)
    expected_mode, why = _expected_mode(ep, profile)
    expected = expected_mode.value
    found = {"expected_mode": expected, "observed_mode": mode or "unknown"}
    if mode is None:
        _error(f"the mode of {ep.spec.id} port {ep.spec.port} could not be told: {how}")
    if mode == expected:
        as_what = "as configured" if expected_mode is ep.spec.mode else f"as the profile '{profile.name}' demands"
        return Status.PASS, f"{ep.spec.id} port {ep.spec.port} is {_mode_name(expected_mode)} {as_what} ({how})", found
    return Status.FAIL, (f"expected {ep.spec.id} port {ep.spec.port} to be {_mode_name(expected_mode)}{why}; "
                         f"observed {mode} ({how})"), found


def _handshake_ok(ev, ep, pod, profile):
    if ep.spec.mode is Mode.MTLS and ep.missing_identity(ClientCert.CONFIGURED):
        # Without the configured client certificate the server is right to refuse us: nothing to judge.
        _error(f"{ep.spec.id}: no configured client certificate to offer: "
               f"{ep.missing_identity(ClientCert.CONFIGURED)}; see K-SECRET-PRESENT")
    r = _attempt(ep, pod, BASELINE).result
    found = {"version": r.version or "", "cipher": r.cipher or "", "sni": r.offer.server_name or ""}
    if r.outcome is HandshakeOutcome.ACCEPTED:
        return Status.PASS, f"{r.version} {r.cipher} with SNI {r.offer.server_name}", found
    client = " with the configured client certificate" if r.offer.client else ""
    if ep.spec.kind == "knative" and not ep.hosts:
        # Envoy answers only the names it routes: refusing a made-up name is what a correct Contour does.
        _error(f"{ep.spec.id}: no knative service host is known ({ep.hosts_error or 'none exists'}), and the probe "
               f"name {r.offer.server_name} was refused, as Envoy refuses any name it has no route for: {r.detail}")
    if r.outcome is HandshakeOutcome.REJECTED and (_tls_refusal(r) or r.rejection is Rejection.NOT_TLS):
        found["rejection"] = r.alert or r.rejection.value
        return Status.FAIL, (f"expected a TLS handshake with SNI {r.offer.server_name}{client} to complete on "
                             f"{ep.spec.id}; observed: {r.detail}"), found
    _error(f"{ep.spec.id}: the handshake could not be judged: {r.detail}")


def _plaintext_refused(ev, ep, pod, profile):
    r = _attempt(ep, pod, PLAINTEXT).result
    found = {"http1": str(r.http1_status or r.http1_refusal or ""), "h2c_settings": str(r.h2c_settings)}
    if r.http1_answered or r.h2c_settings:
        what = []
        if r.http1_answered:
            what.append(f"an HTTP/1.1 request got status {r.http1_status}")
        if r.h2c_settings:
            what.append("an HTTP/2 cleartext preface got a SETTINGS frame")
        return Status.FAIL, (f"expected the TLS port of {ep.spec.id} to serve nothing in plaintext; observed: "
                             f"{' and '.join(what)}"), found
    unclear = [f"{what}: {why}" for what, why in (("HTTP/1.1", r.http1_refusal), ("h2c", r.h2c_refusal))
               if why not in _PLAINTEXT_REFUSALS]
    if unclear:
        # Silence, or bytes that are neither HTTP nor TLS, is no refusal: a slow or sniffing server says nothing.
        _error(f"cannot judge {ep.spec.id}: plaintext got no clear refusal ({'; '.join(unclear)}): {r.detail}")
    _baseline(ep, pod)  # a close means something only from a port that speaks TLS
    return Status.PASS, f"plaintext refused ({r.http1_refusal}, h2c {r.h2c_refusal})", found


# What a TLS port's answer to plaintext must be to count as a refusal (probes.plaintext's refusal words).
_PLAINTEXT_REFUSALS = frozenset({"closed", "reset", "tls-alert", "https-port-400", "http1-400"})


@dataclass
class _Offers:
    """What became of the offers a server must refuse."""

    accepted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    unobserved: list[str] = field(default_factory=list)

    def facts(self) -> dict[str, str]:
        return {"accepted": ", ".join(self.accepted), "refused": ", ".join(self.refused),
                "unobserved": "; ".join(self.unobserved)}

    def judge(self, ep: EndpointEvidence, pod: PodEvidence, what: str, fix: str):
        """Fail on any acceptance; else error on anything unobserved; else pass, once the baseline completed."""
        if self.accepted:
            return Status.FAIL, f"expected {ep.spec.id} to refuse {what}; it accepted {', '.join(self.accepted)}: {fix}", \
                self.facts()
        if self.unobserved:
            _error(f"cannot judge {ep.spec.id}: " + "; ".join(self.unobserved))
        _baseline(ep, pod)
        return Status.PASS, f"refused {', '.join(self.refused)} by TLS", self.facts()


def _observed_result(pod: PodEvidence, key: Key, offers: _Offers, label: str):
    """The result of ``key`` on the pod, or None after noting why it tells nothing."""
    attempt = pod.attempt(key)
    if attempt is None:
        offers.unobserved.append(f"{label}: not offered")
    elif not attempt.observed:
        offers.unobserved.append(f"{label}: {attempt.error or 'nothing was observed'}")
    else:
        return attempt.result
    return None


def _legacy_refused(ev, ep, pod, profile):
    if not profile.refused_versions:
        _skip(f"the profile '{profile.name}' accepts every version from {profile.min_version} on: nothing to refuse")
    offers = _Offers()
    for version in profile.refused_versions:
        result = _observed_result(pod, Key.legacy(version), offers, version)
        if result is None:
            continue
        verdict = hello_verdict(result)
        if verdict is HelloVerdict.ACCEPTED:
            offers.accepted.append(f"{version} ({result.server_hello.suite_name})")
        elif verdict is HelloVerdict.REFUSED:
            offers.refused.append(version)
        else:
            offers.unobserved.append(f"{version}: {result.answer.detail}")
    return offers.judge(ep, pod, f"protocol versions below {profile.min_version}",
                        f"set the server's minimum version to {profile.min_version}{_settings(ep)}")


def _forbidden_suites(ev, ep, pod, profile, what: str, forbidden, fix: str):
    """Judge the per-version suite scans for the accepted suites ``forbidden(code)`` picks out."""
    offers = _Offers()
    for version in SUITE_SCAN_VERSIONS:
        scan = _observed_result(pod, Key.suites(version), offers, version.value)
        if scan is None:
            continue
        offers.accepted += [f"{s.name} at {version.value}" for s in scan.accepted if forbidden(s.code)]
        if scan.unjudged:
            offers.unobserved.append(f"{version.value}: {len(scan.unjudged)} suite(s) not judged ({scan.detail})")
        else:
            offers.refused.append(f"every such suite at {version.value}")
    return offers.judge(ep, pod, what, fix)


@functools.lru_cache(maxsize=None)
def _weak_codes(profile: Profile) -> frozenset[int]:
    return frozenset(code for v in SUITE_SCAN_VERSIONS for code in weak_suites(profile, v))


def _weak_refused(ev, ep, pod, profile):
    weak = _weak_codes(profile)
    return _forbidden_suites(ev, ep, pod, profile, f"weak cipher suites ({', '.join(profile.weak_cipher_families)})",
                             weak.__contains__,
                             f"remove them from the server's cipher suite list{_settings(ep)}")


def _forward_secrecy(ev, ep, pod, profile):
    return _forbidden_suites(ev, ep, pod, profile, "suites without forward secrecy at TLS 1.2 and below",
                             lambda code: not is_forward_secret(code),
                             f"offer only ECDHE (or DHE) suites (NIST SP 800-52r2 3.3.1){_settings(ep)}")


def _settings(ep: EndpointEvidence) -> str:
    return f" ({ep.spec.tls_settings})" if ep.spec.tls_settings else ""


def _secure_renegotiation(ev, ep, pod, profile):
    reneg = _attempt(ep, pod, RENEGOTIATION).result
    compression = _attempt(ep, pod, COMPRESSION).result
    found = {"renegotiation_info": str(reneg.secure_renegotiation), "compression": str(compression.method)}
    problems = []
    if reneg.secure_renegotiation is False:
        problems.append("its TLS 1.2 ServerHello carries no renegotiation_info (RFC 5746)")
    if compression.compression_accepted:
        problems.append(f"it chose TLS compression (method {compression.method}; CRIME)")
    if problems:
        return Status.FAIL, f"expected {ep.spec.id} to renegotiate securely and refuse compression; " + \
            " and ".join(problems), found
    undetermined = [c for c in (reneg, compression) if c.attempt is None or c.attempt.verdict is HelloVerdict.UNDETERMINED]
    if undetermined:
        _error(f"cannot judge {ep.spec.id}: " + "; ".join(c.detail for c in undetermined))
    _baseline(ep, pod)
    if reneg.secure_renegotiation is None and compression.compression_accepted is not None:
        _error(f"cannot judge {ep.spec.id}: the renegotiation hello was refused ({reneg.detail}), yet another TLS 1.2 "
               f"hello on the same pod was accepted ({compression.detail})")
    if reneg.secure_renegotiation is None:  # refused: the server speaks no TLS 1.2 or lower at all
        return Status.PASS, f"refuses TLS 1.2 and below, where renegotiation exists ({reneg.detail})", found
    return Status.PASS, "the TLS 1.2 ServerHello carries renegotiation_info, and compression was declined", found


def _downgrade_scsv(ev, ep, pod, profile):
    check = _attempt(ep, pod, FALLBACK).result
    found = {"verdict": check.verdict.value, "highest": getattr(check.highest, "value", "") or "",
             "fallback_version": getattr(check.fallback_version, "value", "") or ""}
    if check.verdict is FallbackVerdict.UNPROTECTED:
        return Status.FAIL, (f"expected {ep.spec.id} to refuse a {check.fallback_version.value} ClientHello carrying "
                             f"TLS_FALLBACK_SCSV with 'inappropriate fallback' (it supports "
                             f"{check.highest.value}); it accepted it: {check.detail}"), found
    if check.verdict is FallbackVerdict.UNDETERMINED:
        _error(f"cannot judge {ep.spec.id}: {check.detail}")
    _baseline(ep, pod)
    if check.verdict is FallbackVerdict.NOT_APPLICABLE:
        # The fallback hello was refused. If the same version without the SCSV is accepted (the renegotiation
        # check's ServerHello), the SCSV is what the server refused: a downgrade fails, if not with RFC 7507's alert.
        same = _accepted_version(pod, RENEGOTIATION)
        if check.fallback_version is not None and same is None:
            _error(f"cannot judge {ep.spec.id}: the fallback hello was refused, and no hello at "
                   f"{check.fallback_version.value} without the SCSV was observed to compare ({check.detail})")
        if check.fallback_version is not None and same is check.fallback_version:
            return Status.PASS, (f"a {same.value} ClientHello carrying TLS_FALLBACK_SCSV was refused while one "
                                 f"without it was accepted ({check.detail})"), found
        _skip(f"{ep.spec.id} has no lower version to fall back to ({check.detail})")
    return Status.PASS, f"a fallback ClientHello got 'inappropriate fallback' ({check.detail})", found


def _accepted_version(pod: PodEvidence, key: Key):
    """The version of the ServerHello that the hello check ``key`` got, None when it got none."""
    attempt = pod.attempt(key)
    check = attempt.result if attempt is not None and attempt.observed else None
    hello = getattr(getattr(check, "attempt", None), "result", None)
    server_hello = hello.server_hello if hello is not None and hello_verdict(hello) is HelloVerdict.ACCEPTED else None
    return server_hello.version if server_hello is not None else None


def _x509_strict(ev, ep, pod, profile):
    chain = _served_chain(ep, pod)
    if not ep.anchors_der:
        _error(f"{_no_anchor(ev, ep)} (see K-SECRET-PRESENT), or pass --direktiv-ca-file {ep.spec.id}=PATH"
               f"{_fallback(chain)}")
    name = ep.spec.expected_names[0] if ep.spec.expected_names else ep.spec.server_name
    result = facts.verify_strict(chain, [_cert(d) for d in ep.anchors_der], name)
    found = _leaf_facts(chain[0])
    if result.trusted:
        return Status.PASS, f"{result.reason} for {name}", found
    fix = _fallback(chain) or ": reissue it with a subject and the name in subjectAltName, from a CA with keyCertSign"
    return Status.FAIL, (f"expected the chain served by {ep.spec.id} to pass a strict RFC 5280 verifier (rustls, "
                         f"recent Go and Python clients) for {name}; {result.reason}{fix}"), found


def _alpn_h2(ev, ep, pod, profile):
    # The server chose ALPN in any completed handshake, even one it refused afterwards for a missing certificate.
    attempts = [pod.attempt(k) for k in SERVED_CHAIN_FROM if pod.attempt(k) is not None]
    completed = [a.result for a in attempts if a.observed and a.result.completed]
    if not completed:
        why = "; ".join(f"'{a.key}': {a.error or a.result.detail}" for a in attempts) or "no handshake was made"
        _error(f"{ep.spec.id}: no handshake completed to see ALPN ({why}); see T-TLS-HANDSHAKE")
    r = completed[0]
    found = {"alpn": r.alpn or ""}
    if r.alpn == "h2":
        return Status.PASS, "ALPN h2 negotiated", found
    return Status.FAIL, (f"expected {ep.spec.id} to negotiate ALPN h2 (gRPC clients require it); observed "
                         f"{r.alpn or 'no ALPN'}"), found


# -- mutual TLS --------------------------------------------------------------------------------------------------


def _valid_cert_accepted(ev, ep, pod, profile):
    if ep.missing_identity(ClientCert.CONFIGURED):
        _error(f"{ep.spec.id}: no configured client certificate: {ep.missing_identity(ClientCert.CONFIGURED)}")
    shake = _attempt(ep, pod, BASELINE).result
    found = {"handshake": shake.outcome.value}
    secret = f"{ep.spec.secret.namespace}/{ep.spec.secret.name}"
    if _tls_refusal(shake):
        found["rejection"] = _how_refused(shake)
        return Status.FAIL, (f"expected {ep.spec.id} to accept the configured client certificate of secret {secret}; "
                             f"it refused it by TLS: {shake.detail}"), found
    if shake.outcome is not HandshakeOutcome.ACCEPTED:
        _error(f"{ep.spec.id}: the handshake with the configured client certificate could not be judged: "
               f"{shake.detail}")
    rpc = _attempt(ep, pod, GRPC_HEALTH).result
    found["grpc_status"] = rpc.code
    if rpc.reached_server:
        return Status.PASS, f"accepted the configured client certificate; health check answered {rpc.code}", found
    # The server accepted the certificate in our handshake; grpcio's call failing (its own check of the server's
    # certificate, a deadline) is our side's failure, not evidence against the server.
    _error(f"{ep.spec.id}: the server accepted the configured client certificate in the handshake, but the gRPC "
           f"health call did not reach it ({rpc.code} {rpc.detail}".rstrip() + "); see C-CHAIN-TRUSTED and C-SAN-MATCH "
           "for what grpcio checks of the server")


def _rejects(label: ClientCert, what: str):
    key = Key.client(label)

    def judge_pod(ev, ep, pod, profile):
        reason = ep.missing_identity(label)
        if reason == CA_KEY_NOT_GIVEN:
            _skip(f"{ep.spec.id}: {what} not tested: {reason}")  # the CA key was not given or not readable
        if reason:
            _error(f"{ep.spec.id}: {what} could not be made: {reason}")
        r = _attempt(ep, pod, key).result
        found = {"outcome": r.outcome.value, "rejection": r.alert or (r.rejection.value if r.rejection else ""),
                 "version": r.version or "", "late_rejection": str(r.late_rejection)}
        if _tls_accepted(r):
            return Status.FAIL, (f"expected {ep.spec.id} to reject {what}; it was accepted ({r.version}, {r.detail}): "
                                 "the server must require and verify client certificates against the secret's "
                                 "ca.crt"), found
        if not _tls_refusal(r):
            _error(f"cannot judge {ep.spec.id}: {what}: not a TLS refusal ({r.detail})")
        _baseline(ep, pod)
        return Status.PASS, f"{what} was refused by TLS ({_how_refused(r)}; {r.detail})", found
    return judge_pod


# -- HTTP and knative -----------------------------------------------------------------------------------------


def _https_responds(ev, ep, pod, profile):
    r = _attempt(ep, pod, HTTPS_GET).result
    found = {"status": str(r.status or "")}
    if r.status is None:
        _error(f"{ep.spec.id}: the HTTPS GET got no response: {r.error}")
    if r.status < 500:
        return Status.PASS, f"HTTPS GET answered {r.status}", found
    return Status.FAIL, f"expected an HTTPS GET on {ep.spec.id} to answer below 500; observed {r.status}", found


def _hsts(ev, ep, pod, profile):
    r = _attempt(ep, pod, HTTPS_GET).result
    found = {"strict_transport_security": r.hsts or ""}
    if r.status is None:
        _error(f"{ep.spec.id}: the HTTPS GET got no response: {r.error}")
    max_age = hsts_max_age(r.hsts)
    wanted = profile.hsts_min_days * 86400
    if max_age is None:
        return Status.FAIL, (f"expected the HTTPS answer of {ep.spec.id} to carry Strict-Transport-Security with "
                             f"max-age >= {wanted} ({profile.hsts_min_days} days); "
                             + (f"its header '{r.hsts}' has no valid max-age" if r.hsts else "it carries none")
                             + ": set it on the Ingress (Contour: HTTPProxy responseHeadersPolicy)"), found
    if max_age < wanted:
        return Status.FAIL, (f"expected Strict-Transport-Security max-age >= {wanted} ({profile.hsts_min_days} days) "
                             f"on {ep.spec.id}; observed max-age={max_age}"), found
    return Status.PASS, f"Strict-Transport-Security: {r.hsts}", found


def hsts_max_age(header: str | None) -> int | None:
    """The max-age of a Strict-Transport-Security header value (RFC 6797 6.1), None when absent or invalid."""
    if not header:
        return None
    ages = [d.strip() for d in header.split(";") if d.strip().lower().startswith("max-age")]
    if len(ages) != 1:
        return None
    _, _, value = ages[0].partition("=")
    value = value.strip().strip('"')
    return int(value) if value.isdigit() else None


def _http_redirects(ev, ep, pod, profile):
    r = _attempt(ep, pod, HTTP_REDIRECT).result
    found = {"status": str(r.status or ""), "location": r.location or ""}
    if r.status is None:
        _error(f"{ep.spec.id}: plain HTTP on port {ep.spec.redirect_port} got no response: {r.error}")
    if 300 <= r.status < 400 and (r.location or "").lower().startswith("https://"):
        return Status.PASS, f"plain HTTP redirects ({r.status}) to {r.location}", found
    return Status.FAIL, (f"expected plain HTTP on {ep.spec.id} port {ep.spec.redirect_port} to redirect to https; "
                         f"observed {r.status} {('to ' + r.location) if r.location else 'without redirect'}: "
                         "annotate the Ingress with ingress.kubernetes.io/force-ssl-redirect: \"true\""), found


def _tls_endpoint_with_real_hosts(ev: Evidence, endpoint: str) -> EndpointEvidence:
    """A TLS endpoint whose refusals mean something: knative only when its probes used real service hosts (Contour
    sets TLS parameters per HTTPProxy, so a fallback filter chain's answer to a made-up name says nothing)."""
    ep = _tls_endpoint(ev, endpoint)
    if ep.spec.kind == "knative" and not ep.hosts:
        _error(f"{endpoint}: no knative service host is known ({ep.hosts_error or 'none exists'}): what the probe "
               "name was answered proves nothing about the hosts Contour routes")
    return ep


def _knative_hosts(ev: Evidence, endpoint: str) -> EndpointEvidence:
    ep = _tls_endpoint(ev, endpoint)
    if ep.hosts_error:
        _error(f"the knative hosts are unknown, so their coverage cannot be judged: {ep.hosts_error}")
    if not ep.hosts:
        _skip(f"no knative service exists in {ev.topology.services_namespace}: no host to cover")
    return ep


def _sni_coverage(ev, ep, pod, profile):
    if not ep.anchors_der:
        _error(f"{_no_anchor(ev, ep)} (see K-SECRET-PRESENT)")
    anchors = [_cert(d) for d in ep.anchors_der]
    bad, unobserved = [], []
    for host in ep.hosts:
        attempt = pod.attempt(Key.sni(host))
        if attempt is None or attempt.error:
            unobserved.append(f"{host}: {attempt.error if attempt else 'not probed'}")
            continue
        chain = attempt.result.peer_chain_der
        if not chain:
            if _tls_refusal(attempt.result):
                bad.append(f"{host}: no certificate ({attempt.result.detail})")
            else:
                unobserved.append(f"{host}: {attempt.result.detail}")
            continue
        coverage = facts.names_covered(_cert(chain[0]), [host])
        trust = facts.verify_chain(chain, anchors)
        if coverage.missing:
            bad.append(f"{host}: served certificate does not cover it (SANs "
                       f"{', '.join(facts.certificate_facts(chain[0]).dns_names)})")
        elif not trust.trusted:
            bad.append(f"{host}: {trust.reason}")
    found = {"hosts": str(len(ep.hosts)), "failing": str(len(bad))}
    if bad:
        return Status.FAIL, (f"expected the internal Contour to serve a covering certificate trusted by "
                             f"{ep.anchor_source} for every knative host; " + "; ".join(bad[:10])
                             + (f"; and {len(bad) - 10} more" if len(bad) > 10 else "")), found
    if unobserved:
        _error("; ".join(unobserved[:10]))
    return Status.PASS, f"all {len(ep.hosts)} knative host(s) get a covering, trusted certificate", found


# -- cluster objects ----------------------------------------------------------------------------------------------


def _required(ev: Evidence):
    for req in ev.topology.secrets:
        for ns in req.namespaces:
            yield req, ns, ev.secret(ns, req.name)


def _no_secrets() -> None:
    _skip("the expected configuration names no TLS secret")


def _secret_present(ev: Evidence, endpoint: str, profile: Profile):
    problems, errors, fine = [], [], []
    count = 0
    for req, ns, s in _required(ev):
        count += 1
        why = "; ".join(req.purposes_in(ns) or req.purposes)
        if s is None or s.error:
            errors.append(f"secret {ns}/{req.name}: {s.error if s else 'not read'}")
        elif not s.found:
            problems.append(f"secret {ns}/{req.name} is missing (needed for {why}): create it or copy it into namespace {ns}")
        else:
            lacking = [k for k in ("tls.crt", "tls.key") if k not in s.keys]
            if s.type != "kubernetes.io/tls":
                problems.append(f"secret {ns}/{req.name} has type {s.type}, expected kubernetes.io/tls")
            if lacking:
                problems.append(f"secret {ns}/{req.name} lacks {', '.join(lacking)}")
            if "ca.crt" not in s.keys:  # fine only from an ACME issuer, where nothing reads it
                absent = trust.ca_crt_absence(trust.acme_issuance_in(ev.objects, SecretRef(ns, req.name)),
                                              [use.source for use in req.uses if use.namespace == ns])
                {trust.Absence.FINE: fine, trust.Absence.NEEDED: problems,
                 trust.Absence.UNKNOWN: errors}[absent.status].append(absent.reason)
            for problem in s.problems:  # the keys are there but do not hold what they must: the cluster's fault
                problems.append(f"{problem}: reissue secret {ns}/{req.name}")
    if count == 0:
        _no_secrets()
    if problems:
        return Status.FAIL, "; ".join(problems), {"failing": str(len(problems))}
    if errors:
        _error("; ".join(errors))
    if fine:
        return Status.PASS, (f"all {count} required secret copies exist with tls.crt, tls.key and ca.crt, "
                             f"except: {'; '.join(fine)}"), {"acme": str(len(fine))}
    return Status.PASS, f"all {count} required secret copies exist with tls.crt, tls.key and ca.crt", {}


def _present(ev: Evidence):
    """The required secret copies that exist; an error when any required copy could not be read or is missing,
    since a control over 'every secret' cannot pass on some of them."""
    found = [(req, ns, s) for req, ns, s in _required(ev) if s is not None and s.found]
    if not list(_required(ev)):
        _no_secrets()
    unread = [f"secret {ns}/{req.name}: " + (s.error.rstrip(".") if s is not None and s.error else "missing")
              for req, ns, s in _required(ev) if s is None or not s.found]
    if found and unread:
        more = f", and {len(unread) - 1} more" if len(unread) > 1 else ""
        _error(f"not every required secret could be judged ({unread[0]}{more}); see K-SECRET-PRESENT")
    if not found:
        errors = [f"secret {ns}/{req.name}: {s.error.rstrip('.')}" for req, ns, s in _required(ev) if s and s.error]
        more = f", and {len(errors) - 1} more" if len(errors) > 1 else ""
        _error(f"none of the required secrets could be read ({errors[0]}{more}); see K-SECRET-PRESENT" if errors
               else "none of the required secrets exists; see K-SECRET-PRESENT")
    return found


def _secret_keypair(ev: Evidence, endpoint: str, profile: Profile):
    bad, unknown = [], []
    found = _present(ev)
    for req, ns, s in found:
        if s.key_matches is False:
            bad.append(f"secret {ns}/{req.name}: tls.key is not the private key of tls.crt")
        elif s.key_matches is None:
            lacking = [k for k in ("tls.crt", "tls.key") if k not in s.keys]
            unknown.append(f"secret {ns}/{req.name}: " + (f"lacks {' and '.join(lacking)}; see K-SECRET-PRESENT"
                                                           if lacking else "; ".join(s.problems)
                                                           + "; see K-SECRET-PRESENT" if s.problems
                                                           else "the pair could not be compared"))
    if bad:
        return Status.FAIL, "; ".join(bad) + ": reissue the certificate so tls.crt and tls.key belong together", {}
    if unknown:
        _error("; ".join(unknown))
    return Status.PASS, f"tls.key matches tls.crt in {len(found)} secret(s)", {}


def _secret_chain(ev: Evidence, endpoint: str, profile: Profile):
    bad, unknown, compared = [], [], 0
    found = _present(ev)
    for req, ns, s in found:
        if not s.cert_chain_der or not s.ca_der:
            if s.problems:
                unknown.append(f"secret {ns}/{req.name}: {'; '.join(s.problems)}; see K-SECRET-PRESENT")
            continue
        compared += 1
        r = facts.verify_chain(s.cert_chain_der, [_cert(d) for d in s.ca_der])
        if not r.trusted:
            bad.append(f"secret {ns}/{req.name}: tls.crt does not chain to its ca.crt ({r.reason})")
    if bad:
        return Status.FAIL, "; ".join(bad), {}
    if unknown:
        _error("; ".join(unknown))
    if not compared:
        _skip("no required secret holds both tls.crt and ca.crt (an ACME-issued one has no ca.crt): nothing to chain")
    return Status.PASS, f"tls.crt chains to ca.crt in all {compared} secret(s) that have both", {}


def _ca_consistent(ev: Evidence, endpoint: str, profile: Profile):
    groups = ev.topology.ca_groups
    if not groups:
        _skip("no two secrets are required to share a CA under this configuration")
    bad, judged, unread, failed_reads = [], 0, [], []
    for group in groups:
        first = group.members[0]
        a = ev.secret(first.namespace, first.name)
        for other in group.members[1:]:
            b = ev.secret(other.namespace, other.name)
            label = f"{first} and {other}"
            if not (a and a.found and a.cert_chain_der and a.ca_der and b and b.found and b.cert_chain_der and b.ca_der):
                errors = [f"secret {s.ref}: {s.error}" for s in (a, b) if s is not None and s.error]
                if errors:
                    failed_reads.extend(errors)
                else:
                    unread.append(label)
                continue
            judged += 1
            ok_ab = facts.verify_chain(a.cert_chain_der, [_cert(d) for d in b.ca_der]).trusted
            ok_ba = facts.verify_chain(b.cert_chain_der, [_cert(d) for d in a.ca_der]).trusted
            if not (ok_ab and ok_ba):
                bad.append(f"{label} are issued by different CAs ({group.reason}): reissue both from the same issuer")
    if bad:
        return Status.FAIL, "; ".join(bad), {}
    if failed_reads:
        _error("; ".join(dict.fromkeys(failed_reads)))
    if judged and unread:
        _error(f"some secret pairs could not be compared ({'; '.join(unread)}); see K-SECRET-PRESENT")
    if not judged:
        _skip(f"the secrets to compare are missing or incomplete ({'; '.join(unread)}); see K-SECRET-PRESENT")
    return Status.PASS, f"{judged} secret pair(s) share their CA", {}


def _functions_ca(ev: Evidence, endpoint: str, profile: Profile):
    x = ev.topology.functions_ca
    if not x.applies:
        _skip(x.reason)
    if x.secret is None:
        return Status.FAIL, f"{x.reason}: set flow.functionsCA to the secret holding the knative CA", {}
    s = ev.secret(x.secret.namespace, x.secret.name)
    if s is None or s.error:
        _error(f"secret {x.secret}: {s.error if s else 'not read'}")
    if not s.found:
        return Status.FAIL, (f"secret {x.secret} (flow.functionsCA) is missing: the flow pod mounts it from the release "
                             f"namespace; copy it into namespace {x.secret.namespace} (the TLS page only creates it in "
                             "contour-internal)"), {}
    return Status.PASS, f"secret {x.secret} exists", {}


def _object_value(ev: Evidence, name: str):
    read = ev.objects.get(name)
    if read is None:
        _error(f"{name} was not read")
    if read.error:
        _error(f"{read.what} could not be read: {read.error}")
    return read


def _delegation(ev: Evidence, endpoint: str, profile: Profile):
    x = ev.topology.delegation
    if not x.applies:
        _skip(x.reason)
    read = _object_value(ev, "delegations")
    if read.value is None:
        return Status.FAIL, f"no TLSCertificateDelegation can exist: {read.absent_reason}", {}
    for item in read.value:
        for d in (item.get("spec", {}) or {}).get("delegations", []) or []:
            targets = d.get("targetNamespaces") or []
            if d.get("secretName") == x.secret_name and any(t in targets for t in x.target_namespaces):
                name = item.get("metadata", {}).get("name", "?")
                return Status.PASS, f"TLSCertificateDelegation {x.namespace}/{name} delegates {x.secret_name} to {targets}", {}
    wanted = " or ".join(f'"{t}"' for t in x.target_namespaces)
    return Status.FAIL, (f"expected a TLSCertificateDelegation in {x.namespace} delegating secret {x.secret_name} to "
                         f"{wanted}; found {len(read.value)} delegation object(s) without it"), {}


def _contour_default_tls(ev: Evidence, endpoint: str, profile: Profile):
    x = ev.topology.contour_default_tls
    if not x.applies:
        _skip(x.reason)
    read = _object_value(ev, "config-contour")
    if read.value is None:
        return Status.FAIL, f"ConfigMap {x.namespace}/{x.configmap} is missing; expected {x.key}: {x.value}", {}
    actual = (read.value or {}).get(x.key)
    if actual == x.value:
        return Status.PASS, f"{x.key} is {x.value}", {}
    return Status.FAIL, (f"expected {x.configmap} {x.key}: {x.value}; observed {actual or 'none'}: "
                         f"kubectl patch cm {x.configmap} -n {x.namespace} -p "
                         f"'{{\"data\":{{\"{x.key}\":\"{x.value}\"}}}}'"), {}


def _protocol_consistent(ev: Evidence, endpoint: str, profile: Profile):
    x = ev.topology.protocol
    if not x.applies:
        _skip(x.reason)
    if x.consistent:
        return Status.PASS, x.reason, {}
    if x.https:
        return Status.FAIL, (f"{x.reason}: pod-based services would be dialled over https and answer plaintext; "
                             "set functions.initPodCertificate"), {}
    return Status.FAIL, f"{x.reason}: set flow.functionsProtocol: https (both service types must agree)", {}


def _initpod_san(ev: Evidence, endpoint: str, profile: Profile):
    x = ev.topology.init_pod_san
    if not x.applies:
        _skip(x.reason)
    s = ev.secret(x.secret.namespace, x.secret.name)
    if s is None or s.error or not s.found or not s.cert_chain_der:
        _error(f"secret {x.secret} could not be read; see K-SECRET-PRESENT")
    coverage = facts.names_covered(_cert(s.cert_chain_der[0]), x.sample_names)
    sans = ", ".join(facts.certificate_facts(s.cert_chain_der[0]).dns_names)
    if coverage.missing:
        return Status.FAIL, (f"the init-pod certificate {s.ref} does not cover the names the engine dials "
                             f"(e.g. {coverage.missing[0]}); its SANs are [{sans}]: add dnsName "
                             f"'{x.patterns[0]}'"), {"san": sans}
    return Status.PASS, f"the init-pod certificate covers {', '.join(x.sample_names)}", {"san": sans}


def _certmanager_ready(ev: Evidence, endpoint: str, profile: Profile):
    read = _object_value(ev, "certificates")
    if read.value is None:
        _skip(f"cert-manager is not installed ({read.absent_reason})")
    wanted = {(ns, req.name) for req in ev.topology.secrets for ns in req.namespaces}
    if not wanted:
        _no_secrets()
    not_ready, ready = [], 0
    for item in read.value:
        meta, spec = item.get("metadata", {}), item.get("spec", {})
        if (meta.get("namespace"), spec.get("secretName")) not in wanted:
            continue
        cond = next((c for c in (item.get("status", {}) or {}).get("conditions", []) or [] if c.get("type") == "Ready"), None)
        if cond and cond.get("status") == "True":
            ready += 1
        else:
            why = f": {cond.get('reason')}: {cond.get('message')}" if cond else ": no Ready condition"
            not_ready.append(f"Certificate {meta.get('namespace')}/{meta.get('name')} is not Ready{why}")
    if not_ready:
        return Status.FAIL, "; ".join(not_ready), {}
    if not ready:
        _skip("no cert-manager Certificate issues the named secrets")
    return Status.PASS, f"{ready} Certificate(s) Ready", {}


_JUDGES: dict[str, Callable] = {
    "K-SECRET-PRESENT": _secret_present,
    "K-SECRET-KEYPAIR": _secret_keypair,
    "K-SECRET-CHAIN": _secret_chain,
    "K-CA-CONSISTENT": _ca_consistent,
    "K-FUNCTIONS-CA": _functions_ca,
    "K-DELEGATION": _delegation,
    "K-CONTOUR-DEFAULT-TLS": _contour_default_tls,
    "K-PROTOCOL-CONSISTENT": _protocol_consistent,
    "K-INITPOD-SAN": _initpod_san,
    "K-CERTMANAGER-READY": _certmanager_ready,
    "C-CHAIN-TRUSTED": _pod_judge(_chain_trusted),
    "C-SAN-MATCH": _pod_judge(_san_match),
    "C-VALIDITY": _pod_judge(_validity),
    "C-EKU": _pod_judge(_eku),
    "C-KEY-STRENGTH": _pod_judge(_key_strength),
    "C-SERVED-MATCHES-SECRET": _pod_judge(_served_matches_secret),
    "T-MODE-MATCHES-CONFIG": _demanded_where_absent(_pod_judge(_mode_matches, _endpoint)),
    "T-TLS-HANDSHAKE": _pod_judge(_handshake_ok),
    "T-PLAINTEXT-REFUSED": _pod_judge(_plaintext_refused, _tls_endpoint_with_real_hosts),
    "T-LEGACY-PROTOCOLS-REFUSED": _pod_judge(_legacy_refused, _tls_endpoint_with_real_hosts),
    "T-WEAK-CIPHERS-REFUSED": _pod_judge(_weak_refused, _tls_endpoint_with_real_hosts),
    "T-ALPN-H2": _pod_judge(_alpn_h2),
    "T-FORWARD-SECRECY": _switchable("T-FORWARD-SECRECY", _pod_judge(_forward_secrecy, _tls_endpoint_with_real_hosts)),
    "T-SECURE-RENEGOTIATION": _switchable("T-SECURE-RENEGOTIATION", _pod_judge(_secure_renegotiation, _tls_endpoint_with_real_hosts)),
    "T-DOWNGRADE-SCSV": _switchable("T-DOWNGRADE-SCSV", _pod_judge(_downgrade_scsv, _tls_endpoint_with_real_hosts)),
    "C-X509-STRICT": _switchable("C-X509-STRICT", _pod_judge(_x509_strict)),
    "H-HSTS": _switchable("H-HSTS", _pod_judge(_hsts)),
    "M-VALID-CERT-ACCEPTED": _pod_judge(_valid_cert_accepted, _mtls_endpoint),
    "M-NO-CERT-REJECTED": _pod_judge(_rejects(ClientCert.NONE, "a client without a certificate"), _mtls_endpoint),
    "M-UNTRUSTED-CA-REJECTED": _pod_judge(_rejects(ClientCert.FOREIGN_CA, "a client certificate from a foreign CA"),
                                          _mtls_endpoint),
    "M-SELF-SIGNED-CLONE-REJECTED": _pod_judge(
        _rejects(ClientCert.SELF_SIGNED_CLONE, "a self-signed clone of the client certificate"), _mtls_endpoint),
    "M-EXPIRED-CERT-REJECTED": _pod_judge(
        _rejects(ClientCert.EXPIRED, "an expired client certificate from the right CA"), _mtls_endpoint),
    "M-NO-CLIENTAUTH-EKU-REJECTED": _pod_judge(
        _rejects(ClientCert.NO_CLIENTAUTH, "a certificate from the right CA without clientAuth"), _mtls_endpoint),
    "H-HTTPS-RESPONDS": _pod_judge(_https_responds),
    "H-HTTP-REDIRECTS": _pod_judge(_http_redirects),
    "N-SNI-COVERAGE": _pod_judge(_sni_coverage, _knative_hosts),
}


def judge(control_id: str, endpoint: str, evidence: Evidence, profile: Profile) -> Verdict:
    """The verdict of one control on one endpoint (``cluster`` for K-*)."""
    if not applies(control_id, endpoint):
        raise ValueError(f"control {control_id} is not judged on endpoint {endpoint!r}")
    try:
        status, message, found = _JUDGES[control_id](evidence, endpoint, profile)
    except _Verdict as v:
        status, message, found = v.status, v.message, v.found
    return Verdict(control_id, endpoint, status, message, dict(found))
