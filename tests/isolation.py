"""The tests read no file of the user's outside the repository: no kubeconfig of theirs (a test that forgot
--kubeconfig would otherwise talk to their cluster), no cache or config in their home.

Imported by tests/conftest.py before anything reads HOME: HOME points into the repository's build/ (the Go program's
build cache lives there, reused across runs) for this process and every subprocess, the variables that would point
elsewhere are dropped, and an audit hook records every file opened under the real home; the conftest fails the
session when there is one.
"""

import os
import sys
import tempfile
from pathlib import Path

__all__ = ["REPO", "TEST_HOME", "REAL_HOME", "outside_reads", "reads_a_users_file"]

REPO = Path(__file__).resolve().parents[1]
TEST_HOME = REPO / "build" / "test-home"
REAL_HOME = Path(os.path.expanduser("~")).resolve()
# At most this many reads are recorded: the first few say what to fix.
_MAX_RECORDED = 20

for _variable in ("KUBECONFIG", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
                  "DIREKTIV_TLS_CONFORMANCE_CACHE"):
    os.environ.pop(_variable, None)
TEST_HOME.mkdir(parents=True, exist_ok=True)
os.environ["HOME"] = str(TEST_HOME)

# Where Python itself and its packages live may be under the home (pyenv): reading those is no user file.
_ALLOWED = tuple(os.path.realpath(p) for p in (REPO, tempfile.gettempdir(), sys.prefix, sys.base_prefix,
                                                 sys.exec_prefix, *[e for e in sys.path if e]))
outside_reads: list[str] = []


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def reads_a_users_file(path: str) -> bool:
    """Whether opening ``path`` reads a file of the user's: under the real home, and under none of the repository,
    the temporary directory, or the directories Python and its packages come from."""
    resolved = os.path.realpath(path)
    return _under(resolved, str(REAL_HOME)) and not any(_under(resolved, root) for root in _ALLOWED)


def _audit(event: str, args: tuple) -> None:
    if event != "open" or len(outside_reads) >= _MAX_RECORDED or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    path = os.fsdecode(args[0])
    if os.path.isabs(path) and reads_a_users_file(path):
        outside_reads.append(path)


sys.addaudithook(_audit)
