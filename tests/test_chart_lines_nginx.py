"""The ingress-nginx chart lines (v0.5.10 to v0.7.x; v0.8.x at the end) end to end: the topology from the values,
what a run says about the endpoints the chart has no TLS setting for, what the strict profile makes of them, and the
fixes the lb's failures name (ingress-nginx's Fake Certificate and ConfigMap)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from probes.catalog import CONTROLS
from probes.chartlines import MODEL_V07, chart_line
from probes.controls import Status, judge
from probes.helm import deep_merge
from probes.profile import INTERMEDIATE, STRICT
from probes.report import protection_banner, protection_off
from probes.session import RunOptions, gather_evidence
from probes.topology import ENDPOINT_IDS, Mode, derive_topology
from sandbox.cluster import start_sandbox
from sandbox.scenarios import SCENARIOS

TIMEOUT = 10.0
DEFAULTS = chart_line(MODEL_V07).defaults()


def _topology(values: dict):
    return derive_topology(deep_merge(DEFAULTS, values), model=MODEL_V07)


def test_the_chart_defaults_expect_a_plaintext_lb_and_no_secret():
    topology = _topology({})
    lb = topology.endpoint("lb")
    assert (lb.mode, lb.port, lb.secret, lb.redirect_port) == (Mode.PLAINTEXT, 80, None, None)
    assert (lb.namespace, lb.service) == ("default", "direktiv-ingress-nginx-controller")
    assert topology.secrets == () and [e.id for e in topology.endpoints] == ["lb"]
    assert {e for e, _ in topology.absent} == set(ENDPOINT_IDS) - {"lb"}


def test_the_install_docs_values_expect_tls_on_the_lb_with_its_secret_and_redirect():
    topology = _topology({"ingress": {"host": "direktiv.example.com", "certificate": "direktiv-lb"}})
    lb = topology.endpoint("lb")
    assert (lb.mode, lb.port, lb.redirect_port, lb.server_name) == (Mode.TLS, 443, 80, "direktiv.example.com")
    assert [(s.name, s.namespaces) for s in topology.secrets] == [("direktiv-lb", ("default",))]
    assert "ingress-nginx.controller.config" in lb.tls_settings


def test_a_release_in_another_namespace_finds_its_controller_there():
    topology = derive_topology(deep_merge(DEFAULTS, {"ingress": {"certificate": "tls", "host": "h"}}), model=MODEL_V07,
                               release="dk", namespace="direktiv")
    lb = topology.endpoint("lb")
    assert (lb.namespace, lb.service, lb.secret.namespace) == ("direktiv", "dk-ingress-nginx-controller", "direktiv")


def test_every_cluster_control_about_contour_knative_or_job_pods_is_out_of_the_line():
    topology = _topology({"ingress": {"host": "h", "certificate": "direktiv-lb"}})
    assert not any(x.applies for x in (topology.functions_ca, topology.delegation, topology.contour_default_tls,
                                       topology.protocol, topology.init_pod_san))
    assert topology.ca_groups == ()


def test_the_banner_names_the_endpoints_without_a_tls_setting():
    off = protection_off(_topology({"ingress": {"host": "h", "certificate": "direktiv-lb"}}))
    assert off == {"tls": [], "mtls": [], "unjudged": [e for e in ENDPOINT_IDS if e != "lb"]}
    banner = protection_banner(off)
    assert banner.startswith("this chart line has no TLS setting for api, ui, ingress-grpc, flow-grpc, "
                             "functions-grpc, knative: they are not judged")


@pytest.fixture(scope="module")
def evidence_of():
    """Evidence of a v0.7 scenario (gathered once per scenario)."""
    cache = {}

    def gather(name: str):
        if name not in cache:
            with start_sandbox(name) as running:
                options = RunOptions(kubeconfig=str(running.kubeconfig_path), timeout=TIMEOUT)
                cache[name] = gather_evidence(options, INTERMEDIATE)
        return cache[name]
    return gather


def test_the_strict_profile_makes_every_unjudged_endpoints_mode_an_error(evidence_of):
    evidence = evidence_of("v0.7-conformant")
    for endpoint in ENDPOINT_IDS:
        verdict = judge("T-MODE-MATCHES-CONFIG", endpoint, evidence, STRICT)
        if endpoint == "lb":
            assert verdict.status is Status.PASS, verdict.message
        else:
            assert verdict.status is Status.ERROR, verdict.message
            assert verdict.message.startswith(f"the profile 'strict' demands ")
            assert "has no TLS setting for it" in verdict.message
        relaxed = judge("T-MODE-MATCHES-CONFIG", endpoint, evidence, INTERMEDIATE)
        assert relaxed.status is (Status.PASS if endpoint == "lb" else Status.SKIP), relaxed.message


def test_every_control_on_an_unjudged_endpoint_skips_with_the_lines_reason(evidence_of):
    evidence = evidence_of("v0.7-conformant")
    for control in CONTROLS:
        for endpoint in ENDPOINT_IDS:
            if endpoint == "lb" or endpoint not in control.endpoints:
                continue
            verdict = judge(control.id, endpoint, evidence, INTERMEDIATE)
            assert verdict.status is Status.SKIP, (control.id, endpoint, verdict.message)
            assert "v0.5.10 to v0.7.x" in verdict.message and "neither locates nor probes" in verdict.message


@pytest.mark.parametrize("name, control", [
    ("v0.7-lb-cert-wrong-host", "C-SAN-MATCH"), ("v0.7-lb-secret-missing", "C-SAN-MATCH"),
    ("v0.7-lb-cert-wrong-host", "C-CHAIN-TRUSTED"), ("v0.7-lb-cert-wrong-host", "C-SERVED-MATCHES-SECRET"),
    ("v0.7-lb-cert-wrong-host", "C-X509-STRICT"), ("v0.7-lb-secret-missing", "C-CHAIN-TRUSTED")])
def test_a_served_fake_certificate_points_at_the_secret_not_at_reissuing(evidence_of, name, control):
    verdict = judge(control, "lb", evidence_of(name), INTERMEDIATE)
    assert verdict.status in (Status.FAIL, Status.ERROR)
    assert "ingress-nginx serves its Fake Certificate here" in verdict.message, verdict.message
    assert "reissue it" not in verdict.message and "restart it" not in verdict.message


def test_legacy_versions_name_the_ingress_nginx_configmap(evidence_of):
    verdict = judge("T-LEGACY-PROTOCOLS-REFUSED", "lb", evidence_of("v0.7-lb-accepts-tls10"), INTERMEDIATE)
    assert verdict.status is Status.FAIL
    assert "ssl-protocols and ssl-ciphers under ingress-nginx.controller.config" in verdict.message


def test_with_the_controller_not_installed_every_lb_control_is_an_error(evidence_of):
    scenario = replace(SCENARIOS["v0.7-conformant"], name="v0.7-external-controller",
                       values_yaml=SCENARIOS["v0.7-conformant"].values_yaml + "ingress-nginx:\n  install: false\n")
    with start_sandbox(scenario) as running:
        evidence = gather_evidence(RunOptions(kubeconfig=str(running.kubeconfig_path), timeout=TIMEOUT), INTERMEDIATE)
    for control in CONTROLS:
        if "lb" in control.endpoints:
            verdict = judge(control.id, "lb", evidence, INTERMEDIATE)
            assert verdict.status is Status.ERROR, (control.id, verdict.message)
            assert "ingress-nginx.install is false" in verdict.message


# -- the line v0.8.x: the same load balancer, another off value ------------------------------------------------------

V08_DEFAULTS = chart_line("v0.8").defaults()


def _v08(values: dict):
    return derive_topology(deep_merge(V08_DEFAULTS, values), model="v0.8")


def test_v08_defaults_leave_the_lb_in_plaintext_because_the_certificate_is_empty():
    lb = _v08({}).endpoint("lb")
    assert (lb.mode, lb.secret, lb.service) == (Mode.PLAINTEXT, None, "direktiv-ingress-nginx-controller")
    assert lb.explanation.endswith("ingress.certificate is empty")


def test_v08_reads_none_as_a_secret_named_none_and_says_so():
    topology = _v08({"ingress": {"host": "h", "certificate": "none"}})
    lb = topology.endpoint("lb")
    assert (lb.mode, lb.secret.name) == (Mode.TLS, "none")
    assert any("reads as the name of a secret" in n for n in topology.notices)
    assert _topology({"ingress": {"host": "h", "certificate": "none"}}).endpoint("lb").mode is Mode.PLAINTEXT  # v0.7


def test_v08_names_the_frontend_certificate_as_served_by_nothing():
    topology = _v08({"ingress": {"host": "h", "certificate": "direktiv-lb"}, "frontend": {"certificate": "fe"}})
    assert any(n.startswith("frontend.certificate names a secret, but no server of the chart line v0.8.x")
               for n in topology.notices)
    assert [s.name for s in topology.secrets] == ["direktiv-lb"] and topology.model == "v0.8"
    assert all("v0.8.x" in why for _, why in topology.absent)


def test_v08_none_served_as_the_fake_certificate_fails_the_secret_and_the_names(evidence_of):
    evidence = evidence_of("v0.8-certificate-none")
    assert judge("K-SECRET-PRESENT", "cluster", evidence, INTERMEDIATE).status is Status.FAIL
    verdict = judge("C-SAN-MATCH", "lb", evidence, INTERMEDIATE)
    assert verdict.status is Status.FAIL and "ingress-nginx serves its Fake Certificate here" in verdict.message
