"""From the user's options to evidence: the cluster, the expected configuration, one gathering.

``check_usage`` runs before collection and turns bad input into one ``UsageError`` sentence (pytest exits 4): a
kubeconfig or context that cannot be used, a namespace or Helm release that is not there (the sentence lists what
is), a values, CA or CA key secret that cannot be read.
``gather_evidence`` learns the expected configuration (the Helm release in the cluster, ``--direktiv-values`` on top)
and gathers the evidence; what stops it altogether is an ``ObservationError`` sentence that every test reports.
Nothing here depends on pytest, so the project's tests and the benchmarks call it directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from probes.chartlines import CHART_NAME, ChartIdentity, identify
from probes.errors import ProbeError, UsageError

__all__ = ["ObservationError", "RunOptions", "ExpectedConfiguration", "check_usage", "check_target",
           "expected_configuration", "gather_evidence"]


class ObservationError(Exception):
    """The suite could not observe what a control needs; reported as a setup error with its sentence."""


@dataclass(frozen=True)
class RunOptions:
    """The suite's options (see the plugin's ``--help``).

    Attributes:
        kubeconfig: path, or None for ``$KUBECONFIG`` / ``~/.kube/config``.
        context, namespace, release: where Direktiv is.
        services_namespace: where its knative and pod services run; None follows the values'
            ``functions.namespace`` (else the chart's default).
        values: a Helm values file on top of the release's values.
        ca_files: ``--direktiv-ca-file`` options as ``(endpoint ID or None for all, path)``: trust anchors instead of the
            secrets' ``ca.crt`` (or the system trust store).
        ca_key_secret: ``(namespace, name)`` of the CA secret for minting bad client certificates.
        timeout: seconds for each network step.
        budget: seconds for the whole gathering.
        connect: how the probes reach a pod: ``port-forward`` through the API server, or ``direct`` to the pod's
            IP (from inside the cluster).
        chart_version: the installation's chart version when the release cannot be read (``--direktiv-values``'
            companion); the release's own version wins when it can be read.
        app_version: the installation's Direktiv version (the chart's ``appVersion``), with ``chart_version``.
        chart_model: a chart model (:data:`probes.chartlines.MODEL_NAMES`) forced whatever the chart is.
    """

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str = "default"
    release: str = "direktiv"
    services_namespace: str | None = None
    values: str | None = None
    ca_files: tuple[tuple[str | None, str], ...] = ()
    ca_key_secret: tuple[str, str] | None = None
    timeout: float = 5.0
    budget: float | None = None
    connect: str = "port-forward"
    chart_version: str | None = None
    app_version: str | None = None
    chart_model: str | None = None


@dataclass(frozen=True)
class ExpectedConfiguration:
    """Attributes:
        values: the merged, normalized Helm values.
        source: where they came from, for the report.
        notices: sentences to show (aliases, fallbacks).
        chart: the chart judged and the model used.
    """

    values: dict
    source: str
    notices: tuple[str, ...]
    chart: ChartIdentity


def check_usage(options: RunOptions) -> None:
    """Every check of user input; raises UsageError. The files first, then the cluster: the target
    (:func:`check_target`) and ``--direktiv-ca-key-secret``, each read within ``--direktiv-timeout``; what the API
    server cannot answer (RBAC, a server down) is left to the run to report."""
    from probes.helm import load_values_file
    from probes.kube import Cluster
    from probes.timeouts import Timeouts
    from probes.trust import load_ca_files

    if options.values:
        load_values_file(options.values)
    load_ca_files(options.ca_files)
    with Cluster.connect(options.kubeconfig, context=options.context,
                         timeouts=Timeouts.uniform(options.timeout)) as cluster:
        check_target(cluster, options)
        if options.ca_key_secret is not None:
            _check_ca_key_secret(cluster, options.ca_key_secret)


def _found(what: str, read) -> str:
    """``"namespaces there: a, b"``, or why they could not be listed."""
    try:
        names = [str(n) for n in read()]
    except ProbeError as exc:
        return f"{what} could not be listed ({str(exc).rstrip('.')})"
    return f"{what}: {', '.join(names) if names else 'none'}"


def _exists(cluster, namespace: str) -> bool | None:
    """Whether the namespace exists; None when the API server cannot say (RBAC, a server down)."""
    try:
        return cluster.namespace_exists(namespace)
    except ProbeError:
        return None


def check_target(cluster, options: RunOptions) -> None:
    """UsageError when the options point at nothing: the release namespace does not exist, the services namespace
    given does not exist, or (unless ``--direktiv-values`` gives the expectation) the release namespace holds no
    deployed release of that name; or at a chart no model covers: the release's, or, where the values stand in for
    a release that cannot be read, the one ``--direktiv-chart-version``/``--direktiv-app-version`` name (which
    must then be given). The sentence lists what exists. A question the API server cannot answer (RBAC, a server
    down) is not the user's mistake: the run reports it."""
    where = f"the cluster of context {cluster.context!r}"
    namespace_exists = _exists(cluster, options.namespace)
    if namespace_exists is False:
        raise UsageError(
            f"The release namespace {options.namespace!r} (--direktiv-namespace) does not exist in {where} "
            f"({_found('namespaces there', cluster.namespaces)}; "
            f"{_found('Helm releases', lambda: cluster.helm_releases(None))}); pass --direktiv-namespace with the "
            "namespace of Direktiv's Helm release.")
    if options.services_namespace and _exists(cluster, options.services_namespace) is False:
        raise UsageError(
            f"The services namespace {options.services_namespace!r} (--direktiv-services-namespace) does not exist "
            f"in {where} ({_found('namespaces there', cluster.namespaces)}); pass the namespace Direktiv's "
            "knative services and job pods run in, or leave the option out to follow the values' "
            "functions.namespace.")
    try:
        release, unread = cluster.helm_release(options.namespace, options.release), None
    except ProbeError as exc:  # RBAC on secrets, an undecodable release: the run reports it, or the values stand in
        release, unread = None, str(exc).rstrip(".")
    if release is not None:
        release_chart(release, options)
        return
    if options.values:
        values_chart(options, f" ({unread})" if unread else " (there is no deployed release of that name)")
        return
    if unread is not None or namespace_exists is None:
        return
    there = _found(f"Helm releases in {options.namespace}", lambda: cluster.helm_releases(options.namespace))
    if there.endswith(": none"):
        there += f"; {_found('Helm releases in the cluster', lambda: cluster.helm_releases(None))}"
    raise UsageError(
        f"There is no deployed Helm release {options.release!r} (--direktiv-release) in namespace "
        f"{options.namespace} of {where} ({there}); pass --direktiv-release with the release's name, or "
        "--direktiv-values FILE with the installation's Helm values (and --direktiv-chart-version).")


