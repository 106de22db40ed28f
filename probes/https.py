"""One HTTPS GET, or one plain HTTP GET, through a local address, as the endpoint's name.

The connection goes to ``127.0.0.1:PORT`` (a port-forward) while the TLS SNI and the ``Host`` header carry the
endpoint's name. No redirect is followed: the status and ``Location`` are the observation (the LB's port 80 must
redirect to https).

Trust: capture first, judge later. Without ``ca_pem`` nothing is verified; with ``ca_pem`` the chain must lead
to it, but the hostname is never checked: the served chain and its names are judged by the handshake probe and
the certificate controls, so a wrong SAN does not also read as "HTTPS does not respond".

Built on httpcore, httpx's own transport layer, used directly because it takes a network backend: the one here
gives each step its own limit (connect, TLS handshake, read) and the whole request one deadline, so a server
that trickles a byte a second cannot stretch a request past ``connect + handshake + read`` seconds. httpx itself
only has per-operation timeouts. Errors never escape: they become one sentence in ``HttpResult.error``.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Iterable

import httpcore

from probes.errors import ConnectError, ConnectTimeout, HandshakeTimeout, ProbeError, ProbeTimeout, ReadTimeout
from probes.timeouts import DEFAULT_TIMEOUTS, Budget, Timeouts

__all__ = ["HttpResult", "https_get", "http_get", "USER_AGENT", "MAX_BODY"]

USER_AGENT = "direktiv-tls-conformance"
MAX_BODY = 64 * 1024  # bytes of the body read before the response is closed; only the status matters
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class HttpResult:
    """What one GET observed.

    Attributes:
        url: what was asked, as the server's name sees it (``https://<host><path>``).
        status: the response status, or None when no response came.
        location: the ``Location`` header, if any.
        http_version: "HTTP/1.1", "HTTP/1.0" or "HTTP/2" when a response came.
        error: one sentence saying why no response came (timeout, refusal, reset, TLS failure), else None.
        elapsed: seconds from connect to the end of the response (or the error).
        hsts: the ``Strict-Transport-Security`` header, None when absent (or no response came).
    """

    url: str
    status: int | None
    location: str | None
    http_version: str | None
    error: str | None
    elapsed: float
    hsts: str | None = None

    @property
    def answered(self) -> bool:
        return self.status is not None

    @property
    def redirects_to_https(self) -> bool:
        """A redirect status whose Location is an https:// URL."""
        return self.status in _REDIRECTS and bool(self.location) and self.location.lower().startswith("https://")


# --- a network backend with per-step limits and one deadline -----------------------------------------------


def _wait(sock: socket.socket, *, write: bool, timeout: float) -> bool:
    """Whether ``sock`` became readable (writable) within ``timeout`` (poll: no limit on descriptor numbers)."""
    if timeout < 0:
        return False
    poller = select.poll()
    poller.register(sock, (select.POLLOUT if write else select.POLLIN) | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(timeout * 1000))


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def limit(self, step: float | None) -> float:
        left = self.end - time.monotonic()
        return max(0.0, left if step is None else min(step, left))


class _Progress:
    """Which step a request is in, for the error sentence."""

    def __init__(self) -> None:
        self.phase = "TCP connect"


class _Stream(httpcore.NetworkStream):
    def __init__(self, sock: socket.socket, *, deadline: _Deadline, handshake: float, where: str,
                 progress: _Progress) -> None:
        self._sock = sock
        self._deadline = deadline
        self._handshake = handshake
        self._where = where
        self._progress = progress

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._progress.phase = "wait for the response"
        limit = self._deadline.limit(timeout)
        self._sock.settimeout(limit)
        try:
            return self._sock.recv(max_bytes)
        except TimeoutError:
            raise ReadTimeout(limit, self._where) from None

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._progress.phase = "request"
        limit = self._deadline.limit(timeout)
        self._sock.settimeout(limit)
        try:
            self._sock.sendall(buffer)
        except TimeoutError:
            raise ProbeTimeout(limit, f"{self._where}, sending the request") from None

    def close(self) -> None:
        self._sock.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> "_Stream":
        self._progress.phase = "TLS handshake"
        limit = self._deadline.limit(self._handshake)
        end = time.monotonic() + limit
        tls = ssl_context.wrap_socket(self._sock, server_hostname=server_hostname, do_handshake_on_connect=False)
        try:
            tls.setblocking(False)
            while True:  # one limit for the whole handshake, however slowly the bytes come
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    write = False
                except ssl.SSLWantWriteError:
                    write = True
                if not _wait(tls, write=write, timeout=end - time.monotonic()):
                    raise HandshakeTimeout(limit, self._where)
        except BaseException:
            tls.close()
            raise
        return _Stream(tls, deadline=self._deadline, handshake=self._handshake, where=self._where,
                       progress=self._progress)

    def get_extra_info(self, info: str):
        if info == "ssl_object":  # httpcore asks it selected_alpn_protocol(); the SSLSocket answers that
            return self._sock if isinstance(self._sock, ssl.SSLSocket) else None
        if info == "socket":
            return self._sock
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "is_readable":
            return _wait(self._sock, write=False, timeout=0.0)
        return None


