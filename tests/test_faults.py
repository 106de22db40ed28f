"""The fault matrix end to end: each fault of sandbox.faults, switched on in one running conformant sandbox, gives
its documented verdicts (with a sentence naming the object and the cause), leaves every other verdict as the
baseline had it, and the run ends within twice the fault's deadline plus a fixed slack."""

import time
from contextlib import ExitStack
from dataclasses import replace

import pytest

from probes.catalog import CONTROLS
from probes.controls import Status, judge
from probes.profile import INTERMEDIATE
from probes.session import ObservationError, RunOptions, gather_evidence
from sandbox.cluster import start_sandbox
from sandbox.faults import CA_KEY_SECRET, FAULT_TIMEOUT, FAULTS

# What a run costs besides the fault's own waiting: the baseline's gathering, forward teardown, a noisy CI machine.
FIXED_SLACK = 3.0


def judge_all(evidence):
    return {(c.id, e): judge(c.id, e, evidence, INTERMEDIATE) for c in CONTROLS for e in c.endpoints}


@pytest.fixture(scope="module")
def conformant():
    """One conformant sandbox for the whole matrix, its run options and its verdicts (all pass)."""
    with start_sandbox("conformant") as running:
        options = RunOptions(kubeconfig=str(running.kubeconfig_path), ca_key_secret=CA_KEY_SECRET,
                             timeout=FAULT_TIMEOUT)
        start = time.monotonic()
        baseline = judge_all(gather_evidence(options, INTERMEDIATE))
        elapsed = time.monotonic() - start
        assert {v.status for v in baseline.values()} == {Status.PASS}
        yield running, options, baseline, elapsed


def _says(text: str, case) -> None:
    for word in case.names:
        assert word in text, f"{case.name}: {word!r} not named in: {text}"
    assert any(cause in text for cause in case.causes), f"{case.name}: none of {case.causes} in: {text}"
    assert "\n" not in text and "Traceback" not in text, text


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_gets_its_verdicts_within_its_deadline(name, conformant):
    running, base_options, baseline, base_elapsed = conformant
    case = FAULTS[name]
    with ExitStack() as undo:
        options = replace(base_options, **case.apply(running, undo))
        start = time.monotonic()
        try:
            evidence, stopped = gather_evidence(options, INTERMEDIATE), None
        except ObservationError as exc:
            evidence, stopped = None, str(exc)
        elapsed = time.monotonic() - start
    deadline = options.budget if options.budget else case.steps * options.timeout
    bound = 2 * deadline + max(FIXED_SLACK, 2 * base_elapsed)
    assert elapsed < bound, f"{name}: the run took {elapsed:.1f}s, more than {bound:.1f}s"

    if case.observation_error:
        assert stopped is not None, f"{name}: the gathering should stop with one sentence"
        _says(stopped, case)
        return
    assert stopped is None, stopped
    verdicts = judge_all(evidence)
    changed = {k: v for k, v in verdicts.items() if v.status is not baseline[k].status}
    assert {k: v.status.value for k, v in changed.items()} == dict(case.verdicts), "\n".join(
        f"{k}: {v.status.value}: {v.message}" for k, v in sorted(changed.items()))
    for verdict in changed.values():
        _says(verdict.message, case)


def test_a_budget_that_suffices_changes_no_verdict(conformant):
    running, base_options, baseline, base_elapsed = conformant
    options = replace(base_options, timeout=5.0, budget=max(6.0, 3 * base_elapsed))  # limits shrink near its end
    evidence = gather_evidence(options, INTERMEDIATE)
    assert evidence.incomplete is None
    assert {k: v.status for k, v in judge_all(evidence).items()} == {k: v.status for k, v in baseline.items()}


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
    result = pytester.runpytest("-p", "no:cacheprovider", "--sandbox", "conformant",
                                "--ca-key-secret", "cert-manager/no-such-ca", "--timeout", str(FAULT_TIMEOUT))
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
                                   timeout=FAULT_TIMEOUT))  # no UsageError: the run will say the server is down
