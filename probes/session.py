"""From command-line options to evidence: the cluster, the expected configuration, one gathering.

``check_usage`` runs before collection and turns bad input into one ``UsageError`` sentence (pytest exits 4).
``gather_from_options`` learns the expected configuration (the Helm release in the cluster, ``--values`` on top)
and gathers the evidence; what stops it is an ``ObservationError`` sentence that every test reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from probes.errors import CertificateError, ProbeError, UsageError

__all__ = ["check_usage", "expected_configuration", "gather_from_options", "ExpectedConfiguration"]


@dataclass(frozen=True)
class ExpectedConfiguration:
    """Attributes:
        values: the merged, normalized Helm values.
        source: where they came from, for the report.
        notices: sentences to show (aliases, fallbacks).
    """

    values: dict
    source: str
    notices: tuple[str, ...]


def check_usage(config: pytest.Config, kubeconfig: str | None) -> None:
    """Every check of user input that needs no network; raises UsageError."""
    from probes.helm import load_values_file
    from probes.kube import Cluster
    from probes.x509 import load_pem_bundle

    opt = config.option
    Cluster.from_kubeconfig(kubeconfig, context=opt.context).close()
    if opt.values:
        load_values_file(opt.values)
    if opt.ca_file:
        path = Path(opt.ca_file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"--ca-file {path}: cannot be read ({exc.strerror}); pass a PEM file of CA certificates") from None
        try:
            load_pem_bundle(data, source=f"--ca-file {path}")
        except CertificateError as exc:
            raise UsageError(f"{exc}; pass a PEM file of CA certificates") from None


def expected_configuration(cluster, opt) -> ExpectedConfiguration:
    """Chart defaults merged with the release's config, then --values on top, then normalized."""
    from probes.helm import deep_merge, load_values_file, normalize_values
    from probes.plugin import ObservationError

    overrides = load_values_file(opt.values) if opt.values else None
    notices: list[str] = []
    try:
        release = cluster.helm_release(opt.namespace, opt.release)
        release_error = None if release is not None else (
            f"no deployed Helm release {opt.release!r} in namespace {opt.namespace}")
    except ProbeError as exc:
        release, release_error = None, str(exc)
    if release is not None:
        values = release.values
        source = f"helm release {opt.namespace}/{opt.release} revision {release.revision}"
        if overrides is not None:
            values = deep_merge(values, overrides)
            source += f" with --values {opt.values}"
    elif overrides is not None:
        values = overrides
        source = f"--values {opt.values} (the release could not be read: {release_error})"
        notices.append(f"the Helm release could not be read ({release_error}); the expectation is --values {opt.values} alone")
    else:
        raise ObservationError(
            f"could not learn the expected configuration: {release_error}; check --release/--namespace, or pass "
            "--values FILE with the installation's Helm values")
    values, alias_notices = normalize_values(values)
    return ExpectedConfiguration(values, source, tuple(notices) + tuple(alias_notices))


def gather_from_options(config: pytest.Config, kubeconfig: str | None, profile):
    from probes.kube import Cluster
    from probes.observe import ObserveOptions, gather
    from probes.plugin import ObservationError
    from probes.timeouts import Timeouts
    from probes.topology import derive_topology

    opt = config.option
    timeouts = Timeouts.uniform(opt.timeout)
    try:
        cluster = Cluster.from_kubeconfig(kubeconfig, context=opt.context, timeouts=timeouts)
    except UsageError as exc:
        raise ObservationError(str(exc)) from None
    with cluster:
        expected = expected_configuration(cluster, opt)
        topology = derive_topology(expected.values, release=opt.release, namespace=opt.namespace,
                                   services_namespace=opt.services_namespace)
        ca_file_pem = Path(opt.ca_file).read_bytes() if opt.ca_file else None
        options = ObserveOptions(
            timeouts=timeouts, budget=opt.budget, profile=profile, ca_file_pem=ca_file_pem,
            ca_file_source=f"--ca-file {opt.ca_file}" if opt.ca_file else "", ca_key_secret=opt.ca_key_secret)
        return gather(cluster, topology, options, source=expected.source, notices=expected.notices)
