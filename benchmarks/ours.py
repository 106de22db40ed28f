"""Our own figures: the whole suite as a subprocess, the evidence gathering in-process, and the knative scale.

The suite is timed exactly as a user runs it (``pytest suites/ --direktiv-sandbox conformant``, wall time from start to
exit). The gathering is ``probes.observe.gather`` against a sandbox started in this process with
``sandbox.cluster.start_sandbox``, the kubeconfig loaded and the topology derived beforehand (as
``probes.session.gather_from_options`` does before it calls ``gather``).
"""

from __future__ import annotations

import subprocess
import sys
import time
import types
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.records import ScaleRow, SuiteRun, Timing, time_runs
from probes.controls import judge
from probes.evidence import Evidence, Probe
from probes.kube import Cluster
from probes.observe import ObserveOptions, gather
from probes.profile import Profile, load_profile
from probes.session import expected_configuration
from probes.timeouts import Timeouts
from probes.topology import Topology, derive_topology

__all__ = [
    "REPO_ROOT",
    "SUITE_COMMAND",
    "GatherTarget",
    "deployed_endpoints",
    "gather_target",
    "knative_scenario",
    "measure_knative_scale",
    "time_gather",
    "time_suite",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
# The command issue 7 times, run with the suite's own interpreter from the repository root.
SUITE_COMMAND = ("-m", "pytest", "suites/", "--direktiv-sandbox", "conformant", "-q", "-p", "no:cacheprovider")
# One suite run takes seconds; a minute means something hangs.
SUITE_TIMEOUT = 120.0
# The suite's default per-step limit (probes.options DEFAULT_TIMEOUT).
STEP_TIMEOUT = 5.0
SNI_CONTROL = "N-SNI-COVERAGE"


def time_suite(runs: int, *, python: str = sys.executable, cwd: Path = REPO_ROOT,
               timeout: float = SUITE_TIMEOUT) -> SuiteRun:
    """Run the conformant suite ``runs`` times as a subprocess; a run past ``timeout`` counts as exit 124."""
    samples, codes, summary = [], [], ""
    for _ in range(runs):
        start = time.perf_counter()
        try:
            done = subprocess.run([python, *SUITE_COMMAND], cwd=cwd, capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
            code, out = done.returncode, done.stdout
        except subprocess.TimeoutExpired as exc:
            code = 124
            out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            out += f"\n(stopped after {timeout:.0f} s)"
        samples.append(time.perf_counter() - start)
        codes.append(code)
        lines = [line.strip("= ") for line in out.strip().splitlines() if line.strip()]
        summary = lines[-1] if lines else ""
    return SuiteRun(Timing(tuple(samples)), tuple(codes), summary)


@dataclass(frozen=True)
class GatherTarget:
    """What ``gather`` needs, prepared once outside the timed part.

    Attributes:
        cluster: the sandbox's cluster (close it when done).
        topology: the expected topology, from the release in the sandbox.
        options: the options the suite would use (its default timeout, the scenario's --direktiv-ca-key-secret).
        profile: the TLS profile the verdicts use.
    """

    cluster: Cluster
    topology: Topology
    options: ObserveOptions
    profile: Profile


def _ca_key_secret(suite_args) -> tuple[str, str] | None:
    args = list(suite_args)
    if "--direktiv-ca-key-secret" in args and args.index("--direktiv-ca-key-secret") + 1 < len(args):
        namespace, _, name = args[args.index("--direktiv-ca-key-secret") + 1].partition("/")
        return namespace, name
    return None


def gather_target(running, *, profile: str = "intermediate", timeout: float = STEP_TIMEOUT) -> GatherTarget:
    """Load the sandbox's kubeconfig, read the release, derive the topology, as the suite does."""
    timeouts = Timeouts.uniform(timeout)
    cluster = Cluster.from_kubeconfig(running.kubeconfig_path, timeouts=timeouts)
    try:
        opt = types.SimpleNamespace(values=None, namespace="default", release="direktiv")
        expected = expected_configuration(cluster, opt)
        topology = derive_topology(expected.values)
    except BaseException:
        cluster.close()
        raise
    loaded = load_profile(profile)
    options = ObserveOptions(timeouts=timeouts, profile=loaded, ca_key_secret=_ca_key_secret(running.suite_args))
    return GatherTarget(cluster, topology, options, loaded)


def time_gather(target: GatherTarget, runs: int, *, topology: Topology | None = None) -> tuple[Timing, Evidence]:
    """Median-able timings of ``gather`` and the last evidence."""
    chosen = topology or target.topology
    timing, evidence = time_runs(lambda: gather(target.cluster, chosen, target.options), runs)
    return timing, evidence


def deployed_endpoints(topology: Topology) -> tuple[str, ...]:
    return tuple(spec.id for spec in topology.endpoints if spec.deployed)


def knative_scenario(hosts: int, base: str = "conformant"):
    """The ``base`` scenario with ``hosts`` knative services named ``svc-0001``... ."""
    from sandbox.scenarios import scenario

    found = scenario(base)
    names = tuple(f"svc-{i:04d}" for i in range(1, hosts + 1))
    return replace(found, name=f"{base}-{hosts}-knative", objects=replace(found.objects, knative_services=names))


def measure_knative_scale(hosts: int, runs: int = 1) -> ScaleRow:
    """Start the conformant sandbox with ``hosts`` knative services and time the knative endpoint's evidence."""
    from sandbox.cluster import start_sandbox

    with start_sandbox(knative_scenario(hosts)) as running:
        target = gather_target(running)
        try:
            knative_only = replace(target.topology,
                                   endpoints=tuple(s for s in target.topology.endpoints if s.id == "knative"))
            timing, evidence = time_gather(target, runs, topology=knative_only)
        finally:
            target.cluster.close()
    knative = evidence.endpoints.get("knative")
    handshakes = sum(1 for _, attempt in (knative.attempts() if knative else ()) if attempt.key.probe is Probe.SNI)
    verdict = judge(SNI_CONTROL, "knative", evidence, target.profile)
    return ScaleRow(hosts=hosts, knative_seconds=timing, handshakes=handshakes, verdict=verdict.status.value)
