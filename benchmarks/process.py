"""Whole processes: a command timed from spawn to exit as ``/usr/bin/time`` times it, and a sandbox serving from
a process of its own (``python -m sandbox up``) for the suite to run against.

``run_timed`` forks the command into a session of its own, reaps it with ``os.wait4`` (its rusage: the child's
user and system CPU, its waited-for children included) and kills the whole session at the deadline. Output goes
to temporary files, so a chatty child never blocks on a full pipe.

``SeparateSandbox`` starts a serving command (``python -m sandbox up --scenario NAME --kubeconfig PATH``, or the
benchmark's own launcher for the scale variants, which prints the same lines), waits for its ``kubeconfig:`` and
``check it with:`` lines, and stops it with SIGINT, then SIGKILL to its session if it does not exit in time.
"""

from __future__ import annotations

import os
import queue
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from benchmarks.records import ProcessRun

__all__ = ["Finished", "SandboxError", "SeparateSandbox", "TIMED_OUT", "judge_pytest", "run_timed"]

# timeout(1)'s exit status for a command stopped at its deadline.
TIMED_OUT = 124
# The sandbox prints its lines within seconds (a 1000-service scenario included); a minute means it is stuck.
SANDBOX_START_TIMEOUT = 60.0
# After SIGINT the sandbox stops its servers in well under a second; then SIGKILL, then give up waiting.
SANDBOX_STOP_TIMEOUT = 10.0
_KILL_WAIT = 5.0


@dataclass(frozen=True)
class Finished:
    """A timed command's end: its whole-process figures and its output.

    Attributes:
        started: ``time.monotonic()`` just before the fork (CLOCK_MONOTONIC on Linux: the same clock in every
            process, so a child's own readings line up with it).
        wall: seconds from just before the fork to the reaping.
        user: user CPU seconds of the process and its waited-for children.
        sys: system CPU seconds, likewise.
        exit_code: exit status (``TIMED_OUT`` when killed at the deadline, minus the signal when signalled).
        timed_out: it was killed at the deadline.
        stdout: what it printed.
        stderr: what it printed to stderr.
    """

    started: float
    wall: float
    user: float
    sys: float
    exit_code: int
    timed_out: bool
    stdout: str
    stderr: str

    def process_run(self, judge: Callable[["Finished"], tuple[bool, str]]) -> ProcessRun:
        """The record of this run, with ``judge``'s word on whether it did its whole job, and how."""
        completed, summary = judge(self)
        return ProcessRun(self.wall, self.user, self.sys, self.exit_code, completed, summary)

    def completed_process(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(args), self.exit_code, self.stdout, self.stderr)


def _kill_session(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read(file) -> str:
    file.seek(0)
    return file.read().decode("utf-8", "replace")


def run_timed(command: Sequence[str], *, timeout: float, cwd: str | os.PathLike | None = None,
              env: Mapping[str, str] | None = None) -> Finished:
    """Run ``command`` to its end (or its deadline) and time it as a whole process. Raises OSError when it
    cannot start; a command past ``timeout`` is killed with its whole session and reported, not raised."""
    killed = threading.Event()

    def kill(pid: int) -> None:
        killed.set()
        _kill_session(pid)

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(list(command), cwd=cwd, env=None if env is None else dict(env),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        timer = threading.Timer(timeout, kill, (proc.pid,))
        timer.daemon = True
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C in the benchmark: the child is in its own session, so end it here
            timer.cancel()
            _kill_session(proc.pid)
            proc.wait(_KILL_WAIT)
            raise
        wall = time.monotonic() - start
        timer.cancel()
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if killed.is_set():
            code = TIMED_OUT
        return Finished(start, wall, usage.ru_utime, usage.ru_stime, code, killed.is_set(), _read(out), _read(err))


def judge_pytest(done: Finished) -> tuple[bool, str]:
    """pytest's run: completed when it exited 0; its summary is its last non-empty line."""
    lines = [line.strip("= ").strip() for line in done.stdout.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    if done.timed_out:
        return False, f"stopped at the timeout; last line: {last or 'none'}"
    if done.exit_code != 0:
        err = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        return False, f"exit status {done.exit_code}: {last or (err[-1] if err else 'no output')}"
    return True, last


class SandboxError(RuntimeError):
    """The separate-process sandbox did not come up (it exited, or printed no kubeconfig in time)."""


class SeparateSandbox:
    """A sandbox in a process (and session) of its own; use as a context manager.

    Args:
        command: the serving command; it prints ``kubeconfig: PATH`` and ``check it with: pytest ARGS...`` (or
            ``direktiv-tls-conformance ARGS...``, the installed command that runs ``suites/``) and
            serves until SIGINT.
        cwd: where to run it (the repository root).
        start_timeout: seconds to wait for both lines.

    Attributes:
        kubeconfig: the kubeconfig path it printed.
        pytest_args: the arguments of the command it printed after ``pytest`` (``suites/ --kubeconfig PATH ...``).
        started_in: seconds from spawn to the ``check it with:`` line.
        output: every line it printed so far.
    """

    def __init__(self, command: Sequence[str], *, cwd: str | os.PathLike | None = None,
                 start_timeout: float = SANDBOX_START_TIMEOUT) -> None:
        self.command = list(command)
        self._cwd = cwd
        self._start_timeout = start_timeout
        self.kubeconfig: Path | None = None
        self.pytest_args: list[str] = []
        self.started_in: float | None = None
        self.output: list[str] = []
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()

    def __enter__(self) -> "SeparateSandbox":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _pump(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:  # drained to the end, so the sandbox never blocks on a full pipe
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def start(self) -> None:
        begin = time.perf_counter()
        self._proc = subprocess.Popen(self.command, cwd=self._cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, start_new_session=True)
        threading.Thread(target=self._pump, name="sandbox-output", daemon=True).start()
        deadline = begin + self._start_timeout
        try:
            while True:
                try:
                    line = self._lines.get(timeout=max(deadline - time.perf_counter(), 0.01))
                except queue.Empty:
                    raise SandboxError(f"{shlex.join(self.command)} printed no kubeconfig within "
                                       f"{self._start_timeout:.0f} s; it printed: {self._tail()}") from None
                if line is None:
                    self._proc.wait(_KILL_WAIT)
                    raise SandboxError(f"{shlex.join(self.command)} exited with status {self._proc.returncode} "
                                       f"before it was up: {self._tail()}")
                self.output.append(line)
                if line.startswith("kubeconfig: "):
                    self.kubeconfig = Path(line[len("kubeconfig: "):].strip())
                elif line.startswith("check it with: "):
                    words = shlex.split(line[len("check it with: "):])
                    if words and words[0] == "pytest":
                        words = words[1:]
                    elif words and words[0] == "direktiv-tls-conformance":  # the installed command: the suite
                        words = ["suites/", *words[1:]]
                    self.pytest_args = words
                    self.started_in = time.perf_counter() - begin
                    if self.kubeconfig is None:
                        raise SandboxError(f"{shlex.join(self.command)} printed no kubeconfig line: {self._tail()}")
                    return
        except BaseException:
            self.stop()
            raise

    def _tail(self) -> str:
        return " | ".join(self.output[-5:]) or "nothing"

    def stop(self) -> int | None:
        """SIGINT, then SIGKILL to its session when it has not exited in time; its exit status (None when it
        never started)."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGINT)
                proc.wait(SANDBOX_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _kill_session(proc.pid)
                proc.wait(_KILL_WAIT)
        else:
            _kill_session(proc.pid)  # its servers, should any have outlived it
        return proc.returncode
