"""The HTML report in a real browser: headless Chromium (Debian's ``chromium``) loads it without a console message,
and the screenshot shows the failures at the top of the page."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from probes.catalog import CONTROLS
from probes.controls import judge
from probes.profile import INTERMEDIATE
from probes.report import render_html
from test_report import PKI, make_document, make_evidence, make_verdicts

Image = pytest.importorskip("PIL.Image", reason="Pillow decodes the screenshot: pip install pillow (test extra)")

CHROMIUM_PACKAGE = "chromium"  # Debian's package; it installs /usr/bin/chromium
WINDOW = (1400, 1000)
# A cold start of headless Chromium takes about a second here; this only bounds a browser that hangs.
BROWSER_TIMEOUT = 45.0
INSTALL_TIMEOUT = 900.0
FAIL_RED = (207, 34, 46)  # --fail in the report's CSS
ERROR_ORANGE = (212, 114, 11)  # --error


def _install_chromium(config: pytest.Config) -> None:
    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")
    with capture.global_and_fixture_disabled():
        if reporter is not None:
            reporter.write_line(f"\n{CHROMIUM_PACKAGE} is not installed: the browser test installs Debian's package "
                                f"with 'apt-get update && apt-get install -y {CHROMIUM_PACKAGE}' (a few minutes, once)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", CHROMIUM_PACKAGE]):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.fail(f"could not install {CHROMIUM_PACKAGE} for the browser test: {' '.join(command)}: {exc}")
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-5:])
            pytest.fail(f"could not install {CHROMIUM_PACKAGE} for the browser test ({' '.join(command)} exited "
                        f"{done.returncode}); install it by hand (apt-get install -y {CHROMIUM_PACKAGE}):\n{tail}")


@pytest.fixture(scope="session")
def chromium(pytestconfig) -> str:
    """The path of Debian's Chromium, installed with apt-get when missing (we run as root, CI too)."""
    path = shutil.which("chromium")
    if path is None:
        if hasattr(os, "geteuid") and os.geteuid() != 0:
            pytest.fail(f"the browser test needs Debian's {CHROMIUM_PACKAGE}: run 'apt-get install -y "
                        f"{CHROMIUM_PACKAGE}' as root, or run the tests as root so they install it")
        _install_chromium(pytestconfig)
        path = shutil.which("chromium")
        if path is None:
            pytest.fail(f"apt-get installed {CHROMIUM_PACKAGE} but no 'chromium' is on PATH")
    return path


def run_chromium(chromium: str, page: Path, workdir: Path, *args: str, window=WINDOW) -> subprocess.CompletedProcess:
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        f"--user-data-dir={workdir / 'profile'}", f"--window-size={window[0]},{window[1]}",
        "--enable-logging=stderr", "--v=0", *args, page.as_uri(),
    ]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT, cwd=workdir)
    except subprocess.TimeoutExpired:
        pytest.fail(f"headless Chromium did not finish loading {page.name} within {BROWSER_TIMEOUT:.0f} s")


