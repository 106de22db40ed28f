"""The chart version guard: a release of a chart line the tool does not model, or of a chart that is not Direktiv's,
stops the run with exit status 4 and one sentence (what was found, what is supported, what to do), unless a model is
forced; every report records the chart and the model the run used."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from junitparser.xunit2 import JUnitXml

from probes import helm
from probes.chartlines import CHART_LINES, CHART_NAME, MODEL_NAMES, ChartIdentity, UnsupportedChart, chart_line, identify
from probes.errors import UsageError
from probes.session import RunOptions, check_usage
from sandbox.cluster import chart_defaults, start_sandbox

# Loaded before pytester's in-process runs (see tests/test_suite_run.py).
import probes.controls  # noqa: F401
import probes.observe  # noqa: F401
import probes.reporting  # noqa: F401

SUITES = Path(__file__).resolve().parents[1] / "suites"
TIMEOUT = 10.0
SOURCE = "Helm release default/direktiv revision 2"


# -- matching ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("app", ["v0.4.0", "v0.4.1", "v0.4.9", "0.4.1", "v0.4.1-rc.1"])
def test_the_v04_chart_is_modelled_as_v04(app):
    chart = identify("direktiv", "0.1.0", app, source=SOURCE)
    assert (chart.model, chart.forced, chart.version, chart.app_version) == ("v0.4", False, "0.1.0", app)


@pytest.mark.parametrize("version, app", [("0.1.0", "v0.5.10"), ("0.1.4", "v0.6.2"), ("0.1.12", "v0.7.0"),
                                          ("0.1.10", "v0.7.0-rc1"), ("0.1.20", "v0.7.5")])
def test_the_direktiv_charts_releases_up_to_v07_are_modelled_as_that_line(version, app):
    assert identify("direktiv", version, app, source=SOURCE).model == "v0.5.10-v0.7"


@pytest.mark.parametrize("version, app", [("0.1.21", "v0.8.0"), ("0.1.21-rc3", "v0.8.0-rc3"), ("0.1.22", "v0.8.1"),
                                          ("0.1.29", "v0.8.9")])
def test_the_v08_releases_are_modelled_as_that_line(version, app):
    assert identify("direktiv", version, app, source=SOURCE).model == "v0.8"


@pytest.mark.parametrize("version, app", [("0.1.0", "v0.5.3"), ("0.1.0", "v0.3.1"), ("0.1.30", "v0.9.0"),
                                          ("0.1.20", "v0.8.0"), ("0.2.0", "v0.7.5"), ("1.0.0", "v1.0.0")])
def test_a_direktiv_chart_of_another_line_is_unsupported(version, app):
    with pytest.raises(UnsupportedChart) as caught:
        identify("direktiv", version, app, source=SOURCE)
    text = str(caught.value)
    assert text.startswith(f"The {SOURCE} is chart direktiv {version} (app {app}), a chart line the suite does not "
                           "model")
    assert "supported: chart direktiv 0.1.0 (Direktiv v0.4.0 to v0.4.x): model v0.4; chart direktiv 0.1.0 to " \
           "0.1.20 (Direktiv v0.5.10 to v0.7.x): model v0.5.10-v0.7" in text
    assert "--direktiv-chart-model" in text and "\n" not in text and text.endswith(".")


def test_a_chart_version_two_lines_share_needs_the_app_version():
    with pytest.raises(UnsupportedChart) as caught:
        identify("direktiv", "0.1.0", source=SOURCE)
    text = str(caught.value)
    assert "which several chart lines could be" in text and "pass --direktiv-app-version" in text
    assert identify("direktiv", "0.1.7", source=SOURCE).model == "v0.5.10-v0.7"  # one line has it: enough


def test_a_version_that_is_not_semver_says_so():
    with pytest.raises(UnsupportedChart, match=r"chart direktiv latest \(app v0.4.1\) \(its version is not a SemVer"):
        identify("direktiv", "latest", "v0.4.1", source=SOURCE)
    with pytest.raises(UnsupportedChart, match=r"its app version is not a SemVer version"):
        identify("direktiv", "0.1.0", "main", source=SOURCE)


@pytest.mark.parametrize("name", ["nginx", "direktiv-ui", "Direktiv", "knative"])
def test_a_chart_that_is_not_direktivs_is_unsupported_whatever_its_version(name):
    with pytest.raises(UnsupportedChart) as caught:
        identify(name, "0.1.0", "v0.4.1", source=SOURCE)
    text = str(caught.value)
    assert text.startswith(f"The {SOURCE} is chart {name} 0.1.0 (app v0.4.1), not Direktiv's chart")
    assert "point --direktiv-release/--direktiv-namespace at Direktiv's release" in text


def test_a_release_without_chart_metadata_is_not_taken_for_direktiv():
    with pytest.raises(UnsupportedChart, match=r"records no chart \(no name, version or app version\)"):
        identify("", "", source=SOURCE)


def test_versions_given_by_option_match_by_version_alone():
    assert identify("", "0.1.0", "v0.4.1", source="--direktiv-chart-version 0.1.0").model == "v0.4"
    assert identify("", "0.1.18", source="--direktiv-chart-version 0.1.18").model == "v0.5.10-v0.7"
    with pytest.raises(UnsupportedChart):
        identify("", "0.6.0", source="--direktiv-chart-version 0.6.0")


def test_a_forced_model_is_used_whatever_the_chart_and_says_so():
    chart = identify("nginx", "1.2.3", "1.25", source=SOURCE, forced_model="v0.4")
    assert (chart.model, chart.forced) == ("v0.4", True)
    assert chart.text == (f"nginx 1.2.3 (app 1.25) from {SOURCE}; model v0.4 (forced with --direktiv-chart-model; "
                          "the chart matches no model)")
    v07 = identify("direktiv", "0.1.20", "v0.7.5", source=SOURCE, forced_model="v0.4")
    assert (v07.model, v07.matched) == ("v0.4", "v0.5.10-v0.7") and "the chart matches model v0.5.10-v0.7" in v07.text
    same = identify("direktiv", "0.1.0", "v0.4.1", source=SOURCE, forced_model="v0.4")
    assert same.text.endswith("(forced with --direktiv-chart-model, the model the chart matches anyway)")
    with pytest.raises(ValueError, match="the models are"):
        identify("direktiv", "0.1.0", "v0.4.1", source=SOURCE, forced_model="v9")


def test_the_identity_survives_the_evidence_file():
    chart = identify("direktiv", "0.1.0", "v0.4.1", source=SOURCE)
    assert ChartIdentity.from_json(json.loads(json.dumps(chart.to_json()))) == chart
    assert ChartIdentity.from_json(None) is None and ChartIdentity.from_json({"name": "x"}) is None


def test_every_line_ships_its_chart_defaults_and_its_versions_do_not_overlap():
    assert MODEL_NAMES == tuple(line.model for line in CHART_LINES) and len(set(MODEL_NAMES)) == len(MODEL_NAMES)
    assert {line.chart_name for line in CHART_LINES} == {CHART_NAME}  # versions given by option name this chart
    for line in CHART_LINES:
        defaults = line.defaults()
        assert isinstance(defaults, dict) and defaults, line.model
        defaults.clear()
        assert line.defaults(), "defaults() hands out a copy"
        chart, app = (".".join(map(str, bounds[0][:3])) for bounds in (line.chart_versions, line.app_versions))
        assert identify(line.chart_name, chart, app, source=SOURCE).model == line.model
    for a in CHART_LINES:  # no (chart version, app version) is claimed by two lines
        for b in CHART_LINES:
            if a is not b and a.chart_name == b.chart_name:
                for bounds in a.app_versions:
                    app = ".".join(str(min(part, 99)) for part in bounds[:3])
                    assert not (b.holds_app(app) and b.holds_chart(".".join(map(str, a.chart_versions[0][:3])))), \
                        (a.model, b.model)


def test_the_sandbox_installs_the_modelled_chart_defaults():
    assert chart_defaults() == chart_line("v0.4").defaults()


# -- the run ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def conformant():
    with start_sandbox("conformant") as running:
        yield running


@pytest.fixture
def release_of(conformant):
    """Installs a revision 2 of the release recording another chart; the sandbox's own comes back afterwards."""
    added = []

    def install(chart_name: str, chart_version: str, app_version: str = "") -> None:
        release = helm.HelmRelease("direktiv", "default", 2, "deployed", chart_defaults(),
                                   conformant.scenario.values, chart_name, chart_version, app_version)
        obj = helm.release_secret_object(release)
        conformant.store.add(obj)
        added.append(obj["metadata"]["name"])

    yield install
    for name in added:
        conformant.store.remove("secrets", "default", name)


