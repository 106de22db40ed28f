import os
import threading

import pytest

from expect import wait_until

# grpcio's C core logs every refused handshake to stderr; the tests provoke many on purpose.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

# The tests read no file of the user's outside the repository (tests/isolation.py): imported first, before anything
# reads HOME.
from isolation import outside_reads  # noqa: E402

pytest_plugins = ["pytester", "_hypothesis_pytestplugin"]


def pytest_sessionfinish(session: pytest.Session) -> None:
    if outside_reads:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    for path in outside_reads:
        terminalreporter.write_line(f"a test read a file outside the repository: {path}", red=True)


@pytest.fixture(scope="session", autouse=True)
def go_program_built():
    """Builds the sandbox's Go program once, before any test starts a sandbox, so that a cold build (seconds, under
    its own bound) never counts against a test's limits. The cache is pinned for the session: pytester points HOME
    at a fresh directory, which would otherwise mean a cold build in every in-process suite run. Nothing to build
    where Go is not installed."""
    from sandbox.servers import go_available, go_binary
    from sandbox.servers._gobuild import CACHE_ENV, cache_root

    os.environ.setdefault(CACHE_ENV, str(cache_root()))
    if go_available():
        go_binary()


@pytest.fixture(autouse=True)
def _not_in_a_pod(monkeypatch):
    """The tests run as outside a cluster, wherever they run (a CI job in a pod has $KUBERNETES_SERVICE_HOST set,
    and the suite would then log in with that pod's service account instead of reporting a missing kubeconfig);
    tests/test_incluster.py sets it where a test is about a pod."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


@pytest.fixture
def no_leaked_threads():
    """Fails the test when a thread started during it is still alive SETTLE_SECONDS after it (grpcio's own threads
    end shortly after close() or stop())."""
    before = set(threading.enumerate())
    yield

    def leaked() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t not in before and t.is_alive()]

    if not wait_until(lambda: not leaked(), poll=0.05):
        pytest.fail(f"threads left behind: {[t.name for t in leaked()]}")
