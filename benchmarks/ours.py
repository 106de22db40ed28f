"""Our own runs as whole processes, and what the comparison scans need from a sandbox.

The suite runs exactly as a user runs it, from the repository root with the suite's interpreter:
``pytest suites/ --direktiv-sandbox conformant`` (the sandbox inside the suite's process), or ``pytest`` with the arguments
that ``python -m sandbox up`` prints (the sandbox in a process of its own). ``gather_target`` prepares what the
in-process comparisons need (kubeconfig loaded, release read, topology derived, as ``probes.session`` does).
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from benchmarks.process import judge_pytest, run_timed
from benchmarks.records import ProcessRun
from probes.kube import Cluster
from probes.observe import ObserveOptions
from probes.profile import Profile, load_profile
from probes.session import expected_configuration
from probes.timeouts import Timeouts
from probes.topology import Topology, derive_topology

__all__ = [
    "QUIET",
    "REPO_ROOT",
    "SCENARIO",
    "STEP_TIMEOUT",
    "SUITE_TIMEOUT",
    "GatherTarget",
    "deployed_endpoints",
    "gather_target",
    "load_target",
    "run_suite",
    "sandbox_pytest_args",
    "sandbox_up_command",
    "suite_command",
    "variant_up_command",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIO = "conformant"
# Appended to every suite run: quiet, as issue 7 timed it, and no cache writes between runs.
QUIET = ("-q", "-p", "no:cacheprovider")
# One suite run takes seconds; two minutes means something hangs (1000 knative hosts included).
SUITE_TIMEOUT = 120.0
# The suite's default per-step limit (probes.options DEFAULT_TIMEOUT).
STEP_TIMEOUT = 5.0


def sandbox_pytest_args(scenario: str = SCENARIO) -> list[str]:
    """pytest's arguments for a run with the sandbox inside the suite's process."""
    return ["suites/", "--direktiv-sandbox", scenario]


def suite_command(pytest_args: Sequence[str], *, python: str = sys.executable) -> list[str]:
    return [python, "-m", "pytest", *pytest_args, *QUIET]


def sandbox_up_command(kubeconfig: Path, scenario: str = SCENARIO, *, python: str = sys.executable) -> list[str]:
    """``python -m sandbox up``: a named scenario in a process of its own, as a user starts it."""
    return [python, "-m", "sandbox", "up", "--scenario", scenario, "--kubeconfig", str(kubeconfig)]


def variant_up_command(kubeconfig: Path, variant: str, *, python: str = sys.executable) -> list[str]:
    """The benchmark's own launcher for a scale variant (``knative-1000``, ``replicas-20``): same lines, same
    serving as ``python -m sandbox up``."""
    return [python, "-m", "benchmarks.variants", variant, "--kubeconfig", str(kubeconfig)]


def run_suite(pytest_args: Sequence[str], *, python: str = sys.executable, cwd: Path = REPO_ROOT,
              timeout: float = SUITE_TIMEOUT) -> ProcessRun:
    """One whole-process run of the suite (completed: pytest exited 0, every control passed)."""
    return run_timed(suite_command(pytest_args, python=python), timeout=timeout, cwd=cwd).process_run(judge_pytest)


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
    """Load a sandbox's kubeconfig, read the release, derive the topology, as the suite does."""
    return load_target(running.kubeconfig_path, running.suite_args, profile=profile, timeout=timeout)


def load_target(kubeconfig: Path, suite_args: Sequence[str], *, profile: str = "intermediate",
                timeout: float = STEP_TIMEOUT) -> GatherTarget:
    """``gather_target`` for any kubeconfig, ``suite_args`` giving its ``--ca-key-secret``."""
    timeouts = Timeouts.uniform(timeout)
    cluster = Cluster.from_kubeconfig(str(kubeconfig), timeouts=timeouts)
    try:
        opt = types.SimpleNamespace(values=None, namespace="default", release="direktiv")
        expected = expected_configuration(cluster, opt)
        topology = derive_topology(expected.values)
    except BaseException:
        cluster.close()
        raise
    loaded = load_profile(profile)
    options = ObserveOptions(timeouts=timeouts, profile=loaded, ca_key_secret=_ca_key_secret(suite_args))
    return GatherTarget(cluster, topology, options, loaded)


def deployed_endpoints(topology: Topology) -> tuple[str, ...]:
    return tuple(spec.id for spec in topology.endpoints if spec.deployed)
