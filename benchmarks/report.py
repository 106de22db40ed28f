"""Judging the figures against issue 7's targets, the printed table, and ``reports/benchmark.json``.

Everything here reads :class:`~benchmarks.records.Benchmark` (and its parts); nothing measures.
"""

from __future__ import annotations

import dataclasses
import json
import math
from enum import Enum
from pathlib import Path

from benchmarks.records import Benchmark, ForwardCost, ScaleRow, SuiteRun, Target, Timing, ToolScan

__all__ = [
    "GATHER_TARGET",
    "RATIO_TARGET",
    "SCALE_HOSTS",
    "SCALE_TARGET",
    "SUITE_TARGET",
    "judge_targets",
    "ratio",
    "render_table",
    "to_json",
    "write_json",
]

# Issue 7's targets on 2 cores.
SUITE_TARGET = 3.0     # seconds, whole conformant run from pytest start to exit
GATHER_TARGET = 1.0    # seconds, evidence gathering
SCALE_HOSTS = 1000     # knative hosts ...
SCALE_TARGET = 10.0    # ... in under this many seconds
RATIO_TARGET = 10.0    # each endpoint at least this many times faster than sslyze's default scan of it


def _seconds(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if value < 1.0:
        return f"{value * 1000:.0f} ms" if value >= 0.01 else f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


def ratio(scan: ToolScan, per_endpoint: float | None) -> float | None:
    """How many times longer the tool took on the endpoint than our per-endpoint cost."""
    if scan.seconds is None or not scan.completed or not per_endpoint:
        return None
    return scan.seconds / per_endpoint


def _ratio_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def judge_targets(*, suite: SuiteRun | None, gather: Timing | None, per_endpoint: float | None,
                  scans: tuple[ToolScan, ...], scale: tuple[ScaleRow, ...]) -> tuple[Target, ...]:
    """Each of issue 7's targets: met, missed, or not measured (None)."""
    targets = []
    if suite is not None:
        targets.append(Target("whole conformant run (wall, pytest start to exit)", f"< {SUITE_TARGET:g} s",
                              _seconds(suite.timing.median), suite.timing.median < SUITE_TARGET))
    else:
        targets.append(Target("whole conformant run (wall, pytest start to exit)", f"< {SUITE_TARGET:g} s",
                              "not measured", None))
    targets.append(Target("evidence gathering", f"< {GATHER_TARGET:g} s", _seconds(gather.median if gather else None),
                          None if gather is None else gather.median < GATHER_TARGET))
    row = next((r for r in scale if r.hosts == SCALE_HOSTS), None)
    targets.append(Target(f"N-SNI-COVERAGE evidence, {SCALE_HOSTS} knative hosts", f"< {SCALE_TARGET:g} s",
                          _seconds(row.knative_seconds.median if row else None),
                          None if row is None else row.knative_seconds.median < SCALE_TARGET))
    ratios = [(ratio(s, per_endpoint), s.endpoint) for s in scans if s.tool == "sslyze"]
    measured = [(r, e) for r, e in ratios if r is not None]
    if measured and len(measured) == len(ratios):
        worst, where = min(measured)
        targets.append(Target("each endpoint vs sslyze's default scan of it", f">= {RATIO_TARGET:g}x faster",
                              f"{worst:.1f}x at worst ({where})", worst >= RATIO_TARGET))
    else:
        missing = sorted(e for r, e in ratios if r is None)
        text = "not measured" if not ratios else f"not measured for {', '.join(missing)}"
        targets.append(Target("each endpoint vs sslyze's default scan of it", f">= {RATIO_TARGET:g}x faster",
                              text, None))
    return tuple(targets)


def _met(value: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "n/a"}[value]


def _forward_rows(forward: ForwardCost | None) -> list[tuple[str, str]]:
    if forward is None:
        return [("port-forward cost", "not measured")]
    return [
        (f"port-forward stream open (median of {forward.opens})", _seconds(forward.open_latency.median)),
        (f"port-forward connect to first echoed byte (median of {forward.opens})", _seconds(forward.first_byte.median)),
        (f"port-forward throughput, {forward.mebibytes} MiB up / down",
         f"{forward.upload_mib_s:.0f} / {forward.download_mib_s:.0f} MiB/s"),
    ]


def render_table(bench: Benchmark) -> list[str]:
    """The benchmark as lines of text: machine, our figures, the tools per endpoint, the scale, the targets."""
    m = bench.machine
    lines = [
        f"Direktiv TLS conformance benchmark: sandbox {bench.scenario!r}, medians of {bench.runs} runs",
        f"machine: {m.cpu}, {m.cores} cores, Python {m.python}, {m.openssl_cryptography} (probes), "
        f"{m.openssl_system or 'no system openssl'} (system)",
        *(f"condition: {text}" for text in m.conditions),
        f"command: {bench.command}",
        "",
    ]
    per = bench.per_endpoint
    ours: list[tuple[str, str]] = []
    if bench.suite is not None:
        codes = sorted(set(bench.suite.exit_codes))
        ours.append(("whole suite, pytest suites/ --direktiv-sandbox conformant (wall)", _seconds(bench.suite.timing.median)))
        ours.append(("  pytest's summary / exit status", f"{bench.suite.summary} / {','.join(map(str, codes))}"))
    if bench.gather is not None:
        ours.append((f"evidence gathering: {len(bench.endpoints)} endpoints, {bench.probes} probes",
                     _seconds(bench.gather.median)))
        ours.append(("  per endpoint (gathering / endpoints)", _seconds(per)))
    ours += _forward_rows(bench.forward)
    for row in bench.scale:
        ours.append((f"N-SNI-COVERAGE evidence, {row.hosts} knative hosts ({row.handshakes} handshakes, {row.verdict})",
                     _seconds(row.knative_seconds.median)))
    width = max(len(k) for k, _ in ours) if ours else 10
    lines += [f"{k:<{width}}  {v}" for k, v in ours]

    lines += ["", "comparison tools:"]
    for tool in bench.tools:
        how = {"ready": "installed", "installed": f"installed by this run in {_seconds(tool.seconds)}",
               "missing": f"MISSING: {tool.reason}"}[tool.state.value]
        lines.append(f"  {tool.name} {tool.version or ''}".rstrip() + f": {how}")
    if bench.scans:
        header = f"{'endpoint':<16}{'tool':<12}{'tool time':>11}{'ours/endpoint':>15}{'ratio':>9}  detail"
        lines += ["", header, "-" * len(header)]
        for scan in bench.scans:
            cert = " (with the client certificate)" if scan.client_certificate else ""
            lines.append(f"{scan.endpoint:<16}{scan.tool:<12}{_seconds(scan.seconds):>11}{_seconds(per):>15}"
                         f"{_ratio_text(ratio(scan, per)):>9}  {scan.detail}{cert}")

    lines += ["", "targets (issue 7):"]
    width = max(len(t.name) for t in bench.targets)
    for target in bench.targets:
        lines.append(f"  {target.name:<{width}}  {target.goal:<15} {target.measured:<24} {_met(target.met)}")
    for problem in bench.problems:
        lines.append(f"not measured: {problem}")
    return lines


def _plain(value):
    if isinstance(value, Timing):
        return {"median": value.median, "best": value.best, "samples": list(value.samples)}
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def to_json(bench: Benchmark) -> dict:
    """The benchmark as JSON-ready data, with each sslyze/testssl ratio next to its scan."""
    data = _plain(bench)
    per = bench.per_endpoint
    data["per_endpoint"] = per
    for scan, plain in zip(bench.scans, data["scans"]):
        plain["ratio"] = ratio(scan, per)
    data["table"] = render_table(bench)
    return data


def write_json(bench: Benchmark, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(bench), indent=2) + "\n")
    return path
