"""Bad user input stops the run before collection with one sentence and pytest's usage exit status (4); the plugin
stays out of runs that do not collect the suite, and out of --help and --collect-only."""

import pytest

from probes.plugin import SUITE_MARKER

SUITE = """
from probes.suite import check, control

@control("K-SECRET-PRESENT")
def test_secrets(verdict):
    check(verdict)
"""

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:9"}
users:
- name: u
  user: {token: abc}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
"""


@pytest.fixture
def suite_dir(pytester, monkeypatch):
    monkeypatch.setenv("HOME", str(pytester.path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    pytester.makepyfile(test_conformance=SUITE)
    pytester.makeconftest(SUITE_MARKER)
    pytester.path.joinpath("kubeconfig").write_text(KUBECONFIG)
    return pytester


def _usage_error(result, *fragments):
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stderr.str() + result.stdout.str()
    assert "Traceback" not in text
    for fragment in fragments:
        assert fragment in text, text


def test_missing_kubeconfig(suite_dir):
    result = suite_dir.runpytest("--kubeconfig", "nowhere.yaml")
    _usage_error(result, "nowhere.yaml")


def test_default_kubeconfig_missing_says_where_it_looked(suite_dir):
    result = suite_dir.runpytest("-p", "no:cacheprovider", str(suite_dir.path / "test_conformance.py"),
                                 "--context", "x", "--kubeconfig", str(suite_dir.path / ".kube" / "config"))
    _usage_error(result, ".kube")


def test_garbage_kubeconfig(suite_dir):
    suite_dir.path.joinpath("garbage").write_text("::: not yaml [")
    _usage_error(suite_dir.runpytest("--kubeconfig", "garbage"), "garbage")


def test_unknown_context(suite_dir):
    _usage_error(suite_dir.runpytest("--kubeconfig", "kubeconfig", "--context", "prod"), "prod", "ctx")


def test_unreadable_values_file(suite_dir):
    _usage_error(suite_dir.runpytest("--kubeconfig", "kubeconfig", "--direktiv-values", "missing.yaml"), "missing.yaml")


def test_values_file_that_is_not_a_mapping(suite_dir):
    suite_dir.path.joinpath("values.yaml").write_text("- a\n- b\n")
    _usage_error(suite_dir.runpytest("--kubeconfig", "kubeconfig", "--direktiv-values", "values.yaml"), "values.yaml")


def test_profile_with_unknown_key(suite_dir):
    suite_dir.path.joinpath("profile.yaml").write_text("min_versoin: TLSv1.3\n")
    _usage_error(suite_dir.runpytest("--kubeconfig", "kubeconfig", "--direktiv-profile", "profile.yaml"), "min_versoin")


def test_ca_key_secret_must_be_namespace_slash_name(suite_dir):
    _usage_error(suite_dir.runpytest("--kubeconfig", "kubeconfig", "--direktiv-ca-key-secret", "direktiv-ca"), "NAMESPACE/NAME")


def test_ca_file_without_certificates(suite_dir):
    suite_dir.path.joinpath("ca.pem").write_text("not a certificate")
    _usage_error(suite_dir.runpytest("--kubeconfig", "kubeconfig", "--direktiv-ca-file", "ca.pem"), "ca.pem")


def test_ca_file_for_an_unknown_endpoint(suite_dir):
    suite_dir.path.joinpath("ca.pem").write_text("not a certificate")
    _usage_error(suite_dir.runpytest("--kubeconfig", "kubeconfig", "--direktiv-ca-file", "edge=ca.pem"),
                 "'edge' in 'edge=ca.pem' is no endpoint ID", "lb, api")


def test_ca_file_for_one_endpoint_that_cannot_be_read(suite_dir):
    _usage_error(suite_dir.runpytest("--kubeconfig", "kubeconfig", "--direktiv-ca-file", "lb=missing.pem"),
                 "--direktiv-ca-file lb=missing.pem: missing.pem cannot be read")


def test_ca_file_for_one_endpoint_without_certificates(suite_dir):
    suite_dir.path.joinpath("ca.pem").write_text("not a certificate")
    _usage_error(suite_dir.runpytest("--kubeconfig", "kubeconfig", "--direktiv-ca-file", "ca.pem", "--direktiv-ca-file", "lb=ca.pem"),
                 "--direktiv-ca-file ca.pem holds no PEM certificate")


def test_unknown_sandbox_scenario(suite_dir):
    _usage_error(suite_dir.runpytest("--direktiv-sandbox", "no-such-scenario"), "no-such-scenario", "conformant")


def test_a_namespace_that_is_no_kubernetes_name(suite_dir):
    _usage_error(suite_dir.runpytest("--kubeconfig", "kubeconfig", "--direktiv-namespace", "Wrong_NS"),
                 "'Wrong_NS' cannot be a Kubernetes namespace")


def test_plugin_stays_out_of_ordinary_runs(pytester):
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    result = pytester.runpytest()
    assert result.ret == 0
    assert not pytester.path.joinpath("reports").exists()


def test_a_folder_named_suites_is_not_the_suite(pytester):
    pytester.mkdir("suites").joinpath("test_plain.py").write_text("def test_ok():\n    assert True\n")
    result = pytester.runpytest("suites")
    assert result.ret == 0
    result.assert_outcomes(passed=1)
    assert not pytester.path.joinpath("reports").exists()


def test_our_options_in_a_run_without_the_suite_are_one_usage_error(pytester):
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    result = pytester.runpytest("--kubeconfig", "x.yaml", "--direktiv-namespace=direktiv")
    _usage_error(result, "--kubeconfig, --direktiv-namespace configure the Direktiv TLS conformance suite, which "
                         "this run does not collect")
    assert len([line for line in result.stderr.lines if line.startswith("ERROR:")]) == 1
    assert not pytester.path.joinpath("reports").exists()


@pytest.mark.parametrize("inspect", ["--collect-only", "--help", "--fixtures", "--markers"])
def test_inspecting_the_suite_contacts_no_cluster_and_writes_no_report(suite_dir, inspect):
    # a kubeconfig whose API server refuses and a sandbox that would take seconds: neither is touched
    result = suite_dir.runpytest(inspect, "--kubeconfig", "kubeconfig", "--direktiv-sandbox", "conformant")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    assert not suite_dir.path.joinpath("reports").exists()
    if inspect == "--collect-only":
        result.stdout.fnmatch_lines(["*test_secrets*"])
    if inspect == "--help":
        result.stdout.fnmatch_lines(["*--kubeconfig=PATH*", "*--direktiv-namespace=NS*"])
