"""The evidence file and the human report, as pure functions of the records a run produced.

    evidence_document(evidence, verdicts, run=RunInfo(...), tests=[TestOutcome, ...]) -> dict
        render_json(document) -> str           reports/evidence.json  (versioned, sorted keys: two runs diff)
        render_html(document) -> str           reports/report.html    (one self-contained file)
    write_atomic(path, text) -> Path           temp file in the same directory, then os.replace

The HTML is rendered from the document, not from the records, so ``evidence.json`` alone can be rendered again.

Document layout (``schema`` = :data:`SCHEMA`; every mapping is written with sorted keys)::

    run           started_at, finished_at, tool_version, cluster_server, context, source, profile, exit_status,
                  evidence_started_at, evidence_finished_at, notices, incomplete (bool), incomplete_reason,
                  protection_off {tls, mtls, unjudged: [endpoint]}: what the configuration itself leaves open
    expected      the topology the configuration implies (release, namespaces, endpoint specs, secret
                  requirements); never the Helm values themselves (they hold keys such as ``secrets.key``)
    certificates  sha256 -> {pem, facts, seen_in}: every certificate seen, served or stored, once
    endpoints     id -> {expected, unreachable, anchor_source, anchors_sha256, anchor_store, anchor_missing, hosts,
                         hosts_error, client_identities, pods: [{pod, port, unreachable,
                         served_chain: [{sha256, pem, facts}], attempts: {key -> {observed, error, elapsed, record,
                         result}}}]}
    secrets       "ns/name" -> {found, error, type, keys, cert_chain_sha256, ca_sha256, key_matches, problems}
    objects       name -> {what, value, absent_reason, error}; ``value`` holds only the fields the judgements read
                  (probes.minimal): names, namespaces, hosts, issuer references, conditions, never a Service's
                  environment or an object's annotations
    verdicts      control -> endpoint -> {status, message, facts, test, outcome}
    tests         nodeid -> {outcome, control, endpoint, message}
    summary       endpoint -> {passed, failed, skipped, error}
    forecast      certificates: sha256 -> {renewal_time, renewed_by, expires_before_renewal};
                  endpoints: id -> {not_after, sha256, name, from, renewal_time, expires_before_renewal}
                  (probes.forecast: the earliest expiry per endpoint)
    framework     with ``framework=NAME``: the per-requirement view (probes.frameworks), else absent
    drift         with ``baseline=``: what changed since that run (probes.drift), else absent

Schema history: v1 kept one attempt set and ``served_chain`` per endpoint; v2 moved them under
``endpoints.<id>.pods[]``; v3 adds ``forecast``, ``framework`` and ``drift`` and trims ``objects``.
:func:`probes.drift.snapshot` reads all three.

Probe records (HandshakeResult, PlaintextResult, GrpcResult, HttpResult, ...) are serialized generically through
``dataclasses.fields``: enums by value, ``*_der`` fields as certificate fingerprints (the certificates go to the
``certificates`` table), a :class:`~probes.tls.ClientIdentity` as its label and certificate fingerprint only, and a
:class:`~probes.pki.PrivateKeyPEM` never: it becomes ``"[redacted]"``. Every string (test messages, cluster objects)
is scrubbed of anything that looks like a PEM private key.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import enum
import html
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

from probes import frameworks as _frameworks
from probes.catalog import CLUSTER, CONTROLS, ENDPOINT_IDS, GRPC_ENDPOINT_IDS
from probes.chartlines import ChartIdentity
from probes.errors import CertificateError
from probes.forecast import forecast as _forecast, parse_iso as _parse_iso
from probes.minimal import minimal_object
from probes.pki import PrivateKeyPEM

__all__ = [
    "SCHEMA",
    "STATUSES",
    "OUTCOMES",
    "RunInfo",
    "TestOutcome",
    "evidence_document",
    "protection_off",
    "protection_banner",
    "render_json",
    "render_html",
    "write_atomic",
    "tool_version",
    "scrub",
]

SCHEMA = "direktiv-tls-conformance/evidence/v3"
DISTRIBUTION = "direktiv-tls-conformance"
STATUSES = ("pass", "fail", "error", "skip")
OUTCOMES = ("passed", "failed", "skipped", "error")
REDACTED = "[redacted]"
# Test messages come from tracebacks; a page of traceback is noise in a report, and the JUnit file keeps it whole.
_MAX_MESSAGE = 4000
# Floats are elapsed seconds: a millisecond is all a reader needs, and fewer digits make smaller diffs.
_FLOAT_DIGITS = 3
_PEM_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.DOTALL)
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.DOTALL)


@dataclass(frozen=True)
class RunInfo:
    """What the report says about the run itself (the evidence carries the rest).

    Attributes:
        started_at, finished_at: the pytest session's start and end, ISO 8601 UTC.
        tool_version: this tool's version (:func:`tool_version`).
        profile: the TLS profile's thresholds (name, min_version, ...), or empty when unknown.
        exit_status: pytest's exit status, or None while unknown.
        incomplete: why the run is incomplete (interrupt, gathering failed, budget), or None when it is complete.
        notices: sentences to show besides the evidence's own notices.
        reports: where the reports were written, by kind (``junit``, ``evidence``, ``html``).
    """

    started_at: str = ""
    finished_at: str = ""
    tool_version: str = ""
    profile: Mapping[str, Any] = field(default_factory=dict)
    exit_status: int | None = None
    incomplete: str | None = None
    notices: tuple[str, ...] = ()
    reports: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TestOutcome:
    """How one pytest test ended, as JUnit counts it.

    Attributes:
        nodeid: the test's node ID (stable across runs).
        outcome: ``passed``, ``failed``, ``skipped`` or ``error`` (a setup or teardown failure).
        control: the ``control`` JUnit property, or None for a test that judges no control.
        endpoint: the ``endpoint`` JUnit property, or None.
        message: the skip reason or failure text, scrubbed; empty when passed.
    """

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    outcome: str
    control: str | None = None
    endpoint: str | None = None
    message: str = ""


def tool_version() -> str:
    """This tool's installed version, or ``unknown`` when it is run from a tree that is not installed."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def scrub(text: str) -> str:
    """The text with any PEM private key (even a truncated one) replaced by ``[redacted]``."""
    text = _PEM_PRIVATE_KEY.sub(REDACTED, text)
    return text.replace("PRIVATE KEY", REDACTED)


