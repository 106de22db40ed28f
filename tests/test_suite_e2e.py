"""End to end: for every sandbox scenario, exactly its documented controls fail, exactly its documented ones are
errors, and all others pass or are skipped, with Direktiv's servers on either engine: the Go program (Go's
crypto/tls, grpc-go, net/http) and the Python stand-ins that serve where Go is not installed. Evidence is gathered
the way the suite gathers it (probes.session), then every applicable control is judged on every endpoint
(probes.controls) — the same two calls the suite's fixtures make. The scenarios run in a pool of processes (each
sandbox and its probes in one process, as a user's run is), two at a time, and each scenario's test reads its
result."""

import concurrent.futures as cf
import multiprocessing
import os
import traceback

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
# Two scenarios at a time: the machines this runs on have two cores, and each run is mostly CPU (both ends of every
# handshake are on this machine).
SWEEP_WORKERS = 2


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


def _run_scenario(engine: str, name: str) -> tuple[str, dict]:
    """In a worker process: the engine the sandbox really ran, and (control, endpoint) -> (status, sentence)."""
    os.environ[ENGINE_ENV] = engine
    with start_sandbox(SCENARIOS[name]) as running:
        ran = running.engine.value
        verdicts = judge_all(gather_evidence(_options(running), INTERMEDIATE))
    return ran, observed(verdicts)


def _engines() -> list[Engine]:
    return [e for e in Engine if e is not Engine.GO or go_available()]


@pytest.fixture(scope="module")
def swept(request) -> dict:
    """(engine, scenario) -> the result of its run, or the traceback of what went wrong in the worker; for the
    scenarios and engines this session selected (``-k conformant`` runs one or two)."""
    selected = {(item.callspec.params["engine"].value, item.callspec.params["name"]) for item in request.session.items
                if item.originalname == "test_scenario_fails_and_errors_exactly_as_documented"}
    jobs = [(engine.value, name) for engine in _engines() for name in sorted(SCENARIOS)
            if (engine.value, name) in selected]
    spawn = multiprocessing.get_context("spawn")  # no fork of a process that runs grpcio and server threads
    results = {}
    with cf.ProcessPoolExecutor(SWEEP_WORKERS, mp_context=spawn) as pool:
        futures = {pool.submit(_run_scenario, *job): job for job in jobs}
        for future in cf.as_completed(futures):
            try:
                results[futures[future]] = future.result()
            except Exception:  # noqa: BLE001 - the scenario's own test reports it
                results[futures[future]] = "".join(traceback.format_exc())
    return results


@pytest.fixture(params=list(Engine), ids=lambda engine: engine.value)
def engine(request) -> Engine:
    """Direktiv's servers on this engine for the test's sandbox."""
    if request.param is Engine.GO and not go_available():
        pytest.skip("Go or grpc-go is not installed (apt-get install golang-go golang-google-grpc-dev)")
    return request.param


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_fails_and_errors_exactly_as_documented(engine, name, swept):
    result = swept[(engine.value, name)]
    if isinstance(result, str):
        pytest.fail(f"the run of {name} on {engine.value} raised:\n{result}", pytrace=False)
    ran, seen = result
    assert ran == engine.value
    assert_verdicts(expected_of(SCENARIOS[name]), seen, others=("pass", "skip"), context=name)


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