@pytest.fixture
def options(conformant):
    return RunOptions(kubeconfig=str(conformant.kubeconfig_path), timeout=TIMEOUT)


@pytest.mark.parametrize("chart_name, chart_version, app_version, start", [
    ("direktiv", "0.1.30", "v0.9.1", "The Helm release default/direktiv revision 2 is chart direktiv 0.1.30 (app "
                                     "v0.9.1), a chart line the suite does not model"),
    ("nginx", "15.1.0", "1.25.3", "The Helm release default/direktiv revision 2 is chart nginx 15.1.0 (app 1.25.3), "
                                  "not Direktiv's chart"),
])
def test_check_usage_stops_at_an_unmodelled_chart(release_of, options, chart_name, chart_version, app_version,
                                                  start):
    release_of(chart_name, chart_version, app_version)
    with pytest.raises(UsageError) as caught:
        check_usage(options)
    assert str(caught.value).startswith(start)
    check_usage(replace(options, chart_model="v0.4"))  # forced: no error


def _run(pytester, conformant, *args):
    junit = pytester.path / "out" / "junit.xml"
    result = pytester.runpytest(str(SUITES), "--kubeconfig", str(conformant.kubeconfig_path),
                                "--direktiv-timeout", str(TIMEOUT), f"--junitxml={junit}", *args)
    return result, junit


