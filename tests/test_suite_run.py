"""The real suite (suites/) run through pytest against the sandbox: exit status, skips with reasons, JUnit
properties on every test case, and selection by endpoint and by control."""

import json
import re
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
ENDPOINTS = ("lb", "api", "ui", "ingress-grpc", "flow-grpc", "functions-grpc", "knative")


def run_suite(pytester, scenario, *args):
    junit = pytester.path / "out" / "junit.xml"
    result = pytester.runpytest(str(SUITES), "--direktiv-sandbox", scenario, f"--junitxml={junit}", "-rfEs", *args)
    suites = list(JUnitXml.fromfile(str(junit)))
    assert [s.name for s in suites] == ["direktiv-tls-conformance"]  # junit_suite_name: the tool's, not "pytest"
    cases = [case for suite in suites for case in suite]
    return result, cases


def evidence_document(pytester):
    return json.loads((pytester.path / "out" / "evidence.json").read_text())


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
    # one progress line per endpoint as its evidence completes, before the first test
    lines = result.stdout.lines
    start = lines.index(next(line for line in lines if "gathering evidence" in line))
    progress = lines[start + 1:start + 8]
    assert sorted(line.split()[0] for line in progress) == sorted(ENDPOINTS), progress
    assert all(re.fullmatch(r"\S+\s+observed (on \d+ pods )?in \d+ ms", line) for line in progress), progress
    # everything is protected as configured: no banner
    assert "off by configuration" not in result.stdout.str()
    assert evidence_document(pytester)["run"]["protection_off"] == {"tls": [], "mtls": [], "unjudged": []}


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
    # a green run of a plaintext installation says, first thing in its summary and its report, that TLS is off
    banner = (f"TLS is off by configuration on {', '.join(ENDPOINTS)}; a pass there means the port matches the "
              "configuration, not that it is protected")
    result.stdout.fnmatch_lines(["*TLS or mTLS off by configuration*", f"{banner}*",
                                 "*Direktiv TLS conformance by endpoint*"])
    doc = evidence_document(pytester)
    assert doc["run"]["protection_off"] == {"tls": list(ENDPOINTS), "mtls": list(ENDPOINTS[3:6]), "unjudged": []}
    page = (pytester.path / "out" / "report.html").read_text()
    body = page[page.index("<main>") + len("<main>"):]
    assert body.startswith('<div class="banner protection-off" role="alert">TLS is off by configuration on lb, ')


def test_the_strict_profile_demands_tls_and_mtls_whatever_the_values_say(pytester):
    result, cases = run_suite(pytester, "tls-only", "--direktiv-profile", "strict")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    failed = {c.name for c in cases if outcome(c) == "failure"}
    assert failed == {f"test_port_mode_matches_configuration[{e}]" for e in ENDPOINTS[3:6]}
    result.stdout.fnmatch_lines([
        "*expected flow-grpc port 7777 to be mTLS (the profile 'strict' demands it; the configuration has TLS*"
        "observed tls*",
        "*mTLS is off by configuration on ingress-grpc, flow-grpc, functions-grpc; the profile 'strict' demands it*",
    ])
    assert evidence_document(pytester)["run"]["protection_off"] == {"tls": [], "mtls": list(ENDPOINTS[3:6]),
                                                                    "unjudged": []}


def test_the_strict_profile_fails_every_plaintext_port(pytester):
    result, cases = run_suite(pytester, "plaintext", "--direktiv-profile", "strict", "-k", "mode_matches")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert {properties(c)["endpoint"] for c in cases if outcome(c) == "failure"} == set(ENDPOINTS)


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
