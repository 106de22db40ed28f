"""Drift between runs: the loader reads evidence v1, v2 and v3 into one shape, the comparison lists exactly the
differences, the command compares two files without a cluster, and --direktiv-baseline adds them to every report."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest
from junitparser.xunit2 import JUnitXml

# Loaded before pytester's in-process runs (see test_suite_run.py).
import probes.controls  # noqa: F401
import probes.observe  # noqa: F401
import probes.reporting  # noqa: F401
import sandbox.cluster  # noqa: F401
from probes.drift import (
    CertificateChange, ChartChange, EndpointChange, EvidenceFileError, ProtocolChange, VerdictChange, compare, load_snapshot, main,
    drift_document, snapshot,
)
from test_report import make_document, pki  # noqa: F401  (pki: the module-scoped fixture)

pytest_plugins = ["pytester"]

SUITES = Path(__file__).resolve().parents[1] / "suites"
V1, V2 = "direktiv-tls-conformance/evidence/v1", "direktiv-tls-conformance/evidence/v2"


def as_v2(document: dict) -> dict:
    old = copy.deepcopy(document)
    old["schema"] = V2
    for key in ("forecast", "framework", "drift"):
        old.pop(key, None)
    return old


def as_v1(document: dict) -> dict:
    """The v1 layout: one attempt set and served_chain per endpoint, pods as names."""
    old = as_v2(document)
    old["schema"] = V1
    for eid, ep in old["endpoints"].items():
        pods = ep.pop("pods")
        ep["pods"] = [p["pod"] for p in pods]
        ep["attempts"] = pods[0]["attempts"] if pods else {}
        ep["served_chain"] = pods[0]["served_chain"] if pods else []
    return old


def test_v1_v2_and_v3_read_into_the_same_snapshot(pki):  # noqa: F811
    v3 = make_document(pki)
    shots = [snapshot(d) for d in (as_v1(v3), as_v2(v3), v3)]
    assert [s.schema for s in shots] == [V1, V2, v3["schema"]]
    first = shots[0]
    for other in shots[1:]:
        assert (other.verdicts, other.leaves, other.versions, other.suites, other.endpoints) == (
            first.verdicts, first.leaves, first.versions, first.suites, first.endpoints)
    assert first.endpoints == {"lb", "flow-grpc"}  # api was unreachable
    assert first.versions["lb"] == {"TLSv1.3": True, "TLSv1": False}
    assert {c.name for c in first.leaves["lb"]} == {"localhost"}


def test_v1_legacy_and_weak_handshakes_count_as_versions_and_suites():
    doc = {"schema": V1, "endpoints": {"api": {"pods": ["api-0"], "served_chain": [], "attempts": {
        "legacy:TLSv1": {"record": "HandshakeResult", "result": {"offer": {"versions": ["TLSv1"]},
                                                                 "outcome": "rejected"}},
        "weak:3DES": {"record": "HandshakeResult", "result": {"offer": {"versions": ["TLSv1.2"]},
                                                              "outcome": "accepted", "version": "TLSv1.2",
                                                              "cipher": "DES-CBC3-SHA"}}}}}}
    shot = snapshot(doc)
    assert shot.versions == {"api": {"TLSv1": False, "TLSv1.2": True}}
    assert shot.suites == {"api": {"DES-CBC3-SHA": True}}


def changed_document(base: dict) -> dict:
    """``base`` with one change of every kind."""
    new = copy.deepcopy(base)
    new["verdicts"]["C-SAN-MATCH"]["lb"]["status"] = "pass"                      # a verdict
    lb_pod = new["endpoints"]["lb"]["pods"][0]
    old_leaf = lb_pod["served_chain"][0]["sha256"]
    renewed = copy.deepcopy(new["certificates"][old_leaf])
    renewed["facts"]["serial"] = "0123abcd"
    new["certificates"]["f" * 64] = renewed
    lb_pod["served_chain"][0] = {**lb_pod["served_chain"][0], "sha256": "f" * 64}  # renewed: same identity
    flow_leaf = base["endpoints"]["flow-grpc"]["pods"][0]["served_chain"][0]["sha256"]
    new["secrets"]["default/direktiv-cert-api"]["cert_chain_sha256"] = [flow_leaf]  # replaced: another identity
    answer = lb_pod["attempts"]["legacy:TLSv1"]["result"]["answer"]
    answer.update(kind="server-hello", alert=None)                                # TLSv1 newly accepted
    del new["endpoints"]["flow-grpc"]                                              # an endpoint vanished
    return new


def test_the_comparison_lists_exactly_the_differences(pki):  # noqa: F811
    base = make_document(pki)
    old, new = snapshot(base), snapshot(changed_document(base))
    drift = compare(old, new)
    lb_old = next(iter(old.leaves["lb"]))
    lb_new = next(iter(new.leaves["lb"]))
    api_old = next(iter(old.leaves["secret default/direktiv-cert-api"]))
    flow_leaf = next(iter(old.leaves["flow-grpc"]))
    assert drift.verdicts == (VerdictChange("C-SAN-MATCH", "lb", "fail", "pass"),)
    assert drift.certificates == (
        CertificateChange("flow-grpc", "vanished", flow_leaf, None),
        CertificateChange("lb", "renewed", lb_old, lb_new),
        CertificateChange("secret default/direktiv-cert-api", "replaced", api_old, flow_leaf),
    )
    assert lb_new.serial == "0123abcd" and lb_old.serial != lb_new.serial
    assert drift.protocols == (ProtocolChange("lb", "version", "TLSv1", "accepted"),)
    assert drift.endpoints == (EndpointChange("flow-grpc", "vanished"),)
    assert compare(old, old).any is False


def test_an_upgrade_to_another_chart_line_is_said_first_and_an_unrecorded_chart_is_no_change(pki):  # noqa: F811
    base = make_document(pki)
    v04 = {"name": "direktiv", "version": "0.1.0", "app_version": "v0.4.1", "source": "x", "model": "v0.4",
           "forced": False}
    v07 = {**v04, "version": "0.1.20", "app_version": "v0.7.5", "model": "v0.5.10-v0.7"}
    old, new, unrecorded = (copy.deepcopy(base) for _ in range(3))
    old["run"]["chart"], new["run"]["chart"] = v04, v07
    unrecorded["run"].pop("chart", None)
    drift = compare(snapshot(old), snapshot(new))
    assert drift.chart == (ChartChange("direktiv 0.1.0 (app v0.4.1), model v0.4",
                                       "direktiv 0.1.20 (app v0.7.5), model v0.5.10-v0.7"),)
    assert drift.sentences()[0] == ("chart: direktiv 0.1.0 (app v0.4.1), model v0.4 -> direktiv 0.1.20 (app v0.7.5), "
                                    "model v0.5.10-v0.7")
    assert drift_document(drift)["chart"] == [{"old": drift.chart[0].old, "new": drift.chart[0].new}]
    assert compare(snapshot(unrecorded), snapshot(new)).chart == ()


def test_the_command_compares_two_files_without_a_cluster(pki, tmp_path):  # noqa: F811
    base = make_document(pki)
    old_path, new_path = tmp_path / "old.json", tmp_path / "new.json"
    old_path.write_text(json.dumps(as_v1(base)))
    new_path.write_text(json.dumps(changed_document(base)))
    out = io.StringIO()
    assert main([str(old_path), str(new_path)], out=out) == 1
    text = out.getvalue()
    assert text.startswith(f"6 change(s) since {old_path}")
    assert "C-SAN-MATCH on lb: fail -> pass" in text and "lb: version TLSv1 newly accepted" in text
    assert main([str(old_path), str(old_path)], out=io.StringIO()) == 0


def test_the_command_says_what_is_wrong_with_bad_input(tmp_path, capsys):
    (tmp_path / "not.json").write_text("{")
    (tmp_path / "other.json").write_text(json.dumps({"schema": "someone-else/v9"}))
    assert main([str(tmp_path / "missing.json"), str(tmp_path / "not.json")]) == 2
    assert "cannot read the evidence file" in capsys.readouterr().err
    assert main([str(tmp_path / "not.json"), str(tmp_path / "not.json")]) == 2
    assert "is not JSON" in capsys.readouterr().err
    assert main([str(tmp_path / "other.json"), str(tmp_path / "other.json")]) == 2
    assert "unknown evidence schema 'someone-else/v9'" in capsys.readouterr().err
    assert main(["only-one.json"]) == 2
    with pytest.raises(EvidenceFileError, match="no 'schema' key"):
        snapshot({"endpoints": {}})


def test_a_bad_baseline_is_a_one_sentence_usage_error(pytester, tmp_path):
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest(f"--direktiv-baseline={tmp_path / 'nope.json'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*argument --direktiv-baseline: cannot read the evidence file *nope.json: "
                                 "No such file or directory"])


def run_suite(pytester, scenario: str, out: str, *args: str):
    junit = pytester.path / out / "junit.xml"
    result = pytester.runpytest(str(SUITES), "--direktiv-sandbox", scenario, f"--junitxml={junit}", *args)
    return result, junit.parent


def test_a_run_against_a_changed_installation_lists_exactly_the_differences(pytester):
    _, before = run_suite(pytester, "conformant", "before")
    result, after = run_suite(pytester, "api-accepts-tls10", "after",
                              f"--direktiv-baseline={before / 'evidence.json'}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    drift = json.loads((after / "evidence.json").read_text())["drift"]
    assert drift["changed"] is True and drift["baseline"]["path"] == str(before / "evidence.json")
    assert drift["verdicts"] == [{"control": "T-LEGACY-PROTOCOLS-REFUSED", "endpoint": "api", "old": "pass",
                                  "new": "fail"}]
    assert drift["protocols"] == [{"endpoint": "api", "what": "version", "name": "TLSv1", "now": "accepted"},
                                  {"endpoint": "api", "what": "version", "name": "TLSv1.1", "now": "accepted"}]
    assert drift["endpoints"] == []
    # Each sandbox start mints a new PKI: every leaf is renewed (same names and issuer, new serial), none replaced.
    old_places = set(load_snapshot(before / "evidence.json").leaves)
    assert {c["kind"] for c in drift["certificates"]} == {"renewed"}
    assert {c["where"] for c in drift["certificates"]} == old_places
    assert all(c["old"]["serial"] != c["new"]["serial"] for c in drift["certificates"])
    result.stdout.fnmatch_lines([f"*- changed since baseline {before / 'evidence.json'} (*) -*",
                                 "T-LEGACY-PROTOCOLS-REFUSED on api: pass -> fail", "api: version TLSv1 newly accepted"])
    html_text = (after / "report.html").read_text()
    assert '<section id="drift">' in html_text and "T-LEGACY-PROTOCOLS-REFUSED on api: pass → fail" in html_text
    sarif = json.loads((after / "results.sarif").read_text())
    failed = [r for r in sarif["runs"][0]["results"] if r["kind"] == "fail"]
    assert [(r["ruleId"], r["properties"]["endpoint"], r["baselineState"]) for r in failed] == [
        ("T-LEGACY-PROTOCOLS-REFUSED", "api", "new")]
    cases = {c.name: {p.name: p.value for p in c.properties()}
             for s in JUnitXml.fromfile(str(after / "junit.xml")) for c in s}
    changed = {name: props["changed_since_baseline"] for name, props in cases.items()
               if "changed_since_baseline" in props}
    assert changed == {"test_legacy_protocols_are_refused[api]": "pass -> fail"}
