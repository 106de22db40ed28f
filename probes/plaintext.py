"""Does a TLS port also speak plaintext? (facts for T-PLAINTEXT-REFUSED and T-MODE-MATCHES-CONFIG)

:func:`probe_plaintext` sends, each on its own connection, an HTTP/1.1 ``GET /`` and an HTTP/2 cleartext (h2c)
preface, and records what came back. A closed connection, a reset, a TLS alert record, silence, or a 400 whose
body says the request reached an HTTPS port (Go's net/http, nginx) are refusals; any other HTTP response means
the port answered plaintext HTTP. A SETTINGS frame back to the h2c preface means the port speaks cleartext
HTTP/2 (gRPC without TLS).

Library split: ``h11`` writes the request and parses the HTTP/1.1 response; ``h2`` writes the h2c preface and
recognises the SETTINGS frame. Only the TLS alert check (first byte 0x15, a TLS record of type alert) is by hand.
"""

from __future__ import annotations

import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import h11
import h2.config
import h2.connection
import h2.events
import h2.exceptions

from probes.errors import ConnectError, ConnectTimeout
from probes.timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = ["PlaintextResult", "HTTPS_PORT_PHRASES", "probe_plaintext"]

# Body phrases of the 400 that servers send when plaintext HTTP reaches their TLS port (lowercase).
HTTPS_PORT_PHRASES = (
    "client sent an http request to an https server",  # Go net/http
    "the plain http request was sent to https port",  # nginx
)
_TLS_ALERT_RECORD = 0x15
_HTTP1_400 = re.compile(rb"HTTP/1\.[01] 400[ \r]")
_MAX_BODY = 65536  # enough to read any refusal page; larger bodies are an answer anyway
_READ_CHUNK = 65536
_USER_AGENT = "direktiv-tls-conformance"


@dataclass(frozen=True)
class PlaintextResult:
    """What a TLS port did with plaintext.

    Attributes:
        http1_answered: an HTTP response came back that is not a refusal.
        http1_status: its status code (also for a refusing 400), None when no HTTP response came.
        http1_refusal: why it counts as refused: "closed", "reset", "tls-alert", "https-port-400", "no-response"
            (nothing within the read timeout) or "not-http" (bytes that are neither HTTP nor a TLS alert);
            None when answered.
        h2c_settings: a SETTINGS frame came back to the HTTP/2 cleartext preface.
        h2c_refusal: as http1_refusal for the h2c connection ("not-h2" for bytes that are not HTTP/2,
            "http1-400" for an HTTP/1 400 answer to the preface, as nginx's TLS port gives); None when SETTINGS came
            back.
        detail: one readable sentence covering both connections.
    """

    http1_answered: bool
    http1_status: int | None
    http1_refusal: str | None
    h2c_settings: bool
    h2c_refusal: str | None
    detail: str


class _Closed(Exception):
    """The peer closed (or reset) before the deadline."""

    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


def _connect(address: tuple[str, int], timeout: float) -> socket.socket:
    where = f"{address[0]}:{address[1]}"
    try:
        return socket.create_connection(address, timeout=timeout)
    except (socket.timeout, TimeoutError):
        raise ConnectTimeout(timeout, f"plaintext probe of {where}") from None
    except OSError as exc:
        raise ConnectError(f"the plaintext probe could not connect to {where}: {exc.strerror or exc}") from exc


def _recv(sock: socket.socket, deadline: float) -> bytes | None:
    """Next bytes, None when the deadline passed; raises _Closed on EOF or reset."""
    left = deadline - time.monotonic()
    if left <= 0:
        return None
    sock.settimeout(left)
    try:
        data = sock.recv(_READ_CHUNK)
    except (socket.timeout, TimeoutError):
        return None
    except (ConnectionResetError, ConnectionAbortedError):
        raise _Closed("reset") from None
    if not data:
        raise _Closed("closed")
    return data


def _send(sock: socket.socket, data: bytes, deadline: float) -> None:
    sock.settimeout(max(deadline - time.monotonic(), 0.001))
    try:
        sock.sendall(data)
    except (socket.timeout, TimeoutError):
        pass  # nothing taken: the reading side will time out and say so
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        raise _Closed("reset") from None


# --- HTTP/1.1 -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Http1:
    answered: bool
    status: int | None
    refusal: str | None
    words: str


def _is_https_port_400(status: int, body: bytes) -> bool:
    text = body.decode("latin-1").lower()
    return status == 400 and any(p in text for p in HTTPS_PORT_PHRASES)


def _judge_response(status: int, reason: bytes, body: bytes) -> _Http1:
    if _is_https_port_400(status, body):
        return _Http1(False, status, "https-port-400", "answered 400 saying the request reached an HTTPS port")
    return _Http1(True, status, None, f"answered HTTP {status} {reason.decode('latin-1')}".rstrip())


