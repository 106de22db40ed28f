"""Audit of the chart line guard and the v0.5.10-v0.7 model (audit17): each test was one confirmed problem (all
fixed) and keeps it fixed. The expected behaviour is each test's docstring."""

from __future__ import annotations

import copy
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

# Loaded before pytester's in-process runs (see tests/test_suite_run.py).
import probes.controls  # noqa: F401
import probes.observe  # noqa: F401
import probes.reporting  # noqa: F401
from probes.chartlines import UnsupportedChart, identify
from probes.drift import compare, main as drift_main, snapshot
from probes.errors import UsageError
from probes.session import RunOptions, check_usage, values_chart
from probes.topology import Mode
from probes.topology_nginx import derive_v07, ingress_controller_service
from local_servers import served_common_name
from sandbox.cluster import start_sandbox
from sandbox.scenarios import V07_CONFORMANT, CertSpec, Issuer
from test_report import make_document, pki  # noqa: F401  (pki: the module-scoped fixture)

pytest_plugins = ["pytester"]

SUITES = Path(__file__).resolve().parents[1] / "suites"
TIMEOUT = 10.0
FAKE_CN = "Kubernetes Ingress Controller Fake Certificate"
SOURCE = "Helm release default/direktiv revision 1"


def _lb_https(running):
    return next(p.address for p in running.ports if p.endpoint == "lb" and p.port == 443)


# -- the v0.5.10-v0.7 model's reading of the values ---------------------------------------------------------------


def test_v07_an_empty_ingress_certificate_is_tls_as_the_chart_renders_it():
    """The v0.7 templates render spec.tls iff ingress.certificate != "none", so "" is TLS (ingress-nginx's default
    certificate), never a plaintext expectation."""
    lb = derive_v07({"ingress": {"host": "myhost.mydomain", "certificate": ""}}).endpoint("lb")
    assert lb.mode is not Mode.PLAINTEXT or lb.unlocated, (lb.mode, lb.explanation)


def test_v07_ingress_disabled_requires_no_lb_secret():
    """With ingress.enabled: false the chart renders no Ingress, so no secret is required (K-SECRET-PRESENT must not
    fail for a secret nothing uses)."""
    topology = derive_v07({"ingress": {"enabled": False, "host": "myhost.mydomain", "certificate": "direktiv-lb"}})
    assert [s.name for s in topology.secrets] == []


def test_v07_controller_service_follows_ingress_nginx_controller_name():
    """The controller Service is <fullname>-<controller.name> (ingress-nginx.controller.fullname), so a renamed
    controller is found under its name."""
    values = {"ingress-nginx": {"controller": {"name": "edge"}}}
    assert ingress_controller_service(values, "direktiv") == "direktiv-ingress-nginx-edge"


def test_v07_controller_service_name_is_truncated_to_63_characters_as_helm_renders_it():
    """ingress-nginx truncates "<fullname>-controller" as a whole to 63 characters; the tool's name must fit too."""
    name = ingress_controller_service({}, "r" * 50)
    assert len(name) <= 63, name


# -- the guard ------------------------------------------------------------------------------------------------------


def test_a_pre_release_of_v0_5_10_is_not_taken_for_the_v07_line():
    """v0.5.10-rc1 precedes v0.5.10 (SemVer), the line's first release: when in doubt the guard stops."""
    with pytest.raises(UnsupportedChart):
        identify("direktiv", "0.1.0", "v0.5.10-rc1", source=SOURCE)


def test_an_app_version_without_a_chart_version_is_enough_where_it_names_one_line():
    """--direktiv-app-version v0.7.5 alone is a modelled Direktiv (one line has it): not "a line the suite does not
    model". (Resolved by matching on the app version alone where the chart version is not given.)"""
    chart = values_chart(RunOptions(values="values.yaml", app_version="v0.7.5"), " (forbidden)")
    assert (chart.model, chart.version, chart.app_version) == ("v0.5.10-v0.7", "", "v0.7.5")
    with pytest.raises(UsageError, match="does not model"):
        values_chart(RunOptions(values="values.yaml", app_version="v0.9.0"), " (forbidden)")


@pytest.fixture(scope="module")
def v07():
    with start_sandbox("v0.7-conformant") as running:
        yield running