def release_chart(release, options: RunOptions) -> ChartIdentity:
    """The chart of a Helm release and the model for it; :class:`~probes.chartlines.UnsupportedChart` when the
    tool has none (unless ``--direktiv-chart-model`` forces one)."""
    source = f"Helm release {release.namespace}/{release.name} revision {release.revision}"
    return identify(release.chart_name, release.chart_version, release.app_version, source=source,
                    forced_model=options.chart_model)


def values_chart(options: RunOptions, why: str = "") -> ChartIdentity:
    """The chart of an installation known only by ``--direktiv-values``: ``--direktiv-chart-version`` names it
    (or ``--direktiv-chart-model`` forces a model); UsageError when neither is given."""
    if options.chart_version is None and options.app_version is None and options.chart_model is None:
        raise UsageError(
            f"The Helm release {options.namespace}/{options.release} cannot be read{why}, so the chart version of "
            f"--direktiv-values {options.values} is unknown and the suite cannot tell which Direktiv it judges; "
            "pass --direktiv-chart-version and --direktiv-app-version with the installation's chart and app "
            "versions (helm list shows them), or --direktiv-chart-model.")
    given = [f"{flag} {value}" for flag, value in (("--direktiv-chart-version", options.chart_version),
                                                   ("--direktiv-app-version", options.app_version)) if value]
    source = f"installation {' and '.join(given)} describe{'s' if len(given) == 1 else ''}" if given else \
        f"installation --direktiv-values {options.values} describes"
    # Every modelled line is Direktiv's chart "direktiv": versions given by option are of that chart.
    return identify(CHART_NAME, options.chart_version or "", options.app_version or "", source=source,
                    forced_model=options.chart_model)


def _check_ca_key_secret(cluster, ref: tuple[str, str]) -> None:
    """UsageError when the --direktiv-ca-key-secret names a secret that does not exist; other failures (RBAC, an API
    server that does not answer) are the run's to report, not the user's input."""
    namespace, name = ref
    try:
        secret = cluster.secret(namespace, name)
    except ProbeError:
        return
    if secret is None:
        raise UsageError(
            f"--direktiv-ca-key-secret {namespace}/{name}: there is no such secret in the cluster (context "
            f"{cluster.context!r}); pass the secret of cert-manager's CA issuer (e.g. cert-manager/direktiv-ca), "
            "or leave the option out")


