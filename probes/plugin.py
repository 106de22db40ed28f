"""The pytest plugin: the conformance suite's options, its session fixtures and its JUnit properties.

Installed as a ``pytest11`` entry point (and registered by the checkout's top-level ``conftest.py`` where the
package is not installed), so it is loaded into every pytest run of an environment. It stays out of the way there:
its options all carry the ``--direktiv-`` prefix (:mod:`probes.options`), and it switches itself on only when the
conformance suite is being collected, that is when a collection argument (a path, or a ``--pyargs`` module) is, or
lies in, a directory whose ``conftest.py`` declares itself the suite with the line :data:`SUITE_MARKER` (``suites/``
in the checkout, ``direktiv_tls_conformance.suites`` in the wheel). Elsewhere it only says, in one sentence, that
its options were given to a run that does not collect the suite. ``--help``, ``--markers``, ``--fixtures`` and
``--collect-only`` contact no cluster and write no report.

In a conformance run, before collection, it checks the options against the cluster (the kubeconfig and context,
the namespaces, the release: :func:`probes.session.check_usage`), so a wrong target stops with exit status 4 and one
sentence. The suite's tests only read evidence: it is gathered once before the first test (one progress line per
endpoint), and each test's ``verdict`` fixture judges its control on its endpoint during setup, so an unobservable
control is a setup *error* and a not-applicable one a *skip*, each with its sentence, and the test body fails or
passes.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from probes.catalog import CLUSTER, CONTROL_IDS, applies
from probes.errors import UsageError
from probes.options import add_options, given_options, profile_option, run_options
from probes.session import ObservationError, RunOptions
from probes.stash import SANDBOX_KEY, STATE_KEY, VERDICT_KEY

__all__ = ["ObservationError", "ConformanceState", "STATE_KEY", "VERDICT_KEY", "SUITE_MARKER", "TOOL_NAME"]

TOOL_NAME = "direktiv-tls-conformance"
# The line in a suite directory's conftest.py that makes collecting that directory a conformance run.
SUITE_MARKER = "DIREKTIV_TLS_CONFORMANCE_SUITE = True"
# How much of a conftest.py is read to find the marker (it sits near the top).
_MARKER_WINDOW = 16384
# The runs that only show something (help, markers, fixtures, the collected tests): no cluster, no report.
_INSPECTION_OPTIONS = ("help", "markers", "showfixtures", "show_fixtures_per_test", "collectonly")


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


# -- when the plugin is on ------------------------------------------------------------------------------------------


def _declares_suite(directory: Path) -> bool:
    try:
        with open(directory / "conftest.py", encoding="utf-8", errors="replace") as source:
            return SUITE_MARKER in source.read(_MARKER_WINDOW)
    except OSError:
        return False


def in_suite(path: Path) -> bool:
    """Whether ``path`` (a file or directory) is, or lies in, a conformance suite directory."""
    path = Path(os.path.abspath(path))
    start = path if path.is_dir() else path.parent
    return any(_declares_suite(d) for d in (start, *start.parents))


def _argument_path(arg: str, *, pyargs: bool, invocation_dir: Path) -> Path | None:
    """Where a collection argument points: a path, or with ``--pyargs`` a module or package (as pytest finds it)."""
    text = str(arg).split("::", 1)[0]
    path = invocation_dir / text
    if path.exists():
        return path
    if not pyargs:
        return None
    try:
        spec = importlib.util.find_spec(text)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(spec.origin) if spec.origin and spec.origin not in ("built-in", "frozen") else None


def collects_suite(config: pytest.Config) -> bool:
    """Whether this run collects the conformance suite (see the module docstring)."""
    invocation_dir = Path(config.invocation_params.dir)
    for arg in config.args:
        path = _argument_path(arg, pyargs=bool(config.option.pyargs), invocation_dir=invocation_dir)
        if path is not None and in_suite(path):
            return True
    return False


def _inspection_only(config: pytest.Config) -> bool:
    return any(getattr(config.option, name, False) for name in _INSPECTION_OPTIONS)


# -- the run's state --------------------------------------------------------------------------------------------------


@dataclass
class ConformanceState:
    """What the session knows: the options, and the evidence once gathered.

    Attributes:
        config: the pytest config.
        options: the run's options, checked (the sandbox's kubeconfig and CA options filled in).
        evidence: the evidence once gathered (partial after a Ctrl-C), else None.
        profile: the TLS profile.
        failure: why no evidence could be gathered, or None.
        notices: sentences for the reports besides the evidence's own.
        gathered: whether gathering was attempted.
    """

    config: pytest.Config
    options: RunOptions = field(default_factory=RunOptions)
    evidence: Any = None
    profile: Any = None
    failure: str | None = None
    notices: list[str] = field(default_factory=list)
    gathered: bool = False

    def gather(self) -> Any:
        if not self.gathered:
            self.gathered = True
            from probes.observe import GatherInterrupted
            from probes.session import gather_evidence

            progress = _Progress(self.config)
            try:
                self.evidence = gather_evidence(self.options, self.profile, on_endpoint=progress.endpoint)
            except ObservationError as exc:
                self.failure = str(exc)
                progress.failed(self.failure)
            except GatherInterrupted as exc:
                self.evidence = exc.evidence  # the reports still show what was observed, marked incomplete
                raise KeyboardInterrupt from None
        if self.failure:
            raise ObservationError(self.failure)
        return self.evidence


class _Progress:
    """One line per endpoint as its evidence completes, so that a pipeline's log moves while gathering."""

    def __init__(self, config: pytest.Config) -> None:
        self.reporter = config.pluginmanager.get_plugin("terminalreporter")
        self.quiet = config.get_verbosity() < -1
        self.started = False

    def _line(self, text: str, **markup: bool) -> None:
        if self.reporter is None or self.quiet:
            return
        if not self.started:
            self.started = True
            self.reporter.ensure_newline()
            self.reporter.write_sep("-", "gathering evidence")
        self.reporter.write_line(text, **markup)

    def endpoint(self, ep, seconds: float) -> None:
        pods = [p for p in ep.pods if not p.unreachable]
        if ep.unreachable or not pods:
            reason = ep.unreachable or "; ".join(dict.fromkeys(p.unreachable for p in ep.pods)) or "no pod observed"
            self._line(f"{ep.spec.id:<16}could not be observed: {reason}", yellow=True)
            return
        several = f" on {len(pods)} pods" if len(pods) > 1 else ""
        self._line(f"{ep.spec.id:<16}observed{several} in {seconds * 1000:.0f} ms")

    def failed(self, reason: str) -> None:
        self._line(f"no evidence: {reason}", red=True)


