"""The pytest plugin: the conformance suite's options, its session fixtures and its JUnit properties.

Installed as a ``pytest11`` entry point, so ``pytest suites/ --kubeconfig PATH`` works from any checkout.
The suite's tests only read evidence: the session gathers it once (``conformance`` fixture), and each test's
``verdict`` fixture judges its control on its endpoint during setup, so an unobservable control is a setup
*error* and a not-applicable one a *skip*, each with its sentence, and the test body fails or passes.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from probes.catalog import CLUSTER, CONTROL_IDS, applies
from probes.errors import UsageError
from probes.session import ObservationError, RunOptions

__all__ = ["ObservationError", "ConformanceState", "Baseline", "STATE_KEY", "VERDICT_KEY"]

STATE_KEY = pytest.StashKey["ConformanceState"]()
VERDICT_KEY = pytest.StashKey[Any]()
SANDBOX_KEY = pytest.StashKey[Any]()

DEFAULT_NAMESPACE = "default"
DEFAULT_RELEASE = "direktiv"
DEFAULT_TIMEOUT = 5.0
# How the probes reach a pod: through the API server's port-forward (from anywhere), or straight to the pod's IP
# (from inside the cluster: a Job, a CronJob, a Helm test; see deploy/).
CONNECT_CHOICES = ("port-forward", "direct")


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, given: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, given: {text!r}")
    return value


def _namespaced_name(text: str) -> tuple[str, str]:
    ns, sep, name = text.partition("/")
    if not sep or not ns or not name or "/" in name:
        raise argparse.ArgumentTypeError(f"expected NAMESPACE/NAME (e.g. cert-manager/direktiv-ca), given: {text!r}")
    return ns, name


def _ca_file(text: str) -> tuple[str | None, str]:
    from probes.trust import parse_ca_file_option

    try:
        return parse_ca_file_option(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _framework_name(text: str) -> str:
    from probes.catalog import framework

    try:
        return framework(text).name
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
    snapshot: Any


def _baseline(text: str) -> Baseline:
    from probes.drift import EvidenceFileError, load_snapshot

    try:
        return Baseline(text, load_snapshot(os.path.expanduser(text)))
    except EvidenceFileError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("direktiv-tls", "Direktiv TLS conformance")
    group.addoption("--kubeconfig", metavar="PATH", default=None,
                    help="kubeconfig of the cluster to check. Default: $KUBECONFIG, then ~/.kube/config")
    group.addoption("--context", metavar="NAME", default=None, help="kubeconfig context. Default: the current one")
    group.addoption("--namespace", metavar="NS", default=DEFAULT_NAMESPACE,
                    help="namespace of the Direktiv release. Default: %(default)r")
    group.addoption("--release", metavar="NAME", default=DEFAULT_RELEASE,
                    help="Helm release name. Default: %(default)r")
    group.addoption("--services-namespace", metavar="NS", default=None,
                    help="namespace of Direktiv's knative and pod services, overriding the values' "
                         "functions.namespace. Default: functions.namespace, else 'direktiv-services-direktiv'")
    group.addoption("--values", metavar="FILE", default=None,
                    help="Helm values on top of the release's (or the whole expectation when the release cannot be read)")
    group.addoption("--ca-file", metavar="[ENDPOINT=]PEM", default=None, action="append", type=_ca_file,
                    help="trust anchors instead of the secrets' ca.crt (or the system trust store): PEM for every "
                         "endpoint, ENDPOINT=PEM (e.g. lb=root.pem) for one; repeatable. Default: none")
    group.addoption("--ca-key-secret", metavar="NS/NAME", default=None, type=_namespaced_name,
                    help="CA secret whose key mints an expired and a no-clientAuth client certificate (memory only)")
    group.addoption("--profile", metavar="NAME|FILE", default="intermediate",
                    help="TLS profile: 'intermediate' or a YAML file overriding its keys. Default: %(default)r")
    group.addoption("--timeout", metavar="SECONDS", default=DEFAULT_TIMEOUT, type=_positive_seconds,
                    help="limit for each network step. Default: %(default)r")
    group.addoption("--budget", metavar="SECONDS", default=None, type=_positive_seconds,
                    help="limit for the whole evidence gathering. Default: none")
    group.addoption("--direktiv-connect", metavar="HOW", dest="connect", default=CONNECT_CHOICES[0],
                    choices=CONNECT_CHOICES,
                    help="how the probes reach each pod: 'port-forward' through the Kubernetes API, or 'direct' "
                         "to the pod's IP (from inside the cluster). Default: %(default)r")
    group.addoption("--sandbox", metavar="SCENARIO", default=None,
                    help="start the built-in emulated cluster with this scenario and check it (see python -m sandbox list)")
    group.addoption("--direktiv-framework", metavar="NAME", default=None, type=_framework_name,
                    help="add a per-requirement view of this framework to every report (nist-800-52r2, pci-dss-4, "
                         "bsi-tr-02102-2, cis-kubernetes). Default: none")
    group.addoption("--direktiv-baseline", metavar="PATH", default=None, type=_baseline,
                    help="an earlier run's evidence.json: every report says what changed since. Default: none")


def _conformance_run(config: pytest.Config) -> bool:
    """Whether this run checks a cluster (as opposed to, say, the project's own tests)."""
    opt = config.option
    if opt.sandbox or opt.kubeconfig:
        return True
    return any("suites" in Path(str(a).split("::")[0]).resolve().parts for a in config.args)


@dataclass
class ConformanceState:
    """What the session knows: the options, and the evidence once gathered."""

    config: pytest.Config
    kubeconfig: str | None = None
    evidence: Any = None
    profile: Any = None
    failure: str | None = None
    notices: list[str] = field(default_factory=list)
    gathered: bool = False

    def run_options(self) -> RunOptions:
        opt = self.config.option
        return RunOptions(
            kubeconfig=self.kubeconfig, context=opt.context, namespace=opt.namespace, release=opt.release,
            services_namespace=opt.services_namespace, values=opt.values, ca_files=tuple(opt.ca_file or ()),
            ca_key_secret=opt.ca_key_secret, timeout=opt.timeout, budget=opt.budget, connect=opt.connect)

    def gather(self) -> Any:
        if not self.gathered:
            self.gathered = True
            from probes.session import gather_evidence

            from probes.observe import GatherInterrupted

            try:
                self.evidence = gather_evidence(self.run_options(), self.profile)
            except ObservationError as exc:
                self.failure = str(exc)
            except GatherInterrupted as exc:
                self.evidence = exc.evidence  # the reports still show what was observed, marked incomplete
                raise KeyboardInterrupt from None
        if self.failure:
            raise ObservationError(self.failure)
        return self.evidence


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "control(id): the control of CONTROLS.md this test judges")
    # Six roots of the system trust store (GoDaddy and Starfield G2, SECOM RootCA2, HARICA 2015) have serial 0,
    # which cryptography warns about on every load; they are real roots, so they stay anchors, silently.
    config.addinivalue_line("filterwarnings", "ignore:Parsed a serial number which wasn't positive:"
                                              "cryptography.utils.CryptographyDeprecationWarning")
    if not _conformance_run(config):
        return
    # grpcio's C core logs every refused handshake, and the suite provokes them on purpose.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    from probes.profile import load_profile

    state = ConformanceState(config, kubeconfig=config.option.kubeconfig)
    try:
        state.profile = load_profile(config.option.profile)
        if config.option.sandbox:
            state.kubeconfig = _start_sandbox(config)
        from probes.session import check_usage

        check_usage(state.run_options())
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[STATE_KEY] = state
    if not config.option.xmlpath:
        config.option.xmlpath = str(Path(config.rootpath, "reports", "junit.xml"))
    from probes.reporting import ReportWriter

    # evidence.json and report.html go beside the JUnit file, wherever --junitxml puts it.
    reports_dir = Path(config.option.xmlpath).parent
    config.pluginmanager.register(ReportWriter(config, directory=reports_dir), "direktiv-tls-reports")


