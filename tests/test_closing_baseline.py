"""The closing baseline: a refusal counts only while the pod still accepts the baseline handshake after every other
offer. A pod that starts resetting every new connection partway through a scan (a rate limit, a crash loop, a
shutdown) makes legacy versions, weak suites and bad client certificates look refused; the closing baseline catches
it, and every refusal control on that pod is an error saying why, never a pass."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from probes.controls import Status, judge
from probes.evidence import BASELINE, BASELINE_AFTER
from probes.profile import INTERMEDIATE
from probes.session import RunOptions, gather_evidence
from sandbox.cluster import start_sandbox
from sandbox.faults import serve_with
from sandbox.servers import ExhaustedFront

TIMEOUT = 10.0
REFUSALS = ("T-PLAINTEXT-REFUSED", "T-LEGACY-PROTOCOLS-REFUSED", "T-WEAK-CIPHERS-REFUSED", "T-FORWARD-SECRECY",
            "T-DOWNGRADE-SCSV", "M-NO-CERT-REJECTED", "M-UNTRUSTED-CA-REJECTED", "M-SELF-SIGNED-CLONE-REJECTED",
            "M-EXPIRED-CERT-REJECTED", "M-NO-CLIENTAUTH-EKU-REJECTED")


@pytest.fixture(scope="module")
def conformant():
    with start_sandbox("conformant") as running:
        yield running


def _evidence(running):
    options = RunOptions(kubeconfig=str(running.kubeconfig_path), timeout=TIMEOUT,
                         ca_key_secret=("cert-manager", "direktiv-ca"))
    return gather_evidence(options, INTERMEDIATE)


def test_a_healthy_pod_accepts_the_closing_baseline_and_its_refusals_pass(conformant):
    evidence = _evidence(conformant)
    pod = evidence.endpoints["flow-grpc"].pods[0]
    assert pod.attempt(BASELINE_AFTER).result.completed, pod.attempt(BASELINE_AFTER).result.detail
    for control in REFUSALS:
        verdict = judge(control, "flow-grpc", evidence, INTERMEDIATE)
        assert verdict.status is Status.PASS, (control, verdict.message)


def _through_front(running, first: int):
    """Evidence while flow-grpc's pod passes its first ``first`` connections and resets every later one; and how
    many connections the run made to it."""
    front = ExhaustedFront(running.address("flow-grpc"), first=first)
    with ExitStack() as undo:
        serve_with(running, undo, "flow-grpc", front)
        evidence = _evidence(running)
    return evidence, front.connections


def test_a_pod_that_refuses_only_the_closing_baseline_gets_no_refusal_counted(conformant):
    # Count the connections of a whole run through a front that lets everything pass, then let all but the last
    # (the closing baseline) pass: every offer meets the real server, so the refusals are real, and only the pod's
    # refusing the baseline again at the end says that they might not have been.
    _, total = _through_front(conformant, first=10**6)
    evidence, seen = _through_front(conformant, first=total - 1)
    assert seen == total, "the run made a different number of connections the second time"
    pod = evidence.endpoints["flow-grpc"].pods[0]
    assert pod.attempt(BASELINE).result.completed
    assert not pod.attempt(BASELINE_AFTER).result.completed
    for control in REFUSALS:
        verdict = judge(control, "flow-grpc", evidence, INTERMEDIATE)
        assert verdict.status is Status.ERROR, (control, verdict.status, verdict.message)
        assert "made again after the other offers, did not complete" in verdict.message, verdict.message


def test_a_pod_that_starts_resetting_partway_through_gets_no_refusal_counted(conformant):
    evidence, _ = _through_front(conformant, first=3)
    for control in REFUSALS:
        verdict = judge(control, "flow-grpc", evidence, INTERMEDIATE)
        assert verdict.status is Status.ERROR, (control, verdict.status, verdict.message)
