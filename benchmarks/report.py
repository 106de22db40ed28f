"""Judging the figures against issue 15's targets, the printed table, and ``reports/benchmark.json``.

Everything here reads :class:`~benchmarks.records.Benchmark` (and its parts); nothing measures.
"""

from __future__ import annotations

import dataclasses
import json
import math
from enum import Enum
from pathlib import Path

from benchmarks.records import Benchmark, ForwardCost, Paired, PhaseSplit, Series, Target, Timing

__all__ = [
    "FIRST_PROBE_TARGET",
    "KNATIVE_HOSTS",
    "KNATIVE_TARGET",
    "OURS_SANDBOX",
    "OURS_SEPARATE",
    "PAIRED_TARGET",
    "REPLICAS",
    "REPLICAS_TARGET",
    "SSLYZE",
    "first_probe",
    "judge_targets",
    "knative_key",
    "median_run",
    "phase_runs",
    "render_table",
    "replicas_key",
    "to_json",
    "write_json",
]

# The series the targets read (benchmarks.run names its series so).
OURS_SANDBOX = "ours-sandbox"      # pytest suites/ --direktiv-sandbox conformant: the sandbox inside the suite's process
OURS_SEPARATE = "ours-separate"    # pytest suites/ --kubeconfig K ...: the sandbox in a process of its own
SSLYZE = "sslyze-api"              # sslyze's default scan of the api endpoint, through a port-forward

# Issue 15's targets on a 2-core machine, whole process, conformant installation, every replica probed.
PAIRED_TARGET = 1.0        # our whole run over every endpoint / sslyze's default scan of one endpoint, at most
FIRST_PROBE_TARGET = 0.6   # seconds from spawn to the first probe sent, under
KNATIVE_HOSTS = 1000       # knative hosts ...
KNATIVE_TARGET = 5.0       # ... whole process in under this many seconds
REPLICAS = 20              # ready replicas per service ...
REPLICAS_TARGET = 2.0      # ... in under this many times the 1-replica time (paired)


def knative_key(hosts: int) -> str:
    return f"ours-knative-{hosts}"


def replicas_key(replicas: int) -> str:
    return f"ours-replicas-{replicas}"


