"""Find Go, build the Go program once per source and toolchain, and reuse the build.

    go_available()   Go and grpc-go's sources are installed (Debian: golang-go, golang-google-grpc-dev)
    go_binary()      the program, from the cache or built now (bounded, under a file lock)

The program is ``sandbox/go/direktiv-server`` (package data). Debian packages grpc-go as sources for GOPATH mode,
so it is built offline with ``GO111MODULE=off`` and ``GOPATH=<cache>/gopath:/usr/share/gocode``. The cache is
``$DIREKTIV_TLS_CONFORMANCE_CACHE`` or ``$XDG_CACHE_HOME/direktiv-tls-conformance`` (``~/.cache/...``): one
directory ``go-<hash>`` per build, the hash taken over the sources, ``go version`` and grpc-go's ``version.go``, and
Go's own build cache beside them, so that a changed source rebuilds only this package. Parallel builds (pytest
workers, a sweep's processes) wait for one another on a lock file; the first builds, the others reuse.

Errors::

    GoError                 (RuntimeError)
    ├── GoUnavailable       Go or grpc-go's sources are not installed
    └── GoBuildError        the build failed or took longer than BUILD_TIMEOUT
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

__all__ = [
    "BUILD_TIMEOUT",
    "CACHE_ENV",
    "SOURCE_DIR",
    "GoError",
    "GoUnavailable",
    "GoBuildError",
    "cache_root",
    "go_available",
    "go_binary",
]

SOURCE_DIR = Path(__file__).resolve().parent.parent / "go" / "direktiv-server"
CACHE_ENV = "DIREKTIV_TLS_CONFORMANCE_CACHE"
# Where Debian's golang-*-dev packages put Go sources for GOPATH mode.
DEBIAN_GOCODE = Path("/usr/share/gocode")
# A cold build takes 6-15 s on two cores (Debian ships the standard library precompiled); a loaded CI machine
# gets ten times that. Waiting for another process's build counts against the same limit.
BUILD_TIMEOUT = 300.0
_PROGRAM = "direktiv-server"
_GRPC_HEALTH = Path("src/google.golang.org/grpc/health/grpc_health_v1")
_GRPC_VERSION = Path("src/google.golang.org/grpc/version.go")
_VERSION_TIMEOUT = 30.0  # `go version`
_LOCK_POLL = 0.1

_built: dict[Path, Path] = {}  # cache directory -> binary, for this process
_built_lock = threading.Lock()


class GoError(RuntimeError):
    """The Go program cannot be had."""


class GoUnavailable(GoError):
    """Go or grpc-go's sources are not installed."""


class GoBuildError(GoError):
    """Building the Go program failed or took too long."""


def _gocode() -> Path | None:
    """The GOPATH entry that holds grpc-go's sources: one of ``$GOPATH``'s, else Debian's."""
    entries = [Path(p) for p in os.environ.get("GOPATH", "").split(os.pathsep) if p] + [DEBIAN_GOCODE]
    return next((entry for entry in entries if (entry / _GRPC_HEALTH).is_dir()), None)


def go_available() -> bool:
    """Whether ``go`` is on PATH and grpc-go's sources (with its health service) are installed."""
    return shutil.which("go") is not None and _gocode() is not None


def cache_root() -> Path:
    """``$DIREKTIV_TLS_CONFORMANCE_CACHE``, else ``$XDG_CACHE_HOME/direktiv-tls-conformance`` (``~/.cache``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "direktiv-tls-conformance"


def _go_env(root: Path, gocode: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GO111MODULE="off", GOFLAGS="", GOPROXY="off", GOTOOLCHAIN="local",
               GOPATH=os.pathsep.join([str(root / "gopath"), str(gocode)]), GOCACHE=str(root / "gocache"))
    return env


def _run(command: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``command`` in its own process group; on timeout the whole group (go and its compilers) is killed."""
    with subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, start_new_session=True) as proc:
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise GoBuildError(f"`{' '.join(command)}` took longer than {timeout:.0f}s and was stopped") from None
    return subprocess.CompletedProcess(command, proc.returncode, out.decode(errors="replace"), None)


@functools.lru_cache(maxsize=8)
def _go_version(go: str) -> str:
    """``go version`` of the ``go`` at that path (asked once per process)."""
    return _run([go, "version"], cwd=SOURCE_DIR, env=dict(os.environ), timeout=_VERSION_TIMEOUT).stdout


def _build_hash(gocode: Path) -> str:
    digest = hashlib.sha256()
    for source in sorted(SOURCE_DIR.glob("*.go")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    digest.update(_go_version(shutil.which("go")).encode())
    grpc_version = gocode / _GRPC_VERSION
    digest.update(grpc_version.read_bytes() if grpc_version.is_file() else b"")
    return digest.hexdigest()[:16]


class _FileLock:
    """An exclusive flock on ``path``, waited for until ``deadline`` (monotonic)."""

    def __init__(self, path: Path, deadline: float) -> None:
        self._path, self._deadline = path, deadline
        self._fd = -1

    def __enter__(self) -> "_FileLock":
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > self._deadline:
                    os.close(self._fd)
                    raise GoBuildError(f"another process held the build lock {self._path} for longer than "
                                       f"{BUILD_TIMEOUT:.0f}s") from None
                time.sleep(_LOCK_POLL)

    def __exit__(self, *exc_info) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def _build(directory: Path, env: dict[str, str], deadline: float) -> Path:
    """Build into a fresh directory beside ``directory`` and rename it into place (atomic for readers)."""
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        binary = staging / _PROGRAM
        result = _run(["go", "build", "-o", str(binary), "."], cwd=SOURCE_DIR, env=env,
                      timeout=max(1.0, deadline - time.monotonic()))
        if result.returncode != 0 or not binary.is_file():
            raise GoBuildError(f"`go build` of {SOURCE_DIR} failed (exit {result.returncode}): "
                               f"{result.stdout.strip()[-2000:]}")
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory / _PROGRAM


def go_binary(*, timeout: float = BUILD_TIMEOUT) -> Path:
    """The built Go program: from the cache when this source and toolchain were built before, else built now
    (within ``timeout`` seconds, waiting for a parallel build included). :class:`GoUnavailable` without Go or
    grpc-go, :class:`GoBuildError` when the build fails."""
    gocode = _gocode()
    if shutil.which("go") is None or gocode is None:
        raise GoUnavailable("the sandbox's Go servers need Go and grpc-go's sources; install them with "
                            "`apt-get install golang-go golang-google-grpc-dev`")
    root = cache_root()
    env = _go_env(root, gocode)
    directory = root / f"go-{_build_hash(gocode)}"
    with _built_lock:
        if directory in _built:
            return _built[directory]
        binary = directory / _PROGRAM
        if not binary.is_file():
            deadline = time.monotonic() + timeout
            root.mkdir(parents=True, exist_ok=True)
            with _FileLock(root / f"{directory.name}.lock", deadline):
                if not binary.is_file():  # nobody built it while we waited
                    binary = _build(directory, env, deadline)
        _built[directory] = binary
        return binary
