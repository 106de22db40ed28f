import os

import pytest

# grpcio's C core logs every refused handshake to stderr; the tests provoke many on purpose.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

pytest_plugins = ["pytester", "_hypothesis_pytestplugin"]


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