# -- configuration ----------------------------------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "control(id): the control of CONTROLS.md this test judges")
    if _inspection_only(config):
        return
    if not collects_suite(config):
        given = given_options(config.invocation_params.args)
        if given:
            raise pytest.UsageError(
                f"{', '.join(given)} {'configures' if len(given) == 1 else 'configure'} the Direktiv TLS conformance "
                "suite, which this run does not collect; "
                "run it with `pytest suites/ ...` in a checkout, `pytest --pyargs direktiv_tls_conformance.suites "
                f"...` or `{TOOL_NAME} ...`")
        return
    if getattr(config.option, "numprocesses", None) or getattr(config.option, "dist", "no") != "no":
        raise pytest.UsageError(
            "The Direktiv TLS conformance suite gathers its evidence once, in one process, and judges every control "
            "from it in milliseconds; run it without pytest-xdist's -n/--dist")
    # Six roots of the system trust store (GoDaddy and Starfield G2, SECOM RootCA2, HARICA 2015) have serial 0,
    # which cryptography warns about on every load; they are real roots, so they stay anchors, silently.
    config.addinivalue_line("filterwarnings", "ignore:Parsed a serial number which wasn't positive:"
                                              "cryptography.utils.CryptographyDeprecationWarning")
    state = ConformanceState(config, options=run_options(config.option), profile=profile_option(config.option))
    try:
        if config.option.direktiv_sandbox:
            state.options = _start_sandbox(config, state.options)
        from probes.session import check_usage

        check_usage(state.options)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[STATE_KEY] = state
    if not config.option.xmlpath:
        config.option.xmlpath = str(Path(config.invocation_params.dir, "reports", "junit.xml"))
    _name_the_junit_suite(config)
    from probes.reporting import ReportWriter

    # evidence.json and report.html go beside the JUnit file, wherever --junitxml puts it.
    reports_dir = Path(config.invocation_params.dir, os.path.expanduser(config.option.xmlpath)).parent
    config.pluginmanager.register(ReportWriter(config, directory=reports_dir), "direktiv-tls-reports")


