"""The fault matrix end to end: each fault of sandbox.faults, switched on in one running conformant sandbox, gives
its documented verdicts (with a sentence naming the object and the cause), leaves every other verdict as the
baseline had it, and the run does not hang (it ends well within its limits).

Limits hold on a busy machine: the baseline and the faults that wait on nothing run with a generous step limit;
the faults whose point is a deadline (a silent server, a hung kubelet or API server, a spent budget) run with a
small one, which the rest of the run (judged as usual) must still fit in."""

import time
from contextlib import ExitStack
from dataclasses import replace

import pytest

from expect import HANG_MARGIN, assert_no_hang, assert_verdicts, observed
from probes.catalog import CONTROLS
from probes.controls import judge
from probes.plugin import SUITE_MARKER
from probes.profile import INTERMEDIATE
from probes.session import ObservationError, RunOptions, gather_evidence
from sandbox.cluster import start_sandbox
from sandbox.faults import CA_KEY_SECRET, FAULT_TIMEOUT, FAULTS

# The step limit of the baseline and of every fault that waits on nothing: the sandbox answers in milliseconds,
# but the slowest of a gathering's ~70 concurrent steps took 0.4-0.7 s on an idle 2-core machine, 0.9 s beside
# `stress-ng --cpu 2`, and over 1 s at a load average of 20 (so sandbox.faults' 1 s made the baseline error).
GENEROUS_TIMEOUT = 10.0
# The step limit of the faults whose point is a deadline: small, so that waiting it out costs seconds, yet over three
# times the slowest step seen under load, so that everything else in that run is still judged. The faults hold
# their peers far longer (30-60 s), so the deadline still shows.
DEADLINE_TIMEOUT = 3.0
# The budget of the fault whose point is the budget: the rest of a loaded gathering (under 1.5 s warm) fits in it.
DEADLINE_BUDGET = 2 * DEADLINE_TIMEOUT


def judge_all(evidence):
    return {(c.id, e): judge(c.id, e, evidence, INTERMEDIATE) for c in CONTROLS for e in c.endpoints}


@pytest.fixture(scope="module")
def conformant():
    """One conformant sandbox for the whole matrix, its run options and its verdicts (all pass)."""
    with start_sandbox("conformant") as running:
        options = RunOptions(kubeconfig=str(running.kubeconfig_path), ca_key_secret=CA_KEY_SECRET,
                             timeout=GENEROUS_TIMEOUT)
        start = time.monotonic()
        baseline = judge_all(gather_evidence(options, INTERMEDIATE))
        elapsed = time.monotonic() - start
        assert_verdicts({}, observed(baseline), others="pass", context="the conformant baseline")
        yield running, options, baseline, elapsed


def _worded(sentence: str, was: float, now: float) -> str:
    """``sentence`` as the probes word it with the limit ``now`` instead of ``was`` (a step limit reads 1.0s or 1s,
    a budget 3s)."""
    for form in ("{:.1f}s", "{:g}s"):
        sentence = sentence.replace(" " + form.format(was), " " + form.format(now))
    return sentence


def _limits(case, changes) -> tuple[dict, tuple[str, ...]]:
    """The run option changes of ``case`` with this module's limits, and its causes worded with them. A case whose
    causes name its step limit (sandbox.faults' FAULT_TIMEOUT unless it sets its own) or its budget is about that
    deadline: it gets DEADLINE_TIMEOUT (or DEADLINE_BUDGET) when that is larger; every other case the generous
    limit, unless it sets its own."""
    changes, causes = dict(changes), case.causes
    for option, was, small in (("timeout", changes.get("timeout", FAULT_TIMEOUT), DEADLINE_TIMEOUT),
                               ("budget", changes.get("budget"), DEADLINE_BUDGET)):
        if was is None:
            continue
        named = tuple(_worded(c, was, max(was, small)) for c in causes)
        if named != causes:
            changes[option], causes = max(was, small), named
    changes.setdefault("timeout", GENEROUS_TIMEOUT)
    return changes, causes