def console_messages(stderr: str) -> list[str]:
    """Chromium's console lines (script errors, CSP violations such as a blocked external resource)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def _near(pixel, colour, tolerance=40) -> bool:
    return all(abs(p - c) <= tolerance for p, c in zip(pixel[:3], colour))


def border_rows(image, colour, *, scan_width=300) -> list[int]:
    """The rows where the leftmost non-white pixel has ``colour`` and the page is white again 20 px further on:
    the coloured left border of a finding card (a count box is coloured all the way across)."""
    pixels = image.load()
    rows = []
    for y in range(image.height):
        for x in range(min(scan_width, image.width - 24)):
            p = pixels[x, y]
            if p[:3] == (255, 255, 255):
                continue
            if _near(p, colour) and all(v > 235 for v in pixels[x + 20, y][:3]):
                rows.append(y)
            break
    return rows


@pytest.fixture(scope="module")
def report_page(tmp_path_factory) -> Path:
    pki = PKI()
    document = make_document(pki)
    evidence = make_evidence(pki)
    for control in CONTROLS:  # every control judged for real on the hand-built evidence, as a run would
        for endpoint in control.endpoints:
            if endpoint not in document["verdicts"].get(control.id, {}):
                v = judge(control.id, endpoint, evidence, INTERMEDIATE)
                document["verdicts"].setdefault(control.id, {})[endpoint] = {
                    "status": v.status.value, "message": v.message, "facts": dict(v.facts), "test": None,
                    "outcome": None}
    page = tmp_path_factory.mktemp("report") / "report.html"
    page.write_text(render_html(document), encoding="utf-8")
    return page


def test_chromium_renders_the_report_with_failures_at_the_top(chromium, report_page, tmp_path):
    shot = tmp_path / "report.png"
    done = run_chromium(chromium, report_page, tmp_path, f"--screenshot={shot}")
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
    assert console_messages(done.stderr) == []
    assert shot.is_file(), f"chromium wrote no screenshot: {done.stderr[-2000:]}"

    image = Image.open(shot).convert("RGB")
    assert image.size == WINDOW
    colours = image.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50, "the screenshot is (nearly) blank"
    white = sum(n for n, c in colours or () if c == (255, 255, 255))
    assert white < 0.95 * WINDOW[0] * WINDOW[1], "the screenshot is (nearly) blank"

    red = border_rows(image, FAIL_RED)
    orange = border_rows(image, ERROR_ORANGE)
    assert len(red) > 40, "no failure card (red left border) is visible on the first screen"
    assert red[0] < WINDOW[1] * 0.6, f"the first failure starts at y={red[0]}, below the top part of the page"
    assert not orange or red[0] < orange[0], "errors are shown before failures"


def test_chromium_builds_the_dom_without_scripts(chromium, report_page, tmp_path):
    done = run_chromium(chromium, report_page, tmp_path, "--dump-dom")
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
    assert console_messages(done.stderr) == []
    dom = done.stdout
    assert '<table class="matrix">' in dom and "<svg" in dom
    assert "<script" not in dom
    assert dom.index('id="fails"') < dom.index('id="errors"') < dom.index('id="matrix"')


# The whole page at the report's design width: tall enough to hold every section of the fixture's report.
FULL_PAGE = (1400, 7000)
# main is centred at max-width 1320 with 28 px padding: at 1400 px, x >= 1400 - 40 - 28 is outside the content box.
CONTENT_RIGHT = 1400 - (1400 - 1320) // 2 - 28


@pytest.fixture(scope="module")
def audit_page(tmp_path_factory) -> Path:
    """A report with every auditor section: the PCI DSS view, a baseline with changes, renewal times and a
    certificate that would expire before its renewal, and long certificate names."""
    import copy
    import datetime as dt
    from dataclasses import replace

    from probes.drift import snapshot
    from probes.evidence import ObjectRead
    from probes.report import evidence_document

    pki = PKI()
    evidence = make_evidence(pki)
    late = pki.lb.cert.not_valid_after_utc + dt.timedelta(days=3)
    certificates = ObjectRead("cert-manager Certificates", value=[{
        "metadata": {"name": "direktiv-lb", "namespace": "default"}, "spec": {"secretName": "direktiv-lb"},
        "status": {"renewalTime": late.strftime("%Y-%m-%dT%H:%M:%SZ")}}])
    evidence = replace(evidence, objects={**evidence.objects, "certificates": certificates})
    before = copy.deepcopy(make_document(pki))
    before["verdicts"]["C-SAN-MATCH"]["lb"]["status"] = "pass"
    document = evidence_document(evidence, make_verdicts(), framework="pci-dss-4", baseline=snapshot(before),
                                 baseline_path="reports/last-quarter/evidence.json")
    page = tmp_path_factory.mktemp("audit") / "report.html"
    page.write_text(render_html(document), encoding="utf-8")
    return page


def test_chromium_at_1400_px_shows_nothing_past_the_content_box(chromium, audit_page, tmp_path):
    shot = tmp_path / "full.png"
    done = run_chromium(chromium, audit_page, tmp_path, f"--screenshot={shot}", window=FULL_PAGE)
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
    assert console_messages(done.stderr) == []
    image = Image.open(shot).convert("RGB")
    pixels = image.load()
    last_row = max(y for y in range(0, image.height, 4) if any(pixels[x, y] != (255, 255, 255)
                                                                for x in range(0, image.width, 9)))
    assert last_row < image.height - 50, "the report is taller than the screenshot: raise FULL_PAGE's height"
    outside = [(x, y) for y in range(0, last_row, 2) for x in range(CONTENT_RIGHT + 2, image.width)
               if pixels[x, y] != (255, 255, 255)]
    assert outside == [], f"something is drawn right of the content box at 1400 px, e.g. at {outside[:3]}"


def test_the_timeline_fits_any_width_and_keeps_whole_labels(audit_page):
    import re

    html_text = audit_page.read_text()
    timeline = html_text[html_text.index('<section id="timeline">'):html_text.index('<section id="secrets">')]
    svgs = re.findall(r"<svg[^>]*>", timeline)
    assert svgs and all('viewBox="0 0 1000 24"' in tag and "width=" not in tag for tag in svgs)  # CSS: width 100%
    assert "…" not in timeline  # no label is cut short
    assert "served by lb; secret default/direktiv-lb; trust anchor of lb" in timeline
    assert '<tr class=late>' in timeline and "expires before its renewal" in timeline
