"""The framework mapping: data in the catalog, mirrored in CONTROLS.md, and the per-requirement view in every
report (terminal, evidence.json, report.html, SARIF, JUnit properties)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from junitparser.xunit2 import JUnitXml

from probes.catalog import CONTROL_IDS, FRAMEWORK_NAMES, FRAMEWORKS, MAPPINGS, Coverage, framework, mappings
from probes.frameworks import requirement_view, terminal_lines
from test_report import SUITE, Setup, make_evidence, pki  # noqa: F401  (pki: the module-scoped fixture)

pytest_plugins = ["pytester"]

DOC = (Path(__file__).resolve().parents[1] / "docs" / "CONTROLS.md").read_text()


def test_every_mapping_names_a_control_and_a_requirement_of_its_framework():
    for m in MAPPINGS:
        assert m.control in CONTROL_IDS
        framework(m.framework).requirement(m.requirement)
        assert m.note, f"{m.control} -> {m.framework} {m.requirement} says nothing about what it shows"
    keys = [(m.control, m.framework, m.requirement) for m in MAPPINGS]
    assert len(keys) == len(set(keys))


def test_every_requirement_is_evidenced_by_some_control_and_unverified_numbers_say_so():
    for fw in FRAMEWORKS:
        for req in fw.requirements:
            assert mappings(framework=fw.name) and any(m.requirement == req.id for m in mappings(framework=fw.name))
            assert ("unverified" in req.title) == (not req.verified)
    # The CIS benchmark asks TLS of the control plane: its rows are analogues, so never full.
    assert {m.coverage for m in mappings(framework="cis-kubernetes")} == {Coverage.PARTIAL}


def test_the_mapping_table_in_controls_md_is_the_catalog_data():
    rows = re.findall(r"^\| `([A-Z]-[A-Z0-9-]+)` \| ([a-z0-9-]+) \| ([0-9.]+) \| (full|partial) \| (.+) \|$", DOC,
                      flags=re.M)
    assert sorted(rows) == sorted((m.control, m.framework, m.requirement, m.coverage.value, m.note) for m in MAPPINGS)
    for fw in FRAMEWORKS:
        assert f"**`{fw.name}`**" in DOC


def verdicts(**statuses):
    """control -> endpoint -> {status}: ``C_VALIDITY={"lb": "fail"}``."""
    return {control.replace("_", "-"): {e: {"status": s} for e, s in per.items()} for control, per in statuses.items()}


def test_a_requirement_takes_the_worst_verdict_of_its_controls():
    view = requirement_view("pci-dss-4", verdicts(
        C_CHAIN_TRUSTED={"lb": "pass", "api": "pass"}, C_VALIDITY={"lb": "fail"},
        M_NO_CERT_REJECTED={"flow-grpc": "error"}, T_PLAINTEXT_REFUSED={"api": "pass"},
        C_SERVED_MATCHES_SECRET={"api": "skip"}))
    by_id = {r["id"]: r for r in view["requirements"]}
    assert by_id["4.2.1"]["status"] == "fail"
    validity = next(c for c in by_id["4.2.1"]["controls"] if c["control"] == "C-VALIDITY")
    assert validity == {**validity, "status": "fail", "verdicts": {"lb": "fail"}, "coverage": "partial"}
    assert by_id["8.3.2"]["status"] == "error"  # an unobserved mTLS control outweighs the plaintext pass
    assert by_id["4.2.1.1"]["status"] == "skip"  # nothing judged but a skip
    assert all(r["partial"] for r in view["requirements"])
    lines = dict(terminal_lines(view))
    assert any(line.startswith("4.2.1    fail") and "C-VALIDITY" in line for line in lines.values())
    with pytest.raises(ValueError, match="unknown framework 'pci'; choose one of nist-800-52r2"):
        requirement_view("pci", {})



class FrameworkSetup(Setup):
    """Setup, with --direktiv-framework as a suite run would have parsed it (a stand-in run collects no suite, so
    the option itself would be refused)."""

    def __init__(self, evidence, framework_name: str) -> None:
        super().__init__(evidence)
        self.framework_name = framework_name

    def pytest_configure(self, config):
        config.option.direktiv_framework = self.framework_name
        super().pytest_configure(config)

@pytest.mark.parametrize("name", FRAMEWORK_NAMES)
def test_every_report_carries_the_per_requirement_view(pytester, pki, name):  # noqa: F811
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("--junitxml=reports/junit.xml", plugins=[FrameworkSetup(make_evidence(pki), name)])
    fw = framework(name)
    result.stdout.fnmatch_lines([f"*- {fw.title} by requirement -*", f"{fw.requirements[0].id} *"])
    reports = pytester.path / "reports"
    doc = json.loads((reports / "evidence.json").read_text())
    assert doc["framework"]["name"] == name
    assert [r["id"] for r in doc["framework"]["requirements"]] == [r.id for r in fw.requirements]
    html_text = (reports / "report.html").read_text()
    section = html_text[html_text.index('<section id="framework">'):html_text.index('<section id="matrix">')]
    for req in fw.requirements:
        assert f"<b>{req.id}</b>" in section
    for m in mappings(framework=name):
        assert f"<code>{m.control}</code>" in section
    sarif = json.loads((reports / "results.sarif").read_text())
    taxonomy = next(t for t in sarif["runs"][0]["taxonomies"] if t["name"] == name)
    assert [t["id"] for t in taxonomy["taxa"]] == [r.id for r in fw.requirements]
    xml = JUnitXml.fromfile(str(reports / "junit.xml"))
    cases = {case.name: [(p.name, p.value) for p in case.properties()] for suite in xml for case in suite}
    for case, props in cases.items():
        control = dict(props)["control"]
        expected = [f"{name}:{r}" for r in dict.fromkeys(m.requirement for m in mappings(framework=name,
                                                                                          control=control))]
        assert [v for k, v in props if k == "requirement"] == expected, case


def test_without_the_option_no_report_carries_a_framework_view(pytester, pki):  # noqa: F811
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest("--junitxml=reports/junit.xml", plugins=[Setup(make_evidence(pki))])
    reports = pytester.path / "reports"
    assert "framework" not in json.loads((reports / "evidence.json").read_text())
    assert 'id="framework"' not in (reports / "report.html").read_text()
    assert 'name="requirement"' not in (reports / "junit.xml").read_text()


def test_an_unknown_framework_is_a_one_sentence_usage_error(pytester):
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("--direktiv-framework=pci-dss-3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*argument --direktiv-framework: unknown framework 'pci-dss-3'; choose one of "
                                 "nist-800-52r2, pci-dss-4, bsi-tr-02102-2, cis-kubernetes"])
