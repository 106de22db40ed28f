"""The benchmark's records: what was measured, as plain frozen dataclasses that the table and the JSON read."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from enum import Enum
from typing import Callable

__all__ = [
    "ForwardCost",
    "Benchmark",
    "Machine",
    "ScaleRow",
    "SetupState",
    "SuiteRun",
    "Target",
    "Timing",
    "ToolScan",
    "ToolSetup",
    "time_runs",
]


@dataclass(frozen=True)
class Timing:
    """Seconds taken by repeated runs of one thing.

    Attributes:
        samples: the seconds of each run, in the order they ran (the first one includes any warm-up).
    """

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def best(self) -> float:
        return min(self.samples) if self.samples else float("nan")


def time_runs(fn: Callable[[], object], runs: int) -> tuple[Timing, object]:
    """Call ``fn`` ``runs`` times; the timing and the last result."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, given: {runs}")
    samples, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - start)
    return Timing(tuple(samples)), result


@dataclass(frozen=True)
class SuiteRun:
    """The whole suite, run N times.

    Attributes:
        timing: wall seconds from process start to exit, per run.
        exit_codes: pytest's exit status per run (0: every control passed).
        summary: pytest's last line of the last run, e.g. ``113 passed in 2.70s``.
    """

    timing: Timing
    exit_codes: tuple[int, ...]
    summary: str


@dataclass(frozen=True)
class Machine:
    """Where the benchmark ran.

    Attributes:
        cpu: the CPU model (``/proc/cpuinfo``).
        cores: logical cores the process may use.
        python: the Python version of the suite's virtual environment.
        platform: kernel and libc, as ``platform.platform()`` says.
        openssl_python: the OpenSSL of Python's ``ssl`` module.
        openssl_cryptography: the OpenSSL that ``cryptography``/pyOpenSSL link (what probes.tls handshakes with).
        openssl_system: ``openssl version`` (what testssl.sh uses), None when not installed.
        conditions: facts of the environment that change the suite's start-up time, one sentence each (bytecode
            caching switched off, other pytest plugins installed); empty when there are none.
    """

    cpu: str
    cores: int
    python: str
    platform: str
    openssl_python: str
    openssl_cryptography: str
    openssl_system: str | None
    conditions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForwardCost:
    """The cost of one port-forward through the emulated API server.

    Attributes:
        opens: how many streams were opened for the latency figures.
        open_latency: seconds to open one stream (websocket upgrade over TLS plus kubelet's two port frames),
            ``PortForwarder.open_stream()``.
        first_byte: seconds from a TCP connect to the local listener to the first echoed byte (accept, stream
            open, pump both ways): what every probe pays before its first byte.
        mebibytes: MiB moved in each direction for the throughput figures.
        upload_mib_s: MiB/s from the local client to the pod through one stream.
        download_mib_s: MiB/s from the pod to the local client through one stream.
    """

    opens: int
    open_latency: Timing
    first_byte: Timing
    mebibytes: int
    upload_mib_s: float
    download_mib_s: float


class SetupState(str, Enum):
    """Whether a comparison tool could be used."""

    READY = "ready"          # already installed
    INSTALLED = "installed"  # installed by this run
    MISSING = "missing"      # not installed, and installing it failed or was not allowed


@dataclass(frozen=True)
class ToolSetup:
    """A comparison tool and how it was made available.

    Attributes:
        name: ``sslyze`` or ``testssl.sh``.
        state: ready, installed by this run, or missing.
        version: the tool's version, when known.
        executable: the path run, when available.
        reason: why it is missing (one sentence), else None.
        seconds: time spent installing it (not part of any comparison), None when nothing was installed.
    """

    name: str
    state: SetupState
    version: str | None = None
    executable: str | None = None
    reason: str | None = None
    seconds: float | None = None

    @property
    def available(self) -> bool:
        return self.state is not SetupState.MISSING


@dataclass(frozen=True)
class ToolScan:
    """One run of a comparison tool against one endpoint through a port-forward.

    Attributes:
        tool: ``sslyze`` or ``testssl.sh``.
        endpoint: the endpoint ID (CONTROLS.md).
        seconds: wall time of the tool's process, None when it did not run.
        completed: the tool reached the server and finished its scan (sslyze: scan_status COMPLETED;
            testssl.sh: exit status below 2 and a "Done" line), None when it did not run.
        client_certificate: the endpoint's client certificate was given to the tool (mTLS endpoints).
        detail: one sentence: what the tool reported, or why it did not run.
    """

    tool: str
    endpoint: str
    seconds: float | None
    completed: bool | None
    client_certificate: bool
    detail: str


@dataclass(frozen=True)
class ScaleRow:
    """The N-SNI-COVERAGE evidence for one number of knative services.

    Attributes:
        hosts: knative services in the sandbox (one SNI handshake each).
        knative_seconds: gathering restricted to the knative endpoint (secrets, objects, one port-forward per
            handshake): the N-SNI-COVERAGE evidence alone.
        handshakes: SNI handshakes the evidence holds.
        verdict: the N-SNI-COVERAGE verdict on that evidence (``pass`` expected).
    """

    hosts: int
    knative_seconds: Timing
    handshakes: int
    verdict: str


@dataclass(frozen=True)
class Target:
    """One target of issue 7, met or not.

    Attributes:
        name: what is measured.
        goal: the target, in words (e.g. "< 3 s").
        measured: the figure, in words.
        met: whether the figure meets the goal; None when it could not be measured.
    """

    name: str
    goal: str
    measured: str
    met: bool | None


@dataclass(frozen=True)
class Benchmark:
    """One whole benchmark run: what ``python -m benchmarks.run`` prints and writes to reports/benchmark.json.

    Attributes:
        machine: where it ran.
        command: the command line that produced it.
        scenario: the sandbox scenario measured.
        runs: N of the medians.
        suite: the whole suite's runs, None when skipped.
        gather: the evidence gathering's runs, None when skipped or failed.
        endpoints: the endpoint IDs the gathering observed (deployed ones).
        probes: the attempts (handshakes, plaintext, gRPC and HTTP probes) in one gathering.
        forward: the port-forward cost, None when skipped or failed.
        tools: the comparison tools' setup.
        scans: each comparison scan, per tool and endpoint.
        scale: the N-SNI-COVERAGE evidence per number of knative hosts.
        targets: issue 7's targets, met or not.
        problems: steps that could not be measured, one sentence each.
    """

    machine: Machine
    command: str
    scenario: str
    runs: int
    suite: SuiteRun | None
    gather: Timing | None
    endpoints: tuple[str, ...]
    probes: int
    forward: ForwardCost | None
    tools: tuple[ToolSetup, ...]
    scans: tuple[ToolScan, ...]
    scale: tuple[ScaleRow, ...]
    targets: tuple[Target, ...]
    problems: tuple[str, ...] = ()

    @property
    def per_endpoint(self) -> float | None:
        """Our evidence-gathering time divided by the number of endpoints it covered."""
        if self.gather is None or not self.endpoints:
            return None
        return self.gather.median / len(self.endpoints)