def _seconds(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if value < 1.0:
        return f"{value * 1000:.0f} ms" if value >= 0.01 else f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


def _spread(timing: Timing | None, fmt=_seconds) -> str:
    """``median [min - max]``."""
    if timing is None or not timing.samples:
        return "-"
    return f"{fmt(timing.median)} [{fmt(timing.best)} - {fmt(timing.worst)}]"


def _times(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}x"


def _ratio_target(paired: Paired | None, name: str, key: str, reference: str, goal: float,
                  *, strict: bool) -> Target:
    words = f"< {goal:g}x" if strict else f"<= {goal:g}x"
    ratio = paired.ratio(key, reference) if paired else None
    if ratio is None:
        return Target(name, words, "not measured", None)
    met = ratio.median < goal if strict else ratio.median <= goal
    return Target(name, words, f"{_times(ratio.median)} [{_times(ratio.best)} - {_times(ratio.worst)}]", met)


def phase_runs(phases: tuple[PhaseSplit, ...]) -> dict[str, list[PhaseSplit]]:
    """The instrumented runs by series key, in the order they ran."""
    grouped: dict[str, list[PhaseSplit]] = {}
    for split in phases:
        grouped.setdefault(split.key, []).append(split)
    return grouped


def median_run(runs: list[PhaseSplit]) -> PhaseSplit:
    """The run whose wall time is the median (the lower middle one of an even number): its phases add up."""
    ordered = sorted(runs, key=lambda r: r.wall)
    return ordered[(len(ordered) - 1) // 2]


def first_probe(runs: list[PhaseSplit]) -> Timing | None:
    """Seconds from spawn to the first probe over the runs; None unless every run sent one."""
    found = [r.first_probe for r in runs]
    return None if not found or any(f is None for f in found) else Timing(tuple(found))


def _first_probe_target(phases: tuple[PhaseSplit, ...], key: str, label: str) -> Target:
    name = f"start-up before the first probe is sent, {label}"
    timing = first_probe(phase_runs(phases).get(key, []))
    if timing is None:
        return Target(name, f"< {FIRST_PROBE_TARGET:g} s", "not measured", None)
    return Target(name, f"< {FIRST_PROBE_TARGET:g} s", _spread(timing), timing.median < FIRST_PROBE_TARGET)


def judge_targets(paired: Paired | None, phases: tuple[PhaseSplit, ...]) -> tuple[Target, ...]:
    """Each of issue 15's targets: met, missed, or not measured (None). A series whose runs did not all complete
    (pytest exit 0, sslyze's scan COMPLETED) counts as not measured: a failed run is no figure."""
    targets = [
        _ratio_target(paired, "whole run, every endpoint (--sandbox) / sslyze's scan of one endpoint",
                      OURS_SANDBOX, SSLYZE, PAIRED_TARGET, strict=False),
        _ratio_target(paired, "whole run, every endpoint (separate sandbox) / sslyze's scan of one endpoint",
                      OURS_SEPARATE, SSLYZE, PAIRED_TARGET, strict=False),
        _first_probe_target(phases, OURS_SANDBOX, "--direktiv-sandbox"),
        _first_probe_target(phases, OURS_SEPARATE, "separate sandbox"),
    ]
    knative = paired.get(knative_key(KNATIVE_HOSTS)) if paired else None
    name = f"{KNATIVE_HOSTS} knative hosts, whole run (separate sandbox)"
    if knative is None or not knative.completed:
        targets.append(Target(name, f"< {KNATIVE_TARGET:g} s", "not measured", None))
    else:
        targets.append(Target(name, f"< {KNATIVE_TARGET:g} s", _spread(knative.wall),
                              knative.wall.median < KNATIVE_TARGET))
    targets.append(_ratio_target(paired, f"{REPLICAS} ready replicas per service / 1 replica (separate sandbox)",
                                 replicas_key(REPLICAS), OURS_SEPARATE, REPLICAS_TARGET, strict=True))
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


def _series_line(series: Series, width: int) -> str:
    done = sum(1 for r in series.runs if r.completed)
    last = next((r.summary for r in reversed(series.runs) if not r.completed), None) or \
        (series.runs[-1].summary if series.runs else "")
    return (f"  {series.label:<{width}}  {_spread(series.wall):<26} {_seconds(series.cpu.median):>9}  "
            f"{done}/{len(series.runs)}  {last}")


def _paired_lines(paired: Paired) -> list[str]:
    width = max(len(s.label) for s in paired.series)
    lines = [f"whole processes, spawn to exit: {paired.rounds} rounds, one run of each per round (order turning)",
             f"  {'run':<{width}}  {'wall: median [min - max]':<26} {'CPU u+s':>9}  ok   last line / failure",
             *(_series_line(s, width) for s in paired.series), "", "commands:"]
    lines += [f"  {s.key:<20} {s.command}" for s in paired.series]
    rows = [(f"{OURS_SANDBOX} / {SSLYZE}", OURS_SANDBOX, SSLYZE), (f"{OURS_SEPARATE} / {SSLYZE}", OURS_SEPARATE, SSLYZE),
            (f"{replicas_key(REPLICAS)} / {OURS_SEPARATE}", replicas_key(REPLICAS), OURS_SEPARATE)]
    rows = [r for r in rows if paired.get(r[1]) and paired.get(r[2])]
    if rows:
        lines += ["", "paired ratios (wall, round by round):"]
        width = max(len(r[0]) for r in rows)
        for text, key, reference in rows:
            per_round = " ".join(_times(r) if r is not None else "-" for r in paired.ratios(key, reference))
            lines.append(f"  {text:<{width}}  {per_round}  ->  median {_spread(paired.ratio(key, reference), _times)}")
    return lines


def _phase_lines(phases: tuple[PhaseSplit, ...]) -> list[str]:
    grouped = phase_runs(phases)
    shown = {key: median_run(runs) for key, runs in grouped.items()}
    names = [p.name for p in next(iter(shown.values())).phases]
    width = max(len(n) for n in names + ["first port-forward stream opened"])
    column = max(12, *(len(key) for key in shown))
    lines = ["per-phase split of instrumented runs (seconds; of a key run N times, the median-wall run; its phases "
             "add up to its wall time):",
             f"  {'phase':<{width}}" + "".join(f"{key:>{column + 2}}" for key in shown)]
    for i, name in enumerate(names):
        lines.append(f"  {name:<{width}}" + "".join(f"{p.phases[i].seconds:>{column + 2}.3f}" for p in shown.values()))

    def row(text: str, values) -> str:
        return f"  {text:<{width}}" + "".join(f"{'-' if v is None else f'{v:.3f}':>{column + 2}}" for v in values)

    lines += [row("whole run (wall)", [p.wall for p in shown.values()]),
              row("first port-forward stream opened", [p.first_forward for p in shown.values()]),
              row("first probe sent", [p.first_probe for p in shown.values()])]
    for key, runs in grouped.items():
        timing = first_probe(runs)
        spread = f"first probe {_spread(timing)} over {len(runs)} runs" if timing and len(runs) > 1 else \
            f"{len(runs)} run"
        lines.append(f"  {key}: {shown[key].label}; {spread}; exit status {shown[key].exit_code}, {shown[key].summary}")
    return lines


def render_table(bench: Benchmark) -> list[str]:
    """The benchmark as lines of text: machine, the paired whole-process table, the ratios, the phases, the
    port-forward cost, the tools, the targets."""
    m = bench.machine
    lines = [
        f"Direktiv TLS conformance benchmark (issue 15): sandbox {bench.scenario!r}, {len(bench.endpoints)} endpoints "
        f"({', '.join(bench.endpoints)}), every ready replica probed",
        f"machine: {m.cpu}, {m.cores} cores, Python {m.python}, {m.openssl_cryptography} (probes), "
        f"{m.openssl_system or 'no system openssl'} (system)",
        *(f"condition: {text}" for text in m.conditions),
        f"command: {bench.command}",
        "",
    ]
    if bench.paired is not None:
        lines += _paired_lines(bench.paired) + [""]
    if bench.phases:
        lines += _phase_lines(bench.phases) + [""]
    extras = _forward_rows(bench.forward)
    width = max(len(k) for k, _ in extras)
    lines += [f"{k:<{width}}  {v}" for k, v in extras]

    lines += ["", "comparison tools:"]
    for tool in bench.tools:
        how = {"ready": "installed", "installed": f"installed by this run in {_seconds(tool.seconds)}",
               "missing": f"MISSING: {tool.reason}"}[tool.state.value]
        lines.append(f"  {tool.name} {tool.version or ''}".rstrip() + f": {how}")
    for scan in bench.scans:
        cpu = f", CPU {_seconds(scan.process.cpu)}" if scan.process else ""
        lines.append(f"  {scan.tool} on {scan.endpoint} (one run, unpaired): {_seconds(scan.seconds)}{cpu}, "
                     f"{scan.detail}")

    lines += ["", "targets (issue 15; 2 cores, whole process, conformant installation, every replica probed):"]
    width = max(len(t.name) for t in bench.targets)
    for target in bench.targets:
        lines.append(f"  {target.name:<{width}}  {target.goal:<8} {target.measured:<26} {_met(target.met)}")
    for problem in bench.problems:
        lines.append(f"not measured: {problem}")
    return lines


def _plain(value):
    if isinstance(value, Timing):
        return {"median": value.median, "min": value.best, "max": value.worst, "samples": list(value.samples)}
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
    """The benchmark as JSON-ready data, each series with its wall and CPU medians and min-max, and the paired
    ratios round by round."""
    data = _plain(bench)
    if bench.paired is not None:
        for series, plain in zip(bench.paired.series, data["paired"]["series"]):
            plain["wall"] = _plain(series.wall)
            plain["cpu"] = _plain(series.cpu)
            plain["completed"] = series.completed
        pairs = [(OURS_SANDBOX, SSLYZE), (OURS_SEPARATE, SSLYZE), (replicas_key(REPLICAS), OURS_SEPARATE)]
        data["paired"]["ratios"] = [
            {"run": key, "over": reference, "per_round": list(bench.paired.ratios(key, reference)),
             "summary": _plain(bench.paired.ratio(key, reference))}
            for key, reference in pairs if bench.paired.get(key) and bench.paired.get(reference)]
    data["table"] = render_table(bench)
    return data


def write_json(bench: Benchmark, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(bench), indent=2) + "\n")
    return path
