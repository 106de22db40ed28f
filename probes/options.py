"""The suite's command-line options: their names, their checks, and the :class:`~probes.session.RunOptions` they
make.

Every option of ours carries the ``--direktiv-`` prefix, so that it cannot collide with another plugin's (pytest-timeout
registers ``--timeout``, for one). ``--kubeconfig`` and ``--context`` keep kubectl's names: no well-known pytest
plugin registers them (pytest-kubernetes uses ``--k8s-kubeconfig``, kubetest and pytest-helm-charts
``--kube-config``/``--kube-context``, pytest-kind and pytest-operator neither). Each value is checked once, while
pytest parses the command line, by a ``type=`` callable that raises ``argparse.ArgumentTypeError``: pytest then stops
before collection with one ``ERROR:`` line and exit status 4.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass

import pytest

from probes.chartlines import MODEL_NAMES
from probes.errors import UsageError
from probes.profile import Profile, load_profile
from probes.session import RunOptions

__all__ = ["GROUP", "OPTION_FLAGS", "Option", "OPTIONS", "CONNECT_CHOICES", "Baseline", "add_options", "given_options",
           "run_options", "profile_option", "ca_file_argument", "namespaced_name_argument"]

GROUP = "direktiv-tls-conformance"
# The defaults: Direktiv's chart installs release "direktiv" into "default"; five seconds per network step is
# generous for a port-forward on a healthy cluster and short enough that a hung server costs little.
DEFAULT_NAMESPACE = "default"
DEFAULT_RELEASE = "direktiv"
DEFAULT_PROFILE = "intermediate"
DEFAULT_TIMEOUT = 5.0

# Kubernetes names: a namespace is a DNS-1123 label, a Helm release a DNS-1123 subdomain of at most 53 characters.
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_NAMESPACE_RE = re.compile(rf"^{_LABEL}$")
_RELEASE_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_NAMESPACE_MAX, _RELEASE_MAX = 63, 53


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, given: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, given: {text!r}")
    return value


def _namespace(text: str) -> str:
    if len(text) > _NAMESPACE_MAX or not _NAMESPACE_RE.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} cannot be a Kubernetes namespace (lower-case letters, digits and '-', at most 63)")
    return text


def _release(text: str) -> str:
    if len(text) > _RELEASE_MAX or not _RELEASE_RE.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} cannot be a Helm release name (lower-case letters, digits, '-' and '.', at most 53)")
    return text


def namespaced_name_argument(text: str) -> tuple[str, str]:
    ns, sep, name = text.partition("/")
    if not sep or not ns or not name or "/" in name:
        raise argparse.ArgumentTypeError(f"expected NAMESPACE/NAME (e.g. cert-manager/direktiv-ca), given: {text!r}")
    return ns, name


def ca_file_argument(text: str) -> tuple[str | None, str]:
    from probes.trust import parse_ca_file_option

    try:
        return parse_ca_file_option(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _profile(text: str) -> Profile:
    try:
        return load_profile(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass(frozen=True)
class Option:
    """One command-line option.

    Attributes:
        flag: the long flag, e.g. ``--direktiv-namespace``.
        metavar: how its value is shown in ``--help``.
        help: what it does; ``--help`` appends the default.
        default: the value when the option is not given (strings pass through ``type`` as given ones do).
        type: the check and conversion of a given value, or None to keep the text.
        append: the option may be repeated, each value appended to a list.
    """

    flag: str
    metavar: str
    help: str
    default: object = None
    type: object = None
    append: bool = False

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


# How the probes reach a pod: through the API server's port-forward (from anywhere), or straight to the pod's IP
# (from inside the cluster: a Job, a CronJob, a Helm test; see deploy/).
CONNECT_CHOICES = ("port-forward", "direct")


def _connect(text: str) -> str:
    if text not in CONNECT_CHOICES:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(CONNECT_CHOICES)}, given: {text!r}")
    return text


def _framework_name(text: str) -> str:
    from probes.catalog import framework

    try:
        return framework(text).name
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _chart_version(text: str) -> str:
    from probes.chartlines import is_chart_version

    if not is_chart_version(text):
        raise argparse.ArgumentTypeError(f"expected a version such as 0.1.20 or v0.7.5 (helm list shows it), given: "
                                         f"{text!r}")
    return text


def _chart_model(text: str) -> str:
    from probes.chartlines import chart_line

    try:
        return chart_line(text).model
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass(frozen=True)
class Baseline:
    """An earlier run's evidence file, read for the comparison.

    Attributes:
        path: the file as given.
        snapshot: what the comparison keeps of it (:class:`probes.drift.Snapshot`).
    """

    path: str
    snapshot: object


def _baseline(text: str) -> Baseline:
    from probes.drift import EvidenceFileError, load_snapshot

    try:
        return Baseline(text, load_snapshot(os.path.expanduser(text)))
    except EvidenceFileError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


OPTIONS: tuple[Option, ...] = (
    Option("--kubeconfig", "PATH", "kubeconfig of the cluster to check. Default: $KUBECONFIG, then ~/.kube/config"),
    Option("--context", "NAME", "kubeconfig context. Default: the current one"),
    Option("--direktiv-namespace", "NS", "namespace of the Direktiv release. Default: %(default)r",
           DEFAULT_NAMESPACE, _namespace),
    Option("--direktiv-release", "NAME", "Helm release name. Default: %(default)r", DEFAULT_RELEASE, _release),
    Option("--direktiv-services-namespace", "NS",
           "namespace of Direktiv's knative and pod services, overriding the values' functions.namespace. "
           "Default: functions.namespace, else 'direktiv-services-direktiv'", None, _namespace),
    Option("--direktiv-values", "FILE",
           "Helm values on top of the release's (or the whole expectation when the release cannot be read). "
           "Default: none"),
    Option("--direktiv-chart-version", "VERSION",
           "the installation's chart version, when the release cannot be read and --direktiv-values gives the "
           "expectation. Default: the release's", None, _chart_version),
    Option("--direktiv-app-version", "VERSION",
           "the installation's Direktiv version (helm list's APP VERSION), when the release cannot be read; alone "
           "or with --direktiv-chart-version. Default: the release's", None, _chart_version),
    Option("--direktiv-chart-model", "MODEL",
           f"judge against this chart line's model whatever the release's chart is ({', '.join(MODEL_NAMES)}). "
           "Default: the model of the release's chart line", None, _chart_model),
    Option("--direktiv-ca-file", "[ENDPOINT=]PEM",
           "trust anchors instead of the secrets' ca.crt (or the system trust store): PEM for every endpoint, "
           "ENDPOINT=PEM (e.g. lb=root.pem) for one; repeatable. Default: none", None, ca_file_argument, append=True),
    Option("--direktiv-ca-key-secret", "NS/NAME",
           "CA secret whose key mints an expired and a no-clientAuth client certificate (memory only). "
           "Default: none", None, namespaced_name_argument),
    Option("--direktiv-profile", "NAME|FILE",
           "TLS profile: 'intermediate', 'strict' (also TLS on every endpoint and mTLS on the gRPC ports, whatever "
           "the values say) or a YAML file overriding intermediate's keys. Default: %(default)r",
           DEFAULT_PROFILE, _profile),
    Option("--direktiv-timeout", "SECONDS", "limit for each network step. Default: %(default)r", DEFAULT_TIMEOUT,
           _positive_seconds),
    Option("--direktiv-budget", "SECONDS", "limit for the whole evidence gathering. Default: none", None,
           _positive_seconds),
    Option("--direktiv-connect", "HOW",
           "how the probes reach each pod: 'port-forward' through the Kubernetes API, or 'direct' to the pod's IP "
           "(from inside the cluster). Default: %(default)r", CONNECT_CHOICES[0], _connect),
    Option("--direktiv-framework", "NAME",
           "add a per-requirement view of this framework to every report (nist-800-52r2, pci-dss-4, bsi-tr-02102-2, "
           "cis-kubernetes). Default: none", None, _framework_name),
    Option("--direktiv-baseline", "PATH",
           "an earlier run's evidence.json: every report says what changed since. Default: none", None, _baseline),
    Option("--direktiv-sandbox", "SCENARIO",
           "start the built-in emulated cluster with this scenario and check it (python -m sandbox list). "
           "Default: none"),
)
OPTION_FLAGS: tuple[str, ...] = tuple(o.flag for o in OPTIONS)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "Direktiv TLS conformance (active when the conformance suite is collected)")
    for o in OPTIONS:
        kwargs: dict = {"metavar": o.metavar, "default": o.default, "help": o.help, "dest": o.dest}
        if o.type is not None:
            kwargs["type"] = o.type
        if o.append:
            kwargs["action"] = "append"
        group.addoption(o.flag, **kwargs)


def given_options(args) -> list[str]:
    """The flags of ours among command-line arguments (``--flag value`` or ``--flag=value``)."""
    given = []
    for arg in map(str, args):
        flag = arg.split("=", 1)[0]
        if flag in OPTION_FLAGS and flag not in given:
            given.append(flag)
    return given


def run_options(option: argparse.Namespace) -> RunOptions:
    """The run's options from pytest's parsed ``config.option`` (each value already checked by its ``type``)."""
    return RunOptions(
        kubeconfig=option.kubeconfig, context=option.context, namespace=option.direktiv_namespace,
        release=option.direktiv_release, services_namespace=option.direktiv_services_namespace,
        values=option.direktiv_values, ca_files=tuple(option.direktiv_ca_file or ()),
        ca_key_secret=option.direktiv_ca_key_secret, timeout=option.direktiv_timeout,
        budget=option.direktiv_budget, connect=option.direktiv_connect,
        chart_version=option.direktiv_chart_version, app_version=option.direktiv_app_version,
        chart_model=option.direktiv_chart_model)


def profile_option(option: argparse.Namespace) -> Profile:
    """The parsed profile (argparse converts a string default through ``type`` as well)."""
    value = option.direktiv_profile
    return value if isinstance(value, Profile) else load_profile(value)
