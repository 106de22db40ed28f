"""Judging: each control of the catalog as a pure function of the evidence.

``judge(control_id, endpoint_id, evidence, profile) -> Verdict``. Verdicts follow CONTROLS.md: **pass**;
**fail** (the installation breaks the control: expected vs observed, and the fix where it helps); **skip** (not
applicable under the expected configuration, with the reason); **error** (the suite could not observe, with why).
One misconfiguration fails the most specific control: a judge that lacks the facts another control is about
(a missing secret, a failed handshake) says *error* or *skip* and points there, it does not fail as well.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Mapping

from cryptography import x509

from probes import trust, x509 as facts
from probes.catalog import CLUSTER, applies
from probes.evidence import Attempt, EndpointEvidence, Evidence, SecretEvidence
from probes.profile import Profile
from probes.tls import HandshakeOutcome
from probes.topology import Mode, SecretRef

__all__ = ["Status", "Verdict", "judge", "observed_mode"]


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


# -- shared lookups ---------------------------------------------------------------------------------------------


def _keys(spec) -> str:
    return f" ({', '.join(spec.sources)})" if spec.sources else ""


def _tls_endpoint(ev: Evidence, endpoint: str) -> EndpointEvidence:
    ep = ev.endpoints.get(endpoint)
    if ep is None:
        _skip(f"{endpoint} is not part of the expected configuration")
    if not ep.spec.deployed:
        _skip(f"{endpoint} is not deployed: {ep.spec.explanation}")
    if ep.spec.mode is Mode.PLAINTEXT:
        _skip(f"TLS is not configured for {endpoint}{_keys(ep.spec)}")
    if ep.unreachable:
        _error(f"{endpoint} could not be observed: {ep.unreachable}")
    return ep


def _observed(ep: EndpointEvidence, name: str) -> Attempt:
    attempt = ep.attempt(name)
    if attempt is None:
        _error(f"no '{name}' observation was made on {ep.spec.id}")
    if attempt.error:
        _error(f"{ep.spec.id}: '{name}' could not be observed: {attempt.error}")
    return attempt


def _served_chain(ep: EndpointEvidence) -> tuple[bytes, ...]:
    result = _observed(ep, "default").result
    chain = tuple(getattr(result, "peer_chain_der", ()) or ())
    if not chain:
        _error(f"{ep.spec.id} served no certificate to judge ({result.detail}); see T-TLS-HANDSHAKE")
    return chain


def _no_anchor(ev: Evidence, ep: EndpointEvidence) -> str:
    """Why an endpoint has no trust anchor, naming the secret and the cause."""
    spec = ep.spec
    secret = ev.secret(spec.secret.namespace, spec.secret.name) if spec.secret else None
    if secret is not None and secret.error:
        return f"no trust anchor for {spec.id}: secret {secret.ref} could not be read ({secret.error.rstrip('.')})"
    if secret is not None and not secret.found:
        return f"no trust anchor for {spec.id}: secret {secret.ref} does not exist"
    # [trust] probes.trust says why there is none (no ca.crt, an ACME issuer that could not be read, ...)
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


def _chain_trusted(ev: Evidence, endpoint: str, profile: Profile):
    ep = _tls_endpoint(ev, endpoint)
    chain = _served_chain(ep)
    if not ep.anchors_der:
        _error(f"{_no_anchor(ev, ep)} (see K-SECRET-PRESENT), or pass --ca-file {endpoint}=PATH")  # [trust]
    result = facts.verify_chain(chain, [_cert(d) for d in ep.anchors_der])
    found = {**_leaf_facts(chain[0]), "anchor": ep.anchor_source or "", "trust_method": getattr(result.method, "value", str(result.method))}
    if result.trusted:
        return Status.PASS, f"the served chain validates to {ep.anchor_source} ({result.reason})", found
    return Status.FAIL, (f"expected the chain served by {endpoint} to validate to {ep.anchor_source}; "
                         f"observed: {result.reason}"), found


def _san_match(ev: Evidence, endpoint: str, profile: Profile):
    ep = _tls_endpoint(ev, endpoint)
    chain = _served_chain(ep)
    names = ep.spec.expected_names
    coverage = facts.names_covered(_cert(chain[0]), names)
    found = _leaf_facts(chain[0])
    if not coverage.missing:
        return Status.PASS, f"the leaf covers {', '.join(names)}", found
    return Status.FAIL, (f"expected the certificate served by {endpoint} to cover {', '.join(coverage.missing)}; "
                         f"its SANs are [{found['san'] or 'none'}]: reissue it with those dnsNames"), found


def _validity(ev: Evidence, endpoint: str, profile: Profile):
    ep = _tls_endpoint(ev, endpoint)
    chain = _served_chain(ep)
    v = facts.validity(_cert(chain[0]), min_days=profile.min_days_valid)
    found = {**_leaf_facts(chain[0]), "days_left": f"{v.days_left:.1f}"}
    if v.not_yet_valid:
        return Status.FAIL, f"the certificate served by {endpoint} is not valid yet (notBefore in the future)", found
    if v.expired:
        return Status.FAIL, f"the certificate served by {endpoint} expired on {found['not_after']}: renew it", found
    if not v.meets_minimum:
        return Status.FAIL, (f"expected at least {profile.min_days_valid} days of validity on {endpoint}; "
                             f"observed {v.days_left:.1f} days left (notAfter {found['not_after']}): renew it"), found
    return Status.PASS, f"valid for {v.days_left:.0f} more days", found


def _eku(ev: Evidence, endpoint: str, profile: Profile):
    ep = _tls_endpoint(ev, endpoint)
    chain = _served_chain(ep)
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
    return Status.FAIL, (f"expected the certificate served by {endpoint} to allow {', '.join(lacking)}{why}; "
                         f"its extendedKeyUsage is {found['eku']}: add usages 'server auth' and 'client auth'"), found


def _key_strength(ev: Evidence, endpoint: str, profile: Profile):
    ep = _tls_endpoint(ev, endpoint)
    chain = _served_chain(ep)
    r = facts.key_strength([_cert(d) for d in chain], rsa_min_bits=profile.rsa_min_bits, ec_min_bits=profile.ec_min_bits)
    f = facts.certificate_facts(chain[0])
    found = {**_leaf_facts(chain[0]), "key": f"{f.key_type} {f.key_bits}", "signature": f.signature_algorithm}
    if r.ok:
        return Status.PASS, f"{f.key_type} {f.key_bits}-bit key, {f.signature_algorithm}", found
    return Status.FAIL, f"{endpoint}: " + "; ".join(r.problems), found


def _served_matches_secret(ev: Evidence, endpoint: str, profile: Profile):
    ep = _tls_endpoint(ev, endpoint)
    secret = ev.secret(ep.spec.secret.namespace, ep.spec.secret.name) if ep.spec.secret else None
    if secret is None or not secret.found or not secret.cert_chain_der:
        why = (secret.error.rstrip(".") if secret and secret.error else "; ".join(secret.problems)
               if secret and secret.problems else "missing or without tls.crt")
        _error(f"the configured secret {ep.spec.secret.namespace}/{ep.spec.secret.name} could not be read "
               f"({why}); see K-SECRET-PRESENT")
    expected_fp = facts.certificate_facts(secret.cert_chain_der[0]).sha256_fingerprint
    unobserved = [p for p in ep.pod_leaves if p.leaf_der is None]
    stale = [(p.pod, facts.certificate_facts(p.leaf_der)) for p in ep.pod_leaves if p.leaf_der is not None
             and facts.certificate_facts(p.leaf_der).sha256_fingerprint != expected_fp]
    found = {"secret_fingerprint_sha256": expected_fp, "pods": ", ".join(p.pod for p in ep.pod_leaves)}
    if stale:
        detail = "; ".join(f"pod {pod} serves {f.sha256_fingerprint[:16]}... (notAfter {f.not_after.isoformat()})"
                           for pod, f in stale)
        return Status.FAIL, (f"expected every pod behind {ep.spec.service} to serve the tls.crt of secret "
                             f"{secret.ref} ({expected_fp[:16]}...); observed {detail}: restart those pods so they "
                             "load the renewed certificate"), found
    if unobserved:
        _error("; ".join(f"pod {p.pod}: {p.error}" for p in unobserved))
    return Status.PASS, f"all {len(ep.pod_leaves)} ready pod(s) serve the tls.crt of secret {secret.ref}", found


# -- transport --------------------------------------------------------------------------------------------------


def observed_mode(ep: EndpointEvidence) -> tuple[str | None, str]:
    """What the port does: ('plaintext' | 'tls' | 'mtls' | 'tls+plaintext' | None, how we know)."""
    plain = ep.attempt("plaintext")
    bare = ep.attempt("no-client-cert")
    with_cert = ep.attempts.get("default") if ep.spec.mode is Mode.MTLS else None
    plain_answers = bool(plain and plain.observed and (plain.result.http1_answered or plain.result.h2c_settings))
    bare_outcome = bare.result.outcome if bare and bare.observed else None
    if bare_outcome is HandshakeOutcome.ACCEPTED:
        return ("tls+plaintext" if plain_answers else "tls"), "a handshake without a client certificate was accepted"
    if bare_outcome is HandshakeOutcome.REJECTED and bare.result.completed or (
            bare_outcome is HandshakeOutcome.REJECTED and bare.result.alert):
        if with_cert and with_cert.observed and with_cert.result.outcome is HandshakeOutcome.ACCEPTED:
            return "mtls", "rejected without a client certificate, accepted with the configured one"
        if not plain_answers:
            return "mtls", "TLS that rejects a client without a certificate"
    if plain_answers:
        return "plaintext", "the port answered a plaintext request"
    if bare and bare.error:
        return None, bare.error
    return None, bare.result.detail if bare and bare.result else "no observation"


def _mode_matches(ev: Evidence, endpoint: str, profile: Profile):
    ep = ev.endpoints.get(endpoint)
    if ep is None:
        _skip(f"{endpoint} is not part of the expected configuration")
    if not ep.spec.deployed:
        _skip(f"{endpoint} is not deployed: {ep.spec.explanation}")
    if ep.unreachable:
        _error(f"{endpoint} could not be observed: {ep.unreachable}")
    mode, how = observed_mode(ep)
    expected = ep.spec.mode.value
    found = {"expected_mode": expected, "observed_mode": mode or "unknown"}
    if mode is None:
        _error(f"the mode of {endpoint} could not be told: {how}")
    if mode == expected:
        return Status.PASS, f"{endpoint} port {ep.spec.port} is {_mode_name(ep.spec.mode)} as configured ({how})", found
    return Status.FAIL, (f"expected {endpoint} port {ep.spec.port} to be {_mode_name(ep.spec.mode)}{_keys(ep.spec)}; "
                         f"observed {mode} ({how})"), found


def _handshake_ok(ev: Evidence, endpoint: str, profile: Profile):
    ep = _tls_endpoint(ev, endpoint)
    if ep.spec.mode is Mode.MTLS and ep.client_identities.get("configured"):
        # Without the configured client certificate the server is right to refuse us: nothing to judge.
        _error(f"{endpoint}: no configured client certificate to offer: {ep.client_identities['configured']}; "
               "see K-SECRET-PRESENT")
    attempt = _observed(ep, "default")
    r = attempt.result
    found = {"version": r.version or "", "cipher": r.cipher or "", "sni": r.offer.server_name or ""}
    if r.outcome is HandshakeOutcome.ACCEPTED:
        return Status.PASS, f"{r.version} {r.cipher} with SNI {r.offer.server_name}", found
    if r.outcome in (HandshakeOutcome.TIMEOUT, HandshakeOutcome.UNREACHABLE):
        _error(f"{endpoint}: the handshake could not be observed: {r.detail}")
    found["rejection"] = r.alert or (r.rejection.value if r.rejection else "")
    client = " with the configured client certificate" if r.offer.client else ""
    return Status.FAIL, (f"expected a TLS handshake with SNI {r.offer.server_name}{client} to complete on {endpoint}; "
                         f"observed: {r.detail}"), found


def _plaintext_refused(ev: Evidence, endpoint: str, profile: Profile):
    ep = _tls_endpoint(ev, endpoint)
    r = _observed(ep, "plaintext").result
    found = {"http1": str(r.http1_status or r.http1_refusal or ""), "h2c_settings": str(r.h2c_settings)}
    bare = ep.attempt("no-client-cert")
    if (r.http1_refusal == "no-response" and r.h2c_refusal == "no-response" and bare is not None
            and (bare.error or bare.result.outcome is HandshakeOutcome.TIMEOUT)):
        # Silence to plaintext is a refusal only from a port that answers something: this one answers nothing.
        _error(f"{endpoint}: silence to plaintext tells nothing when TLS gets no answer either "
               f"({bare.error or bare.result.detail})")
    if r.http1_answered or r.h2c_settings:
        what = []
        if r.http1_answered:
            what.append(f"an HTTP/1.1 request got status {r.http1_status}")
        if r.h2c_settings:
            what.append("an HTTP/2 cleartext preface got a SETTINGS frame")
        return Status.FAIL, f"expected the TLS port of {endpoint} to serve nothing in plaintext; observed: {' and '.join(what)}", found
    return Status.PASS, f"plaintext refused ({r.http1_refusal or r.detail})", found


@dataclass
class _Offers:
    """What became of the handshakes that offered something a server must refuse."""

    accepted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    not_offered: list[str] = field(default_factory=list)
    unobserved: list[str] = field(default_factory=list)

    def facts(self) -> dict[str, str]:
        return {"accepted": ", ".join(self.accepted), "refused": ", ".join(self.refused),
                "not_offered": ", ".join(self.not_offered)}


def _offers(ep: EndpointEvidence, prefix: str, labels) -> _Offers:
    """Sort the ``prefix:label`` attempts into accepted (the handshake completed), refused, unobserved, and
    never offered (this OpenSSL cannot offer it: never reported as refused)."""
    offers = _Offers()
    for label in labels:
        attempt = ep.attempt(f"{prefix}:{label}")
        if attempt is None:
            offers.not_offered.append(label)
        elif attempt.error or attempt.result.outcome in (HandshakeOutcome.TIMEOUT, HandshakeOutcome.UNREACHABLE):
            offers.unobserved.append(f"{label}: {attempt.error or attempt.result.detail}")
        elif attempt.result.completed:
            offers.accepted.append(f"{label} ({attempt.result.cipher})")
        else:
            offers.refused.append(label)
    return offers


def _legacy_refused(ev: Evidence, endpoint: str, profile: Profile):
    ep = _tls_endpoint(ev, endpoint)
    minimum = profile.min_version
    offers = _offers(ep, "legacy", profile.refused_versions)
    note = f" ({', '.join(offers.not_offered)} cannot be offered by this OpenSSL, not judged)" if offers.not_offered else ""
    if offers.accepted:
        return Status.FAIL, (f"expected {endpoint} to refuse protocol versions below {minimum}; it accepted "
                             f"{', '.join(offers.accepted)}: set the server's minimum version to {minimum}{note}"), offers.facts()
    if offers.unobserved:
        _error(f"{endpoint}: " + "; ".join(offers.unobserved))
    if not offers.refused:
        _error(f"{endpoint}: no protocol version below {minimum} could be offered by this OpenSSL")
    return Status.PASS, f"refused {', '.join(offers.refused)}{note}", offers.facts()


def _weak_refused(ev: Evidence, endpoint: str, profile: Profile):
    ep = _tls_endpoint(ev, endpoint)
    offers = _offers(ep, "weak", profile.weak_cipher_families)
    note = f" ({', '.join(offers.not_offered)} suites do not exist in this OpenSSL, not offered)" if offers.not_offered else ""
    if offers.accepted:
        return Status.FAIL, (f"expected {endpoint} to refuse weak suites; it accepted {', '.join(offers.accepted)}"
                             f"{note}"), offers.facts()
    if offers.unobserved:
        _error(f"{endpoint}: " + "; ".join(offers.unobserved))
    if not offers.refused:
        _error(f"{endpoint}: no weak suite could be offered by this OpenSSL")
    return Status.PASS, f"refused {', '.join(offers.refused)} suites{note}", offers.facts()


def _alpn_h2(ev: Evidence, endpoint: str, profile: Profile):
    ep = _tls_endpoint(ev, endpoint)
    r = _observed(ep, "default").result
    found = {"alpn": r.alpn or ""}
    if not r.completed:
        _error(f"{endpoint}: no handshake completed to see ALPN ({r.detail}); see T-TLS-HANDSHAKE")
    if r.alpn == "h2":
        return Status.PASS, "ALPN h2 negotiated", found
    return Status.FAIL, (f"expected {endpoint} to negotiate ALPN h2 (gRPC clients require it); observed "
                         f"{r.alpn or 'no ALPN'}"), found


# -- mutual TLS --------------------------------------------------------------------------------------------------


def _mtls_endpoint(ev: Evidence, endpoint: str) -> EndpointEvidence:
    ep = ev.endpoints.get(endpoint)
    if ep is None:
        _skip(f"{endpoint} is not part of the expected configuration")
    if ep.spec.mode is not Mode.MTLS:
        _skip(f"mTLS is not enabled for {endpoint}{_keys(ep.spec)}")
    return _tls_endpoint(ev, endpoint)


def _valid_cert_accepted(ev: Evidence, endpoint: str, profile: Profile):
    ep = _mtls_endpoint(ev, endpoint)
    if ep.client_identities.get("configured"):
        _error(f"{endpoint}: no configured client certificate: {ep.client_identities['configured']}")
    shake = _observed(ep, "default").result
    rpc = _observed(ep, "grpc-health").result
    found = {"handshake": shake.outcome.value, "grpc_status": rpc.code}
    if shake.outcome is HandshakeOutcome.ACCEPTED and rpc.reached_server:
        return Status.PASS, f"accepted the configured client certificate; health check answered {rpc.code}", found
    if shake.outcome in (HandshakeOutcome.TIMEOUT, HandshakeOutcome.UNREACHABLE):
        _error(f"{endpoint}: {shake.detail}")
    return Status.FAIL, (f"expected {endpoint} to accept the configured client certificate of secret "
                         f"{ep.spec.secret.namespace}/{ep.spec.secret.name}; observed: handshake {shake.outcome.value} "
                         f"({shake.detail}), gRPC {rpc.code} {rpc.detail}".rstrip()), found


def _rejects(label: str, what: str):
    def judge_(ev: Evidence, endpoint: str, profile: Profile):
        ep = _mtls_endpoint(ev, endpoint)
        reason = ep.client_identities.get(label)
        if reason and reason == ev.ca_key_reason:
            _skip(f"{endpoint}: {what} not tested: {reason}")  # the CA key was not given or not readable
        if reason:
            _error(f"{endpoint}: {what} could not be made: {reason}")
        r = _observed(ep, label).result
        found = {"outcome": r.outcome.value, "rejection": r.alert or (r.rejection.value if r.rejection else ""),
                 "version": r.version or "", "late_rejection": str(r.late_rejection)}
        if r.outcome is HandshakeOutcome.REJECTED:
            when = " after the handshake" if r.late_rejection else ""
            return Status.PASS, f"{what} was rejected{when} ({r.detail})", found
        if r.outcome is HandshakeOutcome.ACCEPTED:
            return Status.FAIL, (f"expected {endpoint} to reject {what}; it was accepted ({r.version}, {r.detail}): "
                                 "the server must require and verify client certificates against the secret's ca.crt"), found
        _error(f"{endpoint}: {what}: {r.detail}")
    return judge_


# -- HTTP and knative -----------------------------------------------------------------------------------------


def _https_responds(ev: Evidence, endpoint: str, profile: Profile):
    ep = _tls_endpoint(ev, endpoint)
    r = _observed(ep, "https-get").result
    found = {"status": str(r.status or "")}
    if r.status is None:
        _error(f"{endpoint}: the HTTPS GET got no response: {r.error}")
    if r.status < 500:
        return Status.PASS, f"HTTPS GET answered {r.status}", found
    return Status.FAIL, f"expected an HTTPS GET on {endpoint} to answer below 500; observed {r.status}", found


def _http_redirects(ev: Evidence, endpoint: str, profile: Profile):
    ep = _tls_endpoint(ev, endpoint)
    r = _observed(ep, "http-redirect").result
    found = {"status": str(r.status or ""), "location": r.location or ""}
    if r.status is None:
        _error(f"{endpoint}: plain HTTP on port {ep.spec.redirect_port} got no response: {r.error}")
    if 300 <= r.status < 400 and (r.location or "").lower().startswith("https://"):
        return Status.PASS, f"plain HTTP redirects ({r.status}) to {r.location}", found
    return Status.FAIL, (f"expected plain HTTP on {endpoint} port {ep.spec.redirect_port} to redirect to https; "
                         f"observed {r.status} {('to ' + r.location) if r.location else 'without redirect'}: "
                         "annotate the Ingress with ingress.kubernetes.io/force-ssl-redirect: \"true\""), found


def _sni_coverage(ev: Evidence, endpoint: str, profile: Profile):
    ep = _tls_endpoint(ev, endpoint)
    if not ep.anchors_der:
        _error(f"{_no_anchor(ev, ep)} (see K-SECRET-PRESENT)")
    anchors = [_cert(d) for d in ep.anchors_der]
    bad, unobserved = [], []
    for host in ep.hosts:
        attempt = ep.attempt(f"sni:{host}")
        if attempt is None or attempt.error:
            unobserved.append(f"{host}: {attempt.error if attempt else 'not probed'}")
            continue
        chain = attempt.result.peer_chain_der
        if not chain:
            bad.append(f"{host}: no certificate ({attempt.result.detail})")
            continue
        coverage = facts.names_covered(_cert(chain[0]), [host])
        trust = facts.verify_chain(chain, anchors)
        if coverage.missing:
            bad.append(f"{host}: served certificate does not cover it (SANs {', '.join(facts.certificate_facts(chain[0]).dns_names)})")
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
            if "ca.crt" not in s.keys:  # [trust] fine only from an ACME issuer, where nothing reads it
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
    if fine:  # [trust]
        return Status.PASS, (f"all {count} required secret copies exist with tls.crt, tls.key and ca.crt, "
                             f"except: {'; '.join(fine)}"), {"acme": str(len(fine))}
    return Status.PASS, f"all {count} required secret copies exist with tls.crt, tls.key and ca.crt", {}


def _present(ev: Evidence):
    found = [(req, ns, s) for req, ns, s in _required(ev) if s is not None and s.found]
    if not list(_required(ev)):
        _no_secrets()
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
        elif s.key_matches is None and "tls.key" in s.keys and "tls.crt" in s.keys:
            unknown.append(f"secret {ns}/{req.name}: " + ("; ".join(s.problems) + "; see K-SECRET-PRESENT"
                                                           if s.problems else "the pair could not be compared"))
    if bad:
        return Status.FAIL, "; ".join(bad) + ": reissue the certificate so tls.crt and tls.key belong together", {}
    if unknown:
        _error("; ".join(unknown))
    return Status.PASS, f"tls.key matches tls.crt in {len(found)} secret(s)", {}


def _secret_chain(ev: Evidence, endpoint: str, profile: Profile):
    bad, unknown = [], []
    found = _present(ev)
    for req, ns, s in found:
        if not s.cert_chain_der or not s.ca_der:
            if s.problems:
                unknown.append(f"secret {ns}/{req.name}: {'; '.join(s.problems)}; see K-SECRET-PRESENT")
            continue
        r = facts.verify_chain(s.cert_chain_der, [_cert(d) for d in s.ca_der])
        if not r.trusted:
            bad.append(f"secret {ns}/{req.name}: tls.crt does not chain to its ca.crt ({r.reason})")
    if bad:
        return Status.FAIL, "; ".join(bad), {}
    if unknown:
        _error("; ".join(unknown))
    return Status.PASS, f"tls.crt chains to ca.crt in every secret that has both", {}


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
    "C-CHAIN-TRUSTED": _chain_trusted,
    "C-SAN-MATCH": _san_match,
    "C-VALIDITY": _validity,
    "C-EKU": _eku,
    "C-KEY-STRENGTH": _key_strength,
    "C-SERVED-MATCHES-SECRET": _served_matches_secret,
    "T-MODE-MATCHES-CONFIG": _mode_matches,
    "T-TLS-HANDSHAKE": _handshake_ok,
    "T-PLAINTEXT-REFUSED": _plaintext_refused,
    "T-LEGACY-PROTOCOLS-REFUSED": _legacy_refused,
    "T-WEAK-CIPHERS-REFUSED": _weak_refused,
    "T-ALPN-H2": _alpn_h2,
    "M-VALID-CERT-ACCEPTED": _valid_cert_accepted,
    "M-NO-CERT-REJECTED": _rejects("no-client-cert", "a client without a certificate"),
    "M-UNTRUSTED-CA-REJECTED": _rejects("foreign-ca", "a client certificate from a foreign CA"),
    "M-SELF-SIGNED-CLONE-REJECTED": _rejects("self-signed-clone", "a self-signed clone of the client certificate"),
    "M-EXPIRED-CERT-REJECTED": _rejects("expired", "an expired client certificate from the right CA"),
    "M-NO-CLIENTAUTH-EKU-REJECTED": _rejects("no-clientauth", "a certificate from the right CA without clientAuth"),
    "H-HTTPS-RESPONDS": _https_responds,
    "H-HTTP-REDIRECTS": _http_redirects,
    "N-SNI-COVERAGE": _sni_coverage,
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
