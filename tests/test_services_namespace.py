"""The services namespace follows the values' functions.namespace unless --direktiv-services-namespace overrides it, and
the run says which one it used and where it came from."""

from pathlib import Path

import pytest

from probes.catalog import CONTROLS
from probes.controls import Status, judge
from probes.profile import INTERMEDIATE
from probes.session import RunOptions, gather_evidence
from probes.topology import NamespaceSource, derive_topology, services_namespace_notice
from sandbox.cluster import start_sandbox

# Imported here so pytester's in-process runs find them loaded (see test_suite_run.py).
import probes.observe  # noqa: F401
import probes.reporting  # noqa: F401

SUITES = Path(__file__).resolve().parents[1] / "suites"
SCENARIO = "services-namespace-from-values"
STEP_TIMEOUT = 5.0


# -------------------------------------------------------------------------------------------------- the choice


def test_values_namespace_is_used_when_none_is_given():
    topology = derive_topology({"functions": {"namespace": "fn-space"}})
    assert topology.services_namespace == "fn-space"
    assert topology.services_namespace_source is NamespaceSource.VALUES
    assert services_namespace_notice(topology) == (
        "the services namespace is fn-space, from the values' functions.namespace")


def test_a_given_namespace_overrides_the_values_and_says_so():
    topology = derive_topology({"functions": {"namespace": "fn-space"}}, services_namespace="other")
    assert topology.services_namespace == "other"
    assert topology.services_namespace_source is NamespaceSource.GIVEN
    assert services_namespace_notice(topology) == "the services namespace is other, as given by --direktiv-services-namespace"
    assert any("functions.namespace to fn-space" in n for n in topology.notices)


def test_without_values_or_option_the_builtin_default_is_named():
    topology = derive_topology({})
    assert topology.services_namespace == "direktiv-services-direktiv"
    assert topology.services_namespace_source is NamespaceSource.DEFAULT
    notice = services_namespace_notice(topology)
    assert "built-in default" in notice and "--direktiv-services-namespace" in notice


def test_everything_namespaced_follows_the_chosen_namespace():
    values = {"flow": {"functionsProtocol": "https", "functionsCA": "kn",
                       "certificates": {"flow": "fl"}},
              "functions": {"namespace": "fn-space", "initPodCertificate": "pod"}}
    topology = derive_topology(values)
    assert topology.secret("fl").namespaces == ("default", "fn-space")
    assert topology.secret("pod").namespaces == ("fn-space",)
    assert topology.endpoint("knative").server_name == "conformance-probe.fn-space"
    assert topology.init_pod_san.patterns == ("*.fn-space.pod",)
    assert "fn-space" in topology.delegation.target_namespaces


# ------------------------------------------------------------------------------------------- against a sandbox


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SCENARIO) as running:
        yield running


def _gather(running, **options):
    options = RunOptions(kubeconfig=str(running.kubeconfig_path), ca_key_secret=("cert-manager", "direktiv-ca"),
                         timeout=STEP_TIMEOUT, **options)
    return gather_evidence(options, INTERMEDIATE)


def test_without_the_option_the_run_finds_everything_in_the_values_namespace(sandbox):
    evidence = _gather(sandbox)
    assert evidence.topology.services_namespace == "my-functions"
    assert "the services namespace is my-functions, from the values' functions.namespace" in evidence.notices
    assert evidence.objects["knative-services"].what == "knative Services in my-functions"
    assert evidence.endpoints["knative"].hosts == ("greeting.my-functions", "hello-world.my-functions")
    assert evidence.secret("my-functions", "direktiv-cert-pod").found
    verdicts = {(c.id, e): judge(c.id, e, evidence, INTERMEDIATE) for c in CONTROLS for e in c.endpoints}
    broken = {k: v.message for k, v in verdicts.items() if v.status in (Status.FAIL, Status.ERROR)}
    assert not broken


def test_the_option_overrides_the_values_and_a_wrong_one_fails_honestly(sandbox):
    evidence = _gather(sandbox, services_namespace="direktiv-services-direktiv")
    assert evidence.topology.services_namespace == "direktiv-services-direktiv"
    assert ("the services namespace is direktiv-services-direktiv, as given by --direktiv-services-namespace"
            in evidence.notices)
    present = judge("K-SECRET-PRESENT", "cluster", evidence, INTERMEDIATE)
    assert present.status is Status.FAIL
    assert "secret direktiv-services-direktiv/direktiv-cert-pod is missing" in present.message
    # No knative service there: no host to cover, and the probe name the internal Contour refuses proves nothing.
    assert evidence.endpoints["knative"].hosts == ()
    assert judge("N-SNI-COVERAGE", "knative", evidence, INTERMEDIATE).status is Status.SKIP
    assert judge("T-TLS-HANDSHAKE", "knative", evidence, INTERMEDIATE).status is Status.ERROR


def test_the_suite_prints_which_namespace_it_used(pytester):
    result = pytester.runpytest(str(SUITES), "--direktiv-sandbox", SCENARIO, f"--junitxml={pytester.path / 'junit.xml'}",
                                "-k", "K-SECRET-PRESENT or knative")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*notice: the services namespace is my-functions, from the values' functions.namespace*"])
