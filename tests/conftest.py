import os
import threading

import pytest

from expect import wait_until

# grpcio's C core logs every refused handshake to stderr; the tests provoke many on purpose.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

pytest_plugins = ["pytester", "_hypothesis_pytestplugin"]


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