def _start_sandbox(config: pytest.Config) -> str:
    from sandbox.scenarios import SCENARIOS

    name = config.option.sandbox
    if name not in SCENARIOS:
        raise UsageError(f"--sandbox {name}: no such scenario; choose one of {', '.join(sorted(SCENARIOS))}")
    from sandbox.cluster import POD_IPS_CLUSTER, POD_IPS_LOOPBACK, start_sandbox

    # --direktiv-connect direct dials pod IPs: the sandbox's pods then listen on addresses of their own (127.0.0.N).
    running = start_sandbox(name, pod_ips=POD_IPS_LOOPBACK if config.option.connect == "direct" else POD_IPS_CLUSTER)
    config.stash[SANDBOX_KEY] = running
    extra = list(running.suite_args)
    while extra:
        flag = extra.pop(0)
        value = extra.pop(0) if extra and not extra[0].startswith("--") else None
        if flag == "--ca-key-secret" and config.option.ca_key_secret is None and value:
            config.option.ca_key_secret = _namespaced_name(value)
        if flag == "--ca-file" and value:  # the sandbox's stand-in roots, unless the user names that endpoint's
            given = config.option.ca_file or []
            endpoint, path = _ca_file(value)
            if all(e != endpoint for e, _ in given):
                config.option.ca_file = [*given, (endpoint, path)]
    return str(running.kubeconfig_path)


