"""Cross-check with the peer (issue 12 item 4): sslyze and our ClientHello prober on the same forwarded endpoint,
protocol version by version and cipher suite by suite.

    .venv/bin/python -m benchmarks.compare [--scenario NAME]... [--output PATH]

For every TLS endpoint of each scenario (default: ``conformant`` and ``docs-verbatim``, and ``go-defaults`` where
the sandbox has it) one port-forward to the pod the suite probes serves both tools:

- sslyze, from its own virtual environment (:mod:`benchmarks.sslyze_scan`), runs its six cipher-suite scan
  commands (``--sslv2 --sslv3 --tlsv1 --tlsv1_1 --tlsv1_2 --tlsv1_3``) with ``--json_out -``, and on mTLS
  endpoints presents the endpoint's client certificate (files 0600 in a private directory, deleted after the scan);
- :func:`probes.hello.accepted_versions`, then :func:`probes.hello.accepted_suites` for each accepted version:
  over every suite of the IANA registry (:mod:`probes.cipher_suites`) up to TLS 1.2, over the TLS 1.3 suites at
  TLS 1.3.

Gathering and judging are apart: each tool's answer becomes a :class:`ToolFindings` (per version: accepted,
refused, not tested or failed, and the accepted suites by IANA name; sslyze's JSON names them the IANA way, which
:func:`sslyze_findings` checks against the registry), and :func:`compare` is a pure function of two of them.

A difference is *explained* only when sslyze never offered the suite in question (it is in neither its accepted
nor its rejected list for that version) and sslyze documents why (:data:`LIMITATIONS`): it offers only what its
nassl OpenSSL builds implement, only five TLS 1.3 suites, and no PSK or SRP suites. Every other difference
(including a version one tool could not judge) is unexplained and counts.

Output: disagreements first (unexplained, then explained with the reason and its source), then a table per
endpoint; ``reports/compare.json`` holds the same. Progress goes to stderr. Exit status: 0 when every endpoint was
compared and no disagreement is unexplained, 1 otherwise, 2 for bad options.

Deadlines: sslyze runs under :data:`benchmarks.sslyze_scan.SCAN_TIMEOUT` (its own connections under its 5 s
network timeout), every prober step under :data:`STEP_TIMEOUT` and all of one endpoint's probing under
:data:`PROBE_BUDGET`, port-forward steps under :data:`STEP_TIMEOUT`, installing sslyze under its install timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

# grpcio's C core logs every handshake the sandbox's servers refuse, and the probes provoke them on purpose.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

from benchmarks import sslyze_scan  # noqa: E402
from benchmarks.endpoints import client_certificate, client_files, forward_endpoint  # noqa: E402
from benchmarks.ours import REPO_ROOT, STEP_TIMEOUT, gather_target  # noqa: E402
from benchmarks.records import ToolSetup  # noqa: E402
from benchmarks.timed_scan import run_scan  # noqa: E402
from probes.cipher_suites import SUITES, suites_for_version  # noqa: E402
from probes.hello import SuiteScan, Verdict, VersionScan, accepted_suites, accepted_versions  # noqa: E402
from probes.timeouts import Budget, Timeouts  # noqa: E402
from probes.tls import TLSVersion  # noqa: E402

__all__ = [
    "DEFAULT_SCENARIOS",
    "LIMITATIONS",
    "VERSIONS",
    "Comparison",
    "Difference",
    "EndpointComparison",
    "Limitation",
    "ToolFindings",
    "VersionFinding",
    "VersionState",
    "compare",
    "default_scenarios",
    "main",
    "parse_args",
    "probe_findings",
    "prober_findings",
    "render",
    "sslyze_findings",
    "to_json",
]

# The two scenarios; go-defaults (real Go servers: TLS 1.0 and 3DES) joins them where the sandbox has it.
DEFAULT_SCENARIOS: tuple[str, ...] = ("conformant", "docs-verbatim")
OPTIONAL_SCENARIOS: tuple[str, ...] = ("go-defaults",)
DEFAULT_OUTPUT = REPO_ROOT / "reports" / "compare.json"
# All of one endpoint's ClientHellos: about 20 connections of a few milliseconds each; a minute means it hangs.
PROBE_BUDGET = 60.0

VERSIONS: tuple[str, ...] = ("SSLv2",) + tuple(v.value for v in TLSVersion)
# sslyze's scan command (JSON key) and command-line option per version.
_SSLYZE_COMMANDS: dict[str, tuple[str, str]] = {
    "SSLv2": ("ssl_2_0_cipher_suites", "--sslv2"), "SSLv3": ("ssl_3_0_cipher_suites", "--sslv3"),
    "TLSv1": ("tls_1_0_cipher_suites", "--tlsv1"), "TLSv1.1": ("tls_1_1_cipher_suites", "--tlsv1_1"),
    "TLSv1.2": ("tls_1_2_cipher_suites", "--tlsv1_2"), "TLSv1.3": ("tls_1_3_cipher_suites", "--tlsv1_3"),
}
SSLYZE_OPTIONS: tuple[str, ...] = tuple(option for _, option in _SSLYZE_COMMANDS.values())
_IANA_NAMES = frozenset(suite.name for suite in SUITES.values())
_TLS13_NAMES = frozenset(SUITES[code].name for code in suites_for_version(TLSVersion.TLSv1_3))
_NO_SSLV2 = "the prober speaks SSLv3 to TLS 1.3 only"


# --- records ---------------------------------------------------------------------------------------------------


class VersionState(str, Enum):
    """What one tool found about one protocol version."""

    ACCEPTED = "accepted"  # at least one suite was accepted at this version
    REFUSED = "refused"  # every suite offered at this version was refused
    NOT_TESTED = "not tested"  # the tool did not ask (sslyze's scan command not run; SSLv2 for the prober)
    FAILED = "failed"  # the tool asked and could not judge (an error, a timeout, an unjudged hello)


@dataclass(frozen=True)
class VersionFinding:
    """One tool's answer for one version.

    Attributes:
        version: ``SSLv2``, ``SSLv3``, ``TLSv1``, ``TLSv1.1``, ``TLSv1.2`` or ``TLSv1.3``.
        state: see :class:`VersionState`.
        accepted: the accepted suites by IANA name, sorted.
        offered: the suites the tool offered at this version (sslyze: its accepted and rejected lists); None when
            it offered every suite of :mod:`probes.cipher_suites` (the prober).
        unjudged: suites the prober could not judge (its scan stopped early); never counted as refused.
        detail: one sentence: how many were offered, or why the version failed or was not tested.
    """

    version: str
    state: VersionState
    accepted: tuple[str, ...] = ()
    offered: frozenset[str] | None = field(default=None, repr=False)
    unjudged: tuple[str, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class ToolFindings:
    """Everything one tool found at one endpoint.

    Attributes:
        tool: ``sslyze`` or ``prober``.
        versions: one finding per version of :data:`VERSIONS`, in that order.
        notes: remarks that are no verdict, e.g. sslyze names outside the IANA registry.
    """

    tool: str
    versions: tuple[VersionFinding, ...]
    notes: tuple[str, ...] = ()

    def at(self, version: str) -> VersionFinding:
        for finding in self.versions:
            if finding.version == version:
                return finding
        return VersionFinding(version, VersionState.NOT_TESTED, detail=f"{self.tool} has no result for {version}")

    @property
    def accepted_versions(self) -> tuple[str, ...]:
        return tuple(f.version for f in self.versions if f.state is VersionState.ACCEPTED)


@dataclass(frozen=True)
class Limitation:
    """A documented sslyze limitation that explains a difference.

    Attributes:
        reason: what sslyze does not do, in one sentence.
        source: where sslyze says so (documentation page, source file and name).
    """

    reason: str
    source: str


@dataclass(frozen=True)
class Difference:
    """One point where the tools disagree.

    Attributes:
        version: the protocol version.
        suite: the suite's IANA name; None when the difference is about the version itself.
        sslyze: what sslyze says, e.g. ``accepted``, ``rejected``, ``never offered``, ``failed: ...``.
        prober: what the prober says.
        explanation: the documented sslyze limitation behind it; None when unexplained.
    """

    version: str
    suite: str | None
    sslyze: str
    prober: str
    explanation: Limitation | None = None

    @property
    def explained(self) -> bool:
        return self.explanation is not None

    def describe(self) -> str:
        what = f"{self.version} {self.suite}" if self.suite else self.version
        return f"{what}: sslyze {self.sslyze}, prober {self.prober}"


@dataclass(frozen=True)
class EndpointComparison:
    """Both tools on one endpoint.

    Attributes:
        scenario: the sandbox scenario.
        endpoint: the endpoint ID.
        server_name: the SNI both tools sent.
        mtls: the endpoint asks for a client certificate (sslyze got the endpoint's own).
        sslyze: sslyze's findings; None when it did not run or its output could not be read.
        prober: the prober's findings; None when it could not run.
        differences: every difference, unexplained first.
        problems: why the endpoint could not be (fully) compared; empty when it was.
        sslyze_seconds: sslyze's wall time, None when it did not run.
        prober_seconds: the prober's wall time, None when it did not run.
    """

    scenario: str
    endpoint: str
    server_name: str
    mtls: bool
    sslyze: ToolFindings | None
    prober: ToolFindings | None
    differences: tuple[Difference, ...] = ()
    problems: tuple[str, ...] = ()
    sslyze_seconds: float | None = None
    prober_seconds: float | None = None

    @property
    def unexplained(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if not d.explained)

    @property
    def explained(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if d.explained)


@dataclass(frozen=True)
class Comparison:
    """One run of the cross-check.

    Attributes:
        command: the command line.
        date: when it ran (UTC, ISO 8601).
        sslyze: sslyze's setup (version, or why it is missing).
        scenarios: the scenarios, in order.
        endpoints: one comparison per TLS endpoint of each scenario.
        problems: what stopped a whole scenario (the sandbox did not start).
    """

    command: str
    date: str
    sslyze: ToolSetup
    scenarios: tuple[str, ...]
    endpoints: tuple[EndpointComparison, ...]
    problems: tuple[str, ...] = ()

    @property
    def unexplained(self) -> int:
        return sum(len(e.unexplained) for e in self.endpoints)

    @property
    def explained(self) -> int:
        return sum(len(e.explained) for e in self.endpoints)

    @property
    def not_compared(self) -> tuple[str, ...]:
        return self.problems + tuple(f"{e.scenario}/{e.endpoint}: {p}" for e in self.endpoints for p in e.problems)

    @property
    def ok(self) -> bool:
        return not self.unexplained and not self.not_compared


# --- sslyze's limitations --------------------------------------------------------------------------------------

_SSLYZE_DOCS = ("https://nabla-c0d3.github.io/sslyze/documentation/available-scan-commands.html, "
                "CipherSuitesScanResult: accepted_cipher_suites are 'the cipher suites supported by both SSLyze and "
                "the server'")
_SSLYZE_SUITES = "nabla-c0d3/sslyze sslyze/plugins/openssl_cipher_suites/cipher_suites.py"
LIMITATIONS: Mapping[str, Limitation] = {
    "tls13": Limitation(
        "sslyze offers only the five TLS 1.3 suites OpenSSL 1.1.1 implements (AES-GCM, ChaCha20-Poly1305, AES-CCM, "
        "AES-CCM-8), so it never tests any other",
        f"{_SSLYZE_SUITES}: _TLS_1_3_CIPHER_SUITES ('TLS 1.3 cipher suites implemented in OpenSSL 1.1.1'); "
        f"{_SSLYZE_DOCS}"),
    "psk-srp": Limitation(
        "sslyze leaves PSK and SRP suites out of every scan ('ALL:COMPLEMENTOFALL:-PSK:-SRP': 'they need a special "
        "setup in the client')",
        f"{_SSLYZE_SUITES}: _parse_all_cipher_suites_with_legacy_openssl; {_SSLYZE_DOCS}"),
    "nassl": Limitation(
        "sslyze offers only the suites its two nassl OpenSSL builds (1.0.2 legacy, 1.1.1 modern) implement, and "
        "this is not one of them",
        f"{_SSLYZE_SUITES}: _parse_all_cipher_suites; {_SSLYZE_DOCS}"),
}


def sslyze_limitation(version: str, suite: str) -> Limitation:
    """Why sslyze never offers ``suite`` at ``version`` (call only for suites missing from both of its lists)."""
    if version == TLSVersion.TLSv1_3.value or suite in _TLS13_NAMES:
        return LIMITATIONS["tls13"]
    if "PSK" in suite or "SRP" in suite:
        return LIMITATIONS["psk-srp"]
    return LIMITATIONS["nassl"]


# --- sslyze's JSON -> findings ---------------------------------------------------------------------------------


def _names(entries: Iterable[Any]) -> tuple[str, ...]:
    return tuple(sorted(str(e["cipher_suite"]["name"]) for e in entries or ()))


def _sslyze_version(version: str, attempt: Mapping[str, Any] | None) -> VersionFinding:
    if not attempt or attempt.get("status") in (None, "NOT_SCHEDULED"):
        return VersionFinding(version, VersionState.NOT_TESTED, detail="sslyze did not run this scan command")
    if attempt.get("status") != "COMPLETED" or not isinstance(attempt.get("result"), Mapping):
        trace = (attempt.get("error_trace") or "").strip().splitlines()
        why = attempt.get("error_reason") or attempt.get("status")
        return VersionFinding(version, VersionState.FAILED, detail=f"{why}" + (f" ({trace[-1]})" if trace else ""))
    result = attempt["result"]
    accepted = _names(result.get("accepted_cipher_suites"))
    rejected = _names(result.get("rejected_cipher_suites"))
    state = VersionState.ACCEPTED if accepted else VersionState.REFUSED
    return VersionFinding(version, state, accepted, frozenset(accepted + rejected),
                          detail=f"{len(accepted) + len(rejected)} suites offered")


def sslyze_findings(document: Mapping[str, Any]) -> ToolFindings:
    """sslyze's ``--json_out`` document (one server) as findings; a scan that never reached the server fails every
    version. Suite names outside the IANA registry, accepted or rejected, are noted (SSLv2's cipher kinds are not
    TLS suites and have no IANA name)."""
    results = document.get("server_scan_results") or [{}]
    result = results[0] if isinstance(results[0], Mapping) else {}
    if result.get("scan_status") != "COMPLETED":
        why = f"sslyze could not scan: {result.get('scan_status') or 'no scan result'}"
        trace = (result.get("connectivity_error_trace") or "").strip().splitlines()
        why += f" ({trace[-1]})" if trace else ""
        return ToolFindings("sslyze", tuple(VersionFinding(v, VersionState.FAILED, detail=why) for v in VERSIONS))
    commands = result.get("scan_result") or {}
    versions = tuple(_sslyze_version(v, commands.get(key)) for v, (key, _) in _SSLYZE_COMMANDS.items())
    foreign = sorted({n for f in versions if f.version != "SSLv2" for n in f.offered or () if n not in _IANA_NAMES})
    notes = (f"sslyze names outside the IANA registry: {', '.join(foreign)}",) if foreign else ()
    return ToolFindings("sslyze", versions, notes)


# --- the prober -> findings ------------------------------------------------------------------------------------


def _candidates(version: TLSVersion) -> tuple[int, ...]:
    """Every registry suite up to TLS 1.2 (a server that picks one its version cannot carry shows up as a protocol
    error, never as silence); the TLS 1.3 suites at TLS 1.3."""
    return suites_for_version(version) if version is TLSVersion.TLSv1_3 else tuple(SUITES)


def _suite_finding(version: TLSVersion, scan: SuiteScan) -> VersionFinding:
    names = tuple(sorted(scan.accepted_names))
    unjudged = tuple(sorted(SUITES[c].name if c in SUITES else f"0x{c:04X}" for c in scan.unjudged))
    if scan.accepted:
        return VersionFinding(version.value, VersionState.ACCEPTED, names, None, unjudged, scan.detail)
    return VersionFinding(version.value, VersionState.FAILED, (), None, unjudged,
                          f"the version was accepted, then no suite scan answer could be judged: {scan.detail}")


def _version_finding(version: TLSVersion, versions: VersionScan, suite_scan: SuiteScan | None) -> VersionFinding:
    verdict = versions.verdict(version)
    if verdict is None:
        return VersionFinding(version.value, VersionState.NOT_TESTED, detail="not asked")
    if verdict is Verdict.REFUSED:
        return VersionFinding(version.value, VersionState.REFUSED,
                              detail="refused a hello with every suite usable at it")
    if verdict is Verdict.UNDETERMINED or suite_scan is None:
        attempt = next((a for a in versions.attempts if a.result.hello.version is version), None)
        why = attempt.result.detail if attempt else "no hello was sent (the probing budget was spent)"
        return VersionFinding(version.value, VersionState.FAILED, detail=f"undetermined: {why}")
    return _suite_finding(version, suite_scan)


def prober_findings(versions: VersionScan, scans: Mapping[TLSVersion, SuiteScan]) -> ToolFindings:
    """The prober's version scan and its suite scan per accepted version, as findings (pure)."""
    findings = tuple(_version_finding(v, versions, scans.get(v)) for v in TLSVersion)
    sslv2 = VersionFinding("SSLv2", VersionState.NOT_TESTED, detail=_NO_SSLV2)
    notes = tuple(f"{f.version}: {len(f.unjudged)} suites left unjudged ({f.detail})" for f in findings if f.unjudged)
    return ToolFindings("prober", (sslv2,) + findings, notes)


def probe_findings(address: tuple[str, int], server_name: str, *, timeouts: Timeouts,
                   budget: Budget | None = None) -> ToolFindings:
    """``accepted_versions``, then ``accepted_suites`` for every accepted version, read by :func:`prober_findings`."""
    versions = accepted_versions(address, server_name=server_name, timeouts=timeouts, budget=budget)
    scans = {v: accepted_suites(address, v, _candidates(v), server_name=server_name, timeouts=timeouts,
                                budget=budget) for v in versions.accepted}
    return prober_findings(versions, scans)


# --- judging ---------------------------------------------------------------------------------------------------


def _state_text(finding: VersionFinding) -> str:
    return f"{finding.state.value}: {finding.detail}" if finding.state is VersionState.FAILED else finding.state.value


def _prober_only(version: str, suite: str, sslyze: VersionFinding) -> Difference:
    if sslyze.offered is not None and suite not in sslyze.offered:
        return Difference(version, suite, "never offered it", "accepted", sslyze_limitation(version, suite))
    return Difference(version, suite, "rejected", "accepted")


def _sslyze_only(version: str, suite: str, prober: VersionFinding) -> Difference:
    if suite in prober.unjudged:
        return Difference(version, suite, "accepted", "left it unjudged (its scan stopped early)")
    if suite not in _IANA_NAMES:
        return Difference(version, suite, "accepted", "cannot offer it (not in probes.cipher_suites)")
    return Difference(version, suite, "accepted", "refused")


def _version_difference(sslyze: VersionFinding, prober: VersionFinding, suites: list[Difference]) -> Difference:
    explanation = None
    if suites and all(d.explained for d in suites):
        sources = dict.fromkeys(d.explanation.source for d in suites)
        explanation = Limitation(f"every suite behind it is one sslyze never offers ({len(suites)} below)",
                                 "; ".join(sources))
    return Difference(sslyze.version, None, _state_text(sslyze), _state_text(prober), explanation)


def _compare_version(sslyze: VersionFinding, prober: VersionFinding) -> list[Difference]:
    states = (sslyze.state, prober.state)
    if VersionState.FAILED in states:
        return [Difference(sslyze.version, None, _state_text(sslyze), _state_text(prober))]
    if VersionState.NOT_TESTED in states:
        # one tool did not ask: a difference only when the other found the version accepted
        if VersionState.ACCEPTED not in states:
            return []
        return [Difference(sslyze.version, None, _state_text(sslyze), _state_text(prober))]
    suites = [_prober_only(sslyze.version, s, sslyze) for s in prober.accepted if s not in sslyze.accepted]
    suites += [_sslyze_only(sslyze.version, s, prober) for s in sslyze.accepted if s not in prober.accepted]
    if sslyze.state is not prober.state:
        return [_version_difference(sslyze, prober, suites)] + suites
    return suites


def compare(sslyze: ToolFindings, prober: ToolFindings) -> tuple[Difference, ...]:
    """Every difference between the two tools' findings, unexplained first (otherwise in version order)."""
    found = [d for version in VERSIONS for d in _compare_version(sslyze.at(version), prober.at(version))]
    return tuple(sorted(found, key=lambda d: d.explained))


# --- gathering -------------------------------------------------------------------------------------------------


def _say(text: str) -> None:
    print(f"[compare {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _server_name(cluster, topology, spec) -> str:
    """The SNI the suite sends: for knative the first knative service's host (the probe host when there is none)."""
    if spec.kind != "knative":
        return spec.server_name
    from probes.topology import knative_host

    items = cluster.custom_objects("serving.knative.dev", "v1", topology.services_namespace, "services") or []
    names = sorted(i["metadata"]["name"] for i in items if isinstance(i, dict) and i.get("metadata", {}).get("name"))
    return knative_host(names[0], topology.services_namespace) if names else spec.server_name


@dataclass(frozen=True)
class _SslyzeRun:
    """sslyze's six cipher-suite scan commands on one endpoint.

    Attributes:
        findings: read from its JSON; None when it printed none.
        seconds: its wall time; None when it did not start.
        problem: why its scan did not complete; None when it did.
        raw: its JSON as printed (client certificate paths, never key bytes).
    """

    findings: ToolFindings | None
    seconds: float | None
    problem: str | None
    raw: str = field(default="", repr=False)


def _run_sslyze(setup: ToolSetup, endpoint: str, address, server_name: str, files) -> _SslyzeRun:
    """One timed subprocess under sslyze_scan.SCAN_TIMEOUT."""
    if not setup.available or setup.executable is None:
        return _SslyzeRun(None, None, setup.reason or "sslyze is not available")
    command = sslyze_scan.sslyze_command(setup.executable, address, server_name, files, scan_options=SSLYZE_OPTIONS)
    captured: dict[str, str] = {}

    def judge(done: subprocess.CompletedProcess[str]) -> tuple[bool, str]:
        captured["stdout"] = done.stdout
        return sslyze_scan.read_scan_json(done.stdout)

    scan = run_scan("sslyze", endpoint, command, timeout=sslyze_scan.SCAN_TIMEOUT, with_cert=files is not None,
                    judge=judge)
    raw = captured.get("stdout") or ""
    try:
        document = json.loads(raw)
    except ValueError:
        return _SslyzeRun(None, scan.seconds, f"sslyze printed no JSON: {scan.detail}")
    return _SslyzeRun(sslyze_findings(document), scan.seconds, None if scan.completed else scan.detail, raw)


def _compare_endpoint(scenario: str, target, spec, setup: ToolSetup, raw_dir: Path | None) -> EndpointComparison:
    from probes.errors import ProbeError
    from probes.topology import Mode

    timeouts = Timeouts.uniform(STEP_TIMEOUT)
    base = dict(scenario=scenario, endpoint=spec.id, server_name=spec.server_name, mtls=spec.mode is Mode.MTLS)
    try:
        server_name = base["server_name"] = _server_name(target.cluster, target.topology, spec)
        with forward_endpoint(target.cluster, spec, timeouts=timeouts) as forwarder:
            with client_files(client_certificate(target.cluster, spec)) as files:
                sslyze = _run_sslyze(setup, spec.id, forwarder.address, server_name, files)
            start = time.perf_counter()
            prober = probe_findings(forwarder.address, server_name, timeouts=timeouts, budget=Budget(PROBE_BUDGET))
            prober_seconds = time.perf_counter() - start
    except (ProbeError, OSError) as exc:
        return EndpointComparison(**base, sslyze=None, prober=None,
                                  problems=(f"could not reach {spec.id} through a port-forward: {exc}",))
    except Exception as exc:  # noqa: BLE001 - a bug here must not cost the other endpoints their comparison
        return EndpointComparison(**base, sslyze=None, prober=None,
                                  problems=(f"the comparison broke: {type(exc).__name__}: {exc}",))
    if raw_dir is not None and sslyze.raw:
        raw_dir.mkdir(parents=True, exist_ok=True)
        (raw_dir / f"{scenario}-{spec.id}.sslyze.json").write_text(sslyze.raw)
    # a scan that did not complete is not compared (its versions would all read as failed)
    differences = compare(sslyze.findings, prober) if sslyze.findings is not None and not sslyze.problem else ()
    return EndpointComparison(**base, sslyze=sslyze.findings, prober=prober, differences=differences,
                              problems=(sslyze.problem,) if sslyze.problem else (), sslyze_seconds=sslyze.seconds,
                              prober_seconds=prober_seconds)


def _tls_specs(topology):
    from probes.topology import Mode

    return [s for s in topology.endpoints if s.deployed and s.mode is not Mode.PLAINTEXT]


def _compare_scenario(name: str, setup: ToolSetup, raw_dir: Path | None) -> list[EndpointComparison]:
    from sandbox.cluster import start_sandbox

    rows = []
    with start_sandbox(name) as running:
        target = gather_target(running)
        try:
            for spec in _tls_specs(target.topology):
                _say(f"{name} / {spec.id}")
                row = _compare_endpoint(name, target, spec, setup, raw_dir)
                _say(f"  {len(row.unexplained)} unexplained, {len(row.explained)} explained"
                     + (f"; not compared: {'; '.join(row.problems)}" if row.problems else ""))
                rows.append(row)
        finally:
            target.cluster.close()
    return rows


def run(args: argparse.Namespace, command: str) -> Comparison:
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    _say(f"sslyze in {args.sslyze_venv}")
    setup = sslyze_scan.ensure_sslyze(args.sslyze_venv, install=not args.no_install)
    _say(f"  sslyze: {setup.state.value} {setup.version or ''} {setup.reason or ''}".rstrip())
    endpoints: list[EndpointComparison] = []
    problems: list[str] = []
    for name in args.scenarios:
        try:
            endpoints += _compare_scenario(name, setup, args.raw_dir)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - one scenario that does not start must not lose the others
            problems.append(f"{name}: the sandbox could not be compared: {type(exc).__name__}: {exc}")
            _say(f"  failed: {exc}")
    return Comparison(command, date, setup, tuple(args.scenarios), tuple(endpoints), tuple(problems))


# --- reporting (reads records only) ----------------------------------------------------------------------------


def _suites_text(finding: VersionFinding) -> str:
    if finding.state is VersionState.ACCEPTED:
        return f"accepted, {len(finding.accepted)} suite{'' if len(finding.accepted) == 1 else 's'}"
    if finding.state in (VersionState.FAILED, VersionState.NOT_TESTED):
        return f"{finding.state.value} ({finding.detail})"
    return finding.state.value


def _absent(tool: str) -> ToolFindings:
    return ToolFindings(tool, tuple(VersionFinding(v, VersionState.NOT_TESTED, detail="no result") for v in VERSIONS))


def _endpoint_lines(row: EndpointComparison) -> list[str]:
    verdict = ("NOT COMPARED" if row.problems else
               f"{len(row.unexplained)} unexplained, {len(row.explained)} explained" if row.differences else "agree")
    client = ", mTLS: sslyze sent the client certificate" if row.mtls else ""
    lines = [f"{row.scenario} / {row.endpoint}  (SNI {row.server_name}{client}): {verdict}"]
    lines += [f"  not compared: {p}" for p in row.problems]
    if row.sslyze is None and row.prober is None:
        return lines
    sslyze, prober = row.sslyze or _absent("sslyze"), row.prober or _absent("prober")
    lines += [f"  note: {n}" for n in sslyze.notes + prober.notes]
    lines.append(f"  {'version':<9}{'sslyze':<34}prober")
    for version in VERSIONS:
        s, p = sslyze.at(version), prober.at(version)
        lines.append(f"  {version:<9}{_suites_text(s):<34}{_suites_text(p)}")
        for suite in sorted(set(s.accepted) | set(p.accepted)):
            who = "both" if suite in s.accepted and suite in p.accepted else (
                "sslyze only" if suite in s.accepted else "prober only")
            lines.append(f"  {'':<9}  {suite:<52}{who}")
    return lines


def _difference_lines(rows: Sequence[EndpointComparison]) -> list[str]:
    lines = []
    for row in rows:
        for d in row.unexplained:
            lines.append(f"  UNEXPLAINED {row.scenario}/{row.endpoint} {d.describe()}")
    for row in rows:
        for d in row.explained:
            lines.append(f"  explained   {row.scenario}/{row.endpoint} {d.describe()}")
            lines.append(f"              why: {d.explanation.reason}")
            lines.append(f"              source: {d.explanation.source}")
    return lines


def render(result: Comparison) -> list[str]:
    """The table: the summary and every disagreement first, then one block per endpoint."""
    tool = f"sslyze {result.sslyze.version}" if result.sslyze.version else f"sslyze ({result.sslyze.reason})"
    lines = [f"Cross-check with {tool} and probes.hello, {result.date}",
             f"scenarios: {', '.join(result.scenarios)}; TLS endpoints: {len(result.endpoints)}; "
             f"disagreements: {result.unexplained} unexplained, {result.explained} explained; "
             f"not compared: {len(result.not_compared)}",
             ""]
    differences = _difference_lines(result.endpoints)
    lines += ["Disagreements:", *differences] if differences else ["Disagreements: none"]
    if result.not_compared:
        lines += ["Not compared:", *(f"  {p}" for p in result.not_compared)]
    for row in result.endpoints:
        lines += [""] + _endpoint_lines(row)
    return lines


def _findings_json(findings: ToolFindings | None) -> dict | None:
    if findings is None:
        return None
    versions = [{"version": f.version, "state": f.state.value, "accepted": list(f.accepted),
                 "offered": None if f.offered is None else len(f.offered), "unjudged": list(f.unjudged),
                 "detail": f.detail} for f in findings.versions]
    return {"tool": findings.tool, "versions": versions, "notes": list(findings.notes)}


def _difference_json(d: Difference) -> dict:
    explanation = None if d.explanation is None else {"reason": d.explanation.reason, "source": d.explanation.source}
    return {"version": d.version, "suite": d.suite, "sslyze": d.sslyze, "prober": d.prober, "explained": d.explained,
            "explanation": explanation}


def to_json(result: Comparison) -> dict:
    """The JSON document (``offered`` is a count: sslyze's lists run to 150 names a version)."""
    endpoints = [{"scenario": e.scenario, "endpoint": e.endpoint, "server_name": e.server_name, "mtls": e.mtls,
                  "sslyze_seconds": e.sslyze_seconds, "prober_seconds": e.prober_seconds,
                  "problems": list(e.problems), "differences": [_difference_json(d) for d in e.differences],
                  "sslyze": _findings_json(e.sslyze), "prober": _findings_json(e.prober)} for e in result.endpoints]
    return {"command": result.command, "date": result.date,
            "sslyze": {"state": result.sslyze.state.value, "version": result.sslyze.version,
                       "reason": result.sslyze.reason},
            "scenarios": list(result.scenarios), "unexplained": result.unexplained, "explained": result.explained,
            "not_compared": list(result.not_compared), "ok": result.ok, "endpoints": endpoints}


# --- command line ----------------------------------------------------------------------------------------------


def default_scenarios(known: Iterable[str] | None = None) -> tuple[str, ...]:
    """The issue's scenarios, plus go-defaults when the sandbox has it."""
    if known is None:
        from sandbox.scenarios import SCENARIOS

        known = SCENARIOS
    known = set(known)
    return DEFAULT_SCENARIOS + tuple(name for name in OPTIONAL_SCENARIOS if name in known)


def _scenario(text: str) -> str:
    from sandbox.scenarios import SCENARIOS

    if text not in SCENARIOS:
        raise argparse.ArgumentTypeError(f"there is no scenario {text!r}; known: {', '.join(SCENARIOS)}")
    return text


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", dest="scenarios", type=_scenario, action="append", metavar="NAME",
                        help="a sandbox scenario to compare (repeatable). Default: conformant, docs-verbatim, and "
                             "go-defaults where the sandbox has it")
    parser.add_argument("--sslyze-venv", type=Path, default=sslyze_scan.DEFAULT_VENV, metavar="DIR",
                        help="sslyze's own virtual environment. Default: benchmarks/.venv-sslyze")
    parser.add_argument("--no-install", action="store_true", help="do not install sslyze when it is missing")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, metavar="PATH",
                        help="where the JSON goes. Default: reports/compare.json")
    parser.add_argument("--raw-dir", type=Path, default=None, metavar="DIR",
                        help="also keep sslyze's JSON per endpoint there. Default: not kept")
    args = parser.parse_args(argv)
    args.scenarios = tuple(dict.fromkeys(args.scenarios)) if args.scenarios else default_scenarios()
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    shown = list(sys.argv[1:] if argv is None else argv)
    command = " ".join([".venv/bin/python -m benchmarks.compare", *map(shlex.quote, shown)])
    result = run(args, command)
    print("\n".join(render(result)))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(to_json(result), indent=2) + "\n")
    print(f"\nwritten: {args.output}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
