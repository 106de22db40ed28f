"""The real suite (suites/) run through pytest against the sandbox: exit status, skips with reasons, JUnit
properties on every test case, and selection by endpoint and by control."""

from pathlib import Path

import pytest
from junitparser.xunit2 import JUnitXml

from expect import assert_verdicts, from_junit

# Imported here so pytester's in-process runs find them loaded: modules first imported inside such a run are
# dropped from sys.modules afterwards, and cryptography's bindings then see two copies of its classes.
import probes.controls  # noqa: F401
import probes.observe  # noqa: F401
import probes.reporting  # noqa: F401
import sandbox.cluster  # noqa: F401
from sandbox.scenarios import SCENARIOS

SUITES = Path(__file__).resolve().parents[1] / "suites"


def run_suite(pytester, scenario, *args):
    junit = pytester.path / "out" / "junit.xml"
    result = pytester.runpytest(str(SUITES), "--sandbox", scenario, f"--junitxml={junit}", "-rfEs", *args)
    cases = [case for suite in JUnitXml.fromfile(str(junit)) for case in suite]
    return result, cases


def assert_scenario_verdicts(scenario, cases, *, broken=("fail", "error"), others=("pass", "skip")):
    """Every selected case has a status in ``broken`` where the scenario documents a failure, and in ``others``
    elsewhere; a difference names the control, the endpoint and the verdict sentence."""
    seen = from_junit(cases)
    documented = {key: broken for key in SCENARIOS[scenario].expected_failures if key in seen}
    assert_verdicts(documented, seen, others=others, context=f"suites/ against {scenario}")


def outcome(case):
    return type(case.result[0]).__name__.lower() if case.result else "passed"


def properties(case):
    return {p.name: p.value for p in case.properties()}


def test_conformant_passes_and_every_case_names_its_control_and_endpoint(pytester):
    result, cases = run_suite(pytester, "conformant")
    assert_scenario_verdicts("conformant", cases, others="pass")
    assert result.ret == pytest.ExitCode.OK
    assert len(cases) == 142
    for case in cases:
        props = properties(case)
        assert props["control"] and props["endpoint"], case.name
    assert {properties(c)["endpoint"] for c in cases} == {
        "cluster", "lb", "api", "ui", "ingress-grpc", "flow-grpc", "functions-grpc", "knative"}
    chain = next(c for c in cases if c.name == "test_served_chain_is_trusted[flow-grpc]")
    assert len(properties(chain)["fingerprint_sha256"]) == 64 and properties(chain)["not_after"]


def test_tls_only_skips_mtls_controls_with_the_reason(pytester):
    result, cases = run_suite(pytester, "tls-only")
    assert_scenario_verdicts("tls-only", cases)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*SKIPPED*mTLS is not enabled for flow-grpc (flow.certificates.flow, flow.certificates.mtlsFlow)*"])
    skipped = {c.name for c in cases if outcome(c) == "skipped"}
    assert "test_mtls_rejects_client_without_certificate[functions-grpc]" in skipped


def test_plaintext_still_judges_the_mode_of_every_port(pytester):
    result, cases = run_suite(pytester, "plaintext")
    assert_scenario_verdicts("plaintext", cases)
    assert result.ret == pytest.ExitCode.OK
    passed = {c.name for c in cases if outcome(c) == "passed"}
    assert {f"test_port_mode_matches_configuration[{e}]" for e in ("api", "ui", "lb", "flow-grpc")} <= passed
    result.stdout.fnmatch_lines(["*SKIPPED*TLS is not configured for api*"])


def test_a_failing_control_fails_the_run_with_expected_and_observed(pytester):
    result, cases = run_suite(pytester, "flow-mtls-optional", "-k", "flow-grpc")
    assert_scenario_verdicts("flow-mtls-optional", cases)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*expected flow-grpc to reject a client without a certificate; it was accepted*",
        "FAILED *test_mtls_rejects_client_without_certificate[[]flow-grpc[]]*",
    ])


def test_selection_by_endpoint_and_by_control(pytester):
    result, cases = run_suite(pytester, "conformant", "-k", "flow-grpc")
    assert_scenario_verdicts("conformant", cases, others="pass")
    assert result.ret == pytest.ExitCode.OK
    assert cases and {properties(c)["endpoint"] for c in cases} == {"flow-grpc"}
    result, cases = run_suite(pytester, "conformant", "-k", "M-NO-CERT")
    assert {properties(c)["control"] for c in cases} == {"M-NO-CERT-REJECTED"}
    assert len(cases) == 3


def test_an_unobservable_control_is_a_setup_error_with_its_sentence(pytester):
    result, cases = run_suite(pytester, "api-rsa-1024", "-k", "api and not K-")
    # RSA 1024 is observable: it fails C-KEY-STRENGTH, nothing errors
    assert_scenario_verdicts("api-rsa-1024", cases, broken="fail", others="pass")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*1024-bit RSA key*"])


def test_a_sandbox_run_says_in_one_header_line_when_direktivs_servers_are_not_go(pytester, monkeypatch, tmp_path):
    monkeypatch.delenv("DIREKTIV_SANDBOX_ENGINE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no go on it: what `make demo` does on a machine without Go
    result, _ = run_suite(pytester, "plaintext")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["Go is not installed: Direktiv's servers run on the Python stand-ins (apt-get *)"])
    assert result.stdout.str().count("Go is not installed") == 1
