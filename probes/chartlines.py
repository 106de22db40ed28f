"""Which Direktiv this run judges: the chart lines the tool models, and the one a release belongs to.

Every expectation (service names, ports, which secret is mounted where, what a switch turns on) is the wiring of
one line of Direktiv's Helm chart. A release is matched to a line by its chart's name and version (what Helm records
as ``chart.metadata`` in the release secret); a release of a line the tool does not model, or of a chart that is not
Direktiv's, would be judged against wiring it never had, so it stops the run (:class:`UnsupportedChart`, exit 4)
unless the user forces a model. docs/CHART_LINES.md holds what each line wires, with sources.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass
from importlib import resources

import yaml

from probes.errors import UsageError

__all__ = ["ChartLine", "ChartIdentity", "UnsupportedChart", "CHART_LINES", "CHART_NAME", "MODEL_NAMES", "MODEL_V04",
           "MODEL_V07", "MODEL_V08", "chart_line", "identify", "is_chart_version", "supported_text"]

_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def is_chart_version(text: str) -> bool:
    """Whether the text is a SemVer chart version (what Helm requires of ``Chart.yaml``'s ``version``)."""
    return _version(text) is not None


def _version(text: str) -> tuple[int, int, int, int] | None:
    """A SemVer version (Helm's rule for chart versions; a leading ``v`` is tolerated, as appVersions have it) as
    (major, minor, patch, 0 for a pre-release else 1), else None: a pre-release comes before its release, so
    ``v0.5.10-rc1`` is not within a line that starts at v0.5.10 (build metadata does not count)."""
    match = _SEMVER.match(text.strip())
    return (int(match[1]), int(match[2]), int(match[3]), 0 if match[4] else 1) if match else None


_OPEN = 10**9  # an open upper bound within a minor version: (0, 4, _OPEN) is 0.4.x


@dataclass(frozen=True)
class ChartLine:
    """One line of Direktiv's chart whose TLS wiring is the same for every release in it.

    Attributes:
        model: the model's name (``--direktiv-chart-model``), e.g. ``v0.4``.
        chart_name: the chart's name in ``Chart.yaml`` (what the release secret records).
        chart_versions: the first and last chart version of the line, inclusive, as (major, minor, patch).
        app_versions: the first and last Direktiv version (``appVersion``), inclusive; a patch of ``_OPEN`` leaves
            the minor version open (``v0.4.x``); a first bound with a fourth element 0 takes in its pre-releases
            (``v0.8.0-rc3``). Chart versions alone do not tell the lines apart: Direktiv's
            chart was ``0.1.0`` from v0.4.0 to v0.5.10.
        defaults_file: the chart's default values for the line (package data under ``probes/data/charts``).
    """

    model: str
    chart_name: str
    chart_versions: tuple[tuple[int, ...], tuple[int, ...]]
    app_versions: tuple[tuple[int, ...], tuple[int, ...]]
    defaults_file: str

    @property
    def chart_text(self) -> str:
        return _range_text(self.chart_versions, "")

    @property
    def app_text(self) -> str:
        return _range_text(self.app_versions, "v")

    @property
    def text(self) -> str:
        """``chart direktiv 0.1.0 (Direktiv v0.4.0 to v0.4.x): model v0.4``."""
        return f"chart {self.chart_name} {self.chart_text} (Direktiv {self.app_text}): model {self.model}"

    def holds_chart(self, version: str) -> bool:
        return _within(version, self.chart_versions)

    def holds_app(self, version: str) -> bool:
        return _within(version, self.app_versions)

    def defaults(self) -> dict:
        """The chart's default values (a fresh copy)."""
        return copy.deepcopy(_defaults(self.defaults_file))


def _within(version: str, bounds) -> bool:
    """Whether ``version`` is within the inclusive bounds: (major, minor, patch) releases, or a 4-tuple ending in 0
    for a first bound that takes that version's pre-releases too."""
    parsed = _version(version)
    low, high = (tuple(b) if len(b) == 4 else (*b, 1) for b in bounds)
    return parsed is not None and low <= parsed <= high


def _range_text(bounds, prefix: str) -> str:
    def one(v):
        return prefix + ".".join("x" if part == _OPEN else str(part) for part in v[:3])
    first, last = bounds
    return one(first) if first == last else f"{one(first)} to {one(last)}"


@functools.cache
def _defaults(file_name: str) -> dict:
    text = resources.files("probes").joinpath("data", "charts", file_name).read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


# docs/CHART_LINES.md has the sources of every line.
MODEL_V04 = "v0.4"
MODEL_V07 = "v0.5.10-v0.7"
MODEL_V08 = "v0.8"
CHART_LINES: tuple[ChartLine, ...] = (
    ChartLine(
        model=MODEL_V04, chart_name="direktiv", chart_versions=((0, 1, 0), (0, 1, 0)),
        app_versions=((0, 4, 0), (0, 4, _OPEN)), defaults_file="direktiv-0.1.0-v0.4.1.yaml",
    ),
    ChartLine(
        model=MODEL_V07, chart_name="direktiv", chart_versions=((0, 1, 0), (0, 1, 20)),
        app_versions=((0, 5, 10), (0, 7, _OPEN)), defaults_file="direktiv-0.1.20-v0.7.5.yaml",
    ),
    ChartLine(
        model=MODEL_V08, chart_name="direktiv", chart_versions=((0, 1, 21, 0), (0, 1, 29)),
        app_versions=((0, 8, 0, 0), (0, 8, _OPEN)), defaults_file="direktiv-0.1.2x-v0.8.yaml",
    ),
)
MODEL_NAMES: tuple[str, ...] = tuple(line.model for line in CHART_LINES)
CHART_NAME = CHART_LINES[0].chart_name  # Direktiv's chart: every modelled line's (tests/test_chart_guard.py)


def chart_line(model: str) -> ChartLine:
    """The line of that model name; ValueError listing the models otherwise."""
    for line in CHART_LINES:
        if line.model == model:
            return line
    raise ValueError(f"no chart model {model!r}; the models are {', '.join(MODEL_NAMES)}")


def supported_text() -> str:
    """The supported lines in one phrase, for sentences."""
    return "; ".join(line.text for line in CHART_LINES)


class UnsupportedChart(UsageError):
    """The release is of a chart (line) the tool has no model of."""


@dataclass(frozen=True)
class ChartIdentity:
    """The chart a run judges, and the model it uses.

    Attributes:
        name, version: the chart's name and version as found (``""`` when unknown).
        app_version: the chart's ``appVersion`` (the Direktiv version), ``""`` when unknown.
        source: where they were found (``helm release default/direktiv revision 3``, ``--direktiv-chart-version``).
        model: the model the run uses.
        forced: the model was forced with ``--direktiv-chart-model`` rather than matched.
        matched: with a forced model, the model the chart itself matches ("" when none does).
    """

    name: str
    version: str
    app_version: str
    source: str
    model: str
    forced: bool = False
    matched: str = ""

    @property
    def line(self) -> ChartLine:
        return chart_line(self.model)

    @property
    def brief(self) -> str:
        """``direktiv 0.1.0 (app v0.4.1), model v0.4``."""
        return f"{_found(self.name, self.version, self.app_version)}, model {self.model}"

    @property
    def text(self) -> str:
        """``direktiv 0.1.0 (app v0.4.1) from Helm release default/direktiv revision 1; model v0.4 (matched)``."""
        found = _found(self.name, self.version, self.app_version)
        if not self.forced:
            how = "matched"
        elif self.matched == self.model:
            how = "forced with --direktiv-chart-model, the model the chart matches anyway"
        else:
            how = (f"forced with --direktiv-chart-model; the chart matches "
                   f"{'model ' + self.matched if self.matched else 'no model'}")
        return f"{found} from {self.source}; model {self.model} ({how})"

    def to_json(self) -> dict:
        return {"name": self.name, "version": self.version, "app_version": self.app_version, "source": self.source,
                "model": self.model, "forced": self.forced, "matched": self.matched}

    @classmethod
    def from_json(cls, data) -> "ChartIdentity | None":
        """The record :meth:`to_json` wrote, None for anything else (an older evidence file has none)."""
        try:
            return cls(str(data["name"]), str(data["version"]), str(data.get("app_version") or ""),
                       str(data["source"]), str(data["model"]), bool(data.get("forced")), str(data.get("matched") or ""))
        except (KeyError, TypeError):
            return None


def _found(name: str, version: str, app_version: str) -> str:
    """``direktiv 0.1.0 (app v0.4.1)``, as helm list shows a chart; what is unknown is left out."""
    app = f" (app {app_version})" if app_version else ""
    return f"{name or '(unnamed)'}{' ' + version if version else ''}{app}"


def identify(name: str, version: str, app_version: str = "", *, source: str,
             forced_model: str | None = None) -> ChartIdentity:
    """The line a chart belongs to; :class:`UnsupportedChart` (one sentence: what was found, what is supported,
    what to do) when no line models it, or when the chart version without an app version fits several.

    An empty ``name`` or ``version`` (what options did not give) matches every line's; an empty ``app_version``
    matches every app version. ``forced_model`` uses that model whatever was found."""
    if forced_model is not None:
        chart_line(forced_model)
        try:
            matched = identify(name, version, app_version, source=source).model
        except UnsupportedChart:  # also a chart recorded without name, version or app version
            matched = ""
        return ChartIdentity(name, version, app_version, source, forced_model, forced=True, matched=matched)
    found = f"chart {_found(name, version, app_version)}"
    advice = ("pass --direktiv-chart-model with one of " + ", ".join(MODEL_NAMES) +
              " to judge it against that model anyway")
    if not (name or version or app_version):
        raise UnsupportedChart(
            f"The {source} records no chart (no name, version or app version), so the suite cannot tell which "
            f"Direktiv it is (supported: {supported_text()}); {advice}.")
    if name and name not in {line.chart_name for line in CHART_LINES}:
        raise UnsupportedChart(
            f"The {source} is {found}, not Direktiv's chart, so the suite has no model of what it installs "
            f"(supported: {supported_text()}); point --direktiv-release/--direktiv-namespace at Direktiv's release, "
            f"or {advice}.")
    lines = [line for line in CHART_LINES if line.chart_name == (name or line.chart_name)
             and (not version or line.holds_chart(version)) and (not app_version or line.holds_app(app_version))]
    if len(lines) == 1:
        return ChartIdentity(name, version, app_version, source, lines[0].model)
    if lines:
        missing = "app version" if version else "chart version"
        flag = "--direktiv-app-version" if version else "--direktiv-chart-version"
        column = "APP VERSION" if version else "CHART"
        raise UnsupportedChart(
            f"The {source} is {found}, which several chart lines could be ({supported_text()}), and no {missing} "
            f"tells them apart; pass {flag} with the installation's {missing} (the {column} column of helm list), "
            f"or {advice}.")
    unreadable = [what for what, text in (("version", version), ("app version", app_version))
                  if text and _version(text) is None]
    why = f" (its {' and '.join(unreadable)} is not a SemVer version)" if unreadable else ""
    raise UnsupportedChart(
        f"The {source} is {found}{why}, a chart line the suite does not model (supported: {supported_text()}); "
        f"upgrade the tool if a newer one models it, or {advice}.")
