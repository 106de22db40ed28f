"""One instrumented whole-process run of the suite, cut into phases that add up to its wall time.

The parent (:func:`measure_phases`) notes the monotonic clock just before it forks
``python -m benchmarks.phases MARKS.json -- PYTEST-ARGS...`` and again when it reaps it. The child runs pytest
in-process, as ``python -m pytest`` does, with a small plugin that notes the same clock (``CLOCK_MONOTONIC``,
shared by every process on the machine) at these moments, and writes them to ``MARKS.json``:

    started         this module's first line: the interpreter is up
    pytest_ready    ``pytest_load_initial_conftests``: pytest imported, plugins (ours among them) loaded, options parsed
    configured      ``pytest_sessionstart``: every ``pytest_configure`` has run (ours loads the profile, starts
                    the ``--sandbox``, checks the options, which reads the CA secret)
    collected       ``pytest_collection_finish``
    gathered        ``probes.session.gather_evidence`` returned (wrapped here; the plugin looks it up when called)
    last_test       the last ``pytest_runtest_logfinish``: every verdict judged
    reported        the end of ``pytest_sessionfinish``: evidence.json, report.html, junit.xml, the summary
    returned        ``pytest.main`` returned: ``pytest_unconfigure`` ran (it stops the ``--sandbox``)

An audit hook on ``socket.connect`` notes the first connection made from a probe module (the first probe sent)
and the first made from ``probes/forward.py`` (the first port-forward stream). Nothing of ``probes`` changes.
"""

import time

_STARTED = time.monotonic()  # before any other import: what came before is the interpreter's start-up

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402 - as `python -m pytest` imports it first thing

__all__ = ["MARKS", "PHASES", "main", "measure_phases", "split"]

# The moments the child notes, in order.
MARKS = ("started", "pytest_ready", "configured", "collected", "gathered", "last_test", "reported", "returned")
# Each phase runs from one moment to the next; the first starts at the spawn, the last ends at the reaping.
PHASES = (
    ("interpreter start-up", "spawned", "started"),
    ("imports, pytest start-up, options", "started", "pytest_ready"),
    ("plugin set-up (pytest_configure)", "pytest_ready", "configured"),
    ("collection", "configured", "collected"),
    ("gathering (first test's set-up to evidence)", "collected", "gathered"),
    ("judging (the tests)", "gathered", "last_test"),
    ("reports (pytest_sessionfinish)", "last_test", "reported"),
    ("shut-down (unconfigure, interpreter exit)", "reported", "exited"),
)
_PROBE_MODULES = tuple(os.path.join("probes", n) for n in ("tls.py", "hello.py", "plaintext.py", "https.py"))
_FORWARD_MODULE = os.path.join("probes", "forward.py")
# Frames looked at above a connect; a probe's connect is a few calls below its module's function.
_STACK_DEPTH = 40
# One suite run takes seconds; two minutes means it hangs.
RUN_TIMEOUT = 120.0


class _Recorder:
    """The child's pytest plugin: notes the moments."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {"started": _STARTED}
        self.firsts: dict[str, float] = {}
        self._lock = threading.Lock()

    def note(self, name: str, *, again: bool = False) -> None:
        now = time.monotonic()
        if again or name not in self.marks:
            self.marks[name] = now

    # -- the first connections ------------------------------------------------------------------------------

    def audit(self, event: str, args) -> None:
        if event != "socket.connect" or len(self.firsts) == 2:
            return
        now = time.monotonic()
        kind = None
        frame = sys._getframe(1)
        for _ in range(_STACK_DEPTH):
            if frame is None:
                break
            name = frame.f_code.co_filename
            if name.endswith(_PROBE_MODULES):
                kind = "probe"
                break
            if name.endswith(_FORWARD_MODULE):
                kind = "forward"
                break
            frame = frame.f_back
        if kind is not None:
            with self._lock:
                self.firsts.setdefault(kind, now)

    # -- pytest's hooks -------------------------------------------------------------------------------------

    def pytest_load_initial_conftests(self) -> None:
        self.note("pytest_ready")

    def pytest_sessionstart(self) -> None:
        self.note("configured")
        self._wrap_gathering()

    def _wrap_gathering(self) -> None:
        session = sys.modules.get("probes.session")
        if session is None:  # our plugin did not load: nothing to wrap, the phases say so
            return
        original = session.gather_evidence

        def gather_evidence(*args, **kwargs):
            try:
                return original(*args, **kwargs)
            finally:
                self.note("gathered")

        session.gather_evidence = gather_evidence

    def pytest_collection_finish(self) -> None:
        self.note("collected")

    def pytest_runtest_logfinish(self) -> None:
        self.note("last_test", again=True)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self):  # the outermost wrapper: every report writer runs inside it
        yield
        self.note("reported")


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[1] != "--":
        print("usage: python -m benchmarks.phases MARKS.json -- PYTEST-ARGS...", file=sys.stderr)
        return 2
    out, pytest_args = Path(args[0]), args[2:]
    recorder = _Recorder()
    sys.addaudithook(recorder.audit)
    code = pytest.main(pytest_args, plugins=[recorder])
    recorder.note("returned")
    out.write_text(json.dumps({"marks": recorder.marks, "firsts": recorder.firsts}))
    sys.stdout.flush()
    return int(code)


# -- the parent's side ------------------------------------------------------------------------------------------


def split(spawned: float, exited: float, marks: dict[str, float]):
    """The phases from the child's marks and the parent's spawn and reap times (all CLOCK_MONOTONIC); a missing
    mark (no gathering, say) gives its phase 0 s, the time going to the next phase that has both ends."""
    from benchmarks.records import Phase

    known = {"spawned": spawned, **marks, "exited": exited}
    order = ["spawned", *MARKS, "exited"]
    at: dict[str, float] = {}
    last = spawned
    for name in order:  # a missing moment takes the one before it
        last = at[name] = max(known.get(name, last), last)
    return tuple(Phase(name, at[end] - at[begin]) for name, begin, end in PHASES)


def measure_phases(key: str, label: str, pytest_args, *, python: str = sys.executable, cwd=None,
                   timeout: float = RUN_TIMEOUT):
    """One instrumented run of ``pytest PYTEST-ARGS`` as a subprocess: its phases, first forward, first probe."""
    import tempfile

    from benchmarks.process import judge_pytest, run_timed
    from benchmarks.records import PhaseSplit

    with tempfile.TemporaryDirectory(prefix="bench-phases-") as tmp:
        marks_file = Path(tmp) / "marks.json"
        done = run_timed([python, "-m", "benchmarks.phases", str(marks_file), "--", *pytest_args],
                         timeout=timeout, cwd=cwd)
        spawned, exited = done.started, done.started + done.wall
        try:
            data = json.loads(marks_file.read_text())
        except (OSError, ValueError):
            data = {"marks": {}, "firsts": {}}
    _, summary = judge_pytest(done)
    firsts = data.get("firsts", {})

    def since_spawn(kind: str) -> float | None:
        return firsts[kind] - spawned if kind in firsts else None

    return PhaseSplit(key, label, done.wall, split(spawned, exited, data.get("marks", {})),
                      since_spawn("forward"), since_spawn("probe"), done.exit_code, summary)


if __name__ == "__main__":
    sys.exit(main())
