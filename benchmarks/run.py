"""One command for the benchmark (issues 7 and 15): ``.venv/bin/python -m benchmarks.run`` (or
``python benchmarks/run.py``).

Its headline figures are whole processes, timed from spawn to exit as ``/usr/bin/time`` times them (wall, and
the user+system CPU of the process and its children), N rounds, median and min-max. In each round, back to back
and the order turning from round to round: our suite with the sandbox inside its process
(``pytest suites/ --direktiv-sandbox conformant``), our suite against the same scenario served by ``python -m sandbox up``
in a process of its own, sslyze's default scan of one endpoint (``api``, through a port-forward of that
separate sandbox), our suite against 20 ready replicas per service and against 1000 knative hosts (each served
in a process of its own), and the bare interpreter and the imports for reference. Ratios are paired round by
round. Instrumented runs (``benchmarks.phases``: the two conformant ones in every round, the scale ones once)
cut our runs into phases and give the time to the first probe. It also installs sslyze if needed and measures
the port-forward cost; testssl.sh on one endpoint is an optional extra. Progress goes to stderr, the table to
stdout, everything to ``reports/benchmark.json``.

Exit status: 0 when every step could be measured (targets met or not: timings are reported, never asserted),
1 when a step failed (named under "not measured"), 2 for bad options.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, TypeVar

# grpcio's C core logs every handshake the sandbox's servers refuse, and the probes provoke them on purpose.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")
if __package__ in (None, ""):  # `python benchmarks/run.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import sslyze_scan, testssl_scan  # noqa: E402
from benchmarks.endpoints import forward_endpoint  # noqa: E402
from benchmarks.forward_cost import DEFAULT_MEBIBYTES, DEFAULT_OPENS, measure_forward_cost  # noqa: E402
from benchmarks.machine import machine_info  # noqa: E402
from benchmarks.ours import (  # noqa: E402
    QUIET,
    REPO_ROOT,
    SCENARIO,
    STEP_TIMEOUT,
    deployed_endpoints,
    load_target,
    run_suite,
    sandbox_pytest_args,
    sandbox_up_command,
    variant_up_command,
)
from benchmarks.phases import measure_phases  # noqa: E402
from benchmarks.process import SeparateSandbox, run_timed  # noqa: E402
from benchmarks.records import (  # noqa: E402
    Benchmark,
    Paired,
    PhaseSplit,
    ProcessRun,
    Series,
    ToolScan,
    ToolSetup,
)
from benchmarks.report import (  # noqa: E402
    OURS_SANDBOX,
    OURS_SEPARATE,
    SSLYZE,
    judge_targets,
    knative_key,
    render_table,
    replicas_key,
    write_json,
)

__all__ = ["main", "parse_args"]

DEFAULT_RUNS = 5
# One round first, not counted: the first run of each command reads its files from disk, the later ones do not.
DEFAULT_WARMUP = 1
# The project's packages, compiled once before the rounds: with PYTHONDONTWRITEBYTECODE set no run would write
# their bytecode, and every run would compile them again, as no user's second run does.
_PACKAGES = ("probes", "sandbox", "suites", "benchmarks")
_COMPILE_TIMEOUT = 120.0
DEFAULT_HOSTS = 1000
DEFAULT_REPLICAS = 20
DEFAULT_OUTPUT = REPO_ROOT / "reports" / "benchmark.json"
# The endpoint sslyze scans in every round, and testssl.sh once (a TLS endpoint: testssl.sh 3.0 has no
# client-certificate option).
DEFAULT_TOOL_ENDPOINT = "api"
# `python -c` runs take a fraction of a second; a minute means something is wrong.
_PYTHON_TIMEOUT = 60.0
IMPORTS = "import pytest, probes.plugin"

T = TypeVar("T")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, given: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, given: {text!r}")
    return value


def _count(text: str) -> int:
    if text.strip() in ("0", "none"):
        return 0
    return _positive_int(text)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=_positive_int, default=DEFAULT_RUNS, metavar="N",
                        help="rounds of the paired whole-process runs. Default: %(default)r")
    parser.add_argument("--warmup", type=_count, default=DEFAULT_WARMUP, metavar="N",
                        help="rounds run first and not counted (page cache, bytecode). Default: %(default)r")
    parser.add_argument("--hosts", type=_count, default=DEFAULT_HOSTS, metavar="N",
                        help="knative hosts of the scale run (0 skips it). Default: %(default)r")
    parser.add_argument("--replicas", type=_count, default=DEFAULT_REPLICAS, metavar="N",
                        help="ready replicas per service of the scale run (0 skips it). Default: %(default)r")
    parser.add_argument("--opens", type=_positive_int, default=DEFAULT_OPENS, metavar="N",
                        help="port-forward streams opened for the latency medians. Default: %(default)r")
    parser.add_argument("--mebibytes", type=_positive_int, default=DEFAULT_MEBIBYTES, metavar="MIB",
                        help="MiB sent each way through one stream for the throughput. Default: %(default)r")
    parser.add_argument("--tool-endpoint", default=DEFAULT_TOOL_ENDPOINT, metavar="ID",
                        help="the endpoint sslyze (and testssl.sh) scan. Default: %(default)r")
    parser.add_argument("--sslyze-venv", type=Path, default=sslyze_scan.DEFAULT_VENV, metavar="DIR",
                        help="sslyze's own virtual environment. Default: benchmarks/.venv-sslyze")
    parser.add_argument("--no-install", action="store_true", help="do not install sslyze or testssl.sh")
    parser.add_argument("--testssl", action="store_true",
                        help="also run testssl.sh once on the tool endpoint (about a minute)")
    for step, what in (("sslyze", "sslyze's paired scans"), ("forward", "the port-forward cost"),
                       ("phases", "the instrumented runs")):
        parser.add_argument(f"--no-{step}", action="store_true", help=f"skip {what}")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, metavar="PATH",
                        help="where the JSON goes. Default: reports/benchmark.json")
    return parser.parse_args(argv)


def _say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _step(problems: list[str], what: str, fn: Callable[[], T]) -> T | None:
    """Run one step; a failure becomes one sentence under "not measured" and the other steps still run."""
    _say(what)
    try:
        return fn()
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - one broken step must not lose the others' figures
        problems.append(f"{what}: {type(exc).__name__}: {exc}")
        _say(f"  failed: {exc}")
        return None


@dataclass(frozen=True)
class _Subject:
    """One command of the rounds: its series' key, label and shown command, how to run it once, and for our
    suite runs the pytest arguments (what the instrumented run repeats)."""

    key: str
    label: str
    command: str
    run: Callable[[], ProcessRun]
    pytest_args: tuple[str, ...] = ()


def _python_run(code: str) -> ProcessRun:
    done = run_timed([sys.executable, "-c", code], timeout=_PYTHON_TIMEOUT, cwd=REPO_ROOT)
    return done.process_run(lambda d: (d.exit_code == 0, f"exit status {d.exit_code}"))


def _failed_run(why: str) -> ProcessRun:
    return ProcessRun(0.0, 0.0, 0.0, -1, False, why)


def _sslyze_subject(setup: ToolSetup, sandbox: SeparateSandbox, endpoint: str) -> _Subject:
    """sslyze's default scan of ``endpoint`` through a fresh port-forward of the separate sandbox (the forward is
    opened before the clock starts and closed after it stops: only sslyze's process is timed)."""
    from probes.errors import ProbeError
    from probes.timeouts import Timeouts

    target = load_target(sandbox.kubeconfig, sandbox.pytest_args)
    spec = next((s for s in target.topology.endpoints if s.id == endpoint), None)
    if spec is None or not spec.deployed:
        target.cluster.close()
        raise ValueError(f"{endpoint!r} is not a deployed endpoint of the sandbox")
    timeouts = Timeouts.uniform(STEP_TIMEOUT)

    def once() -> ProcessRun:
        try:
            with forward_endpoint(target.cluster, spec, timeouts=timeouts) as forwarder:
                scan = sslyze_scan.scan_endpoint(setup, endpoint, forwarder.address, spec.server_name)
        except (ProbeError, OSError) as exc:
            return _failed_run(f"could not reach {endpoint} through a port-forward: {exc}")
        return scan.process or _failed_run(scan.detail)

    command = shlex.join(sslyze_scan.sslyze_command(setup.executable or "sslyze", ("127.0.0.1", "PORT"),
                                                    spec.server_name))
    return _Subject(SSLYZE, f"sslyze {setup.version or ''} default scan of {endpoint} (one endpoint)".replace("  ", " "),
                    command, once)