@pytest.mark.parametrize("chart_name, chart_version", [("direktiv", "0.1.30"), ("nginx", "15.1.0")])
def test_the_suite_exits_4_with_one_sentence_and_judges_nothing(pytester, conformant, release_of, chart_name,
                                                                 chart_version):
    release_of(chart_name, chart_version, "v0.9.1")
    result, junit = _run(pytester, conformant)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert len(errors) == 1 and f"is chart {chart_name} {chart_version}" in errors[0], result.errlines
    assert "Traceback" not in "\n".join(result.errlines + result.outlines)
    assert not junit.exists()


def test_a_forced_model_runs_and_every_report_records_it(pytester, conformant, release_of):
    release_of("direktiv", "0.1.30", "v0.9.1")
    result, junit = _run(pytester, conformant, "-k", "lb and T-TLS-HANDSHAKE", "--direktiv-chart-model", "v0.4")
    assert result.ret == pytest.ExitCode.OK, result.outlines
    expected = {"name": "direktiv", "version": "0.1.30", "app_version": "v0.9.1",
                "source": "Helm release default/direktiv revision 2", "model": "v0.4", "forced": True, "matched": ""}
    result.stdout.fnmatch_lines(["chart: direktiv 0.1.30 (app v0.9.1) from Helm release default/direktiv revision 2; "
                                 "model v0.4 (forced with --direktiv-chart-model; the chart matches no model)"])
    out = junit.parent
    assert json.loads((out / "evidence.json").read_text())["run"]["chart"] == expected
    suite = next(iter(JUnitXml.fromfile(str(junit))))
    assert {p.name: p.value for p in suite.properties()}.items() >= {
        "chart_name": "direktiv", "chart_version": "0.1.30", "chart_app_version": "v0.9.1", "chart_model": "v0.4",
        "chart_forced": "true"}.items()
    assert "model v0.4 (forced with --direktiv-chart-model; the chart matches no model)" in \
        (out / "report.html").read_text()
    assert json.loads((out / "results.sarif").read_text())["runs"][0]["properties"]["chart"] == expected


def test_values_with_a_chart_version_stand_in_for_an_unreadable_release(pytester, conformant, tmp_path):
    conformant.store.forbid("secrets", "default")
    values = tmp_path / "values.yaml"
    values.write_text(conformant.scenario.values_yaml)
    try:
        result, junit = _run(pytester, conformant, "-k", "lb and T-TLS-HANDSHAKE", "--direktiv-values", str(values),
                             "--direktiv-chart-version", "0.1.0", "--direktiv-app-version", "v0.4.1")
    finally:
        conformant.store.clear_faults()
    assert result.ret == pytest.ExitCode.OK, result.outlines
    chart = json.loads((junit.parent / "evidence.json").read_text())["run"]["chart"]
    assert chart == {"name": "direktiv", "version": "0.1.0", "app_version": "v0.4.1",
                     "source": "installation --direktiv-chart-version 0.1.0 and --direktiv-app-version v0.4.1 describe",
                     "model": "v0.4", "forced": False, "matched": ""}
