"""No leaks: after an in-process gathering against the sandbox (also one that met a fault), the threads, open
file descriptors (sockets included) and child processes are what they were before it."""

import os
import threading
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import pytest

from local_servers import child_pids
from expect import wait_until
from probes.profile import INTERMEDIATE
from probes.session import ObservationError, RunOptions, gather_evidence
from sandbox.cluster import start_sandbox
from sandbox.faults import CA_KEY_SECRET, FAULT_TIMEOUT, FAULTS


def _fds() -> dict[int, str]:
    found = {}
    for entry in Path("/proc/self/fd").iterdir():
        try:
            found[int(entry.name)] = os.readlink(entry)
        except OSError:  # the descriptor listdir itself used, closed meanwhile
            pass
    return found


def _threads() -> set[int]:
    return {t.ident for t in threading.enumerate()}


def _snapshot() -> tuple[set[int], dict[int, str], set[int]]:
    return _threads(), _fds(), child_pids()


def assert_back_to(before) -> None:
    """Waits up to SETTLE_SECONDS for every thread, descriptor and child started since ``before`` to end (grpcio
    and the forwarders' pumps wind down a little after the gathering returns)."""
    threads, fds, children = before

    def extra():
        return ([t for t in threading.enumerate() if t.ident not in threads],
                {fd: target for fd, target in _fds().items() if fd not in fds},
                child_pids() - children)

    wait_until(lambda: not any(extra()), poll=0.1)
    extra_threads, extra_fds, extra_children = extra()
    assert not extra_threads, f"threads left: {[t.name for t in extra_threads]}"
    assert not extra_fds, f"descriptors left: {extra_fds}"
    assert not extra_children, f"child processes left: {extra_children}"


@pytest.fixture(scope="module")
def conformant():
    with start_sandbox("conformant") as running:
        options = RunOptions(kubeconfig=str(running.kubeconfig_path), ca_key_secret=CA_KEY_SECRET,
                             timeout=FAULT_TIMEOUT)
        gather_evidence(options, INTERMEDIATE)  # warm-up: grpcio's process-wide threads start once, and stay
        yield running, options


def test_a_gathering_leaves_no_thread_socket_or_child_behind(conformant):
    _, options = conformant
    before = _snapshot()
    for _ in range(2):
        gather_evidence(options, INTERMEDIATE)
    assert_back_to(before)


@pytest.mark.parametrize("name", ["silent-server", "stream-dropped", "kubelet-hung", "api-hung"])
def test_a_gathering_that_meets_a_fault_leaves_nothing_behind(conformant, name):
    running, base = conformant
    before = _snapshot()
    with ExitStack() as undo:
        options = replace(base, **FAULTS[name].apply(running, undo))
        try:
            gather_evidence(options, INTERMEDIATE)
        except ObservationError:
            pass
    assert_back_to(before)  # with the fault switched off again, its own server stopped too