def _suite_subject(key: str, label: str, pytest_args: Sequence[str]) -> _Subject:
    args = (*pytest_args, *QUIET)
    return _Subject(key, label, shlex.join(["pytest", *args]), lambda: run_suite(pytest_args), args)


def _compile_packages() -> None:
    done = run_timed([sys.executable, "-m", "compileall", "-q", *_PACKAGES], timeout=_COMPILE_TIMEOUT, cwd=REPO_ROOT)
    if done.exit_code != 0:
        raise RuntimeError(f"compileall exited with status {done.exit_code}: {done.stdout or done.stderr}")


def _instrumented(subject: _Subject, problems: list[str]) -> PhaseSplit | None:
    try:
        return measure_phases(subject.key, subject.label, subject.pytest_args, cwd=REPO_ROOT)
    except Exception as exc:  # noqa: BLE001 - one failed instrumented run must not lose the rounds' figures
        problems.append(f"instrumented run of {subject.key}: {type(exc).__name__}: {exc}")
        return None


def _rounds(subjects: list[_Subject], runs: int, *, warmup: int = 0, instrument: Sequence[_Subject] = (),
            problems: list[str]) -> tuple[Paired, list[PhaseSplit]]:
    """Every subject once per round, and one instrumented run of each of ``instrument``, the order turning by one
    each round; ``warmup`` rounds of the subjects first, not kept."""
    for round_ in range(warmup):
        for subject in subjects:
            run = subject.run()
            _say(f"  warm-up {round_ + 1}/{warmup} {subject.key}: {run.wall:.2f} s wall")
    jobs = [(s, False) for s in subjects] + [(s, True) for s in instrument]
    results: dict[str, list[ProcessRun]] = {s.key: [] for s in subjects}
    splits: list[PhaseSplit] = []
    for round_ in range(runs):
        turn = round_ % len(jobs)
        for subject, instrumented in jobs[turn:] + jobs[:turn]:
            where = f"  round {round_ + 1}/{runs} {subject.key}"
            if instrumented:
                split = _instrumented(subject, problems)
                if split is not None:
                    splits.append(split)
                    first = "none" if split.first_probe is None else f"{split.first_probe:.3f} s"
                    _say(f"{where} (instrumented): {split.wall:.2f} s wall, first probe at {first}")
                continue
            run = subject.run()
            results[subject.key].append(run)
            _say(f"{where}: {run.wall:.2f} s wall, {run.cpu:.2f} s CPU"
                 + ("" if run.completed else f" (did not complete: {run.summary})"))
    paired = Paired(runs, tuple(Series(s.key, s.label, s.command, tuple(results[s.key])) for s in subjects))
    return paired, splits


