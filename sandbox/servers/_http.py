"""HTTP over the sandbox's sockets: h11 and h2 answer every request with a fixed response; Go's net/http server.

:class:`GoHttpsServer` is Direktiv's API/UI on 8080. The framing helpers below it serve the Envoy-like servers
(:mod:`sandbox.servers._envoy`) as well.
"""

from __future__ import annotations

import email.utils
import socket
import threading
from dataclasses import dataclass
from typing import Callable

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h11
from OpenSSL import SSL

from sandbox.servers._listeners import DEFAULT_IO_TIMEOUT, _drain_and_close, _ListenerServer, _peek, _PlainStream
from sandbox.servers._tls import GO_HTTP_POLICY, ServerTLS, TLSPolicy, _accept_tls, _looks_like_tls, _server_context

# What Go's net/http writes, verbatim, when a plaintext HTTP request reaches its TLS port (server.go).
GO_HTTPS_PLAINTEXT_REPLY = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
# What Go's net/http writes, verbatim, when it cannot parse a request.
GO_BAD_REQUEST_REPLY = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
    b"400 Bad Request"
)
# Go's tlsRecordHeaderLooksLikeHTTP: the first five bytes it recognizes as a plaintext request.
_GO_HTTP_PREFIXES = (b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO")
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


# --- HTTP answers (h11, h2) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Response:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


_Responder = Callable[[str, str, str], _Response]  # (method, target, host) -> response


def _http_date() -> str:
    return email.utils.formatdate(usegmt=True)


def _serve_http1(stream, respond: _Responder, *, bad_request: bytes, max_requests: int = 100) -> None:
    conn = h11.Connection(h11.SERVER)
    for _ in range(max_requests):
        request = None
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                stream.sendall(bad_request)
                return
            if event is h11.NEED_DATA:
                conn.receive_data(stream.recv(65536))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers}
        response = respond(request.method.decode(), request.target.decode("latin-1"), headers.get("host", ""))
        out_headers = [*response.headers, ("content-length", str(len(response.body)))]
        stream.sendall(
            conn.send(h11.Response(status_code=response.status, headers=out_headers))
            + (conn.send(h11.Data(data=response.body)) if request.method != b"HEAD" else b"")
            + conn.send(h11.EndOfMessage())
        )
        if conn.our_state is h11.MUST_CLOSE:
            return
        conn.start_next_cycle()


def _serve_http2(stream, respond: _Responder) -> None:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    conn.initiate_connection()
    stream.sendall(conn.data_to_send())
    pending: dict[int, dict[str, str]] = {}
    while True:
        data = stream.recv(65536)
        if not data:
            return
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            stream.sendall(conn.data_to_send())  # the GOAWAY h2 queued
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                pending[event.stream_id] = dict(event.headers)
                if event.stream_ended is None:
                    continue
                _answer_h2(conn, event.stream_id, pending.pop(event.stream_id), respond)
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id in pending:
                _answer_h2(conn, event.stream_id, pending.pop(event.stream_id), respond)
            elif isinstance(event, h2.events.ConnectionTerminated):
                stream.sendall(conn.data_to_send())
                return
        out = conn.data_to_send()
        if out:
            stream.sendall(out)


def _answer_h2(conn, stream_id: int, headers: dict[str, str], respond: _Responder) -> None:
    response = respond(headers.get(":method", "GET"), headers.get(":path", "/"), headers.get(":authority", ""))
    conn.send_headers(
        stream_id,
        [(":status", str(response.status)), *response.headers, ("content-length", str(len(response.body)))],
        end_stream=not response.body,
    )
    if response.body:
        conn.send_data(stream_id, response.body, end_stream=True)


def _serve_http(stream, respond: _Responder, *, h2: bool, bad_request: bytes) -> None:
    if h2:
        _serve_http2(stream, respond)
    else:
        _serve_http1(stream, respond, bad_request=bad_request)


