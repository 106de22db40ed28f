"""Contour's Envoy: the TLS listener that picks a certificate by SNI, the internal Contour in front of knative
(:class:`SniRouter`) and the external one (:class:`LoadBalancer`, with port 80 and force-ssl-redirect)."""

from __future__ import annotations

import socket
import threading
from typing import Callable, Mapping

from OpenSSL import SSL

from sandbox.servers._http import (
    _H2_PREFACE,
    _fixed,
    _http_date,
    _peek_h2c,
    _Responder,
    _Response,
    _serve_http,
    _serve_https,
)
from sandbox.servers._listeners import (
    DEFAULT_IO_TIMEOUT,
    _Base,
    _drain_and_close,
    _Listener,
    _ListenerServer,
    _peek,
    _PlainStream,
)
from sandbox.servers._tls import ENVOY_POLICY, ServerTLS, TLSPolicy, _looks_like_tls, _server_context

_ENVOY_BAD_REQUEST_REPLY = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\ncontent-type: text/plain\r\nserver: envoy\r\n"
    b"connection: close\r\n\r\nBad Request"
)
# What the plain port's codec takes for HTTP/2 with prior knowledge: the preface's request line.
_ENVOY_H2C_PREFIX = _H2_PREFACE[:14]


def _sni_lookup(table: Mapping[str, object], name: str | None):
    """Envoy's server_names match: exact name first, then a ``*.suffix`` entry for one more label."""
    if not name:
        return None
    name = name.lower().rstrip(".")
    if name in table:
        return table[name]
    _, dot, rest = name.partition(".")
    return table.get(f"*.{rest}") if dot else None


class _EnvoyTLS(_ListenerServer):
    """Envoy's TLS listener: the certificate chosen by SNI, a default or none (handshake_failure)."""

    def __init__(
        self,
        tls_by_sni: Mapping[str, ServerTLS],
        default_tls: ServerTLS | None,
        *,
        policy: TLSPolicy,
        respond: _Responder,
        io_timeout: float,
        plaintext_reply: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self._contexts = {name.lower(): _server_context(tls, policy) for name, tls in tls_by_sni.items()}
        self._default = _server_context(default_tls, policy) if default_tls is not None else None
        self._refuse = _server_context(None, policy)  # no certificate: every handshake fails
        self._initial = _server_context(None, policy)
        self._initial.set_tlsext_servername_callback(self._choose)
        self._respond = respond
        self._plaintext_reply = plaintext_reply
        super().__init__(io_timeout=io_timeout)

    def _choose(self, conn: SSL.Connection) -> None:
        name = conn.get_servername()
        ctx = _sni_lookup(self._contexts, name.decode("ascii", "replace") if name else None)
        conn.set_context(ctx or self._default or self._refuse)

    def _handle(self, sock: socket.socket, stopping: threading.Event) -> None:
        if not _looks_like_tls(_peek(sock, 3, self._io_timeout)):
            if self._plaintext_reply is not None:  # a server that answers plaintext on its TLS port (nginx)
                sock.sendall(self._plaintext_reply(_peek_h2c(sock, self._io_timeout)))
            _drain_and_close(sock)  # Envoy's TLS inspector finds no ClientHello: the connection is closed
            return
        _serve_https(sock, self._initial, self._respond, timeout=self._io_timeout,
                     bad_request=_ENVOY_BAD_REQUEST_REPLY)


class SniRouter(_Base):
    """The internal Contour in front of knative: HTTPS on one port, the certificate chosen by SNI from
    ``tls_by_sni`` (exact or ``*.domain`` keys), else ``default_tls`` (config-contour's default-tls-secret); with
    ``default_tls=None`` an unknown or missing SNI fails the handshake with a handshake_failure alert."""

    def __init__(
        self,
        tls_by_sni: Mapping[str, ServerTLS],
        default_tls: ServerTLS | None = None,
        *,
        policy: TLSPolicy = ENVOY_POLICY,
        body: bytes = b"hello from knative\n",
        io_timeout: float = DEFAULT_IO_TIMEOUT,
    ) -> None:
        respond = _fixed(200, body, "text/plain", server="envoy")
        self._tls = _EnvoyTLS(tls_by_sni, default_tls, policy=policy, respond=respond, io_timeout=io_timeout)
        self.address = self._tls.address

    def _close(self) -> None:
        self._tls.stop()


class LoadBalancer(_Base):
    """The external Contour/Envoy: HTTPS on ``address`` (certificate by SNI, Envoy's TLS 1.2 minimum), plain
    HTTP on ``http_address``. With ``redirect=True`` (the force-ssl-redirect annotation) every plain request
    gets ``redirect_status`` (Envoy's ``301``) and ``location: https://<host><path>``; with ``redirect=False`` it
    is answered 200 in plaintext. The plain port also speaks HTTP/2 with prior knowledge, as Envoy's codec AUTO
    does. Requests are answered by the balancer itself (200), not proxied to the API/UI. ``hsts`` is the
    Strict-Transport-Security value its answers carry (Contour sends none unless a response-headers policy sets
    it). ``server`` is the Server header; ``plaintext_reply`` what plaintext on the TLS port gets, given its
    first bytes (None: Envoy's close)."""

    def __init__(
        self,
        tls_by_sni: Mapping[str, ServerTLS],
        default_tls: ServerTLS | None = None,
        *,
        redirect: bool = True,
        hsts: str | None = None,
        policy: TLSPolicy = ENVOY_POLICY,
        body: bytes = b"<html><body>direktiv</body></html>\n",
        io_timeout: float = DEFAULT_IO_TIMEOUT,
        server: str = "envoy",
        redirect_status: int = 301,
        plaintext_reply: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.redirect = redirect
        self._io_timeout = io_timeout
        self._server, self._redirect_status = server, redirect_status
        self._ok = _fixed(200, body, "text/html", server=server,
                          extra_headers=(("strict-transport-security", hsts),) if hsts else ())
        self._plain_ok = _fixed(200, body, "text/html", server=server)
        self._tls = _EnvoyTLS(tls_by_sni, default_tls, policy=policy, respond=self._ok, io_timeout=io_timeout,
                              plaintext_reply=plaintext_reply)
        try:
            self._plain = _Listener(self._handle_plain, name="LoadBalancer-http", io_timeout=io_timeout)
        except BaseException:
            self._tls.stop()
            raise
        self.address = self._tls.address
        self.https_address = self._tls.address
        self.http_address = self._plain.address

    def _redirect(self, _method: str, target: str, host: str) -> _Response:
        hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host  # Envoy drops the port
        location = f"https://{hostname}{target if target.startswith('/') else '/' + target}"
        return _Response(self._redirect_status, (("location", location), ("date", _http_date()),
                                                 ("server", self._server)))

    def _handle_plain(self, sock: socket.socket, stopping: threading.Event) -> None:
        head = _peek_h2c(sock, self._io_timeout, _ENVOY_H2C_PREFIX)
        respond = self._redirect if self.redirect else self._plain_ok
        _serve_http(_PlainStream(sock), respond, h2=head == _ENVOY_H2C_PREFIX, bad_request=_ENVOY_BAD_REQUEST_REPLY)

    def _close(self) -> None:
        self._plain.stop()
        self._tls.stop()
