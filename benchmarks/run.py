"""One command for issue 7's benchmark: ``.venv/bin/python -m benchmarks.run`` (or ``python benchmarks/run.py``).

In one run it installs the comparison tools if needed (sslyze into ``benchmarks/.venv-sslyze``, the Debian package
testssl.sh with apt-get), measures the port-forward cost, times the whole suite against the conformant sandbox
(median of N subprocess runs), starts that sandbox in-process to time the evidence gathering (median of N) and to
run sslyze on every TLS endpoint and testssl.sh on one through port-forwards, scales the knative services, then
prints a table and writes ``reports/benchmark.json``. Progress goes to stderr, the table to stdout.

Exit status: 0 when every step could be measured (targets met or not: timings are reported, never asserted),
1 when a step failed (named under "not measured"), 2 for bad options.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Callable, Sequence, TypeVar

# grpcio's C core logs every handshake the sandbox's servers refuse, and the probes provoke them on purpose.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")
if __package__ in (None, ""):  # `python benchmarks/run.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import sslyze_scan, testssl_scan  # noqa: E402
from benchmarks.endpoints import client_certificate, client_files, forward_endpoint  # noqa: E402
from benchmarks.forward_cost import DEFAULT_MEBIBYTES, DEFAULT_OPENS, measure_forward_cost  # noqa: E402
from benchmarks.machine import machine_info  # noqa: E402
from benchmarks.ours import (  # noqa: E402
    REPO_ROOT,
    STEP_TIMEOUT,
    deployed_endpoints,
    gather_target,
    measure_knative_scale,
    time_gather,
    time_suite,
)
from benchmarks.records import Benchmark, ScaleRow, ToolScan, ToolSetup  # noqa: E402
from benchmarks.report import judge_targets, render_table, write_json  # noqa: E402

__all__ = ["main", "parse_args"]

SCENARIO = "conformant"
DEFAULT_RUNS = 5
DEFAULT_HOSTS = (10, 100, 1000)
DEFAULT_OUTPUT = REPO_ROOT / "reports" / "benchmark.json"
# The HTTPS endpoint testssl.sh checks: a TLS endpoint (testssl.sh 3.0 cannot present a client certificate).
DEFAULT_TESTSSL_ENDPOINT = "api"

T = TypeVar("T")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, given: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, given: {text!r}")
    return value


def _host_counts(text: str) -> tuple[int, ...]:
    if text.strip() in ("", "0", "none"):
        return ()
    return tuple(_positive_int(part.strip()) for part in text.split(","))


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=_positive_int, default=DEFAULT_RUNS, metavar="N",
                        help="runs behind each median (suite and gathering). Default: %(default)r")
    parser.add_argument("--opens", type=_positive_int, default=DEFAULT_OPENS, metavar="N",
                        help="port-forward streams opened for the latency medians. Default: %(default)r")
    parser.add_argument("--mebibytes", type=_positive_int, default=DEFAULT_MEBIBYTES, metavar="MIB",
                        help="MiB sent each way through one stream for the throughput. Default: %(default)r")
    parser.add_argument("--hosts", type=_host_counts, default=DEFAULT_HOSTS, metavar="N,N,...",
                        help="knative service counts to scale to ('none' skips). Default: 10,100,1000")
    parser.add_argument("--scale-runs", type=_positive_int, default=1, metavar="N",
                        help="runs behind each knative scale figure. Default: %(default)r")
    parser.add_argument("--sslyze-endpoints", type=_names, default=None, metavar="ID,ID,...",
                        help="endpoints sslyze scans. Default: every TLS endpoint")
    parser.add_argument("--testssl-endpoint", default=DEFAULT_TESTSSL_ENDPOINT, metavar="ID",
                        help="the endpoint testssl.sh runs against. Default: %(default)r")
    parser.add_argument("--sslyze-venv", type=Path, default=sslyze_scan.DEFAULT_VENV, metavar="DIR",
                        help="sslyze's own virtual environment. Default: benchmarks/.venv-sslyze")
    parser.add_argument("--no-install", action="store_true", help="do not install sslyze or testssl.sh")
    for step in ("suite", "forward", "sslyze", "testssl", "scale"):
        parser.add_argument(f"--no-{step}", action="store_true", help=f"skip the {step} step")
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


def _scans(args, running, target, evidence, tools: dict[str, ToolSetup]) -> list[ToolScan]:
    """sslyze on each chosen TLS endpoint and testssl.sh on one, through port-forwards of the same sandbox."""
    from probes.errors import ProbeError
    from probes.timeouts import Timeouts
    from probes.topology import Mode

    timeouts = Timeouts.uniform(STEP_TIMEOUT)
    specs = {s.id: s for s in target.topology.endpoints if s.deployed and s.mode is not Mode.PLAINTEXT}
    wanted = args.sslyze_endpoints or tuple(specs)
    scans: list[ToolScan] = []

    def server_name(spec) -> str:
        hosts = evidence.endpoints[spec.id].hosts if evidence and spec.id in evidence.endpoints else ()
        return hosts[0] if spec.kind == "knative" and hosts else spec.server_name

    jobs = [] if args.no_sslyze else [("sslyze", e) for e in wanted]
    if not args.no_testssl:
        jobs.append(("testssl.sh", args.testssl_endpoint))
    for tool, endpoint in jobs:
        setup = tools[tool]
        spec = specs.get(endpoint)
        if spec is None:
            scans.append(ToolScan(tool, endpoint, None, None, False,
                                  f"{endpoint!r} is not a TLS endpoint of the sandbox ({', '.join(specs)})"))
            continue
        if not setup.available:
            scans.append(ToolScan(tool, endpoint, None, None, False, setup.reason or f"{tool} is not available"))
            continue
        _say(f"{tool} on {endpoint}")
        try:
            with forward_endpoint(target.cluster, spec, timeouts=timeouts) as forwarder:
                if tool == "sslyze":
                    client = client_certificate(target.cluster, spec)
                    with client_files(client) as files:
                        scan = sslyze_scan.scan_endpoint(setup, endpoint, forwarder.address, server_name(spec),
                                                         client=files)
                else:
                    scan = testssl_scan.scan_endpoint(setup, endpoint, forwarder.address, server_name(spec))
        except (ProbeError, OSError) as exc:
            scan = ToolScan(tool, endpoint, None, None, spec.mode is Mode.MTLS,
                            f"could not reach {endpoint} through a port-forward: {exc}")
        _say(f"  {tool} on {endpoint}: {scan.seconds or 0:.2f} s, {scan.detail}")
        scans.append(scan)
    return scans


def run(args: argparse.Namespace, command: str) -> Benchmark:
    from sandbox.cluster import start_sandbox

    problems: list[str] = []
    machine = machine_info()
    tools: dict[str, ToolSetup] = {}
    if not args.no_sslyze:
        tools["sslyze"] = _step(problems, f"sslyze in {args.sslyze_venv}",
                                lambda: sslyze_scan.ensure_sslyze(args.sslyze_venv, install=not args.no_install))
    if not args.no_testssl:
        tools["testssl.sh"] = _step(problems, "testssl.sh",
                                    lambda: testssl_scan.ensure_testssl(install=not args.no_install))
    tools = {k: v for k, v in tools.items() if v is not None}
    for setup in tools.values():
        _say(f"  {setup.name}: {setup.state.value} {setup.version or ''} {setup.reason or ''}".rstrip())

    forward = None if args.no_forward else _step(
        problems, f"port-forward cost ({args.opens} opens, {args.mebibytes} MiB each way)",
        lambda: measure_forward_cost(opens=args.opens, mebibytes=args.mebibytes))
    suite = None if args.no_suite else _step(
        problems, f"the whole suite, {args.runs} runs", lambda: time_suite(args.runs))

    gather_timing, evidence, endpoints, probes, scans = None, None, (), 0, []

    def in_process() -> None:
        nonlocal gather_timing, evidence, endpoints, probes, scans
        with start_sandbox(SCENARIO) as running:
            target = gather_target(running)
            try:
                endpoints = deployed_endpoints(target.topology)
                gather_timing, evidence = time_gather(target, args.runs)
                probes = sum(1 for e in evidence.endpoints.values() for _ in e.attempts())
                if tools:
                    scans = _scans(args, running, target, evidence, tools)
            finally:
                target.cluster.close()

    _step(problems, f"evidence gathering in-process, {args.runs} runs, then the tools", in_process)
    scale: list[ScaleRow] = []
    if not args.no_scale:
        for hosts in args.hosts:
            row = _step(problems, f"N-SNI-COVERAGE with {hosts} knative hosts",
                        lambda hosts=hosts: measure_knative_scale(hosts, args.scale_runs))
            if row is not None:
                scale.append(row)
    per_endpoint = gather_timing.median / len(endpoints) if gather_timing and endpoints else None
    targets = judge_targets(suite=suite, gather=gather_timing, per_endpoint=per_endpoint, scans=tuple(scans),
                            scale=tuple(scale))
    return Benchmark(machine=machine, command=command, scenario=SCENARIO, runs=args.runs, suite=suite,
                     gather=gather_timing, endpoints=tuple(endpoints), probes=probes, forward=forward,
                     tools=tuple(tools.values()), scans=tuple(scans), scale=tuple(scale), targets=targets,
                     problems=tuple(problems))


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