def _fixed(status: int, body: bytes, content_type: str, server: str | None,
           extra_headers: tuple[tuple[str, str], ...] = ()) -> _Responder:
    """A responder that answers every request with ``status``, ``body`` and ``extra_headers``."""

    def respond(_method: str, _target: str, _host: str) -> _Response:
        headers = [("content-type", content_type), ("date", _http_date()), *extra_headers]
        if server:
            headers.append(("server", server))
        return _Response(status, tuple(headers), body)

    return respond


def _peek_h2c(sock: socket.socket, timeout: float, preface: bytes = _H2_PREFACE) -> bytes:
    """The client's first bytes, not consumed: read until they are ``preface`` (HTTP/2 with prior knowledge) or
    can no longer become it."""
    return _peek(sock, len(preface), timeout, enough=lambda head: not preface.startswith(head))


def _serve_https(sock: socket.socket, ctx: SSL.Context, respond: _Responder, *, timeout: float,
                 bad_request: bytes) -> None:
    """Handshake as the server, then answer HTTP/2 if ALPN chose it, else HTTP/1.1, and close_notify."""
    stream = _accept_tls(sock, ctx, timeout)
    if stream is not None:
        _serve_http(stream, respond, h2=stream.alpn == "h2", bad_request=bad_request)
        stream.close_notify()


# --- Go's net/http -----------------------------------------------------------------------------------------


class GoHttpsServer(_ListenerServer):
    """Direktiv's API or UI on 8080: Go 1.15 net/http, HTTPS when ``tls`` is given, else plaintext HTTP.

    Answers every request with ``status`` and ``body`` over HTTP/1.1 or, when ALPN picks it, HTTP/2. On the TLS
    port a plaintext request gets Go's exact answer (:data:`GO_HTTPS_PLAINTEXT_REPLY`), anything else that is not
    TLS is closed; with ``plaintext_too`` the TLS port instead answers plaintext HTTP/1.1 and h2c as well (a
    listener that sniffs the first bytes, like cmux in front of net/http). On the plaintext port a TLS
    ClientHello gets Go's 400 at once (Go itself answers only once a newline arrives among the random bytes, or
    never: the sandbox stays deterministic).
    """

    def __init__(
        self,
        tls: ServerTLS | None = None,
        *,
        policy: TLSPolicy = GO_HTTP_POLICY,
        status: int = 200,
        plaintext_too: bool = False,
        body: bytes = b'{"status":"ok"}\n',
        content_type: str = "application/json",
        io_timeout: float = DEFAULT_IO_TIMEOUT,
    ) -> None:
        self.tls = tls
        self.status = status
        self.plaintext_too = plaintext_too
        self._ctx = _server_context(tls, policy) if tls is not None else None
        self._respond = _fixed(status, body, content_type, server=None)
        super().__init__(io_timeout=io_timeout)

    def _handle(self, sock: socket.socket, stopping: threading.Event) -> None:
        if self._ctx is None:
            head = _peek(sock, 1, self._io_timeout)
            if head[:1] == b"\x16":
                sock.sendall(GO_BAD_REQUEST_REPLY)
                _drain_and_close(sock)
                return
            _serve_http1(_PlainStream(sock), self._respond, bad_request=GO_BAD_REQUEST_REPLY)
            return
        if self.plaintext_too:
            head = _peek_h2c(sock, self._io_timeout)
            if head and not _looks_like_tls(head):
                _serve_http(_PlainStream(sock), self._respond, h2=head == _H2_PREFACE,
                            bad_request=GO_BAD_REQUEST_REPLY)
                return
        head = _peek(sock, 5, self._io_timeout)
        if not _looks_like_tls(head):
            if head[:5] in _GO_HTTP_PREFIXES:
                sock.sendall(GO_HTTPS_PLAINTEXT_REPLY)
            _drain_and_close(sock)
            return
        _serve_https(sock, self._ctx, self._respond, timeout=self._io_timeout, bad_request=GO_BAD_REQUEST_REPLY)
