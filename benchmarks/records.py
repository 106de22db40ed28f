"""The benchmark's records: what was measured, as plain frozen dataclasses that the table and the JSON read."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from enum import Enum
from typing import Callable

__all__ = [
    "Benchmark",
    "ForwardCost",
    "Machine",
    "Paired",
    "Phase",
    "PhaseSplit",
    "ProcessRun",
    "Series",
    "SetupState",
    "Target",
    "Timing",
    "ToolScan",
    "ToolSetup",
    "time_runs",
]


@dataclass(frozen=True)
class Timing:
    """Repeated measurements of one thing: seconds, or a ratio of seconds.

    Attributes:
        samples: each run's figure, in the order they ran (the first one includes any warm-up).
    """

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def best(self) -> float:
        return min(self.samples) if self.samples else float("nan")

    @property
    def worst(self) -> float:
        return max(self.samples) if self.samples else float("nan")


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
class ProcessRun:
    """One complete run of a command, from spawn to exit, as ``/usr/bin/time`` measures it.

    Attributes:
        wall: seconds from just before the fork to the reaping of the exited process.
        user: the process's user CPU seconds, its waited-for children included (the rusage of ``wait4``).
        sys: the same in the kernel.
        exit_code: the exit status; 124 when it was stopped at its timeout (as ``timeout(1)`` says), minus the
            signal's number when a signal ended it.
        completed: the run did its whole job: pytest exited 0 (every control passed), sslyze's scan COMPLETED.
        summary: one line: pytest's last line, sslyze's scan summary, or why the run failed.
    """

    wall: float
    user: float
    sys: float
    exit_code: int
    completed: bool
    summary: str

    @property
    def cpu(self) -> float:
        return self.user + self.sys


@dataclass(frozen=True)
class Series:
    """One command's whole-process runs, one per round.

    Attributes:
        key: a short name the targets refer to (``ours-sandbox``, ``ours-separate``, ``sslyze-api``, ...).
        label: what ran, in words, for the table.
        command: the command line as a user would type it (paths as run).
        runs: each run, round by round.
    """

    key: str
    label: str
    command: str
    runs: tuple[ProcessRun, ...]

    @property
    def wall(self) -> Timing:
        return Timing(tuple(r.wall for r in self.runs))

    @property
    def cpu(self) -> Timing:
        return Timing(tuple(r.cpu for r in self.runs))

    @property
    def completed(self) -> bool:
        """Every run did its whole job."""
        return bool(self.runs) and all(r.completed for r in self.runs)


@dataclass(frozen=True)
class Paired:
    """Several commands run round by round: in each round every series ran once, back to back (the order turning
    from round to round), so one round's figures share the machine's load of that moment.

    Attributes:
        rounds: how many rounds ran.
        series: every command's runs.
    """

    rounds: int
    series: tuple[Series, ...]

    def get(self, key: str) -> Series | None:
        return next((s for s in self.series if s.key == key), None)

    def ratios(self, key: str, reference: str) -> tuple[float | None, ...]:
        """Per round: the wall time of ``key`` over that of ``reference`` (None where either did not complete)."""
        mine, theirs = self.get(key), self.get(reference)
        if mine is None or theirs is None:
            return ()
        return tuple(a.wall / b.wall if a.completed and b.completed and b.wall > 0 else None
                     for a, b in zip(mine.runs, theirs.runs))

    def ratio(self, key: str, reference: str) -> Timing | None:
        """The per-round ratios as a timing-like record (median, min-max); None unless every round has one."""
        found = self.ratios(key, reference)
        if not found or any(r is None for r in found):
            return None
        return Timing(tuple(found))


@dataclass(frozen=True)
class Phase:
    """One stretch of a run, between two moments the instrumented run recorded.

    Attributes:
        name: what happens in it.
        seconds: how long it took.
    """

    name: str
    seconds: float


@dataclass(frozen=True)
class PhaseSplit:
    """One instrumented whole-process run cut into phases that add up to its wall time.

    Attributes:
        key: the series it instruments (``ours-sandbox``, ...).
        label: what ran, in words.
        wall: the run's wall time, spawn to exit.
        phases: the phases in order; their seconds add up to ``wall``.
        first_forward: seconds from spawn to the first port-forward stream opened (the first connection whose
            stack passes through ``probes/forward.py``), None when there was none.
        first_probe: seconds from spawn to the first probe's connection (the first TCP connect made from a probe
            module: ``probes/tls.py``, ``hello.py``, ``plaintext.py``, ``https.py``), None when there was none.
        exit_code: pytest's exit status.
        summary: pytest's last line.
    """

    key: str
    label: str
    wall: float
    phases: tuple[Phase, ...]
    first_forward: float | None
    first_probe: float | None
    exit_code: int
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
        process: the tool's whole run (wall and CPU seconds, exit status), None when it did not run.
    """

    tool: str
    endpoint: str
    seconds: float | None
    completed: bool | None
    client_certificate: bool
    detail: str
    process: ProcessRun | None = None


@dataclass(frozen=True)
class Target:
    """One target of issue 15, met or not.

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
        scenario: the sandbox scenario of the paired runs (``conformant``).
        endpoints: the endpoint IDs our runs check (deployed ones).
        paired: the whole-process runs, round by round; None when they could not run.
        phases: one instrumented run per kind of our runs, cut into phases.
        forward: the port-forward cost, None when skipped or failed.
        tools: the comparison tools' setup.
        scans: the unpaired extra scans (testssl.sh), per tool and endpoint.
        targets: issue 15's targets, met or not.
        problems: steps that could not be measured, one sentence each.
    """

    machine: Machine
    command: str
    scenario: str
    endpoints: tuple[str, ...]
    paired: Paired | None
    phases: tuple[PhaseSplit, ...]
    forward: ForwardCost | None
    tools: tuple[ToolSetup, ...]
    scans: tuple[ToolScan, ...]
    targets: tuple[Target, ...]
    problems: tuple[str, ...] = ()
