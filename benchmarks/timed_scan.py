"""One comparison tool's scan as a subprocess under a deadline, timed from spawn to exit (wall and CPU)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence

from benchmarks.process import run_timed
from benchmarks.records import ProcessRun, ToolScan

__all__ = ["run_scan"]


def run_scan(tool: str, endpoint: str, command: Sequence[str], *, timeout: float, with_cert: bool,
             judge: Callable[[subprocess.CompletedProcess[str]], tuple[bool, str]]) -> ToolScan:
    """Run ``command``, time it, and let ``judge`` tell from its output whether the scan completed, and how."""
    try:
        done = run_timed(command, timeout=timeout)
    except OSError as exc:
        return ToolScan(tool, endpoint, None, None, with_cert, f"{tool} could not start: {exc.strerror or exc}")
    if done.timed_out:
        completed, detail = False, f"{tool} did not finish within {timeout:.0f} s"
    else:
        completed, detail = judge(done.completed_process(command))
    process = ProcessRun(done.wall, done.user, done.sys, done.exit_code, completed, detail)
    return ToolScan(tool, endpoint, done.wall, completed, with_cert, detail, process)