def _iso(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the document ------------------------------------------------------------------------------------------------


class _Certificates:
    """The ``certificates`` table: every certificate seen, by SHA-256, with where it was seen."""

    def __init__(self) -> None:
        self.table: dict[str, dict[str, Any]] = {}

    def add(self, der: bytes, seen_in: str) -> str:
        from probes import x509 as facts

        try:
            found = facts.certificate_facts(der, source=seen_in).to_dict()
        except CertificateError as exc:
            import hashlib

            digest = hashlib.sha256(der).hexdigest()
            entry = self.table.setdefault(digest, {"error": str(exc), "der_base64": base64.b64encode(der).decode()})
        else:
            digest = found["sha256_fingerprint"]
            pem = found.pop("pem")
            entry = self.table.setdefault(digest, {"pem": pem, "facts": found})
        seen = entry.setdefault("seen_in", [])
        if seen_in not in seen:
            seen.append(seen_in)
            seen.sort()
        return digest

    def add_pem(self, data: bytes, seen_in: str) -> list[str]:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        digests = []
        for block in _PEM_CERT.findall(data):
            try:
                der = x509.load_pem_x509_certificate(block).public_bytes(Encoding.DER)
            except ValueError:
                continue
            digests.append(self.add(der, seen_in))
        return digests

    def entry(self, digest: str) -> dict[str, Any]:
        return {"sha256": digest, **{k: v for k, v in self.table[digest].items() if k != "seen_in"}}


class _Serializer:
    """Turns records into JSON values; certificates go to the table, keys never come out."""

    def __init__(self, certs: _Certificates) -> None:
        self.certs = certs

    def value(self, value: Any, where: str) -> Any:
        from probes.tls import ClientIdentity

        if value is None or isinstance(value, (bool, int)) and not isinstance(value, enum.Enum):
            return value
        if isinstance(value, str) and not isinstance(value, enum.Enum):
            return scrub(value)  # cluster objects are free text too: a ConfigMap could hold a key
        if isinstance(value, PrivateKeyPEM):
            return REDACTED
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, float):
            return round(value, _FLOAT_DIGITS)
        if isinstance(value, _dt.datetime):
            return _iso(value)
        if isinstance(value, ClientIdentity):
            return self.identity(value, where)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self.blob(bytes(value))
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self.record(value, where)
        if isinstance(value, Mapping):
            return {self.key(k): self.value(v, f"{where} {self.key(k)}") for k, v in value.items()}
        if isinstance(value, (set, frozenset)):
            return sorted((self.value(v, where) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
        if isinstance(value, (list, tuple)):
            return [self.value(v, where) for v in value]
        if isinstance(value, Path):
            return str(value)
        return scrub(str(value))

    @staticmethod
    def key(key: Any) -> str:
        if isinstance(key, tuple):
            return "/".join(str(k) for k in key)
        if isinstance(key, enum.Enum):
            return str(key.value)
        return str(key)

    def identity(self, identity, where: str) -> dict[str, Any]:
        digests = self.certs.add_pem(bytes(identity.cert_pem), f"client certificate '{identity.label}'")
        return {"label": identity.label, "certificate_sha256": digests[0] if digests else None}

    @staticmethod
    def blob(data: bytes) -> str:
        if b"PRIVATE KEY" in data:
            return REDACTED
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(data).decode()
        return scrub(text) if text.isprintable() or not text else "base64:" + base64.b64encode(data).decode()

    def record(self, record: Any, where: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(record):
            value = getattr(record, f.name)
            if isinstance(value, PrivateKeyPEM):
                out[f.name] = REDACTED
            elif f.name.endswith("_der"):
                out[f.name[: -len("_der")] + "_sha256"] = self.der(value, where)
            elif f.name.endswith("_pem") and isinstance(value, (bytes, str)):
                data = value.encode() if isinstance(value, str) else value
                out[f.name[: -len("_pem")] + "_sha256"] = self.certs.add_pem(data, where)
            else:
                out[f.name] = self.value(value, where)
        return out

    def der(self, value: Any, where: str) -> Any:
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray)):
            return self.certs.add(bytes(value), where)
        return [self.certs.add(bytes(v), where) for v in value]


def _expected(topology) -> dict[str, Any]:
    if topology is None:
        return {}
    certs = _Certificates()  # specs carry no certificates; a throwaway table keeps the serializer honest
    ser = _Serializer(certs)
    return {f.name: ser.value(getattr(topology, f.name), "expected")
            for f in dataclasses.fields(topology) if f.name != "values"}


def _attempt(ser: _Serializer, attempt, where: str) -> dict[str, Any]:
    result = attempt.result
    return {
        "observed": attempt.observed,
        "error": scrub(attempt.error) if attempt.error else None,
        "elapsed": round(float(attempt.elapsed), _FLOAT_DIGITS),
        "record": type(result).__name__ if result is not None else None,
        "result": ser.value(result, where) if result is not None else None,
    }


def _pod(ser: _Serializer, eid: str, pod) -> dict[str, Any]:
    chain = pod.served_chain()
    return {
        "pod": pod.pod,
        "port": pod.port,
        "unreachable": pod.unreachable,
        "served_chain": [ser.certs.entry(ser.certs.add(der, f"served by {eid} pod {pod.pod}")) for der in chain],
        "attempts": {str(key): _attempt(ser, a, f"{eid} attempt {key} on pod {pod.pod}")
                     for key, a in sorted(pod.attempts.items())},
    }


def _endpoint(ser: _Serializer, ep) -> dict[str, Any]:
    eid = ep.spec.id
    return {
        "expected": ser.value(ep.spec, f"endpoint {eid}"),
        "unreachable": ep.unreachable,
        "anchor_source": ep.anchor_source,
        # The system trust store's ~120 roots are named by its path, not listed (an ACME-issued secret's anchors).
        "anchors_sha256": [] if ep.anchor_store else [ser.certs.add(d, f"trust anchor of {eid}")
                                                      for d in ep.anchors_der],
        "anchor_store": ep.anchor_store,
        "anchor_missing": ep.anchor_missing,
        "hosts": list(ep.hosts),
        "hosts_error": ep.hosts_error,
        "client_identities": {getattr(k, "value", k): v for k, v in ep.client_identities.items()},
        "pods": [_pod(ser, eid, pod) for pod in ep.pods],
    }


def _secret(ser: _Serializer, s) -> dict[str, Any]:
    where = f"secret {s.namespace}/{s.name}"
    return {
        "namespace": s.namespace,
        "name": s.name,
        "found": s.found,
        "error": s.error,
        "type": s.type,
        "keys": list(s.keys),
        "cert_chain_sha256": [ser.certs.add(d, f"{where} tls.crt") for d in s.cert_chain_der],
        "ca_sha256": [ser.certs.add(d, f"{where} ca.crt") for d in s.ca_der],
        "key_matches": s.key_matches,
        "problems": list(s.problems),
    }


def _verdicts(verdicts: Iterable[Any], tests: Mapping[tuple[str, str], TestOutcome]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for v in verdicts:
        test = tests.get((v.control, v.endpoint))
        out.setdefault(v.control, {})[v.endpoint] = {
            "status": v.status.value if isinstance(v.status, enum.Enum) else str(v.status),
            "message": scrub(v.message),
            "facts": {str(k): scrub(str(val)) for k, val in v.facts.items()},
            "test": test.nodeid if test else None,
            "outcome": test.outcome if test else None,
        }
    return out


def _summary(tests: Iterable[TestOutcome]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for t in tests:
        counts = out.setdefault(t.endpoint or "(none)", dict.fromkeys(OUTCOMES, 0))
        counts[t.outcome] = counts.get(t.outcome, 0) + 1
    return out


def protection_off(topology) -> dict[str, list[str]]:
    """The deployed endpoints the configuration itself leaves without TLS (``tls``), the gRPC ports it leaves
    without client certificates (``mtls``; a plaintext one is in both), and the endpoints the chart line has no TLS
    setting for at all, which the run does not judge (``unjudged``), in endpoint order. Empty lists without a
    topology."""
    off: dict[str, list[str]] = {"tls": [], "mtls": [], "unjudged": []}
    if topology is None:
        return off
    absent = dict(topology.absent)
    off["unjudged"] = [e for e in ENDPOINT_IDS if e in absent]
    for spec in sorted(topology.endpoints, key=lambda s: ENDPOINT_IDS.index(s.id) if s.id in ENDPOINT_IDS else 99):
        if not spec.deployed:
            continue
        mode = getattr(spec.mode, "value", spec.mode)
        if mode == "plaintext":
            off["tls"].append(spec.id)
        if spec.id in GRPC_ENDPOINT_IDS and mode != "mtls":
            off["mtls"].append(spec.id)
    return off


def protection_banner(off: Mapping[str, Iterable[str]], profile: Mapping[str, Any] | None = None) -> str | None:
    """One sentence naming the endpoints whose TLS or mTLS is off by configuration, or None when none is: the first
    thing the terminal summary and the HTML report say, since a green run proves little about a port that is meant
    to be plaintext. ``profile`` (the run's profile as a mapping) tells whether the profile demands them anyway."""
    tls = list(off.get("tls") or ())
    mtls = [e for e in off.get("mtls") or () if e not in tls]
    unjudged = list(off.get("unjudged") or ())
    parts = []
    if tls:
        parts.append(f"TLS is off by configuration on {', '.join(tls)}")
    if mtls:
        parts.append(f"mTLS is off by configuration on {', '.join(mtls)}")
    if unjudged:
        parts.append(f"this chart line has no TLS setting for {', '.join(unjudged)}: they are not judged, and their "
                     "protection (a service mesh beside the chart) is not shown by this run")
    if not parts:
        return None
    if not (tls or mtls):
        return "; ".join(parts)
    profile = profile or {}
    demanded = set(profile.get("require_tls") or ()) | set(profile.get("require_mtls") or ())
    if set(tls) | set(mtls) <= demanded:
        tail = (f"; the profile '{profile.get('name')}' demands it there, so T-MODE-MATCHES-CONFIG fails where the "
                "port is not protected")
    else:
        tail = ("; a pass there means the port matches the configuration, not that it is protected "
                "(--direktiv-profile strict demands TLS everywhere and mTLS on the gRPC ports)")
    return "; ".join(parts) + tail


def evidence_document(evidence: Any, verdicts: Iterable[Any] = (), *, run: RunInfo = RunInfo(),
                      tests: Iterable[TestOutcome] = (), framework: str | None = None, baseline: Any = None,
                      baseline_path: str = "") -> dict[str, Any]:
    """The evidence file's content: JSON values only, no private key.

    ``evidence`` may be None (gathering failed or was interrupted): the document then holds the run metadata,
    the test outcomes and the reason. ``verdicts`` are :class:`~probes.controls.Verdict` records. ``framework``
    (a name of :data:`probes.catalog.FRAMEWORK_NAMES`) adds the per-requirement view; ``baseline`` (a
    :class:`probes.drift.Snapshot` of an earlier run, read from ``baseline_path``) adds what changed since.
    """
    tests = list(tests)
    by_pair = {(t.control, t.endpoint): t for t in tests if t.control}
    certs = _Certificates()
    ser = _Serializer(certs)
    ev = evidence
    notices = list(dict.fromkeys([*(ev.notices if ev is not None else ()), *run.notices]))
    reasons = [r for r in (run.incomplete, ev.incomplete if ev is not None else None) if r]
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "run": {
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "tool_version": run.tool_version,
            "cluster_server": ev.cluster_server if ev is not None else "",
            "context": ev.context if ev is not None else "",
            "source": ev.source if ev is not None else "",
            "chart": ev.chart.to_json() if ev is not None and ev.chart is not None else None,
            "evidence_started_at": ev.started_at if ev is not None else "",
            "evidence_finished_at": ev.finished_at if ev is not None else "",
            "ca_key_available": ev.ca_key_available if ev is not None else False,
            "ca_key_reason": ev.ca_key_reason if ev is not None else "",
            "profile": ser.value(dict(run.profile), "profile"),
            "exit_status": run.exit_status,
            "notices": [scrub(n) for n in notices],
            "incomplete": bool(reasons),
            "incomplete_reason": "; ".join(dict.fromkeys(reasons)) or None,
            "protection_off": protection_off(ev.topology if ev is not None else None),
            "reports": dict(run.reports),
        },
        "expected": _expected(ev.topology if ev is not None else None),
        "endpoints": {eid: _endpoint(ser, ep) for eid, ep in (ev.endpoints.items() if ev is not None else ())},
        "secrets": {f"{ns}/{name}": _secret(ser, s) for (ns, name), s in (ev.secrets.items() if ev is not None else ())},
        "objects": {name: ser.value(dataclasses.replace(o, value=minimal_object(name, o.value)), f"object {name}")
                    for name, o in (ev.objects.items() if ev is not None else ())},
        "verdicts": _verdicts(verdicts, by_pair),
        "tests": {t.nodeid: {"outcome": t.outcome, "control": t.control, "endpoint": t.endpoint,
                             "message": scrub(t.message)[:_MAX_MESSAGE]} for t in tests},
        "summary": _summary(tests),
    }
    document["certificates"] = certs.table
    document["forecast"] = _forecast(document)
    if framework:
        document["framework"] = _frameworks.requirement_view(framework, document["verdicts"])
    if baseline is not None:
        from probes import drift

        document["drift"] = drift.drift_document(drift.compare(baseline, drift.snapshot(document)),
                                                 baseline_path=baseline_path)
    return document


def render_json(document: Mapping[str, Any]) -> str:
    """The evidence file's text: sorted keys and two-space indent, so two runs diff line by line."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temp file in the same directory and ``os.replace``: a reader sees
    the old file or the new one, never half of one, and an interrupted write leaves no temp file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report is as readable as any file the user writes
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


# -- HTML ----------------------------------------------------------------------------------------------------------

_CSS = """
:root{--pass:#1a7f37;--fail:#cf222e;--error:#d4720b;--skip:#8c959f;--ink:#1f2328;--muted:#59636e;
--line:#d1d9e0;--soft:#f6f8fa;--na:#eef1f4}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);
background:#fff}
main{max-width:1320px;margin:0 auto;padding:20px 28px 48px}
h1{font-size:22px;margin:0 0 2px}
h2{font-size:17px;margin:28px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:18px 0 6px}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.sub{color:var(--muted);margin:0 0 12px}
header{border-bottom:4px solid var(--pass);padding-bottom:12px}
header.bad{border-bottom-color:var(--fail)}
header.warn{border-bottom-color:var(--error)}
.meta{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:2px 14px;margin:10px 0 0;font-size:13px}
.meta dt{color:var(--muted)}.meta dd{margin:0;overflow-wrap:anywhere}
.counts{display:flex;gap:10px;margin:14px 0 0;flex-wrap:wrap}
.count{border-radius:6px;padding:6px 14px;color:#fff;font-weight:600;min-width:92px}
.count b{display:block;font-size:22px;line-height:1.1}
.count.pass{background:var(--pass)}.count.fail{background:var(--fail)}.count.error{background:var(--error)}
.count.skip{background:var(--skip)}
.count.zero{background:#fff;color:var(--muted);border:1px solid var(--line)}
.banner{margin:14px 0 0;padding:10px 14px;border-radius:6px;background:#fff1e5;border:1px solid var(--error);
color:#7a3d00;font-weight:600}
.notices{margin:12px 0 0;padding:8px 14px 8px 30px;background:#fff8c5;border:1px solid #d4a72c;border-radius:6px}
.finding{border:1px solid var(--line);border-left:6px solid var(--fail);border-radius:6px;padding:8px 12px;
margin:0 0 8px;background:#fff}
.finding.error{border-left-color:var(--error)}
.finding .what{font-weight:600}
.chip{background:var(--soft);border:1px solid var(--line);border-radius:4px;padding:0 4px;margin-right:2px;font-weight:400}
.finding .msg{margin:3px 0 0;overflow-wrap:anywhere}
.finding .facts{margin:4px 0 0;color:var(--muted);font-size:12px;overflow-wrap:anywhere}
.tag{display:inline-block;border-radius:4px;padding:0 7px;font-size:12px;font-weight:600;color:#fff;
vertical-align:1px;margin-right:6px}
.tag.fail{background:var(--fail)}.tag.error{background:var(--error)}.tag.pass{background:var(--pass)}
.tag.skip{background:var(--skip)}
.ok{color:var(--pass);font-weight:600}
td.bad{color:var(--fail);font-weight:600}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:4px 8px;border-bottom:1px solid var(--line)}
th{background:var(--soft);font-weight:600}
.matrix{width:auto}
.matrix th.ep{text-align:center;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.matrix td.c{text-align:center;font-weight:600;font-size:12px;color:#fff;border:2px solid #fff;padding:3px 6px}
.matrix td.pass{background:var(--pass)}.matrix td.fail{background:var(--fail)}
.matrix td.error{background:var(--error)}.matrix td.skip{background:var(--skip)}
.matrix td.na{background:var(--na);color:#9aa4ae;font-weight:400}
.matrix td.none{background:#fff;color:var(--muted);font-weight:400;border:1px dashed var(--line)}
.matrix td.id{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;white-space:nowrap}
.matrix td.sum{color:var(--muted);font-size:12px;min-width:330px}
.matrix th.ep{min-width:84px}
.matrix tr.group th{background:#fff;border-bottom:1px solid var(--ink);text-transform:uppercase;font-size:11px;
letter-spacing:.06em;padding-top:12px}
.legend{display:flex;gap:14px;margin:8px 0;font-size:12px;color:var(--muted)}
.legend span::before{content:"";display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;
vertical-align:-2px;background:var(--c)}
.endpoint{border:1px solid var(--line);border-radius:6px;padding:4px 14px 10px;margin:0 0 14px}
.endpoint .line{color:var(--muted);font-size:13px;margin:0 0 6px}
.endpoint .mode{font-size:12px;font-weight:600;color:var(--muted);border:1px solid var(--line);border-radius:10px;
padding:1px 8px;margin-left:6px;vertical-align:1px}
details{margin:8px 0 0}summary{cursor:pointer;color:var(--muted);font-size:13px}
.obs td{font-size:12px;overflow-wrap:anywhere}
.obs td.mono,.obs td.time{white-space:nowrap;overflow-wrap:normal}
.chain td{font-size:12.5px;overflow-wrap:anywhere}
.chain td.mono,.chain td.date{white-space:nowrap;overflow-wrap:normal}
.tl{table-layout:fixed;width:100%}
.tl th.who,.tl td.who{width:34%}.tl th.when,.tl td.when{width:22%}
.tl td{padding:3px 8px;font-size:12.5px;overflow-wrap:anywhere}
.tl td.who .where{color:var(--muted);font-size:12px}
.tl td.bar{padding:3px 0;vertical-align:middle}
.tl td.bar svg{display:block;width:100%;height:24px}
.tl svg .tick{stroke:#d1d9e0;vector-effect:non-scaling-stroke}
.tl svg .now{stroke:var(--ink);stroke-width:2;stroke-dasharray:4 3;vector-effect:non-scaling-stroke}
.tl svg .renew{stroke:var(--ink);stroke-width:3;vector-effect:non-scaling-stroke}
.tl th.axis{padding:4px 0}
.tl .ticks{position:relative;height:16px;font-size:11px;font-weight:400;color:var(--muted)}
.tl .ticks span{position:absolute;top:0;white-space:nowrap;padding-left:3px}
.tl .ticks span.nowlabel{color:var(--ink);font-weight:600;top:0;transform:translateX(-50%);background:var(--soft)}
.tl tr.late td{background:#fff1f0}
.late{color:var(--fail);font-weight:600}
.reqs td{font-size:12.5px;overflow-wrap:anywhere}.reqs td.req{min-width:220px}.reqs code{white-space:nowrap}
.reqs .note{color:var(--muted);font-size:12px}
.reqs .v{display:inline-block;margin:0 6px 2px 0;padding:0 5px;border-radius:3px;color:#fff;font-size:11.5px}
.reqs .v.pass{background:var(--pass)}.reqs .v.fail{background:var(--fail)}.reqs .v.error{background:var(--error)}
.reqs .v.skip{background:var(--skip)}
ul.drift{margin:4px 0 8px;padding-left:22px}ul.drift li{overflow-wrap:anywhere}
footer{margin-top:32px;color:var(--muted);font-size:12px}
"""

# The timeline shows at most this far before and after now.
_TIMELINE_REACH = _dt.timedelta(days=2 * 365)
_STATUS_LABEL = {"pass": "pass", "fail": "FAIL", "error": "error", "skip": "skip"}
_OUTCOME_STATUS = {"passed": "pass", "failed": "fail", "error": "error", "skipped": "skip"}
_GROUP_TITLES = {"cluster": "Cluster objects", "certificate": "Certificate served", "transport": "Transport",
                 "mtls": "Mutual TLS", "http": "HTTP", "knative": "Knative"}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _cells(document: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(control, endpoint) -> {status, message, facts}: verdicts, else what the test's outcome says."""
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for nodeid, t in sorted(document.get("tests", {}).items()):
        if t.get("control") and t.get("endpoint"):
            cells[(t["control"], t["endpoint"])] = {
                "status": _OUTCOME_STATUS.get(t["outcome"], "error"), "message": t.get("message", ""), "facts": {}}
    for control_id, per in document.get("verdicts", {}).items():
        for endpoint, v in per.items():
            cells[(control_id, endpoint)] = v
    return cells


def _endpoint_columns(document: Mapping[str, Any], cells) -> list[str]:
    seen = {e for _, e in cells} | set(document.get("endpoints", {}))
    order = [CLUSTER, *ENDPOINT_IDS]
    return order + sorted(seen - set(order))


def _profile_text(profile: Mapping[str, Any]) -> str:
    if not profile:
        return "(unknown)"
    parts = [str(profile.get("name", "custom"))]
    if profile.get("min_version"):
        parts.append(f"minimum {profile['min_version']}")
    if profile.get("min_days_valid") is not None:
        parts.append(f"at least {profile['min_days_valid']} days valid")
    if profile.get("rsa_min_bits"):
        parts.append(f"RSA ≥ {profile['rsa_min_bits']}, EC ≥ {profile.get('ec_min_bits')}")
    for key, what in (("require_tls", "TLS"), ("require_mtls", "mTLS")):
        if profile.get(key):
            parts.append(f"{what} demanded on {', '.join(profile[key])}")
    return ", ".join(parts)


def _header(document: Mapping[str, Any], cells) -> str:
    run = document.get("run", {})
    counts = dict.fromkeys(STATUSES, 0)
    for c in cells.values():
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    state = "bad" if counts["fail"] else ("warn" if counts["error"] or run.get("incomplete") else "")
    meta = [
        ("Cluster", run.get("cluster_server") or "(unknown)"), ("Context", run.get("context") or "(unknown)"),
        ("Expected configuration", run.get("source") or "(not learned)"),
        ("Chart", getattr(ChartIdentity.from_json(run.get("chart")), "text", "(not learned)")),
        ("Profile", _profile_text(run.get("profile") or {})),
        ("Started", run.get("started_at")), ("Finished", run.get("finished_at")),
        ("Tool version", run.get("tool_version")), ("Exit status", run.get("exit_status")),
    ]
    parts = []
    banner = protection_banner(run.get("protection_off") or {}, run.get("profile") or {})
    if banner:
        parts.append(f'<div class="banner protection-off" role="alert">{_e(banner)}</div>')
    parts.append(f'<header class="{state}"><h1>Direktiv TLS conformance report</h1><dl class="meta">')
    parts += [f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta]
    parts.append('</dl><div class="counts">')
    for status, label in (("fail", "failed"), ("error", "error"), ("pass", "passed"), ("skip", "not applicable")):
        zero = " zero" if not counts[status] else ""
        parts.append(f'<div class="count {status}{zero}"><b>{counts[status]}</b>{label}</div>')
    parts.append("</div>")
    if run.get("incomplete"):
        parts.append(f'<div class="banner">Incomplete run: {_e(run.get("incomplete_reason"))}</div>')
    notices = run.get("notices") or []
    if notices:
        parts.append('<ul class="notices">' + "".join(f"<li>{_e(n)}</li>" for n in notices) + "</ul>")
    parts.append("</header>")
    return "".join(parts)


def _findings(cells, status: str, title: str, empty: str, *, note: str = "") -> str:
    """The cells of one status as cards, catalog order; cells with the same message share one card."""
    summaries = {c.id: c.summary for c in CONTROLS}
    order = {c.id: i for i, c in enumerate(CONTROLS)}
    columns = [CLUSTER, *ENDPOINT_IDS]
    picked = sorted((k for k, v in cells.items() if v["status"] == status),
                    key=lambda k: (order.get(k[0], 999), columns.index(k[1]) if k[1] in columns else 99, k))
    groups: dict[str, list[tuple[str, str]]] = {}
    for key in picked:
        groups.setdefault(cells[key].get("message") or "", []).append(key)
    parts = [f'<section id="{status}s"><h2>{_e(title)} ({len(picked)})</h2>']
    if note and picked:
        parts.append(f'<p class="sub">{_e(note)}</p>')
    if not picked:
        parts.append(f'<p class="ok">{_e(empty)}</p>')
    for message, keys in groups.items():
        control_id, endpoint = keys[0]
        endpoints = list(dict.fromkeys(e for _, e in keys))
        where = ", ".join(f"<code>{_e(e)}</code>" for e in endpoints)
        if len(keys) == 1:
            what = f"<code>{_e(control_id)}</code> on {where} — {_e(summaries.get(control_id, ''))}"
        else:
            ids = " ".join(f'<code class="chip">{_e(c)}</code>' for c in dict.fromkeys(c for c, _ in keys))
            what = f"{len(keys)} controls on {where}: {ids}"
        facts = cells[keys[0]].get("facts") or {}
        fact_text = " · ".join(f"{k}: {v}" for k, v in sorted(facts.items()))
        parts.append(
            f'<div class="finding {status}"><div class="what"><span class="tag {status}">{_STATUS_LABEL[status]}</span>'
            f'{what}</div><div class="msg">{_e(message)}</div>'
            + (f'<div class="facts">{_e(fact_text)}</div>' if fact_text and len(keys) == 1 else "") + "</div>")
    parts.append("</section>")
    return "".join(parts)


def _matrix(document: Mapping[str, Any], cells) -> str:
    columns = _endpoint_columns(document, cells)
    parts = ['<section id="matrix"><h2>Controls by endpoint</h2><div class="legend">',
             '<span style="--c:var(--pass)">pass</span><span style="--c:var(--fail)">fail</span>',
             '<span style="--c:var(--error)">error: the suite could not observe</span><span style="--c:var(--skip)">skip (not applicable '
             'under this configuration)</span><span style="--c:var(--na)">— not judged on this endpoint</span></div>',
             '<table class="matrix"><thead><tr><th>control</th><th>passes when</th>']
    parts += [f'<th class="ep">{_e(c)}</th>' for c in columns]
    parts.append("</tr></thead><tbody>")
    group = None
    for control in CONTROLS:
        if control.group != group:
            group = control.group
            parts.append(f'<tr class="group"><th colspan="{len(columns) + 2}">{_e(_GROUP_TITLES.get(group, group))}</th></tr>')
        parts.append(f'<tr><td class="id">{_e(control.id)}</td><td class="sum">{_e(control.summary)}</td>')
        for endpoint in columns:
            cell = cells.get((control.id, endpoint))
            if cell is not None:
                status = cell["status"]
                parts.append(f'<td class="c {status}" title="{_e(cell.get("message"))}">{_STATUS_LABEL.get(status, _e(status))}</td>')
            elif endpoint in control.endpoints:
                parts.append('<td class="c none" title="not run">not run</td>')
            else:
                parts.append('<td class="c na">—</td>')
        parts.append("</tr>")
    parts.append("</tbody></table></section>")
    return "".join(parts)


def _cert_row(digest: str, entry: Mapping[str, Any]) -> str:
    f = entry.get("facts")
    if not f:
        return f'<tr><td colspan="6">{_e(entry.get("error") or "unparseable certificate")} <code>{_e(digest)}</code></td></tr>'
    names = ", ".join([*f.get("dns_names", []), *f.get("ip_addresses", [])]) or "(none)"
    key = f"{f.get('key_type')} {f.get('key_bits')}" + (f" {f['key_curve']}" if f.get("key_curve") else "")
    return (f"<tr><td>{_e(_subject_text(f))}</td><td>{_e(f.get('issuer') or '(empty issuer)')}</td>"
            f"<td>{_e(names)}</td><td class=\"date\">{_e(f.get('not_after_iso'))}</td><td>{_e(key)}, {_e(f.get('signature_algorithm'))}</td>"
            f'<td class="mono" title="{_e(digest)}">{_e(digest[:16])}…</td></tr>')


def _subject_text(f: Mapping[str, Any]) -> str:
    """The subject, or for a certificate without one (cert-manager's selfSigned without commonName) the SANs that
    identify it."""
    if f.get("subject"):
        return str(f["subject"])
    names = [*(f.get("dns_names") or ()), *(f.get("ip_addresses") or ())]
    return f"no subject; SAN {', '.join(names)}" if names else "no subject, no SAN"


def _cert_name(f: Mapping[str, Any]) -> str:
    """A short name for a certificate: its commonName, else its first SAN, else its subject."""
    names = [*(f.get("dns_names") or ()), *(f.get("ip_addresses") or ())]
    return str(f.get("common_name") or next(iter(names), None) or f.get("subject") or "no subject, no SAN")


def _offer_text(offer: Mapping[str, Any]) -> str:
    versions = offer.get("versions") or []
    text = versions[0] if len(versions) == 1 else (f"{versions[0]}–{versions[-1]}" if versions else "")
    if offer.get("ciphers"):
        text += f" ciphers {offer['ciphers']}"
    if offer.get("alpn"):
        text += f", ALPN {','.join(offer['alpn'])}"
    client = offer.get("client")
    text += f", client certificate '{client.get('label')}'" if isinstance(client, dict) else ", no client certificate"
    return f"SNI {offer.get('server_name') or '(none)'}, {text}"


def _handshake_outcome(result: Mapping[str, Any]) -> str:
    outcome = str(result.get("outcome"))
    if outcome == "accepted":
        alpn = f", ALPN {result['alpn']}" if result.get("alpn") else ""
        return f"accepted {result.get('version')} {result.get('cipher')}{alpn}"
    if outcome == "rejected":
        how = f"alert '{result['alert']}'" if result.get("alert") else str(result.get("rejection"))
        after = f" after a {result.get('version')} handshake" if result.get("late_rejection") else ""
        return f"rejected: {how}{after}"
    return outcome


def _observation(record: str | None, result: Mapping[str, Any]) -> tuple[str, str]:
    """(what was offered, what came back) for one probe record, in a few words."""
    if isinstance(result.get("offer"), dict) and "outcome" in result:
        return _offer_text(result["offer"]), _handshake_outcome(result)
    if record == "PlaintextResult":
        if result.get("http1_answered") or result.get("h2c_settings"):
            seen = f"answered (HTTP/1.1 status {result.get('http1_status')}, h2c SETTINGS {result.get('h2c_settings')})"
        else:
            seen = f"refused (HTTP/1.1: {result.get('http1_refusal')}, h2c: {result.get('h2c_refusal')})"
        return "plaintext HTTP/1.1 request and HTTP/2 cleartext preface", seen
    if record == "HelloResult":
        hello, answer = result.get("hello") or {}, result.get("answer") or {}
        sh, alert = answer.get("server_hello") or {}, answer.get("alert") or {}
        seen = (f"ServerHello {sh.get('version')} suite 0x{int(sh.get('cipher_suite') or 0):04X}" if sh
                else f"alert '{alert.get('name')}'" if alert else str(answer.get("kind")))
        return f"raw {hello.get('version')} ClientHello, {len(hello.get('suites') or [])} suites", seen
    if record == "SuiteScan":
        accepted = [s.get("name") for s in result.get("accepted") or []]
        seen = (f"accepted {', '.join(accepted)}" if accepted else
                f"{len(result.get('unjudged') or [])} not judged" if result.get("unjudged") else "none accepted")
        return f"scan of {len(result.get('candidates') or [])} weak suites at {result.get('version')}", seen
    if record == "GrpcResult":
        serving = f" ({result['serving_status']})" if result.get("serving_status") else ""
        return "gRPC health check", f"{result.get('code')}{serving}"
    if record == "HttpResult":
        status = result.get("status")
        seen = (f"HTTP {status}" + (f" → {result['location']}" if result.get("location") else "")) if status else "no answer"
        return f"GET {result.get('url')}", seen
    return str(record or ""), str(result.get("outcome") or result.get("status") or "")


def _observation_row(name: str, attempt: Mapping[str, Any]) -> str:
    result = attempt.get("result")
    elapsed = f"{attempt.get('elapsed')} s"
    if not isinstance(result, dict):
        return (f'<tr><td class="mono">{_e(name)}</td><td></td><td><span class="tag error">error</span></td>'
                f'<td>{_e(attempt.get("error"))}</td><td class="time">{_e(elapsed)}</td></tr>')
    offered, seen = _observation(attempt.get("record"), result)
    detail = result.get("detail") or result.get("error") or ""
    return (f'<tr><td class="mono">{_e(name)}</td><td>{_e(offered)}</td><td>{_e(seen)}</td>'
            f'<td>{_e(detail)}</td><td class="time">{_e(elapsed)}</td></tr>')


def _pod_section(pod: Mapping[str, Any], certs: Mapping[str, Any], *, several: bool) -> str:
    parts = [f'<h4>pod <code>{_e(pod.get("pod"))}</code> port {_e(pod.get("port"))}</h4>'] if several else []
    if pod.get("unreachable"):
        parts.append(f'<p><span class="tag error">error</span>{_e(pod["unreachable"])}</p>')
    chain = pod.get("served_chain") or []
    if chain:
        parts.append('<table class="chain"><thead><tr><th>subject</th><th>issuer</th><th>SANs</th><th>notAfter</th>'
                     "<th>key, signature</th><th>SHA-256</th></tr></thead><tbody>")
        parts += [_cert_row(c["sha256"], certs.get(c["sha256"], c)) for c in chain]
        parts.append("</tbody></table>")
    elif not pod.get("unreachable"):
        parts.append('<p class="line">No certificate was served.</p>')
    attempts = pod.get("attempts") or {}
    if attempts:
        parts.append(f"<details><summary>{len(attempts)} observations</summary><table class=\"obs\"><thead><tr>"
                     "<th>attempt</th><th>offer</th><th>outcome</th><th>detail</th><th>time</th></tr></thead><tbody>")
        parts += [_observation_row(name, attempts[name]) for name in sorted(attempts)]
        parts.append("</tbody></table></details>")
    return "".join(parts)


def _endpoints(document: Mapping[str, Any]) -> str:
    endpoints = document.get("endpoints", {})
    certs = document.get("certificates", {})
    parts = ['<section id="endpoints"><h2>Endpoints and served chains</h2>']
    if not endpoints:
        parts.append("<p>No endpoint was observed.</p>")
    order = [*ENDPOINT_IDS]
    for eid in sorted(endpoints, key=lambda e: (order.index(e) if e in order else 99, e)):
        ep = endpoints[eid]
        spec = ep.get("expected") or {}
        where = f"{spec.get('namespace')}/{spec.get('service')}:{spec.get('port')}"
        secret = spec.get("secret")
        secret_text = f"{secret.get('namespace')}/{secret.get('name')}" if isinstance(secret, dict) else "none"
        mode = {"tls": "TLS", "mtls": "mTLS"}.get(str(spec.get("mode")), str(spec.get("mode")))
        parts.append(f'<div class="endpoint"><h3><code>{_e(eid)}</code> <span class="mode">expected {_e(mode)}</span></h3>'
                     f'<div class="line">service {_e(where)} · SNI {_e(spec.get("server_name"))} · expected names '
                     f'{_e(", ".join(spec.get("expected_names") or []))} · secret {_e(secret_text)} · pods '
                     f'{_e(", ".join(p.get("pod", "") for p in ep.get("pods") or []) or "none")} · trust anchor '
                     f'{_e(ep.get("anchor_source") or "none")}</div>')
        if ep.get("unreachable"):
            parts.append(f'<p><span class="tag error">unreachable</span>{_e(ep["unreachable"])}</p>')
        for pod in ep.get("pods") or []:
            parts.append(_pod_section(pod, certs, several=len(ep.get("pods") or []) > 1))
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def _places(seen_in: Iterable[str]) -> str:
    """Where a certificate was seen, in few words: ``served by lb, flow-grpc; secret default/x``."""
    served, others = [], []
    for place in seen_in:
        m = re.match(r"(?:served by (\S+)|(\S+) attempt )", place)
        if m:
            served.append(m.group(1) or m.group(2))
            continue
        m = re.match(r"secret (\S+) ", place)
        others.append(f"secret {m.group(1)}" if m else place)
    parts = []
    if served:
        parts.append("served by " + ", ".join(dict.fromkeys(served)))
    parts += list(dict.fromkeys(others))
    return "; ".join(parts)


def _ticks(lo: _dt.datetime, hi: _dt.datetime) -> list[tuple[_dt.datetime, str]]:
    months = 3 if (hi - lo).days <= 3 * 366 else 12
    ticks = []
    year, month = lo.year, 1
    while True:
        tick = _dt.datetime(year, month, 1, tzinfo=_dt.timezone.utc)
        if tick > hi:
            return ticks
        if tick >= lo:
            ticks.append((tick, str(year) if month == 1 else f"{year}-{month:02d}"))
        month += months
        if month > 12:
            year, month = year + 1, 1


def _timeline(document: Mapping[str, Any]) -> str:
    """Every served and stored certificate's validity as a bar, with now, the cert-manager renewal time and a flag
    where a certificate would expire before its renewal. An HTML table (labels wrap, nothing is cut) whose bar cells
    hold a stretchable SVG: it fits any width."""
    certs = document.get("certificates", {})
    run = document.get("run", {})
    renewals = (document.get("forecast") or {}).get("certificates") or {}
    now = _parse_iso(run.get("finished_at")) or _parse_iso(run.get("started_at")) or _dt.datetime.now(_dt.timezone.utc)
    min_days = (run.get("profile") or {}).get("min_days_valid", 14)
    rows = []
    for digest, entry in certs.items():
        f = entry.get("facts") or {}
        start, end = _parse_iso(f.get("not_before_iso")), _parse_iso(f.get("not_after_iso"))
        seen = entry.get("seen_in", [])
        if seen and all(place.startswith("client certificate") for place in seen):
            continue  # minted by the probes to be refused: not the cluster's (the evidence file keeps them)
        if start and end:
            rows.append((end, start, digest, f, seen))
    parts = ['<section id="timeline"><h2>Certificate validity (served and stored)</h2>']
    if not rows:
        parts.append("<p>No certificate was seen.</p></section>")
        return "".join(parts)
    rows.sort(key=lambda r: (r[0], r[2]))
    # The window: every certificate seen, but no more than _TIMELINE_REACH either side of now, so a ten-year CA
    # does not squash the 90-day leaves into slivers. Bars that run past the window end square.
    lo = max(min(min(r[1] for r in rows), now), now - _TIMELINE_REACH)
    hi = min(max(max(r[0] for r in rows), now), now + _TIMELINE_REACH)
    lo, hi = lo - (hi - lo) * 0.02, hi + (hi - lo) * 0.02
    span = max((hi - lo).total_seconds(), 1.0)

    def x(moment: _dt.datetime) -> float:  # 0..1000 across the bar cell
        moment = min(max(moment, lo), hi)
        return 1000 * (moment - lo).total_seconds() / span

    ticks = _ticks(lo, hi)
    grid = "".join(f'<line x1="{x(t):.1f}" y1="0" x2="{x(t):.1f}" y2="24" class="tick"/>' for t, _ in ticks)
    now_line = f'<line x1="{x(now):.1f}" y1="0" x2="{x(now):.1f}" y2="24" class="now"/>'
    head = "".join(f'<span style="left:{x(t) / 10:.2f}%">{_e(label)}</span>' for t, label in ticks)
    parts.append('<table class="tl"><thead><tr><th class="who">certificate, where seen</th>'
                 f'<th class="axis"><div class="ticks">{head}<span class="nowlabel" style="left:{x(now) / 10:.2f}%">'
                 f'now</span></div></th><th class="when">notAfter · renewal</th></tr></thead><tbody>')
    late = 0
    for end, start, digest, f, seen in rows:
        days_left = (end - now).total_seconds() / 86400
        if start > now:
            colour, state = "#cf222e", "not yet valid"
        elif days_left < 0:
            colour, state = "#cf222e", f"expired {-days_left:.0f} d ago"
        else:
            colour = "#d4720b" if days_left < min_days else "#1a7f37"
            state = f"{days_left:.0f} d left"
        renewal = renewals.get(digest) or {}
        renew_at = _parse_iso(renewal.get("renewal_time"))
        flag = renewal.get("expires_before_renewal") is True
        late += flag
        radius = 0 if start < lo or end > hi else 3
        mark = (f'<line x1="{x(renew_at):.1f}" y1="1" x2="{x(renew_at):.1f}" y2="23" class="renew"/>'
                if renew_at else "")
        tip = f"{_cert_name(f)}\n{f.get('not_before_iso')} .. {f.get('not_after_iso')}\n{'; '.join(seen)}\nsha256 {digest}"
        if renew_at:
            tip += f"\nrenewal {renewal.get('renewal_time')} ({', '.join(renewal.get('renewed_by') or [])})"
        when = f"{_e(f.get('not_after_iso', '')[:10])} · {_e(state)}"
        if renew_at:
            when += (f'<br><span class="late">expires before its renewal ({_e(renewal["renewal_time"][:10])})</span>'
                     if flag else f"<br>renews {_e(renewal['renewal_time'][:10])}")
        parts.append(
            f'<tr{" class=late" if flag else ""}><td class="who"><b>{_e(_cert_name(f))}</b>'
            f'<div class="where">{_e(_places(seen))}</div></td>'
            f'<td class="bar"><svg viewBox="0 0 1000 24" preserveAspectRatio="none" role="img" '
            f'aria-label="validity of {_e(_cert_name(f))}"><title>{_e(tip)}</title>{grid}'
            f'<rect class="bar" x="{x(start):.1f}" y="5" width="{max(x(end) - x(start), 2):.1f}" height="14" '
            f'rx="{radius}" fill="{colour}"/>{mark}{now_line}</svg></td><td class="when">{when}</td></tr>')
    parts.append("</tbody></table>")
    parts.append('<div class="legend"><span style="--c:var(--pass)">valid</span>'
                 f'<span style="--c:var(--error)">fewer than {_e(min_days)} days left</span>'
                 '<span style="--c:var(--fail)">expired or not yet valid</span>'
                 '<span style="--c:var(--ink)">cert-manager renewal time (status.renewalTime)</span>'
                 f'<span>now: {_e(_iso(now))}</span></div>')
    if late:
        parts.append(f'<p class="late">{late} certificate(s) would expire before cert-manager renews them.</p>')
    parts.append(_expiry_by_endpoint(document))
    parts.append("</section>")
    return "".join(parts)


def _expiry_by_endpoint(document: Mapping[str, Any]) -> str:
    from probes.forecast import expiring_first

    view = document.get("forecast") or {}
    rows = list(expiring_first(view))
    if not rows:
        return ""
    parts = ['<h3>Earliest expiry per endpoint</h3><table class="expiry"><thead><tr><th>endpoint</th>'
             "<th>certificate</th><th>from</th><th>notAfter</th><th>renewal</th></tr></thead><tbody>"]
    for eid, e in rows:
        renewal = e.get("renewal_time") or "unknown"
        if e.get("expires_before_renewal"):
            renewal = f"{renewal}: expires before it"
        parts.append(f"<tr><td><code>{_e(eid)}</code></td><td>{_e(e.get('name'))}</td><td>{_e(e.get('from'))}</td>"
                     f"<td>{_e(e.get('not_after'))}</td><td>{_e(renewal)}</td></tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _drift(document: Mapping[str, Any]) -> str:
    """The "changed since baseline" section: every difference from the baseline run, by kind."""
    drift = document.get("drift")
    if not drift:
        return ""
    base = drift.get("baseline") or {}
    parts = [f'<section id="drift"><h2>Changed since baseline ({len(drift.get("sentences") or [])})</h2>'
             f'<p class="sub">Baseline {_e(base.get("path"))}, finished {_e(base.get("finished_at") or "(unknown)")}'
             f', schema {_e(base.get("schema"))}.</p>']
    if not drift.get("changed"):
        parts.append('<p class="ok">Nothing changed since the baseline.</p></section>')
        return "".join(parts)
    groups = (
        ("Endpoints", [f"{c['endpoint']} {c['change']}" for c in drift.get("endpoints") or ()]),
        ("Verdicts", [f"{c['control']} on {c['endpoint']}: {c['old'] or 'not judged'} → {c['new'] or 'not judged'}"
                      for c in drift.get("verdicts") or ()]),
        ("Certificates", [f"{c['where']}: {c['kind']}: " + " → ".join(
            f"{x['name']} serial {x['serial']} sha256 {x['sha256'][:16]}…" if x else "none"
            for x in (c.get("old"), c.get("new"))) for c in drift.get("certificates") or ()]),
        ("Versions and suites", [f"{c['endpoint']}: {c['what']} {c['name']} newly {c['now']}"
                                 for c in drift.get("protocols") or ()]),
    )
    for title, lines in groups:
        if lines:
            parts.append(f"<h3>{_e(title)} ({len(lines)})</h3><ul class=\"drift\">"
                         + "".join(f"<li>{_e(line)}</li>" for line in lines) + "</ul>")
    parts.append("</section>")
    return "".join(parts)


def _secrets(document: Mapping[str, Any]) -> str:
    secrets = document.get("secrets", {})
    if not secrets:
        return ""
    parts = ['<section id="secrets"><h2>Secrets</h2><table><thead><tr><th>secret</th><th>found</th><th>type</th>'
             "<th>keys</th><th>tls.crt leaf</th><th>key matches</th><th>problems</th></tr></thead><tbody>"]
    certs = document.get("certificates", {})
    for ref in sorted(secrets):
        s = secrets[ref]
        leaf = s.get("cert_chain_sha256") or []
        f = (certs.get(leaf[0], {}).get("facts") or {}) if leaf else {}
        name = _subject_text(f)
        leaf_text = f"{name}, notAfter {f.get('not_after_iso')}" if f else "—"
        found = "yes" if s.get("found") else ("error: " + s["error"] if s.get("error") else "missing")
        found_class = "" if s.get("found") else ' class="bad"'
        km = {True: "yes", False: "NO", None: "—"}[s.get("key_matches")]
        km_class = ' class="bad"' if s.get("key_matches") is False else ""
        parts.append(f"<tr><td><code>{_e(ref)}</code></td><td{found_class}>{_e(found)}</td><td>{_e(s.get('type') or '—')}</td>"
                     f"<td>{_e(', '.join(s.get('keys') or []))}</td><td>{_e(leaf_text)}</td><td{km_class}>{_e(km)}</td>"
                     f"<td>{_e('; '.join(s.get('problems') or []))}</td></tr>")
    parts.append("</tbody></table></section>")
    return "".join(parts)


def render_html(document: Mapping[str, Any]) -> str:
    """The human report: one self-contained HTML file (inline CSS, no script, no external resource; a
    Content-Security-Policy forbids loading anything), every value HTML-escaped."""
    cells = _cells(document)
    body = [
        _header(document, cells),
        _findings(cells, "fail", "Failures", "No control failed."),
        _findings(cells, "error", "Errors", "Every control could be observed.",
                  note="The suite could not observe these; they are neither passes nor failures."),
        _drift(document),
        _frameworks.render_html(document.get("framework")),
        _matrix(document, cells),
        _endpoints(document),
        _timeline(document),
        _secrets(document),
        f'<footer>Generated by direktiv-tls-conformance {_e(document.get("run", {}).get("tool_version"))}. '
        "The evidence file beside this report holds every observation, certificate and verdict.</footer>",
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>Direktiv TLS conformance report</title>"
        f"<style>{_CSS}</style></head><body><main>" + "".join(body) + "</main></body></html>\n"
    )
