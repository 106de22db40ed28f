"""testssl.sh (Debian package ``testssl.sh``, command ``testssl``), installed with apt-get when missing, and its
default run against one endpoint through a port-forward, timed.

testssl.sh takes the server name from the URI and the address from ``--ip``, so ``--ip 127.0.0.1 NAME:PORT``
sends NAME as SNI to the forwarded port. ``--nodns none`` keeps it from asking any resolver (the sandbox is
loopback only), ``--warnings batch`` from prompting, and its connect and openssl timeouts bound each step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from benchmarks.records import SetupState, ToolScan, ToolSetup
from benchmarks.timed_scan import run_scan

__all__ = ["PACKAGE", "SCAN_TIMEOUT", "TOOL", "ensure_testssl", "scan_endpoint", "testssl_command"]

TOOL = "testssl.sh"
PACKAGE = "testssl.sh"
# The Debian package installs the script as `testssl`; upstream checkouts call it testssl.sh.
_NAMES = ("testssl", "testssl.sh")
INSTALL_TIMEOUT = 600.0
# Its default run of one local endpoint took about a minute here; five minutes means it hangs.
SCAN_TIMEOUT = 300.0
# Per-step limits handed to testssl.sh itself.
STEP_TIMEOUT = 10
_VERSION_TIMEOUT = 10.0


def _find() -> str | None:
    for name in _NAMES:
        if found := shutil.which(name):
            return found
    return None


def _version() -> str | None:
    if shutil.which("dpkg-query") is None:
        return None
    try:
        done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", PACKAGE], capture_output=True, text=True,
                              timeout=_VERSION_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def _apt(args: list[str], timeout: float) -> tuple[bool, str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(["apt-get", *args], capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False, f"apt-get {args[0]} took more than {timeout:.0f} s"
    except OSError as exc:
        return False, f"apt-get could not start: {exc.strerror or exc}"
    lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    return done.returncode == 0, (lines[-1].strip() if lines else f"exit status {done.returncode}")


def ensure_testssl(*, install: bool = True, timeout: float = INSTALL_TIMEOUT) -> ToolSetup:
    """testssl.sh: found, installed now with apt-get (as root), or missing with the reason (never raises)."""
    if found := _find():
        return ToolSetup(TOOL, SetupState.READY, version=_version(), executable=found)
    if not install:
        return ToolSetup(TOOL, SetupState.MISSING, reason="testssl.sh is not installed (installing was turned off)")
    if shutil.which("apt-get") is None:
        return ToolSetup(TOOL, SetupState.MISSING, reason="testssl.sh is not installed and there is no apt-get")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return ToolSetup(TOOL, SetupState.MISSING,
                         reason="testssl.sh is not installed; run `apt-get install -y testssl.sh` as root")
    start = time.monotonic()
    ok, why = _apt(["install", "-y", "-q", PACKAGE], timeout)
    if not ok:  # a fresh machine may have no package lists yet
        updated, why = _apt(["update", "-q"], max(timeout - (time.monotonic() - start), 1.0))
        if updated:
            ok, why = _apt(["install", "-y", "-q", PACKAGE], max(timeout - (time.monotonic() - start), 1.0))
    seconds = time.monotonic() - start
    found = _find()
    if not ok or found is None:
        return ToolSetup(TOOL, SetupState.MISSING, seconds=seconds,
                         reason=f"installing the Debian package {PACKAGE} failed: {why}")
    return ToolSetup(TOOL, SetupState.INSTALLED, version=_version(), executable=found, seconds=seconds)


def testssl_command(executable: str, address: tuple[str, int], server_name: str) -> list[str]:
    """testssl.sh's default run against ``address`` with ``server_name`` as SNI, plain text."""
    return [executable, "--quiet", "--color", "0", "--warnings", "batch", "--nodns", "none",
            "--connect-timeout", str(STEP_TIMEOUT), "--openssl-timeout", str(STEP_TIMEOUT),
            "--ip", address[0], f"{server_name}:{address[1]}"]


def scan_endpoint(setup: ToolSetup, endpoint: str, address: tuple[str, int], server_name: str, *,
                  timeout: float = SCAN_TIMEOUT) -> ToolScan:
    """Time testssl.sh's default run against one forwarded endpoint (the process's wall time)."""
    if not setup.available or setup.executable is None:
        return ToolScan(TOOL, endpoint, None, None, False, setup.reason or "testssl.sh is not available")
    command = testssl_command(setup.executable, address, server_name)
    return run_scan(TOOL, endpoint, command, timeout=timeout, with_cert=False, judge=_judge_run)


def _judge_run(done: subprocess.CompletedProcess[str]) -> tuple[bool, str]:
    if not any(line.strip().startswith("Done ") for line in done.stdout.splitlines()):
        lines = [line.strip() for line in (done.stdout + "\n" + done.stderr).splitlines() if line.strip()]
        return False, (f"testssl.sh exited with status {done.returncode} without finishing: "
                       f"{lines[-1] if lines else 'no output'}")
    return True, f"completed (exit status {done.returncode})"