def _http1(sock: socket.socket, host: str, deadline: float) -> _Http1:
    client = h11.Connection(h11.CLIENT)
    request = h11.Request(method="GET", target="/", headers=[
        ("Host", host), ("User-Agent", _USER_AGENT), ("Accept", "*/*"), ("Connection", "close")])
    status: int | None = None
    reason = b""
    body = b""
    first = True
    try:
        _send(sock, client.send(request) + client.send(h11.EndOfMessage()), deadline)
        while True:
            event = client.next_event()
            if event is h11.NEED_DATA:
                data = _recv(sock, deadline)
                if data is None:
                    break
                if first and data[0] == _TLS_ALERT_RECORD:
                    return _Http1(False, None, "tls-alert", "answered with a TLS alert record")
                first = False
                client.receive_data(data)
            elif isinstance(event, h11.Response):
                status, reason = event.status_code, event.reason
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) >= _MAX_BODY:
                    break
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
    except _Closed as closed:
        if status is None and not first:
            return _Http1(False, None, "not-http", "answered with bytes that are not HTTP, then closed")
        if status is None:
            return _Http1(False, None, closed.how, f"{closed.how} the connection without an answer")
        client.receive_data(b"")  # a close-delimited body (Go's HTTP/1.0 400) ends here
    except h11.RemoteProtocolError:
        if status is None:
            return _Http1(False, None, "not-http", "answered with bytes that are not HTTP")
    if status is None and not first:
        return _Http1(False, None, "not-http", "answered with bytes that are not HTTP")
    if status is None:
        return _Http1(False, None, "no-response", "sent nothing back")
    return _judge_response(status, reason, body)


# --- h2c ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _H2c:
    settings: bool
    refusal: str | None
    words: str


def _h2c(sock: socket.socket, deadline: float) -> _H2c:
    state = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    state.initiate_connection()
    first = True
    not_h2 = _H2c(False, "not-h2", "answered with bytes that are not HTTP/2")
    try:
        _send(sock, state.data_to_send(), deadline)
        while True:
            data = _recv(sock, deadline)
            if data is None:
                return _H2c(False, "no-response", "sent nothing back") if first else not_h2
            if first and data[0] == _TLS_ALERT_RECORD:
                return _H2c(False, "tls-alert", "answered with a TLS alert record")
            if first and _HTTP1_400.match(data):
                # nginx on its TLS port parses the preface as an HTTP/1 request line and rejects it: no HTTP/2.
                return _H2c(False, "http1-400", "answered the preface with an HTTP/1.x 400 Bad Request")
            first = False
            try:
                events = state.receive_data(data)
            except h2.exceptions.ProtocolError:
                return not_h2
            if any(isinstance(e, h2.events.RemoteSettingsChanged) for e in events):
                return _H2c(True, None, "answered with an HTTP/2 SETTINGS frame")
    except _Closed as closed:
        if not first:
            return not_h2
        return _H2c(False, closed.how, f"{closed.how} the connection without a SETTINGS frame")


# --- the probe ------------------------------------------------------------------------------------------------


def probe_plaintext(
    address: tuple[str, int], *, host: str, timeouts: Timeouts = DEFAULT_TIMEOUTS
) -> PlaintextResult:
    """Send plaintext HTTP/1.1 and an h2c preface to ``address`` (one connection each, ``host`` as Host) and
    record what came back. Raises :class:`~probes.errors.ConnectError` / :class:`~probes.errors.ConnectTimeout`
    when the port cannot be reached at all."""
    where = f"{address[0]}:{address[1]}"

    def ask_h2c():
        with _connect(address, timeouts.connect) as sock:
            return _h2c(sock, time.monotonic() + timeouts.read)

    # Both questions at once, so a silent port costs one read limit, not two.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="h2c") as pool:
        h2c_future = pool.submit(ask_h2c)
        with _connect(address, timeouts.connect) as sock:
            http1 = _http1(sock, host, time.monotonic() + timeouts.read)
        h2c = h2c_future.result()
    detail = (f"{where}: to plaintext HTTP/1.1 it {http1.words}"
              f"{'' if http1.words != 'sent nothing back' else f' within {timeouts.read:.1f}s'}; "
              f"to an HTTP/2 cleartext preface it {h2c.words}"
              f"{'' if h2c.words != 'sent nothing back' else f' within {timeouts.read:.1f}s'}")
    return PlaintextResult(
        http1_answered=http1.answered, http1_status=http1.status, http1_refusal=http1.refusal,
        h2c_settings=h2c.settings, h2c_refusal=h2c.refusal, detail=detail,
    )
