"""A good neighbour: the plugin loads beside the pytest plugins a CI image commonly has (pytest-timeout, which
registers --timeout, pytest-xdist, pytest-randomly, pytest-rerunfailures, pytest-html), and the suite and the
project's plugin tests pass there.

The environment is a virtual environment under build/ with the five plugins installed from the package index, and
this project's environment (its editable install and dependencies) on its path through a .pth file; it is made once
and reused while the plugin list and the project's environment stay the same. ``make test-neighbours`` runs every
project test in it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser.xunit2 import JUnitXml

REPO = Path(__file__).resolve().parents[1]
NEIGHBOURS = ("pytest-timeout", "pytest-xdist", "pytest-randomly", "pytest-rerunfailures", "pytest-html")
# Their plugin names in `pytest --version --version` / the header's "plugins:" line.
PLUGIN_NAMES = ("timeout", "xdist", "randomly", "rerunfailures", "html")
VENV = REPO / "build" / "neighbours"
# Creating the environment downloads five small packages (seconds); a suite run takes a few seconds. Generous
# bounds that only catch a hang.
INSTALL_TIMEOUT = 600.0
RUN_TIMEOUT = 600.0


def _project_site() -> Path:
    """The site-packages that holds this project's install and its dependencies (found through one of them: the
    project's own metadata may be found in the checkout first, beside its sources)."""
    import kubernetes

    return Path(kubernetes.__file__).resolve().parents[1]


def _python() -> Path:
    return VENV / "bin" / "python"


def neighbours_python() -> Path:
    """The interpreter of the environment with the five plugins, made (or remade) when missing or stale."""
    stamp = VENV / "neighbours.json"
    wanted = {"plugins": list(NEIGHBOURS), "project_site": str(_project_site()), "python": sys.version, "pip": False}
    if _python().exists() and stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return _python()
    # Without pip (and the old setuptools that comes with it): the project's own pip and setuptools serve, through
    # the .pth file below, so that a wheel built in there uses the project's build tools.
    subprocess.run([sys.executable, "-m", "venv", "--clear", "--without-pip", str(VENV)], check=True,
                   timeout=INSTALL_TIMEOUT)
    purelib = Path(subprocess.run([str(_python()), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True, timeout=60).stdout.strip())
    # addsitedir (not a plain path line) so that the project's own .pth files, its editable install among them, apply
    purelib.joinpath("direktiv_project.pth").write_text(f"import site; site.addsitedir({str(_project_site())!r})\n")
    subprocess.run([str(_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *NEIGHBOURS],
                   check=True, timeout=INSTALL_TIMEOUT)
    stamp.write_text(json.dumps(wanted))
    return _python()


def _pytest(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([str(python), "-m", "pytest", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)


@pytest.fixture(scope="module")
def python() -> Path:
    return neighbours_python()


def test_the_environment_has_the_five_plugins_and_ours(python, tmp_path):
    result = _pytest(python, "--version", "--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in (*NEIGHBOURS, "direktiv-tls-conformance"):
        assert name in result.stdout + result.stderr, result.stdout + result.stderr


def test_the_suite_passes_beside_them_and_writes_the_three_reports(python, tmp_path):
    # pytest-timeout's --timeout and ours (--direktiv-timeout) side by side
    result = _pytest(python, str(REPO / "suites"), "--direktiv-sandbox", "conformant", "--timeout", "300",
                     "--direktiv-timeout", "10", f"--junitxml={tmp_path / 'out' / 'junit.xml'}", "-p",
                     "no:cacheprovider", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    header = next(line for line in result.stdout.splitlines() if line.startswith("plugins:"))
    assert all(f"{name}-" in header for name in PLUGIN_NAMES), header
    assert "142 passed" in output
    assert not [line for line in result.stderr.splitlines() if ".cc:" in line]  # no gRPC C-core log lines
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["evidence.json", "junit.xml", "report.html", "results.sarif"]
    assert [s.name for s in JUnitXml.fromfile(str(tmp_path / "out" / "junit.xml"))] == ["direktiv-tls-conformance"]


def test_the_plugins_own_tests_pass_beside_them(python):
    result = _pytest(python, "tests/test_plugin_usage.py", "-p", "no:cacheprovider", cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Using --randomly-seed=" in result.stdout  # the order was shuffled, and still every test passed


def test_a_run_of_other_tests_beside_them_is_untouched(python, tmp_path):
    tmp_path.joinpath("suites").mkdir()  # a folder named suites is no reason to switch on
    tmp_path.joinpath("suites", "test_plain.py").write_text("def test_ok():\n    assert True\n")
    result = _pytest(python, "suites", "--timeout", "30", "-p", "no:cacheprovider", cwd=tmp_path)
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout + result.stderr
    assert not tmp_path.joinpath("reports").exists()


def test_xdist_is_refused_in_one_sentence(python, tmp_path):
    result = _pytest(python, str(REPO / "suites"), "--direktiv-sandbox", "conformant", "-n", "2", cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert result.stderr.strip().startswith("ERROR: The Direktiv TLS conformance suite gathers its evidence once")
    assert "Traceback" not in result.stderr and not tmp_path.joinpath("reports").exists()


if __name__ == "__main__":  # make test-neighbours: the interpreter to run every project test with
    print(neighbours_python())
