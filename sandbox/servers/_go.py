"""Direktiv's servers as they really are: the Go program (``sandbox/go/direktiv-server``) in a child process.

    GoListener   one listener: gRPC (grpc-go, grpc.health.v1 SERVING) or HTTP (net/http answering a fixed status),
                 its TLS identity and client-certificate policy (:class:`ServerTLS`), and the knobs Direktiv never
                 sets (minimum version, suites, ALPN), each left at Go's default unless given
    GoProcess    one running program serving any number of listeners: ``listen()`` adds one, ``stop()`` ends all
    GoServer     one listener as a sandbox server (``address``, context manager, ``stop()``), in a process of its
                 own or in a shared :class:`GoProcess`

Go's defaults are Go 1.19's where Direktiv sets nothing: a server accepts TLS 1.0 to 1.3, and its default suites
include 3DES and static-RSA key exchange (usable with an RSA certificate only). The client verifier's quirks
(``ServerTLS.ignore_errors``) are a VerifyPeerCertificate callback behind RequireAnyClientCert (or
RequestClientCert) that verifies and lets one kind of error through.

The program talks JSON lines over its stdin and stdout (see its ``main.go``): private keys travel over the pipe,
never on a command line or through a file, and nothing it answers quotes them. Closing its stdin ends it, so it
never outlives this process; :meth:`GoProcess.stop` closes stdin, then terminates and kills within bounds, and
reaps the child. Every wait for an answer has a deadline.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from sandbox.servers._gobuild import GoError, go_binary
from sandbox.servers._grpc import DEFAULT_SERVICE_NAME
from sandbox.servers._listeners import _Base
from sandbox.servers._tls import ServerTLS

__all__ = ["GoProtocol", "GoListener", "GoProcess", "GoServer", "GoProcessError"]

_log = logging.getLogger(__name__)

# The program answers in milliseconds; a loaded CI machine may take a hundred times that.
DEFAULT_REPLY_TIMEOUT = 10.0
_EXIT_TIMEOUT = 5.0  # after stdin closes (then after SIGTERM) before the next, harsher step
_STDERR_TAIL = 1000  # characters of the program's stderr quoted when it dies
_VERSIONS = (None, "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")


class GoProcessError(GoError):
    """The Go program died, or did not answer in time."""


class GoProtocol(str, Enum):
    """What a listener serves."""

    GRPC = "grpc"  # grpc-go with grpc.health.v1; credentials.NewTLS(config) when TLS is on
    HTTP = "http"  # net/http answering a fixed status; ListenAndServeTLS when TLS is on


@dataclass(frozen=True)
class GoListener:
    """One listener of the Go program, configured the way Direktiv's Go code configures it.

    Attributes:
        protocol: gRPC or HTTP (:class:`GoProtocol`).
        tls: the certificate, key, ClientCAs, client-certificate mode and ignored verification errors; None
            serves plaintext (h2c gRPC, or HTTP).
        min_version: ``TLSv1`` .. ``TLSv1.3``; None leaves Go's default (a Go 1.19 server: TLS 1.0).
        cipher_suites: Go/IANA suite names (``TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256``); None leaves Go's default
            list (3DES and static RSA included in Go 1.19).
        alpn: negotiate ALPN (h2 for gRPC, h2 and http/1.1 for HTTP); False negotiates none.
        send_chain: send the intermediates of ``tls.cert_pem`` (False: the leaf only).
        plaintext_too: HTTP with TLS only: the port also answers plaintext HTTP/1.1 and h2c (first byte sniffed).
        status: HTTP: the status every request gets.
        service_name: gRPC: the named health service registered besides "" (both SERVING).
    """

    protocol: GoProtocol
    tls: ServerTLS | None = None
    min_version: str | None = None
    cipher_suites: tuple[str, ...] | None = None
    alpn: bool = True
    send_chain: bool = True
    plaintext_too: bool = False
    status: int = 200
    service_name: str = DEFAULT_SERVICE_NAME

    def __post_init__(self) -> None:
        object.__setattr__(self, "protocol", GoProtocol(self.protocol))
        if self.min_version not in _VERSIONS:
            raise ValueError(f"min_version must be one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3 or None (Go's default), "
                             f"given: {self.min_version!r}")
        if self.plaintext_too and (self.protocol is not GoProtocol.HTTP or self.tls is None):
            raise ValueError("plaintext_too needs an HTTP listener with tls")


def _request(listener: GoListener) -> dict:
    """The listen request; it holds the private key, so it goes to the program's stdin and nowhere else."""
    tls = listener.tls
    return {"listen": {
        "protocol": listener.protocol.value,
        "plaintext_too": listener.plaintext_too,
        "status": listener.status,
        "service_name": listener.service_name,
        "tls": None if tls is None else {
            "cert_pem": tls.cert_pem.decode("ascii"),
            "key_pem": tls.key.bytes().decode("ascii"),
            "client_ca_pem": (tls.client_ca_pem or b"").decode("ascii"),
            "client_auth": tls.client_auth.value,
            "ignore_errors": sorted(kind.value for kind in tls.ignore_errors),
            "min_version": listener.min_version or "",
            "cipher_suites": list(listener.cipher_suites or ()),
            "alpn": listener.alpn,
            "leaf_only": not listener.send_chain,
        },
    }}


