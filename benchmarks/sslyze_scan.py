"""sslyze, installed into its own virtual environment (it pins its own ``cryptography`` and ``nassl``), and its
default scan of one endpoint through a port-forward, timed.

``ensure_sslyze()`` creates ``benchmarks/.venv-sslyze`` with ``python -m venv`` and ``pip install sslyze`` when
it is not there yet; ``scan_endpoint()`` runs ``sslyze 127.0.0.1:PORT --sni NAME --json_out -`` (plus
``--cert/--key`` for mTLS endpoints) with every default scan command, and reads the JSON to tell a completed
scan from one that never reached the server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from benchmarks.endpoints import ClientFiles
from benchmarks.records import SetupState, ToolScan, ToolSetup
from benchmarks.timed_scan import run_scan

__all__ = ["DEFAULT_VENV", "SCAN_TIMEOUT", "TOOL", "ensure_sslyze", "read_scan_json", "scan_endpoint",
           "sslyze_command"]

TOOL = "sslyze"
DEFAULT_VENV = Path(__file__).resolve().parent / ".venv-sslyze"
# Creating the venv and installing sslyze (with nassl's wheels) takes well under a minute; allow for a slow index.
INSTALL_TIMEOUT = 600.0
# sslyze's default scan of one local endpoint takes seconds; two minutes means it hangs.
SCAN_TIMEOUT = 120.0
_VERSION_TIMEOUT = 30.0


def _bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if sys.platform == "win32" else "bin") / name


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip() and "PRIVATE KEY" not in line]
    return lines[-1] if lines else ""


def _version(venv: Path) -> str | None:
    try:
        done = subprocess.run([str(_bin(venv, "python")), "-c", "import importlib.metadata as m; print(m.version('sslyze'))"],
                              capture_output=True, text=True, timeout=_VERSION_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def ensure_sslyze(venv: Path = DEFAULT_VENV, *, install: bool = True, python: str = sys.executable,
                  timeout: float = INSTALL_TIMEOUT) -> ToolSetup:
    """sslyze in ``venv``: found, installed now, or missing with the reason (never raises for that)."""
    executable = _bin(venv, "sslyze")
    if executable.exists() and (version := _version(venv)):
        return ToolSetup(TOOL, SetupState.READY, version=version, executable=str(executable))
    if not install:
        return ToolSetup(TOOL, SetupState.MISSING, reason=f"sslyze is not installed in {venv} (installing was turned off)")
    start = time.monotonic()
    steps = ([python, "-m", "venv", str(venv)],
             [str(_bin(venv, "python")), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "sslyze"])
    for step in steps:
        left = timeout - (time.monotonic() - start)
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=max(left, 1.0),
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return ToolSetup(TOOL, SetupState.MISSING, seconds=time.monotonic() - start,
                             reason=f"installing sslyze into {venv} took more than {timeout:.0f} s")
        except OSError as exc:
            return ToolSetup(TOOL, SetupState.MISSING, seconds=time.monotonic() - start,
                             reason=f"installing sslyze into {venv} failed: {exc.strerror or exc}")
        if done.returncode != 0:
            why = _last_line(done.stderr) or _last_line(done.stdout) or f"exit status {done.returncode}"
            return ToolSetup(TOOL, SetupState.MISSING, seconds=time.monotonic() - start,
                             reason=f"installing sslyze into {venv} failed: {why}")
    version = _version(venv)
    if not executable.exists() or version is None:
        return ToolSetup(TOOL, SetupState.MISSING, seconds=time.monotonic() - start,
                         reason=f"pip installed sslyze into {venv} but it does not start")
    return ToolSetup(TOOL, SetupState.INSTALLED, version=version, executable=str(executable),
                     seconds=time.monotonic() - start)


def sslyze_command(executable: str, address: tuple[str, int], server_name: str,
                   client: ClientFiles | None = None, *, scan_options: Sequence[str] = ()) -> list[str]:
    """sslyze's scan of ``address`` with ``server_name`` as SNI, JSON on stdout: its default scan commands, or only
    the ones ``scan_options`` names (e.g. ``("--tlsv1_2",)``)."""
    command = [executable, "--json_out", "-", "--sni", server_name, *scan_options]
    if client is not None:
        command += ["--cert", str(client.cert), "--key", str(client.key), "--keyform", "PEM"]
    return command + [f"{address[0]}:{address[1]}"]


def read_scan_json(text: str) -> tuple[bool, str]:
    """(completed, one sentence) from sslyze's ``--json_out`` document."""
    try:
        document = json.loads(text)
        result = document["server_scan_results"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return False, "sslyze printed no scan result"
    status = result.get("scan_status", "unknown")
    if status != "COMPLETED":
        problem = (result.get("connectivity_error_trace") or "").strip().splitlines()
        return False, f"sslyze could not scan: {status}" + (f" ({problem[-1]})" if problem else "")
    commands = result.get("scan_result") or {}
    attempted = {name: v for name, v in commands.items() if isinstance(v, dict) and v.get("status") != "NOT_SCHEDULED"}
    errored = sorted(name for name, v in attempted.items() if v.get("status") == "ERROR")
    detail = f"{len(attempted)} scan commands completed"
    if errored:
        detail = f"{len(attempted) - len(errored)} of {len(attempted)} scan commands completed ({', '.join(errored)} errored)"
    return True, detail


def scan_endpoint(setup: ToolSetup, endpoint: str, address: tuple[str, int], server_name: str, *,
                  client: ClientFiles | None = None, timeout: float = SCAN_TIMEOUT) -> ToolScan:
    """Time sslyze's default scan of one forwarded endpoint (the process's wall time)."""
    with_cert = client is not None
    if not setup.available or setup.executable is None:
        return ToolScan(TOOL, endpoint, None, None, with_cert, setup.reason or "sslyze is not available")
    command = sslyze_command(setup.executable, address, server_name, client)
    return run_scan(TOOL, endpoint, command, timeout=timeout, with_cert=with_cert, judge=_judge_scan)


def _judge_scan(done: subprocess.CompletedProcess[str]) -> tuple[bool, str]:
    completed, detail = read_scan_json(done.stdout)
    if not completed and not done.stdout.strip():
        detail = f"sslyze exited with status {done.returncode}: {_last_line(done.stderr) or 'no output'}"
    return completed, detail
