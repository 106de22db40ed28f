"""Server behaviours the scenarios need that :mod:`sandbox.servers` does not offer (yet), built on its classes.

- :func:`configure_client_verification`: the client-certificate policy of a pyOpenSSL server context, including
  Go's ``RequireAnyClientCert`` (a certificate is required, none is verified) and verifiers that ignore one kind
  of X.509 error: 'unable to get local issuer certificate' (a foreign CA's client passes), 'self-signed
  certificate' (a clone of the client certificate passes), 'certificate has
  expired', 'unsupported certificate purpose' (no clientAuth EKU passes).
- :class:`QuirkyTLSTerminator` / :class:`QuirkyGoGrpcServer`: the Go-like gRPC front with that policy.
- :class:`QuirkyGoHttpsServer`: Direktiv's API/UI answering another status (e.g. 503), and optionally answering
  plaintext HTTP/1.1 and h2c on its TLS port as well.

pyOpenSSL does the TLS (its verify callback sees OpenSSL's error number per certificate); h11/h2 the HTTP, through
:mod:`sandbox.servers`' own helpers. Meant to be merged into :mod:`sandbox.servers` as options.
"""

from __future__ import annotations

import socket
import threading
from enum import Enum
from typing import Iterable

from OpenSSL import SSL, crypto

from sandbox import servers
from sandbox.servers import (
    GO_GRPC_POLICY,
    GO_HTTP_POLICY,
    GoHttpsServer,
    GrpcHealthServer,
    ServerTLS,
    TLSPolicy,
    TLSTerminator,
)

__all__ = [
    "ClientVerification",
    "IGNORABLE_ERRORS",
    "configure_client_verification",
    "QuirkyTLSTerminator",
    "QuirkyGoGrpcServer",
    "QuirkyGoHttpsServer",
]

# OpenSSL's X509_V_ERR_* numbers a quirky verifier may ignore, by the quirk's name (sandbox.scenarios.VerifyQuirk).
IGNORABLE_ERRORS: dict[str, frozenset[int]] = {
    # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
    "accepts-unknown-issuer": frozenset({20, 21}),
    # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
    "accepts-self-signed": frozenset({18, 19}),
    # X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CERT_NOT_YET_VALID
    "ignores-expiry": frozenset({10, 9}),
    # X509_V_ERR_INVALID_PURPOSE
    "ignores-eku-purpose": frozenset({26}),
}


class ClientVerification(str, Enum):
    """The client-certificate policy (Go's tls.ClientAuthType, plus the verifying one with ignored errors)."""

    NONE = "none"                              # NoClientCert
    VERIFY_IF_GIVEN = "verify-if-given"        # VerifyClientCertIfGiven
    REQUIRE_ANY = "require-any"                # RequireAnyClientCert: required, never verified
    REQUIRE_AND_VERIFY = "require-and-verify"  # RequireAndVerifyClientCert


def configure_client_verification(
    ctx: SSL.Context,
    client_ca_pem: bytes | None,
    mode: ClientVerification,
    *,
    ignore: Iterable[int] = (),
) -> None:
    """Set the client-certificate policy of a server context: trust ``client_ca_pem`` for clients, demand per
    ``mode``, and treat the OpenSSL verification errors in ``ignore`` as if verification had passed."""
    if mode is ClientVerification.NONE:
        ctx.set_verify(SSL.VERIFY_NONE)
        return
    if client_ca_pem:
        store = ctx.get_cert_store()
        for cert in servers._load_certs(client_ca_pem, "ca.crt"):
            try:
                store.add_cert(crypto.X509.from_cryptography(cert))
            except crypto.Error:  # already there (the base class may have added the same CA)
                pass
    ignored = frozenset(ignore)
    if mode is ClientVerification.REQUIRE_ANY:
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *_: True)
        return

    def verify(_conn, _cert, errnum: int, _depth: int, ok: int) -> bool:
        return bool(ok) or errnum in ignored

    flags = SSL.VERIFY_PEER
    if mode is ClientVerification.REQUIRE_AND_VERIFY:
        flags |= SSL.VERIFY_FAIL_IF_NO_PEER_CERT
    ctx.set_verify(flags, verify)


class QuirkyTLSTerminator(TLSTerminator):
    """:class:`sandbox.servers.TLSTerminator` with any :class:`ClientVerification` and ignored errors."""

    def __init__(
        self,
        backend: tuple[str, int],
        tls: ServerTLS,
        *,
        verification: ClientVerification,
        ignore: Iterable[int] = (),
        policy: TLSPolicy = GO_GRPC_POLICY,
    ) -> None:
        super().__init__(backend, tls, policy=policy)
        # Contexts are copied into each connection at accept: no connection exists yet on a fresh port.
        configure_client_verification(self._ctx, tls.client_ca_pem, verification, ignore=ignore)


class QuirkyGoGrpcServer(servers._Base):
    """An insecure grpcio health server behind a :class:`QuirkyTLSTerminator` (a Go gRPC port with a quirk)."""

    def __init__(
        self,
        tls: ServerTLS,
        *,
        verification: ClientVerification,
        ignore: Iterable[int] = (),
        policy: TLSPolicy = GO_GRPC_POLICY,
    ) -> None:
        self.backend = GrpcHealthServer()
        try:
            self.front = QuirkyTLSTerminator(self.backend.address, tls, verification=verification, ignore=ignore,
                                             policy=policy)
        except BaseException:
            self.backend.stop()
            raise
        self.address = self.front.address

    def _close(self) -> None:
        self.front.stop()
        self.backend.stop()


_H2C_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class QuirkyGoHttpsServer(GoHttpsServer):
    """:class:`sandbox.servers.GoHttpsServer` that answers ``status`` to every request and, with
    ``plaintext_too``, serves plaintext HTTP/1.1 and h2c on its TLS port as well (a sniffing listener)."""

    def __init__(
        self,
        tls: ServerTLS | None = None,
        *,
        status: int = 200,
        plaintext_too: bool = False,
        policy: TLSPolicy = GO_HTTP_POLICY,
        body: bytes = b'{"status":"ok"}\n',
    ) -> None:
        self.status = status
        self.plaintext_too = plaintext_too
        super().__init__(tls, policy=policy, body=body)
        answer = self._respond

        def respond(method: str, target: str, host: str) -> servers._Response:
            response = answer(method, target, host)
            return servers._Response(status, response.headers, response.body)

        self._respond = respond

    def _handle(self, sock: socket.socket, stopping: threading.Event) -> None:
        if self.plaintext_too and self._ctx is not None:
            head = servers._peek(sock, len(_H2C_PREFACE), self._io_timeout,
                                 enough=lambda h: not _H2C_PREFACE.startswith(h))
            if head and not servers._looks_like_tls(head):
                servers._serve_http(servers._PlainStream(sock), self._respond, h2=head == _H2C_PREFACE,
                                    bad_request=servers.GO_BAD_REQUEST_REPLY)
                return
        super()._handle(sock, stopping)