def pytest_report_header(config: pytest.Config) -> str | None:
    """With ``--sandbox``: one line when Direktiv's servers run on the Python stand-ins (Go not installed)."""
    running = config.stash.get(SANDBOX_KEY, None)
    return getattr(running, "notice", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    running = config.stash.get(SANDBOX_KEY, None)
    if running is not None:
        running.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "endpoint" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("control")
    if marker is None:
        return
    candidates = getattr(metafunc.cls, "ENDPOINTS", None) or getattr(metafunc.module, "ENDPOINTS", ())
    endpoints = [e for e in candidates if applies(marker.args[0], e)]
    metafunc.parametrize("endpoint", endpoints, ids=endpoints)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("control")
        if marker is None:
            continue
        control_id = marker.args[0]
        if control_id not in CONTROL_IDS:
            raise pytest.UsageError(f"{item.nodeid}: unknown control ID {control_id!r} in its control marker")
        callspec = getattr(item, "callspec", None)
        endpoint = callspec.params.get("endpoint", CLUSTER) if callspec else CLUSTER
        item.user_properties.append(("control", control_id))
        item.user_properties.append(("endpoint", endpoint))
        framework = config.getoption("direktiv_framework", None)
        if framework:
            from probes.catalog import mappings

            for requirement in dict.fromkeys(m.requirement for m in mappings(framework=framework, control=control_id)):
                item.user_properties.append(("requirement", f"{framework}:{requirement}"))
        item.extra_keyword_matches.add(control_id)
        item.extra_keyword_matches.add(endpoint)


@pytest.fixture(scope="session")
def conformance(request: pytest.FixtureRequest):
    """The session's evidence, gathered once on first use."""
    state = request.config.stash.get(STATE_KEY, None)
    if state is None:
        raise ObservationError("this run has no cluster to check: pass --kubeconfig PATH or --sandbox SCENARIO")
    return state.gather()


@pytest.fixture
def verdict(request: pytest.FixtureRequest, conformance):
    """This test's control judged on this test's endpoint; skip and error verdicts end the setup."""
    from probes.controls import Status, judge

    marker = request.node.get_closest_marker("control")
    if marker is None:
        raise ObservationError(f"{request.node.nodeid} uses the verdict fixture without a control marker")
    callspec = getattr(request.node, "callspec", None)
    endpoint = callspec.params.get("endpoint", CLUSTER) if callspec else CLUSTER
    state = request.config.stash[STATE_KEY]
    result = judge(marker.args[0], endpoint, conformance, state.profile)
    request.node.stash[VERDICT_KEY] = result
    request.node.user_properties.extend(sorted(result.facts.items()))
    baseline = request.config.getoption("direktiv_baseline", None)
    if baseline is not None:
        old = baseline.snapshot.verdicts.get((marker.args[0], endpoint))
        if old != result.status.value:
            request.node.user_properties.append(("changed_since_baseline", f"{old or 'not judged'} -> {result.status.value}"))
    if result.status is Status.SKIP:
        pytest.skip(result.message)
    if result.status is Status.ERROR:
        raise ObservationError(result.message)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance(ObservationError):
        report.longrepr = f"could not observe: {call.excinfo.value}"
    return report
