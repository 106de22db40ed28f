"""What changed between two runs: evidence files of schema v1, v2 or v3 read into one shape and compared.

    load_snapshot(path) -> Snapshot             an evidence.json of any schema version (EvidenceFileError if not)
    snapshot(document) -> Snapshot              the same, from a parsed document
    compare(old, new) -> Drift                  the differences, each a sentence-ready record
    drift_document(drift) -> dict               the ``drift`` section of evidence.json (schema v3)
    python -m probes.drift OLD.json NEW.json    prints the differences; exit 0 no drift, 1 drift, 2 bad input

A snapshot keeps what an auditor asks about between two audits: every verdict, the leaf certificate each endpoint
served and each secret held (serial and fingerprint), the protocol versions and the forbidden suites each endpoint
accepted or refused, and which endpoints were observed at all. Pods are not compared: their names change with
every rollout. Versions and suites count only where both runs observed them (an offer that could not be made is not
a refusal). Schema v1 (one attempt set per endpoint, ``served_chain`` beside it, weak suites offered by family with
OpenSSL's names) reads into the same shape; its suite names are OpenSSL's, so a v1 baseline names a suite
differently from a v2 or v3 run.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from probes.chartlines import ChartIdentity

__all__ = [
    "SCHEMAS", "EvidenceFileError", "LeafCertificate", "Snapshot", "VerdictChange", "CertificateChange",
    "ProtocolChange", "EndpointChange", "ChartChange", "Drift", "load_snapshot", "snapshot", "compare", "drift_document", "main",
]

SCHEMAS = ("direktiv-tls-conformance/evidence/v1", "direktiv-tls-conformance/evidence/v2",
           "direktiv-tls-conformance/evidence/v3")
_ACCEPTED_ANSWERS = ("server-hello",)
_REFUSED_ANSWERS = ("alert", "closed", "reset")  # a TLS refusal, as the judges count one


class EvidenceFileError(ValueError):
    """An evidence file that cannot be read, is not JSON or has an unknown schema."""


@dataclass(frozen=True)
class LeafCertificate:
    """A leaf certificate where it was seen.

    Attributes:
        sha256: its fingerprint.
        serial: its serial number (hex), or "" when unknown.
        name: the first SAN, else the subject, for reading.
        identity: subject, SANs and issuer: a renewal keeps it, a replacement changes it.
    """

    sha256: str
    serial: str = ""
    name: str = ""
    identity: str = ""


@dataclass(frozen=True)
class Snapshot:
    """One run, as the comparison sees it.

    Attributes:
        schema: the file's schema.
        taken_at: when the run finished (ISO 8601), or "".
        verdicts: (control, endpoint) -> status (pass, fail, error, skip).
        leaves: where ("lb", "secret default/x") -> the leaf certificates seen there (several when pods differ).
        versions: endpoint -> version -> True (accepted) / False (refused), where observed.
        suites: endpoint -> suite name -> True (accepted) / False (refused), where observed.
        endpoints: the endpoints observed (reachable on at least one pod).
        chart: the chart judged and the model used, as one phrase (``direktiv 0.1.0 (app v0.4.1), model v0.4``);
            "" where the file does not say (before the chart guard).
    """

    schema: str
    taken_at: str = ""
    verdicts: Mapping[tuple[str, str], str] = field(default_factory=dict)
    leaves: Mapping[str, frozenset[LeafCertificate]] = field(default_factory=dict)
    versions: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)
    suites: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)
    endpoints: frozenset[str] = frozenset()
    chart: str = ""


@dataclass(frozen=True)
class ChartChange:
    """The chart or the model changed (an upgrade, or another model forced): verdicts compare across wirings."""

    old: str
    new: str

    def sentence(self) -> str:
        return f"chart: {self.old} -> {self.new}"


@dataclass(frozen=True)
class VerdictChange:
    """A verdict that differs: ``old``/``new`` is None where the run had no verdict for the pair."""

    control: str
    endpoint: str
    old: str | None
    new: str | None

    def sentence(self) -> str:
        return f"{self.control} on {self.endpoint}: {self.old or 'not judged'} -> {self.new or 'not judged'}"


@dataclass(frozen=True)
class CertificateChange:
    """A leaf certificate that changed where it was seen.

    Attributes:
        where: the endpoint ID or ``secret NS/NAME``.
        kind: ``renewed`` (same subject, names and issuer), ``replaced`` (another identity), ``appeared`` or
            ``vanished``.
        old, new: the certificates, None for appeared / vanished.
    """

    where: str
    kind: str
    old: LeafCertificate | None
    new: LeafCertificate | None

    def sentence(self) -> str:
        def cert(c: LeafCertificate | None) -> str:
            return f"{c.name or '(no name)'} serial {c.serial or '?'} sha256 {c.sha256[:16]}…" if c else "none"
        return f"{self.where}: certificate {self.kind}: {cert(self.old)} -> {cert(self.new)}"


@dataclass(frozen=True)
class ProtocolChange:
    """A protocol version or suite newly accepted or newly refused by an endpoint.

    Attributes:
        endpoint: the endpoint ID.
        what: ``version`` or ``suite``.
        name: e.g. ``TLSv1`` or ``TLS_RSA_WITH_3DES_EDE_CBC_SHA``.
        now: ``accepted`` or ``refused``.
    """

    endpoint: str
    what: str
    name: str
    now: str

    def sentence(self) -> str:
        return f"{self.endpoint}: {self.what} {self.name} newly {self.now}"


@dataclass(frozen=True)
class EndpointChange:
    """An endpoint observed in one run and not in the other (``appeared`` or ``vanished``)."""

    endpoint: str
    kind: str

    def sentence(self) -> str:
        return f"endpoint {self.endpoint} {self.kind}"


@dataclass(frozen=True)
class Drift:
    """Every difference between two snapshots, each list sorted.

    Attributes:
        baseline_schema, baseline_taken_at: the older run.
        verdicts, certificates, protocols, endpoints, chart: the changes.
    """

    baseline_schema: str
    baseline_taken_at: str
    verdicts: tuple[VerdictChange, ...] = ()
    certificates: tuple[CertificateChange, ...] = ()
    protocols: tuple[ProtocolChange, ...] = ()
    endpoints: tuple[EndpointChange, ...] = ()
    chart: tuple[ChartChange, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.verdicts or self.certificates or self.protocols or self.endpoints or self.chart)

    def sentences(self) -> list[str]:
        return [c.sentence() for group in (self.chart, self.endpoints, self.verdicts, self.certificates,
                                           self.protocols) for c in group]


# -- reading ------------------------------------------------------------------------------------------------------


def load_snapshot(path: str | Path) -> Snapshot:
    """The snapshot of an evidence file; EvidenceFileError says in one sentence what is wrong with it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EvidenceFileError(f"cannot read the evidence file {path}: {exc.strerror or exc}") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise EvidenceFileError(f"{path} is not JSON ({exc}); pass an evidence.json written by this tool") from None
    try:
        return snapshot(document)
    except EvidenceFileError as exc:
        raise EvidenceFileError(f"{path}: {exc}") from None


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _leaf(certs: Mapping[str, Any], digest: str | None) -> LeafCertificate | None:
    if not isinstance(digest, str) or not digest:
        return None
    facts = _dict(_dict(certs.get(digest)).get("facts"))
    names = [*(facts.get("dns_names") or ()), *(facts.get("ip_addresses") or ())]
    name = next(iter(names), None) or facts.get("common_name") or facts.get("subject") or ""
    identity = "|".join([str(facts.get("subject") or ""), ",".join(sorted(map(str, names))),
                         str(facts.get("issuer") or "")])
    return LeafCertificate(digest, str(facts.get("serial") or ""), str(name), identity)