@pytest.mark.parametrize("chart_version, app_version", [(None, None), ("0.1.30", "v0.9.0")])
def test_values_without_a_modelled_chart_version_stop_at_check_usage_when_the_release_is_unreadable(
        v07, tmp_path, chart_version, app_version):
    """With --direktiv-values and an unreadable release (RBAC), a missing or unmodelled --direktiv-chart-version is
    the user's input: check_usage stops with one sentence (exit 4), not every test erroring later."""
    values = tmp_path / "values.yaml"
    values.write_text(v07.scenario.values_yaml)
    v07.store.forbid("secrets", "default")
    try:
        with pytest.raises(UsageError):
            check_usage(RunOptions(kubeconfig=str(v07.kubeconfig_path), timeout=TIMEOUT, values=str(values),
                                   chart_version=chart_version, app_version=app_version))
    finally:
        v07.store.clear_faults()


def test_forcing_v04_onto_a_v07_release_passes_nothing_the_release_does_not_hold(pytester, v07):
    """Forced v0.4 on a v0.7 install: K-PROTOCOL-CONSISTENT has no flow.functionsProtocol or knative to judge (the
    v0.7 release has neither), so it must not pass on the v0.4 model's defaults."""
    junit = pytester.path / "out" / "junit.xml"
    pytester.runpytest(str(SUITES), "--kubeconfig", str(v07.kubeconfig_path), "--direktiv-timeout", str(TIMEOUT),
                       f"--junitxml={junit}", "--direktiv-chart-model", "v0.4", "-k", "K-PROTOCOL-CONSISTENT")
    verdict = json.loads((junit.parent / "evidence.json").read_text())["verdicts"]["K-PROTOCOL-CONSISTENT"]
    assert verdict["cluster"]["status"] != "pass", verdict


# -- the sandbox's ingress-nginx against a real ingress-nginx v1.1.0 -------------------------------------------------


def test_sandbox_v07_without_ingress_host_serves_the_fake_certificate_for_every_name():
    """With ingress.host empty the Ingresses' rules are catch-all: ingress-nginx's default server keeps its default
    (Fake) certificate, so the sandbox must not serve the secret's certificate for "localhost"."""
    scenario = replace(V07_CONFORMANT, name="v0.7-audit-no-host", values_yaml="ingress:\n  certificate: direktiv-lb\n")
    with start_sandbox(scenario) as running:
        assert served_common_name(_lb_https(running), "localhost") == FAKE_CN


def test_sandbox_v07_serves_the_fake_certificate_when_the_secret_does_not_name_the_host():
    """ingress-nginx v1.1.0 uses its default certificate for a host the secret's certificate does not name
    (createServers' VerifyHostname); the sandbox must not serve the mismatched secret instead."""
    scenario = replace(V07_CONFORMANT, name="v0.7-audit-wrong-san", certificates=(
        CertSpec("lb", Issuer.CA, ("other.example.com",), ("digital signature", "key encipherment", "server auth")),))
    with start_sandbox(scenario) as running:
        assert served_common_name(_lb_https(running), "myhost.mydomain") == FAKE_CN


# -- reports --------------------------------------------------------------------------------------------------------


def _with_chart(document: dict, model: str, version: str, app: str) -> dict:
    new = copy.deepcopy(document)
    new["run"]["chart"] = {"name": "direktiv", "version": version, "app_version": app, "source": SOURCE,
                           "model": model, "forced": False}
    return new


def test_drift_names_a_change_of_chart_line(pki, tmp_path):  # noqa: F811
    """A baseline from another chart line is drift: the comparison says the chart and model changed, so the
    pass -> skip of every endpoint the new line lacks is explained."""
    base = make_document(pki)
    old = _with_chart(base, "v0.4", "0.1.0", "v0.4.1")
    new = _with_chart(base, "v0.5.10-v0.7", "0.1.20", "v0.7.5")
    assert compare(snapshot(old), snapshot(new)).any
    old_path, new_path = tmp_path / "old.json", tmp_path / "new.json"
    old_path.write_text(json.dumps(old))
    new_path.write_text(json.dumps(new))
    out = io.StringIO()
    drift_main([str(old_path), str(new_path)], out=out)
    assert "v0.5.10-v0.7" in out.getvalue(), out.getvalue()
