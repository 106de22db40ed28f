"""The options (probes.options): one prefix for all of ours, each value checked once by its type= callable."""

import argparse

import pytest

from probes.options import OPTIONS, given_options, namespaced_name_argument, profile_option, run_options
from probes.profile import STRICT


def test_every_option_but_kubectls_two_carries_the_prefix():
    flags = [o.flag for o in OPTIONS]
    assert [f for f in flags if not f.startswith("--direktiv-")] == ["--kubeconfig", "--context"]
    assert len(set(o.dest for o in OPTIONS)) == len(OPTIONS)


def test_given_options_are_found_in_both_spellings():
    args = ["suites/", "--kubeconfig=kc", "-k", "lb", "--direktiv-namespace", "x", "--timeout", "5", "--kubeconfig", "y"]
    assert given_options(args) == ["--kubeconfig", "--direktiv-namespace"]  # pytest-timeout's --timeout is not ours


@pytest.mark.parametrize("flag, value, message", [
    ("--direktiv-namespace", "Wrong_NS", "cannot be a Kubernetes namespace"),
    ("--direktiv-namespace", "a" * 64, "at most 63"),
    ("--direktiv-release", "-direktiv", "cannot be a Helm release name"),
    ("--direktiv-timeout", "0", "positive number of seconds"),
    ("--direktiv-budget", "soon", "expected a number of seconds"),
    ("--direktiv-profile", "modern", "neither a built-in profile"),
])
def test_a_bad_value_is_refused_by_its_type(flag, value, message):
    option = next(o for o in OPTIONS if o.flag == flag)
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        option.type(value)


def test_the_parsed_options_become_run_options():
    parser = argparse.ArgumentParser()
    for o in OPTIONS:
        parser.add_argument(o.flag, dest=o.dest, default=o.default, type=o.type,
                            action="append" if o.append else "store")
    parsed = parser.parse_args(["--direktiv-namespace", "direktiv", "--direktiv-ca-key-secret", "cm/ca",
                                "--direktiv-profile", "strict", "--direktiv-ca-file", "lb=root.pem"])
    options = run_options(parsed)
    assert (options.namespace, options.release, options.timeout, options.budget) == ("direktiv", "direktiv", 5.0, None)
    assert options.ca_key_secret == ("cm", "ca") and options.ca_files == (("lb", "root.pem"),)
    assert profile_option(parsed) is STRICT
    assert profile_option(parser.parse_args([])).name == "intermediate"


def test_a_ca_key_secret_needs_namespace_and_name():
    with pytest.raises(argparse.ArgumentTypeError, match="NAMESPACE/NAME"):
        namespaced_name_argument("direktiv-ca")
