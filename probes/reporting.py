"""The report writer: a pytest plugin object that turns a conformance run into its reports.

    ReportWriter(config)                   registered by probes.plugin in conformance runs
      pytest_runtest_logreport             each test's outcome, as JUnit counts it (passed/failed/skipped/error)
      pytest_keyboard_interrupt            remembers the Ctrl-C
      pytest_sessionfinish                 reports/evidence.json, reports/report.html and reports/results.sarif, each
                                           written atomically, also after an interrupt or a failed gathering (marked
                                           incomplete)
      pytest_terminal_summary              a banner when TLS or mTLS is off by configuration (naming the endpoints),
                                           one line per endpoint, the per-requirement view (--direktiv-framework),
                                           what changed since the baseline (--direktiv-baseline), the report paths

The verdicts come from the tests (each judged test keeps its Verdict in ``item.stash[VERDICT_KEY]``); a control
that no test judged (deselected, or the run stopped early) is judged here from the same evidence, so the evidence
file always holds every control on every endpoint once the evidence exists. JUnit itself is pytest's own
``--junitxml`` (the plugin defaults it to ``reports/junit.xml``).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
from pathlib import Path
from typing import Any

import pytest

from probes.catalog import CLUSTER, CONTROLS, ENDPOINT_IDS
from probes.stash import STATE_KEY, VERDICT_KEY
from probes.report import (
    OUTCOMES,
    protection_banner,
    RunInfo,
    TestOutcome,
    evidence_document,
    render_html,
    render_json,
    scrub,
    tool_version,
    write_atomic,
)

__all__ = ["ReportWriter", "REPORTS_DIR", "EVIDENCE_NAME", "HTML_NAME", "SARIF_NAME"]

REPORTS_DIR = "reports"  # under the directory pytest was started in, beside the default reports/junit.xml
EVIDENCE_NAME = "evidence.json"
HTML_NAME = "report.html"
SARIF_NAME = "results.sarif"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _message(report: pytest.TestReport) -> str:
    if report.passed:
        return ""
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason
    return scrub(report.longreprtext)


class ReportWriter:
    """Collects test outcomes and verdicts, and writes the evidence file and the HTML report.

    Args:
        config: the pytest config; the conformance state (``config.stash[STATE_KEY]``) is read at session end.
        directory: where to write; default ``reports/`` under the directory pytest was started in.
    """

    def __init__(self, config: pytest.Config, *, directory: str | os.PathLike | None = None) -> None:
        self.config = config
        self.directory = (Path(directory) if directory is not None
                          else Path(config.invocation_params.dir, REPORTS_DIR))
        self.started_at = _now()
        self.outcomes: dict[str, TestOutcome] = {}
        self.interrupted: str | None = None
        self.written: dict[str, Path] = {}
        self.problems: list[str] = []
        self.incomplete: str | None = None
        self.document: dict[str, Any] | None = None

    # -- collecting ---------------------------------------------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if report.when == "call" or report.failed or report.skipped:
            if report.when == "call":
                outcome = {"passed": "passed", "failed": "failed", "skipped": "skipped"}[report.outcome]
            elif report.skipped:
                outcome = "skipped"
            else:
                outcome = "error"  # a setup or teardown failure, as JUnit counts it
            previous = self.outcomes.get(report.nodeid)
            if previous is not None and previous.outcome in ("failed", "error"):
                return  # a teardown after a failure keeps the first, more telling outcome
            self.outcomes[report.nodeid] = TestOutcome(
                report.nodeid, outcome, props.get("control"), props.get("endpoint"), _message(report))

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self.interrupted = f"interrupted ({excinfo.typename})"

    # -- writing ------------------------------------------------------------------------------------------------

    def _state(self):
        return self.config.stash.get(STATE_KEY, None)

    def _incomplete(self, session: pytest.Session, exitstatus: int, state, evidence) -> str | None:
        reasons = []
        if self.interrupted or exitstatus == pytest.ExitCode.INTERRUPTED:
            reasons.append(self.interrupted or "interrupted")
        if session.shouldstop:
            reasons.append(f"stopped early: {session.shouldstop}")
        if session.shouldfail:
            reasons.append(f"stopped early: {session.shouldfail}")
        if state is not None and state.failure:
            reasons.append(f"evidence gathering failed: {state.failure}")
        if evidence is None and not (state is not None and state.failure):
            reasons.append("no evidence was gathered" + (" before the interrupt" if reasons else ""))
        return "; ".join(reasons) or None

    def _verdicts(self, session: pytest.Session, evidence, profile) -> list[Any]:
        verdicts = {}
        for item in session.items:
            v = item.stash.get(VERDICT_KEY, None)
            if v is not None:
                verdicts[(v.control, v.endpoint)] = v
        if evidence is None or profile is None:
            return list(verdicts.values())
        from probes.controls import Status, Verdict, judge

        tested = {(o.control, o.endpoint) for o in self.outcomes.values() if o.control}
        for control in CONTROLS:
            for endpoint in control.endpoints:
                key = (control.id, endpoint)
                if key in verdicts or key in tested:
                    continue
                try:
                    verdicts[key] = judge(control.id, endpoint, evidence, profile)
                except Exception as exc:  # a bug in one judge must not cost the whole report
                    verdicts[key] = Verdict(control.id, endpoint, Status.ERROR,
                                            f"the report could not judge {control.id}: {type(exc).__name__}: {exc}")
        return list(verdicts.values())

    def _run_info(self, exitstatus: int, state, incomplete: str | None) -> RunInfo:
        profile = getattr(state, "profile", None) if state is not None else None
        profile_dict = (dataclasses.asdict(profile) if dataclasses.is_dataclass(profile) else {})
        reports = {"evidence": str(self.directory / EVIDENCE_NAME), "html": str(self.directory / HTML_NAME),
                   "sarif": str(self.directory / SARIF_NAME)}
        if self.junit_path():
            reports["junit"] = str(self.junit_path())
        return RunInfo(
            started_at=self.started_at, finished_at=_now(), tool_version=tool_version(), profile=profile_dict,
            exit_status=int(exitstatus), incomplete=incomplete,
            notices=tuple(getattr(state, "notices", ()) or ()), reports=reports)

    def junit_path(self) -> Path | None:
        xmlpath = getattr(self.config.option, "xmlpath", None)
        if not xmlpath:
            return None
        return Path(self.config.invocation_params.dir, os.path.expanduser(xmlpath)).resolve()

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.config.option.collectonly:
            return  # nothing was observed or judged: keep the last run's reports
        state = self._state()
        evidence = getattr(state, "evidence", None) if state is not None else None
        self.incomplete = self._incomplete(session, exitstatus, state, evidence)
        tests = sorted(self.outcomes.values(), key=lambda t: t.nodeid)
        framework = self.config.getoption("direktiv_framework", None)
        baseline = self.config.getoption("direktiv_baseline", None)
        extras = {"framework": framework, "baseline": baseline.snapshot if baseline else None,
                  "baseline_path": baseline.path if baseline else ""}
        try:
            verdicts = self._verdicts(session, evidence, getattr(state, "profile", None))
            document = evidence_document(evidence, verdicts, run=self._run_info(exitstatus, state, self.incomplete),
                                         tests=tests, **extras)
        except Exception as exc:  # still leave a report that says what went wrong
            reason = f"the report could not be built: {type(exc).__name__}: {scrub(str(exc))}"
            self.incomplete = "; ".join(r for r in (self.incomplete, reason) if r)
            document = evidence_document(None, (), run=self._run_info(exitstatus, state, self.incomplete), tests=tests,
                                         **extras)
        self.document = document
        from probes.sarif import render_sarif

        for kind, name, render in (("evidence", EVIDENCE_NAME, render_json), ("html", HTML_NAME, render_html),
                                   ("sarif", SARIF_NAME, render_sarif)):
            path = self.directory / name
            try:
                self.written[kind] = write_atomic(path, render(document))
            except OSError as exc:
                self.problems.append(f"could not write {path}: {exc.strerror or exc}")

    # -- the terminal -------------------------------------------------------------------------------------------

    def _counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for o in self.outcomes.values():
            if o.endpoint is None:
                continue
            counts.setdefault(o.endpoint, dict.fromkeys(OUTCOMES, 0))[o.outcome] += 1
        return counts

    def _show(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(path)

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int, config: pytest.Config) -> None:
        tr = terminalreporter
        if not self.written and not self.problems:
            return
        run = (self.document or {}).get("run") or {}
        off = run.get("protection_off") or {}
        banner = protection_banner(off, run.get("profile") or {})
        if banner:
            title = ("TLS or mTLS off by configuration" if off.get("tls") or off.get("mtls") else
                     "endpoints without a TLS setting in this chart line")
            tr.write_sep("!", title, yellow=True, bold=True)
            tr.write_line(banner, yellow=True, bold=True)
        tr.write_sep("-", "Direktiv TLS conformance by endpoint")
        counts = self._counts()
        order = [CLUSTER, *ENDPOINT_IDS]
        for endpoint in sorted(counts, key=lambda e: (order.index(e) if e in order else len(order), e)):
            c = counts[endpoint]
            line = f"{endpoint:<16}" + "  ".join(f"{c[o]:>3} {o}" for o in OUTCOMES)
            tr.write_line(line, red=bool(c["failed"]), yellow=bool(c["error"]) and not c["failed"],
                          green=not (c["failed"] or c["error"]))
        if not counts:
            tr.write_line("no control was judged")
        state = self._state()
        evidence = state.evidence if state is not None else None
        if evidence is not None:
            tr.write_line(f"expected configuration: {evidence.source}")
            if evidence.chart is not None:
                tr.write_line(f"chart: {evidence.chart.text}", yellow=evidence.chart.forced)
            for notice in evidence.notices:
                tr.write_line(f"notice: {notice}", yellow=True)
        self._framework_summary(tr)
        self._drift_summary(tr)
        if self.incomplete:
            tr.write_line(f"INCOMPLETE: {self.incomplete}", yellow=True, bold=True)
        for problem in self.problems:
            tr.write_line(problem, red=True)
        junit = self.junit_path()
        tr.write_line(f"junit     {self._show(junit) if junit else '(not written: pass --junitxml PATH)'}")
        for kind, label in (("evidence", "evidence"), ("html", "html"), ("sarif", "sarif")):
            if kind in self.written:
                tr.write_line(f"{label:<10}{self._show(self.written[kind])}")

    def _framework_summary(self, tr) -> None:
        view = (self.document or {}).get("framework")
        if not view:
            return
        from probes.frameworks import terminal_lines

        tr.write_sep("-", f"{view['title']} by requirement")
        for status, line in terminal_lines(view):
            tr.write_line(line, red=status == "fail", yellow=status == "error", green=status == "pass")

    def _drift_summary(self, tr) -> None:
        drift = (self.document or {}).get("drift")
        if not drift:
            return
        sentences = drift.get("sentences") or []
        base = drift.get("baseline") or {}
        tr.write_sep("-", f"changed since baseline {base.get('path')} ({len(sentences)})")
        for sentence in sentences:
            tr.write_line(sentence, yellow=True)
        if not sentences:
            tr.write_line("nothing changed since the baseline", green=True)