class _Backend(httpcore.NetworkBackend):
    def __init__(self, deadline: _Deadline, *, handshake: float) -> None:
        self._deadline = deadline
        self._handshake = handshake
        self.progress = _Progress()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable | None = None) -> _Stream:
        where = f"{host}:{port}"
        limit = self._deadline.limit(timeout)
        try:
            sock = socket.create_connection((host, port), timeout=limit)
        except TimeoutError:
            raise ConnectTimeout(limit, where) from None
        except OSError as exc:
            raise ConnectError(f"TCP connect to {where} failed: {_os_reason(exc)}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Stream(sock, deadline=self._deadline, handshake=self._handshake, where=where,
                       progress=self.progress)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


# --- errors as sentences -----------------------------------------------------------------------------------


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(exc, BrokenPipeError):
        return "connection closed by peer"
    return exc.strerror or type(exc).__name__


def _describe(exc: BaseException, where: str, sni: str | None, phase: str) -> str:
    """One sentence for what went wrong, naming the step; never the exception's repr."""
    if isinstance(exc, ProbeError):
        return str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS handshake with {where} (SNI {sni}) failed: the served chain is not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or type(exc).__name__).replace("_", " ").lower()
        if phase == "TLS handshake":
            return f"TLS handshake with {where} (SNI {sni}) failed: {reason}"
        return f"{where} (SNI {sni}) ended the TLS connection after the handshake: {reason}"
    if isinstance(exc, httpcore.RemoteProtocolError):
        return f"{where} did not answer with HTTP: {exc}"
    if isinstance(exc, OSError):
        return f"{where}: {_os_reason(exc)} during the {phase}"
    if isinstance(exc, httpcore.TimeoutException):
        return f"{where}: timed out during the {phase}"
    return f"{where}: {type(exc).__name__} during the {phase}: {exc}"


# --- the probes --------------------------------------------------------------------------------------------


def _client_context(ca_pem: bytes | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # names are judged by C-SAN-MATCH, not here
    if ca_pem:
        ctx.load_verify_locations(cadata=ca_pem.decode("ascii", "replace"))
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _get(scheme: str, address: tuple[str, int], *, host: str, path: str, ssl_context: ssl.SSLContext | None,
         timeouts: Timeouts, budget: Budget | None) -> HttpResult:
    ip, port = address
    where = f"{ip}:{port}"
    url = f"{scheme}://{host}{path}"
    total = timeouts.connect + timeouts.read + (timeouts.handshake if ssl_context else 0.0)
    deadline = _Deadline(budget.limit(total) if budget is not None else total)
    extensions: dict = {"timeout": {"connect": timeouts.connect, "read": timeouts.read, "write": timeouts.read,
                                    "pool": timeouts.connect}}
    if ssl_context is not None:
        extensions["sni_hostname"] = host
    backend = _Backend(deadline, handshake=timeouts.handshake)
    started = time.monotonic()
    try:
        with httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=backend, retries=0,
                                     max_connections=1) as pool:
            with pool.stream(
                "GET",
                httpcore.URL(scheme=scheme, host=ip, port=port, target=path),
                headers=[("Host", host), ("User-Agent", USER_AGENT), ("Accept", "*/*")],
                extensions=extensions,
            ) as response:
                received = 0
                for chunk in response.iter_stream():
                    received += len(chunk)
                    if received >= MAX_BODY:
                        break
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
                version = response.extensions.get("http_version", b"").decode("ascii", "replace") or None
                return HttpResult(url, response.status, headers.get("location"), version, None,
                                  time.monotonic() - started, hsts=headers.get("strict-transport-security"))
    except Exception as exc:  # the boundary: every failure becomes one sentence
        sni = host if ssl_context is not None else None
        return HttpResult(url, None, None, None, _describe(exc, where, sni, backend.progress.phase), time.monotonic() - started)


def https_get(
    address: tuple[str, int],
    *,
    host: str,
    ca_pem: bytes | None = None,
    path: str = "/",
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    budget: Budget | None = None,
) -> HttpResult:
    """GET ``https://<host><path>`` from ``address``, with SNI and Host = ``host``; hostname never verified,
    the chain only when ``ca_pem`` is given (ValueError when ``ca_pem`` is not PEM)."""
    try:
        ctx = _client_context(ca_pem)
    except ssl.SSLError:
        raise ValueError("ca_pem holds no PEM certificate") from None
    return _get("https", address, host=host, path=path, ssl_context=ctx, timeouts=timeouts, budget=budget)


def http_get(
    address: tuple[str, int],
    *,
    host: str,
    path: str = "/",
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    budget: Budget | None = None,
) -> HttpResult:
    """GET ``http://<host><path>`` from ``address`` in plaintext, without following a redirect."""
    return _get("http", address, host=host, path=path, ssl_context=None, timeouts=timeouts, budget=budget)
