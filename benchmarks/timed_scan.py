"""One comparison tool's scan as a subprocess under a deadline, timed from start to exit."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence

from benchmarks.records import ToolScan

__all__ = ["run_scan"]


def run_scan(tool: str, endpoint: str, command: Sequence[str], *, timeout: float, with_cert: bool,
             judge: Callable[[subprocess.CompletedProcess[str]], tuple[bool, str]]) -> ToolScan:
    """Run ``command``, time it, and let ``judge`` tell from its output whether the scan completed, and how."""
    start = time.perf_counter()
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return ToolScan(tool, endpoint, time.perf_counter() - start, False, with_cert,
                        f"{tool} did not finish within {timeout:.0f} s")
    except OSError as exc:
        return ToolScan(tool, endpoint, None, None, with_cert, f"{tool} could not start: {exc.strerror or exc}")
    seconds = time.perf_counter() - start
    completed, detail = judge(done)
    return ToolScan(tool, endpoint, seconds, completed, with_cert, detail)
