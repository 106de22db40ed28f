"""What the benchmark ran on: CPU, cores, Python and the three OpenSSLs involved."""

from __future__ import annotations

import os
import platform
import shutil
import ssl
import subprocess
from pathlib import Path

from benchmarks.records import Machine

__all__ = ["machine_info"]

# `openssl version` answers at once; anything slower is a broken install, not worth waiting for.
_VERSION_TIMEOUT = 10.0


def _cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _openssl_cryptography() -> str:
    try:
        from OpenSSL import SSL

        return SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()
    except Exception:  # noqa: BLE001 - a version string is nice to have, never worth a crash
        return "unknown"


def _openssl_system() -> str | None:
    binary = shutil.which("openssl")
    if binary is None:
        return None
    try:
        done = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=_VERSION_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


# Our own pytest11 entry point; any other one is loaded into every suite run too, unless addopts blocks it.
_OUR_PLUGIN = "direktiv_tls_conformance"
_PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _blocked_plugins(pyproject: Path = _PYPROJECT) -> set[str]:
    """The plugins the project's pytest addopts turn off with ``-p no:NAME``."""
    import shlex
    import tomllib

    try:
        options = tomllib.loads(pyproject.read_text())["tool"]["pytest"]["ini_options"]
        words = shlex.split(options.get("addopts", ""))
    except (OSError, KeyError, ValueError):
        return set()
    return {after[len("no:"):] for before, after in zip(words, words[1:]) if before == "-p" and after.startswith("no:")}


def _conditions(environ=os.environ) -> tuple[str, ...]:
    """What in this environment makes every suite run start slower than a user's would."""
    found = []
    if environ.get("PYTHONDONTWRITEBYTECODE"):
        found.append("PYTHONDONTWRITEBYTECODE is set: no run writes bytecode caches (the benchmark compiles the "
                     "project's modules once beforehand, as a user's first run would), and pytest rewrites the asserts "
                     "of our plugin and the suite's modules on every run")
    try:
        from importlib.metadata import entry_points

        installed = {ep.name for ep in entry_points(group="pytest11")}
        others = sorted(installed - {_OUR_PLUGIN} - _blocked_plugins())
    except Exception:  # noqa: BLE001 - a note is nice to have, never worth a crash
        others = []
    if others:
        found.append(f"other pytest plugins are installed and load into every suite run: {', '.join(others)}")
    return tuple(found)


def machine_info() -> Machine:
    """The machine's facts, each falling back to "unknown" rather than failing."""
    return Machine(
        cpu=_cpu_model(),
        cores=_cores(),
        python=platform.python_version(),
        platform=platform.platform(),
        openssl_python=ssl.OPENSSL_VERSION,
        openssl_cryptography=_openssl_cryptography(),
        openssl_system=_openssl_system(),
        conditions=_conditions(),
    )