def _testssl_scan(setup: ToolSetup, sandbox: SeparateSandbox, endpoint: str) -> ToolScan:
    from probes.errors import ProbeError
    from probes.timeouts import Timeouts

    target = load_target(sandbox.kubeconfig, sandbox.pytest_args)
    try:
        spec = next((s for s in target.topology.endpoints if s.id == endpoint), None)
        if spec is None:
            return ToolScan(setup.name, endpoint, None, None, False, f"{endpoint!r} is not an endpoint of the sandbox")
        if not setup.available:
            return ToolScan(setup.name, endpoint, None, None, False, setup.reason or "testssl.sh is not available")
        try:
            with forward_endpoint(target.cluster, spec, timeouts=Timeouts.uniform(STEP_TIMEOUT)) as forwarder:
                return testssl_scan.scan_endpoint(setup, endpoint, forwarder.address, spec.server_name)
        except (ProbeError, OSError) as exc:
            return ToolScan(setup.name, endpoint, None, None, False,
                            f"could not reach {endpoint} through a port-forward: {exc}")
    finally:
        target.cluster.close()


def run(args: argparse.Namespace, command: str) -> Benchmark:
    from contextlib import ExitStack

    problems: list[str] = []
    machine = machine_info()
    tools: dict[str, ToolSetup] = {}
    if not args.no_sslyze:
        tools["sslyze"] = _step(problems, f"sslyze in {args.sslyze_venv}",
                                lambda: sslyze_scan.ensure_sslyze(args.sslyze_venv, install=not args.no_install))
    if args.testssl:
        tools["testssl.sh"] = _step(problems, "testssl.sh",
                                    lambda: testssl_scan.ensure_testssl(install=not args.no_install))
    tools = {k: v for k, v in tools.items() if v is not None}
    for setup in tools.values():
        _say(f"  {setup.name}: {setup.state.value} {setup.version or ''} {setup.reason or ''}".rstrip())

    forward = None if args.no_forward else _step(
        problems, f"port-forward cost ({args.opens} opens, {args.mebibytes} MiB each way)",
        lambda: measure_forward_cost(opens=args.opens, mebibytes=args.mebibytes))

    paired, phases, scans, endpoints = None, [], [], ()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-sandboxes-") as tmp:
        def serve(what: str, up: list[str]) -> SeparateSandbox | None:
            sandbox = _step(problems, f"{what} in a process of its own: {shlex.join(up)}",
                            lambda: stack.enter_context(SeparateSandbox(up, cwd=REPO_ROOT)))
            if sandbox is not None:
                _say(f"  up in {sandbox.started_in:.2f} s: pytest {shlex.join(sandbox.pytest_args)}")
            return sandbox

        separate = serve(f"sandbox {SCENARIO!r}", sandbox_up_command(Path(tmp, "conformant.kubeconfig")))
        variants = {}
        for key, variant, count in ((replicas_key(args.replicas), f"replicas-{args.replicas}", args.replicas),
                                    (knative_key(args.hosts), f"knative-{args.hosts}", args.hosts)):
            if count:
                variants[key] = serve(f"scale variant {variant}", variant_up_command(Path(tmp, f"{variant}.kubeconfig"),
                                                                                  variant))
        if separate is not None:
            target = _step(problems, "the sandbox's endpoints", lambda: load_target(separate.kubeconfig,
                                                                                    separate.pytest_args))
            if target is not None:
                endpoints = deployed_endpoints(target.topology)
                target.cluster.close()

        subjects = [_suite_subject(OURS_SANDBOX, "ours, --direktiv-sandbox (sandbox inside the suite's process)",
                                   sandbox_pytest_args())]
        if separate is not None:
            subjects.append(_suite_subject(OURS_SEPARATE, "ours, --kubeconfig (sandbox in its own process)",
                                           separate.pytest_args))
            setup = tools.get("sslyze")
            if setup is not None and setup.available:
                sslyze = _step(problems, f"sslyze's target {args.tool_endpoint}",
                               lambda: _sslyze_subject(setup, separate, args.tool_endpoint))
                if sslyze is not None:
                    subjects.append(sslyze)
            elif not args.no_sslyze:
                problems.append(f"sslyze's paired scans: {setup.reason if setup else 'sslyze could not be set up'}")
        labels = {replicas_key(args.replicas): f"ours, {args.replicas} ready replicas per service (own process)",
                  knative_key(args.hosts): f"ours, {args.hosts} knative hosts (own process)"}
        for key, sandbox in variants.items():
            if sandbox is not None:
                subjects.append(_suite_subject(key, labels[key], sandbox.pytest_args))
        subjects += [_Subject("python-bare", "python -c pass (interpreter alone)", "python -c pass",
                              lambda: _python_run("pass")),
                     _Subject("python-imports", f"python -c {IMPORTS!r}", f"python -c {shlex.quote(IMPORTS)}",
                              lambda: _python_run(IMPORTS))]
        _step(problems, f"compiling {', '.join(_PACKAGES)} (python -m compileall)", _compile_packages)
        # The two conformant runs are instrumented in every round (the first-probe target is their median); the
        # scale runs, which take many seconds, once after the rounds.
        every_round = [] if args.no_phases else [s for s in subjects if s.key in (OURS_SANDBOX, OURS_SEPARATE)]
        once = [] if args.no_phases else [s for s in subjects if s.pytest_args and s not in every_round]
        done = _step(problems, f"{args.warmup} + {args.runs} rounds of {len(subjects)} whole-process runs"
                               f" and {len(every_round)} instrumented ones",
                     lambda: _rounds(subjects, args.runs, warmup=args.warmup, instrument=every_round,
                                     problems=problems))
        if done is not None:
            paired, splits = done
            phases += splits
        if paired is not None:
            for series in paired.series:
                if not series.completed:
                    failed = next(r for r in series.runs if not r.completed)
                    problems.append(f"{series.key}: a run did not complete: {failed.summary}")

        for subject in once:
            _say(f"instrumented run of {subject.key}")
            split = _instrumented(subject, problems)
            if split is not None:
                phases.append(split)
                _say(f"  {split.wall:.2f} s, first probe at {split.first_probe or float('nan'):.3f} s")
        if "testssl.sh" in tools and separate is not None:
            scan = _step(problems, f"testssl.sh on {args.tool_endpoint}",
                         lambda: _testssl_scan(tools["testssl.sh"], separate, args.tool_endpoint))
            if scan is not None:
                scans.append(scan)
    targets = judge_targets(paired, tuple(phases))
    return Benchmark(machine=machine, command=command, scenario=SCENARIO, endpoints=tuple(endpoints), paired=paired,
                     phases=tuple(phases), forward=forward, tools=tuple(tools.values()),
                     scans=tuple(scans), targets=targets, problems=tuple(problems))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    shown = list(sys.argv[1:] if argv is None else argv)
    command = " ".join([".venv/bin/python -m benchmarks.run", *map(shlex.quote, shown)])
    bench = run(args, command)
    print("\n".join(render_table(bench)))
    path = write_json(bench, args.output)
    print(f"\nwritten: {path}")
    return 1 if bench.problems else 0


if __name__ == "__main__":
    sys.exit(main())
