"""The three ways to run the suite: ``pytest suites/`` in a checkout (installed or not: the top-level conftest.py
registers the plugin), ``pytest --pyargs direktiv_tls_conformance.suites`` and the ``direktiv-tls-conformance``
command; and the wheel that carries the suite."""

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from probes.plugin import SUITE_MARKER

REPO = Path(__file__).resolve().parents[1]
REPORTS = ["evidence.json", "junit.xml", "report.html"]
# A suite run against the sandbox takes seconds, a wheel build a few more: bounds that only catch a hang.
RUN_TIMEOUT = 300.0


def _run(args, *, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")} | env
    return subprocess.run(args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=RUN_TIMEOUT)


def _assert_passed_with_reports(result: subprocess.CompletedProcess, reports: Path) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "142 passed" in result.stdout, result.stdout
    assert sorted(p.name for p in reports.iterdir() if p.name in REPORTS) == REPORTS


def test_the_command_runs_the_bundled_suite_and_reports_in_the_current_directory(tmp_path):
    script = Path(sys.executable).with_name("direktiv-tls-conformance")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "direktiv_tls_conformance"]
    result = _run([*command, "--direktiv-sandbox", "conformant"], cwd=tmp_path)
    _assert_passed_with_reports(result, tmp_path / "reports")
    assert f"rootdir: {tmp_path}" in result.stdout and re.search(r"configfile: \S*/dev/null\n", result.stdout)
    assert "warning" not in result.stdout.lower()  # e.g. pytest's about a plugin module imported before it


def test_pyargs_finds_the_installed_suite(tmp_path):
    result = _run([sys.executable, "-m", "pytest", "--pyargs", "direktiv_tls_conformance.suites",
                   "--direktiv-sandbox", "conformant", "-p", "no:cacheprovider"], cwd=tmp_path)
    _assert_passed_with_reports(result, tmp_path / "reports")


def test_a_checkout_without_the_entry_point_runs_through_the_top_level_conftest(tmp_path):
    # With plugin autoloading off, nothing but the checkout's conftest.py can register the plugin.
    junit = tmp_path / "junit.xml"
    result = _run([sys.executable, "-m", "pytest", "suites/", "--direktiv-sandbox", "conformant", "-p",
                   "no:cacheprovider", f"--junitxml={junit}"], cwd=REPO, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    _assert_passed_with_reports(result, tmp_path)
    assert "direktiv-tls-conformance" not in next(line for line in result.stdout.splitlines()
                                                  if line.startswith("plugins:") or line.startswith("collected"))


def test_the_wheel_carries_the_suite_the_plugin_and_the_command(tmp_path):
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                  "--disable-pip-version-check", "-w", str(tmp_path), str(REPO)], cwd=tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next(tmp_path.glob("direktiv_tls_conformance-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {"direktiv_tls_conformance/suites/conftest.py", "direktiv_tls_conformance/suites/test_grpc_ports.py",
                "direktiv_tls_conformance/cli.py", "probes/plugin.py", "sandbox/go/direktiv-server/main.go"} <= names
        assert SUITE_MARKER in archive.read("direktiv_tls_conformance/suites/conftest.py").decode()
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "direktiv-tls-conformance = direktiv_tls_conformance.cli:main" in entry_points
    assert "direktiv_tls_conformance = probes.plugin" in entry_points
    assert not [n for n in names if n.startswith(("suites/", "tests/", "conftest.py"))]


@pytest.mark.parametrize("args", [["--rootdir", "/elsewhere"], ["-c", "my.ini"], ["--config-file=my.ini"]])
def test_the_command_leaves_a_given_rootdir_and_ini_file_alone(monkeypatch, args):
    from direktiv_tls_conformance import cli

    seen = []
    monkeypatch.setattr("pytest.main", lambda argv: seen.append(argv) or 0)
    assert cli.main(args) == 0
    argv = seen[0]
    assert argv[-1] == str(cli.suite_directory()) and argv[-1 - len(args):-1] == args
    given_rootdir, given_ini = args[0] == "--rootdir", args[0] != "--rootdir"
    assert any(a.startswith("--rootdir=") for a in argv) is not given_rootdir
    assert any(a.startswith("--config-file=") for a in argv[:-1 - len(args)]) is not given_ini
