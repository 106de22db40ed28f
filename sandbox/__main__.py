"""``python -m sandbox``: list the scenarios, or run one until interrupted.

    python -m sandbox list
    python -m sandbox up --scenario NAME [--kubeconfig PATH]

``up`` prints the kubeconfig's path and the command that points the suite at it (and, in one line, when Direktiv's
servers run on the Python stand-ins because Go is not installed), then serves until SIGINT or SIGTERM, stops
every server and exits 0. An unknown scenario exits 2 with the list of names.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Sequence

from sandbox.scenarios import SCENARIOS

__all__ = ["main"]

# Exit statuses: argparse uses 2 for usage errors; an unknown scenario is one.
EXIT_OK = 0
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox",
                                     description="A local, emulated Direktiv cluster with real TLS servers.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="list the scenarios, one per line with its chart and description")
    up = commands.add_parser("up", help="start a scenario and serve until interrupted (Ctrl-C)")
    up.add_argument("--scenario", metavar="NAME", default="conformant",
                    help="the scenario to start (see 'list'). Default: %(default)r")
    up.add_argument("--kubeconfig", metavar="PATH", default=None,
                    help="where to write the kubeconfig. Default: a private temporary directory")
    return parser


def _list(out) -> int:
    width = max(len(name) for name in SCENARIOS)
    try:
        for name, scenario in SCENARIOS.items():
            chart = f"[{scenario.chart_name} {scenario.chart_version}, {scenario.app_version}]"
            print(f"{name:<{width}}  {chart:<27} {scenario.description}", file=out)
        out.flush()
    except BrokenPipeError:  # `python -m sandbox list | head`: the reader has what it wanted
        sys.stdout = None
    return EXIT_OK


def _up(name: str, kubeconfig: str | None, out) -> int:
    if name not in SCENARIOS:
        print(f"There is no scenario named {name!r}; choose one of:", file=sys.stderr)
        for known in SCENARIOS:
            print(f"  {known}", file=sys.stderr)
        return EXIT_USAGE
    from sandbox.cluster import start_sandbox

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with start_sandbox(name, kubeconfig=kubeconfig) as running:
            command = " ".join(running.suite_command())
            print(f"sandbox {name!r} is up: {running.scenario.description}", file=out)
            if running.notice:
                print(running.notice, file=out)
            print(f"kubeconfig: {running.kubeconfig_path}", file=out)
            print(f"check it with: {command}", file=out)
            print("press Ctrl-C to stop", file=out, flush=True)
            while not stop.wait(0.5):
                pass
            print("stopping the sandbox", file=out, flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "list":
        return _list(sys.stdout)
    return _up(args.scenario, args.kubeconfig, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
