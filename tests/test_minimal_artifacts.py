"""Minimal artifacts: what the reports keep of the cluster objects is what the judgements read, so a credential in
a knative Service's environment or in an annotation never reaches a CI artifact."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

# Loaded before pytester's in-process runs (see test_suite_run.py).
import probes.controls  # noqa: F401
import probes.observe  # noqa: F401
import probes.reporting  # noqa: F401
import sandbox.cluster  # noqa: F401
from probes.kube import Cluster
from probes.minimal import minimal_object
from sandbox.cluster import start_sandbox
from sandbox.scenarios import SCENARIOS, SERVICES_NAMESPACE

pytest_plugins = ["pytester"]

SUITES = Path(__file__).resolve().parents[1] / "suites"
# Credential-looking values, each unique enough that finding it anywhere means it leaked.
ENV_SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYzLeakedEnvValue"
ANNOTATION_SECRET = "postgres://payments:Zq8-leaked-annotation-pw@db:5432/cards"
SECRETS = (ENV_SECRET, ANNOTATION_SECRET)


def leaky_scenario():
    conformant = SCENARIOS["conformant"]
    objects = replace(conformant.objects, service_env=(("AWS_SECRET_ACCESS_KEY", ENV_SECRET),),
                      annotations=(("example.com/database-url", ANNOTATION_SECRET),))
    return replace(conformant, name="conformant-with-credentials", objects=objects)


def test_the_sandbox_really_serves_the_credentials(tmp_path):
    """The test below would pass vacuously if the API never returned them."""
    with start_sandbox(leaky_scenario(), workdir=tmp_path) as running:
        cluster = Cluster.from_kubeconfig(str(running.kubeconfig_path))
        services = cluster.custom_objects("serving.knative.dev", "v1", SERVICES_NAMESPACE, "services")
        certificates = cluster.custom_objects("cert-manager.io", "v1", "default", "certificates")
    assert ENV_SECRET in json.dumps(services) and ANNOTATION_SECRET in json.dumps(services)
    assert ANNOTATION_SECRET in json.dumps(certificates)


def test_no_report_holds_a_credential_from_a_knative_service_or_a_certificate(pytester, tmp_path):
    out = pytester.path / "out"
    with start_sandbox(leaky_scenario(), workdir=tmp_path) as running:
        result = pytester.runpytest(str(SUITES), "--kubeconfig", str(running.kubeconfig_path), *running.suite_args,
                                    f"--junitxml={out / 'junit.xml'}", "--direktiv-framework", "pci-dss-4")
    assert result.ret == pytest.ExitCode.OK  # the conformant installation, judged from the trimmed objects
    texts = {name: (out / name).read_text() for name in ("junit.xml", "evidence.json", "report.html",
                                                          "results.sarif")}
    texts["terminal"] = result.stdout.str() + result.stderr.str()
    for name, text in texts.items():
        for secret in SECRETS:
            assert secret not in text, f"{name} holds a credential from the cluster objects"
        assert "AWS_SECRET_ACCESS_KEY" not in text and "example.com/database-url" not in text, name
    objects = json.loads(texts["evidence.json"])["objects"]
    services = objects["knative-services"]["value"]
    assert [s["metadata"]["name"] for s in services] == ["greeting", "hello-world"]  # the hosts are still there
    assert all(set(s) == {"metadata", "status"} for s in services)
    certificates = objects["certificates"]["value"]
    assert certificates and all(set(c["metadata"]) <= {"name", "namespace"} for c in certificates)
    assert all(c["status"]["renewalTime"] and c["spec"]["issuerRef"]["name"] for c in certificates)


def test_minimal_object_keeps_only_judged_fields():
    service = {"metadata": {"name": "greeting", "namespace": "ns", "annotations": {"a": ANNOTATION_SECRET},
                            "labels": {"l": "v"}},
               "spec": {"template": {"spec": {"containers": [{"env": [{"name": "K", "value": ENV_SECRET}]}]}}},
               "status": {"url": "http://greeting.ns.svc", "conditions": [{"type": "Ready", "status": "True",
                                                                            "extra": {"x": ENV_SECRET}}]}}
    kept = minimal_object("knative-services", [service])
    assert kept == [{"metadata": {"name": "greeting", "namespace": "ns"},
                     "status": {"url": "http://greeting.ns.svc", "conditions": [{"type": "Ready", "status": "True"}]}}]
    issuer = {"metadata": {"name": "le"}, "spec": {"acme": {"server": "https://acme/dir", "email": "ops@x",
                                                            "privateKeySecretRef": {"name": "k"}}}}
    assert minimal_object("clusterissuers", [issuer]) == [
        {"metadata": {"name": "le"}, "spec": {"acme": {"server": "https://acme/dir"}}, "status": {"conditions": []}}]
    assert minimal_object("config-contour", {"default-tls-secret": "a/b", "other": ENV_SECRET}) == {
        "default-tls-secret": "a/b"}
    assert minimal_object("something-else", {"k": ENV_SECRET}) is None
    # a nested value under a kept key does not slip through
    assert minimal_object("certificates", [{"spec": {"secretName": {"nested": ENV_SECRET}}}])[0]["spec"] == {}