class GoProcess:
    """One running Go program; any number of listeners. A context manager; ``stop()`` ends it and reaps it.

    Attributes:
        pid: the child's process ID.
        go_version: the Go it was built with (``go1.19.8``).
        grpc_version: grpc-go's version (``1.33.3``).
    """

    def __init__(self, *, binary: Path | None = None, timeout: float = DEFAULT_REPLY_TIMEOUT) -> None:
        program = binary or go_binary()
        self._lock = threading.Lock()
        self._pending = b""
        self._stopped = False
        self._stderr = tempfile.TemporaryFile()  # only the program's own fatal words: library logs are discarded
        try:
            self._proc = subprocess.Popen([str(program)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=self._stderr, bufsize=0, start_new_session=True)
        except OSError as exc:
            self._stderr.close()
            raise GoProcessError(f"cannot start the Go server program {program}: {exc.strerror or exc}") from exc
        self.pid = self._proc.pid
        try:
            hello = self._read_answer(timeout)
        except BaseException:
            self.stop()
            raise
        self.go_version, self.grpc_version = hello.get("go", ""), hello.get("grpc", "")

    def __repr__(self) -> str:
        return f"GoProcess(pid={self.pid}, {'stopped' if self._stopped else 'running'})"

    def __enter__(self) -> "GoProcess":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def returncode(self) -> int | None:
        """The program's exit status once it has ended (and been reaped), None while it runs."""
        return self._proc.poll()

    def listen(self, listener: GoListener, *, timeout: float = DEFAULT_REPLY_TIMEOUT) -> tuple[int, tuple[str, int]]:
        """Start ``listener`` on 127.0.0.1:0: (its id, its address). ValueError with Go's words when Go refuses
        the configuration (e.g. "tls: private key does not match public key")."""
        answer = self._ask(_request(listener), timeout)
        if "error" in answer:
            raise ValueError(answer["error"])
        host, port = answer["address"].rsplit(":", 1)
        return answer["id"], (host, int(port))

    def close(self, listener_id: int, *, timeout: float = DEFAULT_REPLY_TIMEOUT) -> None:
        """Close one listener and its connections; nothing to do once the process is stopped."""
        try:
            self._ask({"close": listener_id}, timeout)
        except GoProcessError:
            if not self._stopped:
                raise

    def stop(self) -> None:
        """Close stdin (the program closes every listener and exits), then SIGTERM, then SIGKILL, each after
        ``_EXIT_TIMEOUT`` and with a warning; the child is reaped. Calling it again does nothing."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        proc = self._proc
        try:
            proc.stdin.close()
        except OSError:
            pass
        for step, name in ((None, ""), (proc.terminate, "SIGTERM"), (proc.kill, "SIGKILL")):
            if step is not None:
                _log.warning("the Go server program (pid %d) did not end within %.0fs; sending %s", self.pid,
                             _EXIT_TIMEOUT, name)
                step()
            try:
                proc.wait(_EXIT_TIMEOUT)
                break
            except subprocess.TimeoutExpired:
                continue
        proc.stdout.close()
        self._stderr.close()

    # --- the pipe ----------------------------------------------------------------------------------------------

    def _ask(self, message: dict, timeout: float) -> dict:
        line = json.dumps(message).encode() + b"\n"
        with self._lock:
            if self._stopped:
                raise GoProcessError("the Go server program was stopped")
            try:
                view = memoryview(line)
                while view:
                    view = view[self._proc.stdin.write(view):]
            except (BrokenPipeError, ValueError):
                raise GoProcessError(f"the Go server program is gone{self._exit_words()}") from None
            return self._read_answer(timeout)

    def _read_answer(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        fd = self._proc.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise GoProcessError(f"the Go server program (pid {self.pid}) did not answer within {timeout:.1f}s")
            if not poller.poll(left * 1000):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise GoProcessError(f"the Go server program exited{self._exit_words()}")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            raise GoProcessError("the Go server program answered something that is not JSON") from None

    def _exit_words(self) -> str:
        try:
            code = self._proc.wait(1.0)
        except subprocess.TimeoutExpired:
            return ""
        self._stderr.seek(0)
        said = self._stderr.read().decode(errors="replace").strip()[-_STDERR_TAIL:]
        return f" (exit status {code}){': ' + said if said else ''}"


class GoServer(_Base):
    """One listener of the Go program as a sandbox server: ``address``, a context manager, ``stop()``.

    Without ``process`` it runs in a Go process of its own, which ``stop()`` ends; with one, ``stop()`` closes
    just this listener (the owner stops the process). ValueError when Go refuses the configuration.
    """

    def __init__(self, listener: GoListener, *, process: GoProcess | None = None) -> None:
        self.listener = listener
        self._own = process is None
        self.process = GoProcess() if process is None else process
        try:
            self._id, self.address = self.process.listen(listener)
        except BaseException:
            if self._own:
                self.process.stop()
            raise

    def _close(self) -> None:
        if self._own:
            self.process.stop()
        else:
            self.process.close(self._id)
