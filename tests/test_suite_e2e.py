"""End to end: for every sandbox scenario, exactly its documented controls fail, exactly its documented ones are
errors, and all others pass or are skipped, with Direktiv's servers on either engine: the Go program (Go's
crypto/tls, grpc-go, net/http) and the Python stand-ins that serve where Go is not installed. Evidence is gathered
the way the suite gathers it (probes.session), then every applicable control is judged on every endpoint
(probes.controls) — the same two calls the suite's fixtures make."""

import pytest

from expect import assert_verdicts, observed
from probes.catalog import CONTROLS
from probes.controls import Status, judge
from probes.profile import INTERMEDIATE
from probes.session import RunOptions, gather_evidence
from probes.trust import parse_ca_file_option
from sandbox.cluster import ENGINE_ENV, start_sandbox
from sandbox.scenarios import SCENARIOS, Engine
from sandbox.servers import go_available

# Generous per-step limit: the sandbox answers in milliseconds, and CI machines are noisy.
STEP_TIMEOUT = 5.0


def _options(running) -> RunOptions:
    args = list(running.suite_args)
    ca_key = None
    if "--direktiv-ca-key-secret" in args:
        ns, name = args[args.index("--direktiv-ca-key-secret") + 1].split("/")
        ca_key = (ns, name)
    ca_files = tuple(parse_ca_file_option(value) for flag, value in zip(args, args[1:]) if flag == "--direktiv-ca-file")
    return RunOptions(kubeconfig=str(running.kubeconfig_path), ca_key_secret=ca_key, ca_files=ca_files,
                      timeout=STEP_TIMEOUT)


def judge_all(evidence):
    return {(c.id, e): judge(c.id, e, evidence, INTERMEDIATE) for c in CONTROLS for e in c.endpoints}


def expected_of(scenario) -> dict:
    """(control, endpoint) -> the status the scenario documents: fail, error, else pass or skip."""
    return {**{key: "fail" for key in scenario.expected_failures}, **{key: "error" for key in scenario.expected_errors}}


@pytest.fixture(params=list(Engine), ids=lambda engine: engine.value)
def engine(request, monkeypatch) -> Engine:
    """Direktiv's servers on this engine for the test's sandbox."""
    if request.param is Engine.GO and not go_available():
        pytest.skip("Go or grpc-go is not installed (apt-get install golang-go golang-google-grpc-dev)")
    monkeypatch.setenv(ENGINE_ENV, request.param.value)
    return request.param


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_fails_and_errors_exactly_as_documented(engine, name):
    scenario = SCENARIOS[name]
    with start_sandbox(scenario) as running:
        assert running.engine is engine
        verdicts = judge_all(gather_evidence(_options(running), INTERMEDIATE))
    assert_verdicts(expected_of(scenario), observed(verdicts), others=("pass", "skip"), context=name)


def test_every_control_fails_in_some_scenario():
    broken = {control for s in SCENARIOS.values() for control, _ in s.expected_failures}
    assert broken == {c.id for c in CONTROLS}


def test_conformant_passes_every_control_it_can_judge():
    with start_sandbox("conformant") as running:
        verdicts = judge_all(gather_evidence(_options(running), INTERMEDIATE))
    assert_verdicts({}, observed(verdicts), others="pass", context="conformant")


def test_without_the_ca_key_the_two_minting_controls_skip_and_say_why():
    with start_sandbox("conformant") as running:
        options = RunOptions(kubeconfig=str(running.kubeconfig_path), timeout=STEP_TIMEOUT)
        verdicts = judge_all(gather_evidence(options, INTERMEDIATE))
    for (control, endpoint), v in verdicts.items():
        if control in ("M-EXPIRED-CERT-REJECTED", "M-NO-CLIENTAUTH-EKU-REJECTED"):
            assert v.status is Status.SKIP and "--direktiv-ca-key-secret" in v.message, v
        else:
            assert v.status is Status.PASS, v