def _release_hint(exc: ProbeError | None) -> str:
    """What to do when the release could not be read, by why."""
    from probes.errors import ClusterError, ClusterForbidden, ClusterNotFound, ClusterUnauthorized

    values = "pass --direktiv-values FILE with the installation's Helm values"
    if exc is None or isinstance(exc, ClusterNotFound):
        return f"check --direktiv-release/--direktiv-namespace, or {values}"
    if isinstance(exc, ClusterUnauthorized):
        return "fix the kubeconfig's credentials for this cluster"
    if isinstance(exc, ClusterForbidden):
        return f"grant the suite's identity list on secrets in that namespace, or {values}"
    if isinstance(exc, ClusterError) and exc.status is None:
        return "check that the kubeconfig's API server is up and reachable from here"
    return values


def expected_configuration(cluster, options: RunOptions) -> ExpectedConfiguration:
    """Chart defaults merged with the release's config, then --direktiv-values on top, then normalized."""
    from probes.helm import deep_merge, load_values_file, normalize_values

    overrides = load_values_file(options.values) if options.values else None
    notices: list[str] = []
    release_exc: ProbeError | None = None
    try:
        release = cluster.helm_release(options.namespace, options.release)
        release_error = None if release is not None else (
            f"no deployed Helm release {options.release!r} in namespace {options.namespace}")
    except ProbeError as exc:
        release, release_error, release_exc = None, str(exc), exc
    if release is not None:
        chart = _chart_or_stop(lambda: release_chart(release, options))
        values = release.values
        source = f"helm release {options.namespace}/{options.release} revision {release.revision}"
        if overrides is not None:
            values = deep_merge(values, overrides)
            source += f" with --direktiv-values {options.values}"
        for flag, given, recorded in (("--direktiv-chart-version", options.chart_version, release.chart_version),
                                      ("--direktiv-app-version", options.app_version, release.app_version)):
            if given is not None and given != recorded:
                notices.append(f"{flag} {given} is not used: the release records {recorded or 'none'}")
    elif overrides is not None:
        chart = _chart_or_stop(lambda: values_chart(options, f" ({release_error.rstrip('.')})"))
        values = deep_merge(chart.line.defaults(), overrides)
        source = (f"--direktiv-values {options.values} on the defaults of model {chart.model} "
                  f"(the release could not be read: {release_error})")
        there = "" if release_exc is not None else \
            f"; {_found(f'Helm releases in {options.namespace}', lambda: cluster.helm_releases(options.namespace))}"
        notices.append(f"the Helm release could not be read ({release_error}{there}); the expectation is "
                       f"--direktiv-values {options.values} on the chart's defaults")
    else:
        raise ObservationError(
            f"could not learn the expected configuration: {release_error.rstrip('.')}; {_release_hint(release_exc)}")
    values, alias_notices = normalize_values(values)
    return ExpectedConfiguration(values, source, tuple(notices) + tuple(alias_notices), chart)


def _chart_or_stop(identify_chart) -> ChartIdentity:
    try:
        return identify_chart()
    except UsageError as exc:  # check_usage could not tell (RBAC, a release changed since): every test says so
        raise ObservationError(str(exc)) from None


def gather_evidence(options: RunOptions, profile, *, on_endpoint=None):
    """The run's evidence; ObservationError when not even the expected configuration can be learnt.
    ``on_endpoint(endpoint_evidence, seconds)`` is called as each endpoint's evidence completes."""
    from probes.kube import Cluster
    from probes.observe import ObserveOptions, gather
    from probes.timeouts import Timeouts
    from probes.topology import EndpointKind, derive_topology, services_namespace_notice
    from probes.trust import load_ca_files

    timeouts = Timeouts.uniform(options.timeout)
    try:
        cluster = Cluster.connect(options.kubeconfig, context=options.context, timeouts=timeouts)
    except UsageError as exc:
        raise ObservationError(str(exc)) from None
    with cluster:
        expected = expected_configuration(cluster, options)
        topology = derive_topology(expected.values, release=options.release, namespace=options.namespace,
                                   services_namespace=options.services_namespace, model=expected.chart.model)
        try:
            ca_files = load_ca_files(options.ca_files)
        except UsageError as exc:  # changed since check_usage read it
            raise ObservationError(str(exc)) from None
        observe = ObserveOptions(
            timeouts=timeouts, budget=options.budget, profile=profile, ca_files=ca_files,
            ca_key_secret=options.ca_key_secret, connect=options.connect)
        knative = any(spec.kind == EndpointKind.KNATIVE for spec in topology.endpoints)
        notices = expected.notices + ((services_namespace_notice(topology),) if knative else ())
        return gather(cluster, topology, observe, source=expected.source, chart=expected.chart, notices=notices,
                      on_endpoint=on_endpoint)