def _pods(ep: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The pod records of an endpoint; a v1 endpoint is one pseudo-pod holding its attempts and served chain."""
    pods = ep.get("pods")
    if isinstance(pods, list) and all(isinstance(p, Mapping) for p in pods):
        return list(pods)
    return [{"attempts": ep.get("attempts"), "served_chain": ep.get("served_chain"), "unreachable": None}]


def _observations(pod: Mapping[str, Any], versions: dict[str, bool], suites: dict[str, bool]) -> None:
    from probes.cipher_suites import suite_name

    for name, attempt in _dict(pod.get("attempts")).items():
        result = _dict(_dict(attempt).get("result"))
        record = _dict(attempt).get("record")
        if not result:
            continue
        if record == "HelloResult":
            answer = _dict(result.get("answer"))
            version = _dict(result.get("hello")).get("version") or name.partition(":")[2]
            if answer.get("kind") in _ACCEPTED_ANSWERS:
                versions[str(version)] = True
            elif answer.get("kind") in _REFUSED_ANSWERS:
                versions.setdefault(str(version), False)
        elif record == "SuiteScan":
            for suite in result.get("accepted") or ():
                suites[str(_dict(suite).get("name") or suite)] = True
            for code in result.get("refused") or ():
                try:
                    suites.setdefault(suite_name(int(code)), False)
                except (TypeError, ValueError):
                    continue
        elif record == "HandshakeResult":
            offered = _dict(result.get("offer")).get("versions") or ()
            accepted = result.get("outcome") == "accepted"
            if accepted and result.get("version"):
                versions[str(result["version"])] = True
            if name.startswith("legacy:") and len(offered) == 1 and result.get("outcome") == "rejected":
                versions.setdefault(str(offered[0]), False)  # v1: a legacy version offered alone, refused
            if name.startswith("weak:") and accepted and result.get("cipher"):
                suites[str(result["cipher"])] = True  # v1: OpenSSL's name
            elif name.startswith("weak:") and result.get("outcome") == "rejected":
                suites.setdefault(f"{name.partition(':')[2]} family", False)


def snapshot(document: Any) -> Snapshot:
    """The snapshot of a parsed evidence document of schema v1, v2 or v3."""
    if not isinstance(document, Mapping) or "schema" not in document:
        raise EvidenceFileError("not an evidence file of this tool (no 'schema' key)")
    schema = document.get("schema")
    if schema not in SCHEMAS:
        raise EvidenceFileError(f"unknown evidence schema {schema!r}; this tool reads {', '.join(SCHEMAS)}")
    certs = _dict(document.get("certificates"))
    verdicts = {(str(control), str(endpoint)): str(_dict(v).get("status"))
                for control, per in _dict(document.get("verdicts")).items() for endpoint, v in _dict(per).items()}
    leaves: dict[str, set[LeafCertificate]] = {}
    versions: dict[str, dict[str, bool]] = {}
    suites: dict[str, dict[str, bool]] = {}
    observed: set[str] = set()
    for eid, ep in _dict(document.get("endpoints")).items():
        ep = _dict(ep)
        for pod in _pods(ep):
            if pod.get("unreachable"):
                continue
            chain = pod.get("served_chain") or ()
            leaf = _leaf(certs, _dict(chain[0]).get("sha256")) if chain else None
            if leaf is not None:
                leaves.setdefault(eid, set()).add(leaf)
            _observations(pod, versions.setdefault(eid, {}), suites.setdefault(eid, {}))
            if pod.get("attempts"):
                observed.add(eid)
        if ep.get("unreachable"):
            observed.discard(eid)
    for ref, secret in _dict(document.get("secrets")).items():
        chain = _dict(secret).get("cert_chain_sha256") or ()
        leaf = _leaf(certs, chain[0]) if chain else None
        if leaf is not None:
            leaves.setdefault(f"secret {ref}", set()).add(leaf)
    run = _dict(document.get("run"))
    return Snapshot(
        schema=str(schema), taken_at=str(run.get("finished_at") or ""), verdicts=verdicts,
        leaves={k: frozenset(v) for k, v in leaves.items()}, versions={k: v for k, v in versions.items() if v},
        suites={k: v for k, v in suites.items() if v}, endpoints=frozenset(observed), chart=_chart(run.get("chart")))


def _chart(record: Any) -> str:
    chart = ChartIdentity.from_json(record)
    return chart.brief if chart is not None else ""


# -- comparing ----------------------------------------------------------------------------------------------------


def _certificate_changes(where: str, old: frozenset[LeafCertificate],
                         new: frozenset[LeafCertificate]) -> list[CertificateChange]:
    gone = sorted(old - new, key=lambda c: c.sha256)
    came = sorted(new - old, key=lambda c: c.sha256)
    changes = []
    for cert in list(gone):
        successor = next((c for c in came if c.identity == cert.identity), None)
        if successor is not None:
            changes.append(CertificateChange(where, "renewed", cert, successor))
            gone.remove(cert)
            came.remove(successor)
    while gone and came:
        changes.append(CertificateChange(where, "replaced", gone.pop(0), came.pop(0)))
    changes += [CertificateChange(where, "vanished", c, None) for c in gone]
    changes += [CertificateChange(where, "appeared", None, c) for c in came]
    return changes


def _protocol_changes(what: str, old: Mapping[str, Mapping[str, bool]],
                      new: Mapping[str, Mapping[str, bool]]) -> list[ProtocolChange]:
    changes = []
    for endpoint in sorted(set(old) & set(new)):
        before, after = old[endpoint], new[endpoint]
        for name in sorted(set(before) & set(after)):
            if before[name] != after[name]:
                changes.append(ProtocolChange(endpoint, what, name, "accepted" if after[name] else "refused"))
    return changes


def compare(old: Snapshot, new: Snapshot) -> Drift:
    """Every difference from ``old`` (the baseline) to ``new``."""
    verdicts = [VerdictChange(c, e, old.verdicts.get((c, e)), new.verdicts.get((c, e)))
                for c, e in sorted(set(old.verdicts) | set(new.verdicts))
                if old.verdicts.get((c, e)) != new.verdicts.get((c, e))]
    certificates = [change for where in sorted(set(old.leaves) | set(new.leaves))
                    for change in _certificate_changes(where, old.leaves.get(where, frozenset()),
                                                       new.leaves.get(where, frozenset()))]
    protocols = _protocol_changes("version", old.versions, new.versions) + _protocol_changes(
        "suite", old.suites, new.suites)
    endpoints = [EndpointChange(e, "appeared") for e in sorted(new.endpoints - old.endpoints)] + [
        EndpointChange(e, "vanished") for e in sorted(old.endpoints - new.endpoints)]
    # A file from before the chart guard records none: that is no change.
    chart = (ChartChange(old.chart, new.chart),) if old.chart and new.chart and old.chart != new.chart else ()
    return Drift(old.schema, old.taken_at, tuple(verdicts), tuple(certificates), tuple(protocols), tuple(endpoints),
                 chart)


def _cert_dict(c: LeafCertificate | None) -> dict[str, str] | None:
    return None if c is None else {"sha256": c.sha256, "serial": c.serial, "name": c.name}


def drift_document(drift: Drift, *, baseline_path: str = "") -> dict[str, Any]:
    """The ``drift`` section of the evidence file: JSON values only."""
    return {
        "baseline": {"path": baseline_path, "schema": drift.baseline_schema, "finished_at": drift.baseline_taken_at},
        "changed": drift.any,
        "verdicts": [{"control": c.control, "endpoint": c.endpoint, "old": c.old, "new": c.new}
                     for c in drift.verdicts],
        "certificates": [{"where": c.where, "kind": c.kind, "old": _cert_dict(c.old), "new": _cert_dict(c.new)}
                         for c in drift.certificates],
        "protocols": [{"endpoint": c.endpoint, "what": c.what, "name": c.name, "now": c.now} for c in drift.protocols],
        "endpoints": [{"endpoint": c.endpoint, "change": c.kind} for c in drift.endpoints],
        "chart": [{"old": c.old, "new": c.new} for c in drift.chart],
        "sentences": drift.sentences(),
    }


# -- the command --------------------------------------------------------------------------------------------------

_USAGE = "usage: python -m probes.drift OLD.json NEW.json  (exit 0: no drift, 1: drift, 2: bad input)"


def main(argv: Iterable[str] | None = None, *, out=None) -> int:
    """Compare two evidence files; print one line per difference."""
    out = out or sys.stdout
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(_USAGE, file=out)
        return 0
    if len(args) != 2:
        print(_USAGE, file=sys.stderr)
        return 2
    try:
        old, new = load_snapshot(args[0]), load_snapshot(args[1])
    except EvidenceFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    drift = compare(old, new)
    if not drift.any:
        print(f"no drift: {args[1]} matches {args[0]}", file=out)
        return 0
    print(f"{len(drift.sentences())} change(s) since {args[0]} ({old.taken_at or 'time unknown'}):", file=out)
    for sentence in drift.sentences():
        print(f"  {sentence}", file=out)
    return 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `python -m probes.drift OLD NEW | head`: the reader has what it wanted
        sys.stdout = None
        sys.exit(1)
