"""What the project's own tests share so that they hold on a busy machine and say what broke.

Verdicts: an end-to-end assertion compares expected and observed statuses per (control, endpoint) and, when they
differ, fails with one line per difference, ``control endpoint: expected X, got Y: <verdict sentence>``.

Time: speed is never asserted. A test may bound how long a step took only to catch a deadline that was not applied
(a hang), and then with HANG_MARGIN times the limits involved, so that a loaded machine cannot trip it. A test that
waits for something to settle (a thread to end, a table to empty) polls with wait_until, whose generous deadline
costs nothing when the machine keeps up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping

__all__ = ["HANG_MARGIN", "SETTLE_SECONDS", "assert_no_hang", "assert_verdicts", "from_junit", "observed",
           "verdict_differences", "wait_until"]

# A step that took five times its limit did not honour it; a loaded two-core machine stays well inside that.
HANG_MARGIN = 5
# How long a test waits for something that should happen at once; wait_until returns as soon as it holds.
SETTLE_SECONDS = 10.0

Key = tuple[str, str]  # (control, endpoint)
Expected = Mapping[Key, "str | Collection[str]"]
Observed = Mapping[Key, tuple[str, str]]  # -> (status, sentence)

# JUnit result element -> verdict status (probes.controls.Status values)
_JUNIT = {"passed": "pass", "failure": "fail", "error": "error", "skipped": "skip"}


def _text(status) -> str:
    return str(getattr(status, "value", status))


def observed(verdicts: Iterable | Mapping) -> dict[Key, tuple[str, str]]:
    """probes.controls.Verdict objects (an iterable, or a mapping's values) as (control, endpoint) -> (status,
    sentence)."""
    values = verdicts.values() if isinstance(verdicts, Mapping) else verdicts
    return {(v.control, v.endpoint): (_text(v.status), v.message) for v in values}


def from_junit(cases: Iterable) -> dict[Key, tuple[str, str]]:
    """junitparser test cases of a suite run (each carries the ``control`` and ``endpoint`` properties) as
    (control, endpoint) -> (status, message)."""
    found = {}
    for case in cases:
        props = {p.name: p.value for p in case.properties()}
        result = case.result[0] if case.result else None
        status = _JUNIT[type(result).__name__.lower()] if result is not None else "pass"
        message = (result.message or result.text or "") if result is not None else ""
        found[(props.get("control", ""), props.get("endpoint", case.name))] = (status, " ".join(message.split()))
    return found


def verdict_differences(expected: Expected, seen: Observed, *, others: str | Collection[str] | None = None) -> list[str]:
    """One line per (control, endpoint) whose observed status is not the expected one (a status, or a collection
    of acceptable ones). Keys not in ``expected`` must have a status in ``others``; None leaves them unchecked."""
    lines = []
    for key in sorted(set(expected) | set(seen)):
        want = expected.get(key, others)
        if want is None:
            continue
        wants = {_text(want)} if isinstance(want, str) else {_text(w) for w in want}
        shown = " or ".join(sorted(wants))
        control, endpoint = key
        if key not in seen:
            lines.append(f"{control} {endpoint}: expected {shown}, got no verdict")
        elif seen[key][0] not in wants:
            status, sentence = seen[key]
            lines.append(f"{control} {endpoint}: expected {shown}, got {status}: {sentence}")
    return lines


def assert_verdicts(expected: Expected, seen: Observed, *, others: str | Collection[str] | None = None,
                    context: str = "") -> None:
    """Fails with every difference (see verdict_differences), under ``context`` (e.g. the fault or scenario)."""
    lines = verdict_differences(expected, seen, others=others)
    header = f"{context}: " if context else ""
    assert not lines, f"{header}{len(lines)} verdict(s) not as expected:\n" + "\n".join(lines)


def assert_no_hang(elapsed: float, *limits: float, what: str) -> None:
    """``elapsed`` stayed under HANG_MARGIN times the sum of the limits that may run out one after the other."""
    bound = HANG_MARGIN * sum(limits)
    assert elapsed < bound, (f"{what} took {elapsed:.2f}s, more than {HANG_MARGIN}x its limits ({bound:.2f}s): "
                             "a deadline was not applied")


def wait_until(condition: Callable[[], object], seconds: float = SETTLE_SECONDS, *, poll: float = 0.02) -> bool:
    """Polls ``condition`` until it is true (True) or ``seconds`` have passed (False)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True