def _says(text: str, case, causes) -> None:
    for word in case.names:
        assert word in text, f"{case.name}: {word!r} not named in: {text}"
    assert any(cause in text for cause in causes), f"{case.name}: none of {causes} in: {text}"
    assert "\n" not in text and "Traceback" not in text, text


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_gets_its_verdicts_and_does_not_hang(name, conformant):
    running, base_options, baseline, base_elapsed = conformant
    case = FAULTS[name]
    with ExitStack() as undo:
        changes, causes = _limits(case, case.apply(running, undo))
        options = replace(base_options, **changes)
        start = time.monotonic()
        try:
            evidence, stopped = gather_evidence(options, INTERMEDIATE), None
        except ObservationError as exc:
            evidence, stopped = None, str(exc)
        elapsed = time.monotonic() - start
    # A hang bound only: the fault's deadline (its steps one after the other, or the budget) plus what the baseline
    # took, HANG_MARGIN times over.
    deadline = options.budget if options.budget else case.steps * options.timeout
    assert_no_hang(elapsed, deadline, base_elapsed, what=f"{name}: the run")

    if case.observation_error:
        assert stopped is not None, f"{name}: the gathering should stop with one sentence"
        _says(stopped, case, causes)
        return
    assert stopped is None, stopped
    verdicts = judge_all(evidence)
    expected = {key: case.verdicts.get(key, before.status) for key, before in baseline.items()}
    assert_verdicts(expected, observed(verdicts), context=name)
    for key, verdict in verdicts.items():
        if key in case.verdicts:
            _says(verdict.message, case, causes)


def test_a_budget_that_suffices_changes_no_verdict(conformant):
    running, base_options, baseline, base_elapsed = conformant
    # limits shrink near the budget's end: HANG_MARGIN times what the baseline took leaves every step its own
    options = replace(base_options, timeout=5.0, budget=max(6.0, HANG_MARGIN * base_elapsed))
    evidence = gather_evidence(options, INTERMEDIATE)
    assert evidence.incomplete is None
    assert_verdicts({k: v.status for k, v in baseline.items()}, observed(judge_all(evidence)),
                    context=f"a budget of {options.budget:.1f}s")


def test_every_fault_documents_why():
    for case in FAULTS.values():
        assert case.description and case.justification, case.name
        assert case.observation_error or case.verdicts or "nothing changes" in case.justification or \
            "baseline" in case.justification, case.name


# -- bad user input that needs the cluster to be told ------------------------------------------------------------

SUITE = """
from probes.suite import check, control

@control("K-SECRET-PRESENT")
def test_secrets(verdict):
    check(verdict)
"""


def test_a_ca_key_secret_that_does_not_exist_is_a_usage_error(pytester):
    pytester.makepyfile(test_conformance=SUITE)
    pytester.makeconftest(SUITE_MARKER)
    result = pytester.runpytest("-p", "no:cacheprovider", "--direktiv-sandbox", "conformant",
                                "--direktiv-ca-key-secret", "cert-manager/no-such-ca",
                                "--direktiv-timeout", str(GENEROUS_TIMEOUT))
    text = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert "Traceback" not in text
    errors = [line for line in text.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "cert-manager/no-such-ca" in errors[0] and "no such secret" in errors[0], text


def test_a_ca_key_secret_on_an_unreachable_api_server_is_left_to_the_run(tmp_path):
    from probes.session import check_usage
    from sandbox.servers import RefusingPort

    with RefusingPort() as port, start_sandbox("conformant") as running:
        undo = ExitStack()
        with undo:
            from sandbox.faults import kubeconfig_for
            kubeconfig = kubeconfig_for(running, undo, server=f"https://{port.address[0]}:{port.address[1]}")
            check_usage(RunOptions(kubeconfig=kubeconfig, ca_key_secret=("cert-manager", "nothing"),
                                   timeout=GENEROUS_TIMEOUT))  # no UsageError: the run will say the server is down
