"""The cross-check with sslyze (issue 12 item 4) on recorded and made-up inputs, without network: reading sslyze's
JSON, reading the prober's scans, and judging agreement, disagreement and documented sslyze limitations. The real
run is ``python -m benchmarks.compare``.

``data/sslyze_cipher_suites_go_defaults_flow_grpc.json`` is sslyze 6.3.1's ``--json_out`` from a real run of
``benchmarks.compare --scenario go-defaults`` (real Go servers: TLS 1.0 and 3DES; flow-grpc, with the client
certificate), trimmed to the six cipher-suite scan commands and to the keys the parser reads, one suite a line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.compare import (
    LIMITATIONS,
    VERSIONS,
    Comparison,
    EndpointComparison,
    ToolFindings,
    VersionFinding,
    VersionState,
    compare,
    default_scenarios,
    parse_args,
    prober_findings,
    render,
    sslyze_findings,
    to_json,
)
from benchmarks.records import SetupState, ToolSetup
from probes.cipher_suites import SUITES
from probes.hello import SuiteScan, VersionScan
from probes.tls import TLSVersion

FIXTURE = Path(__file__).parent / "data" / "sslyze_cipher_suites_go_defaults_flow_grpc.json"
GO_CBC = ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
          "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA",
          "TLS_RSA_WITH_AES_256_CBC_SHA")
GO_TLS12 = tuple(sorted(GO_CBC + ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                                  "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256",
                                  "TLS_RSA_WITH_AES_256_GCM_SHA384")))
TLS13 = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
_CODE = {suite.name: code for code, suite in SUITES.items()}


@pytest.fixture(scope="module")
def recorded() -> ToolFindings:
    return sslyze_findings(json.loads(FIXTURE.read_text()))


def prober(**accepted: tuple[str, ...]) -> ToolFindings:
    """Made-up prober findings: ``TLSv1_2=(names...)`` accepts those suites at that version, others are refused."""
    chosen = {TLSVersion[k]: v for k, v in accepted.items()}
    versions = [VersionFinding("SSLv2", VersionState.NOT_TESTED, detail="no SSLv2")]
    versions += [VersionFinding(v.value, VersionState.ACCEPTED, tuple(sorted(chosen[v]))) if chosen.get(v) else
                 VersionFinding(v.value, VersionState.REFUSED) for v in TLSVersion]
    return ToolFindings("prober", tuple(versions))


def go_defaults_prober(**changes: tuple[str, ...]) -> ToolFindings:
    """What the prober found on the same endpoint in the same run, with ``changes``."""
    found = dict(TLSv1=GO_CBC, TLSv1_1=GO_CBC, TLSv1_2=GO_TLS12, TLSv1_3=TLS13)
    return prober(**{**found, **changes})


def replace_version(findings: ToolFindings, finding: VersionFinding) -> ToolFindings:
    return ToolFindings(findings.tool, tuple(finding if f.version == finding.version else f
                                             for f in findings.versions), findings.notes)


# --- sslyze's JSON --------------------------------------------------------------------------------------------


def test_the_recorded_sslyze_json_reads_as_iana_names_per_version(recorded):
    assert [f.version for f in recorded.versions] == list(VERSIONS)
    assert recorded.accepted_versions == ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
    assert recorded.at("SSLv2").state is recorded.at("SSLv3").state is VersionState.REFUSED
    assert recorded.at("TLSv1").accepted == GO_CBC and recorded.at("TLSv1.1").accepted == GO_CBC
    assert recorded.at("TLSv1.2").accepted == GO_TLS12 and recorded.at("TLSv1.3").accepted == TLS13
    assert [len(recorded.at(v).offered) for v in VERSIONS] == [7, 80, 80, 80, 156, 5]
    # every name sslyze offered from SSLv3 on is an IANA registry name (SSLv2's cipher kinds have none)
    assert recorded.notes == ()
    assert all(name in _CODE for v in VERSIONS[1:] for name in recorded.at(v).offered)


def test_an_unreachable_server_fails_every_version_and_an_errored_command_fails_its_own():
    unreachable = sslyze_findings({"server_scan_results": [{
        "scan_status": "ERROR_NO_CONNECTIVITY", "connectivity_error_trace": "Traceback\nConnection refused"}]})
    assert {f.state for f in unreachable.versions} == {VersionState.FAILED}
    assert unreachable.at("TLSv1.2").detail == "sslyze could not scan: ERROR_NO_CONNECTIVITY (Connection refused)"
    partial = sslyze_findings({"server_scan_results": [{"scan_status": "COMPLETED", "scan_result": {
        "tls_1_2_cipher_suites": {"status": "ERROR", "error_reason": "BUG_IN_SSLYZE",
                                  "error_trace": "Traceback\nValueError: boom"},
        "tls_1_3_cipher_suites": {"status": "NOT_SCHEDULED"},
        "tls_1_1_cipher_suites": {"status": "COMPLETED", "result": {
            "accepted_cipher_suites": [{"cipher_suite": {"name": "TLS_MADE_UP_SUITE"}}],
            "rejected_cipher_suites": []}}}}]})
    assert partial.at("TLSv1.2").state is VersionState.FAILED
    assert partial.at("TLSv1.2").detail == "BUG_IN_SSLYZE (ValueError: boom)"
    assert partial.at("TLSv1.3").state is partial.at("SSLv3").state is VersionState.NOT_TESTED
    assert partial.notes == ("sslyze names outside the IANA registry: TLS_MADE_UP_SUITE",)


# --- the prober's scans -----------------------------------------------------------------------------------------


def suite_scan(version: TLSVersion, names: tuple[str, ...], unjudged: tuple[str, ...] = ()) -> SuiteScan:
    accepted = tuple(SUITES[_CODE[n]] for n in names)
    return SuiteScan(version, (), accepted, (), tuple(_CODE[n] for n in unjudged), (), "made up")


def test_the_prober_scans_become_findings_with_unjudged_suites_noted():
    versions = VersionScan((TLSVersion.TLSv1_2, TLSVersion.TLSv1_3), (TLSVersion.SSLv3, TLSVersion.TLSv1),
                           (TLSVersion.TLSv1_1,), (), "made up")
    scans = {TLSVersion.TLSv1_2: suite_scan(TLSVersion.TLSv1_2, GO_TLS12[:2], unjudged=GO_TLS12[2:3]),
             TLSVersion.TLSv1_3: suite_scan(TLSVersion.TLSv1_3, ())}
    found = prober_findings(versions, scans)
    assert [f.state for f in found.versions] == [VersionState.NOT_TESTED, VersionState.REFUSED, VersionState.REFUSED,
                                                 VersionState.FAILED, VersionState.ACCEPTED, VersionState.FAILED]
    assert found.at("TLSv1.2").accepted == GO_TLS12[:2] and found.at("TLSv1.2").unjudged == GO_TLS12[2:3]
    assert found.notes == ("TLSv1.2: 1 suites left unjudged (made up)",)
    assert "no suite scan answer could be judged" in found.at("TLSv1.3").detail


# --- judging ----------------------------------------------------------------------------------------------------


def test_the_same_answers_agree(recorded):
    assert compare(recorded, go_defaults_prober()) == ()


def test_a_suite_sslyze_offered_and_saw_rejected_is_an_unexplained_disagreement(recorded):
    differences = compare(recorded, go_defaults_prober(TLSv1_2=GO_TLS12 + ("TLS_RSA_WITH_ARIA_128_GCM_SHA256",)))
    assert [(d.version, d.suite, d.sslyze, d.prober, d.explained) for d in differences] == [
        ("TLSv1.2", "TLS_RSA_WITH_ARIA_128_GCM_SHA256", "rejected", "accepted", False)]


def test_a_suite_only_sslyze_accepted_is_unexplained_and_says_why_the_prober_missed_it(recorded):
    refused = compare(recorded, go_defaults_prober(TLSv1=GO_CBC[1:]))
    assert [(d.version, d.suite, d.sslyze, d.prober) for d in refused] == [
        ("TLSv1", GO_CBC[0], "accepted", "refused")]
    unjudged = replace_version(go_defaults_prober(), VersionFinding(
        "TLSv1", VersionState.ACCEPTED, GO_CBC[1:], unjudged=GO_CBC[:1]))
    assert compare(recorded, unjudged)[0].prober == "left it unjudged (its scan stopped early)"


def test_a_version_only_one_tool_accepts_or_one_tool_cannot_judge_is_unexplained(recorded):
    no_tls10 = compare(recorded, go_defaults_prober(TLSv1=()))
    assert no_tls10[0].suite is None and (no_tls10[0].sslyze, no_tls10[0].prober) == ("accepted", "refused")
    assert len(no_tls10) == 1 + len(GO_CBC) and not any(d.explained for d in no_tls10)
    failed = replace_version(go_defaults_prober(), VersionFinding("TLSv1.3", VersionState.FAILED, detail="timeout"))
    assert [(d.version, d.prober, d.explained) for d in compare(recorded, failed)] == [
        ("TLSv1.3", "failed: timeout", False)]


def test_suites_sslyze_never_offers_are_explained_by_its_documented_limitations(recorded):
    extra12 = ("TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256", "TLS_RSA_WITH_CAMELLIA_128_GCM_SHA256")
    differences = compare(recorded, go_defaults_prober(TLSv1_2=GO_TLS12 + extra12,
                                                       TLSv1_3=TLS13 + ("TLS_SHA256_SHA256",)))
    assert {(d.version, d.suite): d.explanation for d in differences} == {
        ("TLSv1.2", extra12[0]): LIMITATIONS["psk-srp"],
        ("TLSv1.2", extra12[1]): LIMITATIONS["nassl"],
        ("TLSv1.3", "TLS_SHA256_SHA256"): LIMITATIONS["tls13"],
    }
    assert all(d.sslyze == "never offered it" and d.prober == "accepted" for d in differences)
    assert all("nabla-c0d3" in d.explanation.source for d in differences)


def test_a_version_whose_every_accepted_suite_sslyze_never_offers_is_explained_too(recorded):
    sslyze = replace_version(recorded, VersionFinding("TLSv1.3", VersionState.REFUSED,
                                                      offered=recorded.at("TLSv1.3").offered))
    differences = compare(sslyze, go_defaults_prober(TLSv1_3=("TLS_AES_128_CCM_8_SHA256", "TLS_SHA384_SHA384")))
    version_level = [d for d in differences if d.suite is None]
    assert [(d.sslyze, d.prober, d.explained) for d in version_level] == [("refused", "accepted", False)]
    # TLS_AES_128_CCM_8_SHA256 is one of sslyze's five: it offered it and saw it rejected, so nothing explains it
    only_uncovered = go_defaults_prober(TLSv1_3=("TLS_SHA384_SHA384",))
    explained = compare(sslyze, only_uncovered)
    assert [(d.suite, d.explained) for d in explained] == [(None, True), ("TLS_SHA384_SHA384", True)]


def test_sslv2_counts_only_when_sslyze_finds_it_accepted(recorded):
    assert compare(recorded, go_defaults_prober()) == ()
    sslv2 = replace_version(recorded, VersionFinding("SSLv2", VersionState.ACCEPTED, ("SSL_CK_RC4_128_WITH_MD5",)))
    [difference] = compare(sslv2, go_defaults_prober())
    assert (difference.version, difference.explained, difference.prober) == ("SSLv2", False, "not tested")


def test_disagreements_come_first_unexplained_before_explained(recorded):
    differences = compare(recorded, go_defaults_prober(TLSv1=GO_CBC[1:], TLSv1_3=TLS13 + ("TLS_SHA256_SHA256",)))
    assert [d.explained for d in differences] == [False, True]


# --- reporting --------------------------------------------------------------------------------------------------


def comparison(recorded: ToolFindings, found: ToolFindings, **extra) -> Comparison:
    row = EndpointComparison("go-defaults", "flow-grpc", "direktiv-flow-hl.default", True, recorded, found,
                             compare(recorded, found), sslyze_seconds=2.5, prober_seconds=0.1)
    return Comparison("python -m benchmarks.compare", "2026-11-29T05:05:32+00:00",
                      ToolSetup("sslyze", SetupState.READY, version="6.3.1"), ("go-defaults",), (row,), **extra)


def test_the_table_puts_disagreements_before_the_endpoint_blocks(recorded):
    result = comparison(recorded, go_defaults_prober(TLSv1=GO_CBC[1:], TLSv1_3=TLS13 + ("TLS_SHA256_SHA256",)))
    lines = render(result)
    assert result.unexplained == 1 and result.explained == 1 and not result.ok
    assert "disagreements: 1 unexplained, 1 explained" in lines[1]
    first_block = next(i for i, line in enumerate(lines) if line.startswith("go-defaults / flow-grpc"))
    unexplained = next(i for i, line in enumerate(lines) if "UNEXPLAINED" in line)
    explained = next(i for i, line in enumerate(lines) if line.lstrip().startswith("explained"))
    assert unexplained < explained < first_block
    assert any(line.strip().startswith("why: sslyze offers only the five TLS 1.3 suites") for line in lines)
    assert any(GO_CBC[0] in line and line.rstrip().endswith("sslyze only") for line in lines[first_block:])


def test_the_json_round_trips_and_says_whether_the_run_is_clean(recorded):
    clean = json.loads(json.dumps(to_json(comparison(recorded, go_defaults_prober()))))
    assert clean["ok"] is True and clean["unexplained"] == 0 and clean["endpoints"][0]["differences"] == []
    assert clean["endpoints"][0]["sslyze"]["versions"][4]["offered"] == 156
    not_compared = to_json(comparison(recorded, go_defaults_prober(), problems=("docs-verbatim: did not start",)))
    assert not_compared["ok"] is False and not_compared["not_compared"] == ["docs-verbatim: did not start"]


# --- command line ---------------------------------------------------------------------------------------------


def test_go_defaults_joins_the_default_scenarios_only_where_the_sandbox_has_it():
    assert default_scenarios(["conformant", "docs-verbatim"]) == ("conformant", "docs-verbatim")
    assert default_scenarios(["conformant", "docs-verbatim", "go-defaults"])[-1] == "go-defaults"


def test_scenarios_are_repeatable_and_checked(capsys):
    assert parse_args(["--scenario", "conformant", "--scenario", "tls-only"]).scenarios == ("conformant", "tls-only")
    assert parse_args([]).scenarios[:2] == ("conformant", "docs-verbatim")
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--scenario", "no-such-scenario"])
    assert stopped.value.code == 2 and "there is no scenario 'no-such-scenario'" in capsys.readouterr().err
