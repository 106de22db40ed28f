"""A wrong target is a usage error: before collection the run checks that the release namespace exists, that the
release exists in it (unless --direktiv-values gives the expectation) and that a given services namespace exists,
and otherwise stops with exit status 4 and one sentence listing what does exist. What the API server cannot answer
(RBAC) is left to the run."""

from dataclasses import replace
from pathlib import Path

import pytest

from probes.errors import UsageError
from probes.kube import Cluster, ReleaseRef
from probes.session import RunOptions, check_target, check_usage
from sandbox.cluster import start_sandbox

SUITES = Path(__file__).resolve().parents[1] / "suites"
# Generous: the sandbox answers in milliseconds, a busy machine may take a while.
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def conformant():
    with start_sandbox("conformant") as running:
        yield running


@pytest.fixture
def options(conformant):
    yield RunOptions(kubeconfig=str(conformant.kubeconfig_path), timeout=TIMEOUT)
    conformant.store.clear_faults()


def _sentence(options) -> str:
    with pytest.raises(UsageError) as caught:
        check_usage(options)
    text = str(caught.value)
    assert "\n" not in text and text.endswith(".")
    return text


def test_the_sandboxs_release_passes(options):
    check_usage(options)  # no UsageError


def test_the_cluster_lists_namespaces_and_helm_releases_from_labels(conformant):
    with Cluster.from_kubeconfig(conformant.kubeconfig_path) as cluster:
        assert cluster.namespace_exists("default") and not cluster.namespace_exists("wrong")
        assert {"default", "kube-system", "cert-manager", "direktiv-services-direktiv"} <= set(cluster.namespaces())
        assert cluster.helm_releases(None) == [ReleaseRef("default", "direktiv", "deployed", 1)]
        assert cluster.helm_releases("default", name="other") == []


def test_a_wrong_namespace_lists_the_namespaces_and_releases(options):
    text = _sentence(replace(options, namespace="wrong"))
    assert text.startswith("The release namespace 'wrong' (--direktiv-namespace) does not exist")
    assert "namespaces there: cert-manager, contour-external" in text
    assert "Helm releases: default/direktiv (deployed)" in text


def test_a_wrong_release_lists_the_releases_there(options):
    text = _sentence(replace(options, release="wrong"))
    assert text.startswith("There is no deployed Helm release 'wrong' (--direktiv-release) in namespace default")
    assert "Helm releases in default: default/direktiv (deployed)" in text
    assert "--direktiv-values FILE" in text


def test_a_namespace_without_releases_lists_the_clusters(options):
    text = _sentence(replace(options, namespace="cert-manager"))
    assert "Helm releases in cert-manager: none; Helm releases in the cluster: default/direktiv (deployed)" in text


def test_a_wrong_services_namespace_lists_the_namespaces(options):
    text = _sentence(replace(options, services_namespace="wrong-svc"))
    assert text.startswith("The services namespace 'wrong-svc' (--direktiv-services-namespace) does not exist")
    assert "direktiv-services-direktiv" in text and "create it" not in text


def test_values_stand_in_for_a_missing_release(options, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("flow: {}\n")
    check_usage(replace(options, release="wrong", values=str(values), chart_version="0.1.0",
                        app_version="v0.4.1"))  # the expectation comes from the file


def test_values_without_a_chart_version_cannot_say_which_direktiv_they_describe(options, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("flow: {}\n")
    text = _sentence(replace(options, release="wrong", values=str(values)))
    assert text.startswith("The Helm release default/wrong cannot be read (there is no deployed release of that name)")
    assert "pass --direktiv-chart-version" in text
    check_usage(replace(options, release="wrong", values=str(values), chart_model="v0.4"))  # a forced model will do


def test_a_release_that_is_not_deployed_is_not_the_target(conformant, options):
    secret = next(s for s in conformant.store.list("", "secrets", "default")[0]
                  if s["metadata"]["name"].startswith("sh.helm.release.v1.direktiv."))
    failed = {**secret, "metadata": {**secret["metadata"], "labels": {**secret["metadata"]["labels"],
                                                                      "status": "failed"}}}
    conformant.store.add(failed)
    try:
        text = _sentence(options)
        assert "Helm releases in default: default/direktiv (failed)" in text
    finally:
        conformant.store.add(secret)


def test_what_rbac_hides_is_left_to_the_run(conformant, options):
    conformant.store.forbid("namespaces")
    conformant.store.forbid("secrets", "default")
    with Cluster.from_kubeconfig(options.kubeconfig) as cluster:
        check_target(cluster, replace(options, namespace="wrong", release="wrong"))  # cannot be told: no error


@pytest.mark.parametrize("option, value, start", [
    ("--direktiv-namespace", "wrong", "ERROR: The release namespace 'wrong' (--direktiv-namespace) does not exist"),
    ("--direktiv-release", "wrong", "ERROR: There is no deployed Helm release 'wrong' (--direktiv-release)"),
    ("--direktiv-services-namespace", "wrong-svc",
     "ERROR: The services namespace 'wrong-svc' (--direktiv-services-namespace) does not exist"),
])
def test_the_suite_stops_with_exit_status_4_and_one_sentence(pytester, option, value, start):
    result = pytester.runpytest(str(SUITES), "--direktiv-sandbox", "conformant", option, value)
    text = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert "Traceback" not in text and "collected" not in text
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(start), errors
    assert not pytester.path.joinpath("reports").exists()
