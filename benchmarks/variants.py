"""The benchmark's scale variants of a sandbox scenario, and a way to serve one from a process of its own.

    knative-N    the scenario with N knative services (``svc-0001``...): N SNI handshakes for N-SNI-COVERAGE
    replicas-N   every endpoint's server with N ready replicas (``ServerSpec.replica_overrides``), all probed

``python -m sandbox up`` serves the named scenarios only, so the benchmark serves these with
``python -m benchmarks.variants VARIANT --kubeconfig PATH``: the same lines (``kubeconfig:``, ``check it with:``),
served until SIGINT or SIGTERM. It is the benchmark's instrument, not a user-facing command.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Sequence

if __package__ in (None, ""):  # `python benchmarks/variants.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

__all__ = ["knative_scenario", "main", "replicas_scenario", "variant_scenario"]

BASE = "conformant"


def knative_scenario(hosts: int, base: str = BASE):
    """The ``base`` scenario with ``hosts`` knative services named ``svc-0001``... ."""
    from sandbox.scenarios import scenario

    found = scenario(base)
    names = tuple(f"svc-{i:04d}" for i in range(1, hosts + 1))
    return replace(found, name=f"{base}-{hosts}-knative", objects=replace(found.objects, knative_services=names))


def replicas_scenario(replicas: int, base: str = BASE):
    """The ``base`` scenario with every endpoint's server running ``replicas`` ready replicas, each as configured
    (its other per-replica changes kept)."""
    from probes.catalog import ENDPOINT_IDS
    from sandbox.scenarios import scenario

    found = scenario(base)
    servers = []
    for endpoint in ENDPOINT_IDS:
        spec = found.server(endpoint)
        kept = spec.replica_overrides[:replicas]
        servers.append(replace(spec, replica_overrides=kept + (None,) * (replicas - len(kept))))
    return replace(found, name=f"{base}-{replicas}-replicas", servers=tuple(servers))


def variant_scenario(name: str, base: str = BASE):
    """``knative-N`` or ``replicas-N`` as a scenario record; ValueError for anything else."""
    kind, _, count = name.partition("-")
    builders = {"knative": knative_scenario, "replicas": replicas_scenario}
    if kind not in builders or not count.isdigit() or int(count) < 1:
        raise ValueError(f"expected knative-N or replicas-N (N a whole number of at least 1), given: {name!r}")
    return builders[kind](int(count), base)


def _serve(variant: str, kubeconfig: str | None, out) -> int:
    from sandbox.cluster import start_sandbox

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with start_sandbox(variant_scenario(variant), kubeconfig=kubeconfig) as running:
        print(f"sandbox {running.scenario.name!r} is up", file=out)
        print(f"kubeconfig: {running.kubeconfig_path}", file=out)
        print(f"check it with: {' '.join(running.suite_command())}", file=out, flush=True)
        while not stop.wait(0.5):
            pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.variants",
                                     description="Serve a scale variant of the conformant sandbox until SIGINT.")
    parser.add_argument("variant", metavar="VARIANT", help="knative-N or replicas-N")
    parser.add_argument("--kubeconfig", metavar="PATH", default=None,
                        help="where to write the kubeconfig. Default: a private temporary directory")
    args = parser.parse_args(argv)
    try:
        variant_scenario(args.variant)
    except ValueError as exc:
        parser.error(str(exc))
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    return _serve(args.variant, args.kubeconfig, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