def _name_the_junit_suite(config: pytest.Config) -> None:
    """``junit_suite_name`` is the tool's name unless the user's ini sets one. pytest has no public way to change
    another plugin's ini default, so the value goes into the config's ini cache, which junitxml's own
    pytest_configure reads after this tryfirst one (tests/test_plugin_usage.py checks the JUnit file)."""
    cache = getattr(config, "_inicache", None)
    if isinstance(cache, dict) and config.getini("junit_suite_name") == "pytest":
        cache["junit_suite_name"] = TOOL_NAME


def _start_sandbox(config: pytest.Config, options: RunOptions) -> RunOptions:
    """Start the scenario, and point the options at it: its kubeconfig, and its CA key secret and stand-in roots
    unless the user named their own."""
    from sandbox.scenarios import SCENARIOS

    name = config.option.direktiv_sandbox
    if name not in SCENARIOS:
        raise UsageError(f"--direktiv-sandbox {name}: no such scenario; choose one of {', '.join(sorted(SCENARIOS))}")
    from probes.options import ca_file_argument, namespaced_name_argument
    from sandbox.cluster import POD_IPS_CLUSTER, POD_IPS_LOOPBACK, start_sandbox

    # --direktiv-connect direct dials pod IPs: the sandbox's pods then listen on addresses of their own (127.0.0.N).
    running = start_sandbox(name, pod_ips=POD_IPS_LOOPBACK if config.option.direktiv_connect == "direct" else POD_IPS_CLUSTER)
    config.stash[SANDBOX_KEY] = running
    ca_key_secret, ca_files = options.ca_key_secret, list(options.ca_files)
    extra = list(running.suite_args)
    while extra:
        flag = extra.pop(0)
        value = extra.pop(0) if extra and not extra[0].startswith("--") else None
        if flag == "--direktiv-ca-key-secret" and ca_key_secret is None and value:
            ca_key_secret = namespaced_name_argument(value)
        if flag == "--direktiv-ca-file" and value:  # the sandbox's stand-in roots, unless the user names that one's
            endpoint, path = ca_file_argument(value)
            if all(e != endpoint for e, _ in ca_files):
                ca_files.append((endpoint, path))
    return dataclasses.replace(options, kubeconfig=str(running.kubeconfig_path), ca_key_secret=ca_key_secret,
                               ca_files=tuple(ca_files))


def pytest_report_header(config: pytest.Config) -> str | None:
    """With ``--direktiv-sandbox``: one line when Direktiv's servers run on the Python stand-ins (Go not
    installed)."""
    running = config.stash.get(SANDBOX_KEY, None)
    return getattr(running, "notice", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    running = config.stash.get(SANDBOX_KEY, None)
    if running is not None:
        running.stop()


# -- collection -------------------------------------------------------------------------------------------------------


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


# -- running ----------------------------------------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Gather the evidence before the first test, where the progress lines can be shown (output is not captured
    between tests); not when collection failed (the run stops there) or selected no test that judges a control."""
    state = session.config.stash.get(STATE_KEY, None)
    if state is None or session.config.option.collectonly:
        return
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        return
    if not any(item.get_closest_marker("control") for item in session.items):
        return
    try:
        state.gather()
    except ObservationError:
        pass  # every test reports it in its setup


@pytest.fixture(scope="session")
def conformance(request: pytest.FixtureRequest, record_testsuite_property):
    """The session's evidence, gathered once on first use; the chart judged becomes JUnit testsuite properties."""
    state = request.config.stash.get(STATE_KEY, None)
    if state is None:
        raise ObservationError("this run has no cluster to check: pass --kubeconfig PATH or --direktiv-sandbox "
                               "SCENARIO")
    evidence = state.gather()
    if evidence.chart is not None:
        for key, value in evidence.chart.to_json().items():
            record_testsuite_property(f"chart_{key}", str(value).lower() if isinstance(value, bool) else value)
    return evidence


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
