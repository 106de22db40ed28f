"""Real servers on 127.0.0.1 that stand in for Direktiv's pods, its two Contours and broken peers.

Every server listens on an ephemeral port from the moment it is built, exposes ``address`` (host, port), is a
context manager, and ``stop()`` releases everything it holds: listening and accepted sockets closed, its
threads joined (or, for the Go program, its child process ended and reaped). In the Python servers one thread
accepts per listening port (a selector with a wake-up socket) and one thread serves
each connection; every accepted socket has a timeout, and ``stop()`` shuts accepted sockets down so that
blocked reads return at once.

    GrpcHealthServer    grpcio with grpc.health.v1 (insecure, TLS, or TLS requiring a client certificate);
                        grpcio's own TLS (BoringSSL) starts at TLS 1.2: the conformant option.
    TLSTerminator       a Go 1.15 crypto/tls-like front (pyOpenSSL) that forwards decrypted bytes to a backend;
                        any Go client-auth mode (RequireAnyClientCert too), and lax verifiers (ignore_errors).
    GoTLSGrpcServer     TLSTerminator + insecure GrpcHealthServer: what Direktiv's gRPC ports really do
                        (TLS 1.0 accepted, RequireAndVerifyClientCert against the secret's ca.crt).
    GoHttpsServer       Direktiv API/UI on 8080: HTTPS with Go net/http's answers, or plaintext HTTP; another
                        status, or plaintext HTTP/1.1 and h2c on the TLS port too, as options.
    GoServer            the real thing where Go is installed: a listener of the Go program (Go 1.19 crypto/tls
                        with Go's defaults, grpc-go's health service, net/http), in a GoProcess of its own or
                        shared; go_available() says whether Go and grpc-go are there, go_binary() builds once.
    LoadBalancer        the external Contour/Envoy: HTTPS by SNI, and port 80 with force-ssl-redirect.
    NginxIngress        the ingress-nginx controller of the chart line v0.5.10 to v0.7.x: the real nginx, configured
                        as ingress-nginx v1.1.0 configures itself (nginx_available() says whether it is installed);
                        NginxIngressImitation stands in without it.
    SniRouter           the internal Contour: HTTPS, certificate by SNI, with or without a default.
    SilentServer, ResetServer, GarbageServer, TricklingServer, RefusingPort: peers that misbehave.
    OldStackFront       a front that makes a modern server look like a pre-2010 stack to TLS 1.2 clients (no
                        renegotiation_info, TLS_FALLBACK_SCSV ignored).
    ExhaustedFront      a front that passes its first connections through and resets every later one (a pod that
                        starts refusing everything partway through a scan).

The modules, one concern each: ``_listeners`` (sockets, accept loop, thread per connection), ``_tls`` (the TLS
records and policy, the pyOpenSSL server context and stream), ``_http`` (h11/h2 answers, Go's net/http),
``_envoy`` (Contour's listeners), ``_nginx`` (ingress-nginx), ``_grpc`` (grpcio and the Go-like TLS front), ``_misbehaving`` (broken peers),
``_gobuild`` (finding, building and caching the Go program) and ``_go`` (running it).
Import every public name from here.

Libraries: pyOpenSSL does the TLS of the Go-like and Envoy-like servers (it takes keys as bytes, and offers
TLS 1.0 and NULL/anonymous suites at security level 0), grpcio the gRPC servers, h11 and h2 the HTTP/1.1 and
HTTP/2 framing. Hand-written here: only Go's and Envoy's choices (which bytes count as TLS, the 400 texts, the
redirect), and the socket plumbing. The Go program uses Go's standard library and grpc-go only. Private keys
stay in memory (the Go program gets them over a pipe).
"""

from sandbox.servers._envoy import LoadBalancer, SniRouter
from sandbox.servers._nginx import (
    INGRESS_NGINX_HSTS,
    INGRESS_NGINX_POLICY,
    NginxError,
    NginxIngress,
    NginxIngressImitation,
    nginx_available,
)
from sandbox.servers._go import GoListener, GoProcess, GoProcessError, GoProtocol, GoServer
from sandbox.servers._gobuild import GoBuildError, GoError, GoUnavailable, go_available, go_binary
from sandbox.servers._grpc import DEFAULT_SERVICE_NAME, GoTLSGrpcServer, GrpcHealthServer, TLSTerminator
from sandbox.servers._http import GO_BAD_REQUEST_REPLY, GO_HTTPS_PLAINTEXT_REPLY, GoHttpsServer
from sandbox.servers._listeners import DEFAULT_IO_TIMEOUT, Server
from sandbox.servers._misbehaving import (
    ExhaustedFront,
    GarbageServer,
    OldStackFront,
    RefusingPort,
    ResetServer,
    SilentServer,
    Trickle,
    TricklingServer,
)
from sandbox.servers._tls import (
    ENVOY_CIPHERS,
    ENVOY_POLICY,
    GO_1_15_CIPHERS,
    GO_GRPC_POLICY,
    GO_HTTP_POLICY,
    WEAK_CIPHERS,
    ClientAuth,
    ServerTLS,
    TLSPolicy,
    VerifyErrorKind,
)

__all__ = [
    "Server",
    "ClientAuth",
    "VerifyErrorKind",
    "ServerTLS",
    "TLSPolicy",
    "Trickle",
    "GO_1_15_CIPHERS",
    "ENVOY_CIPHERS",
    "WEAK_CIPHERS",
    "GO_GRPC_POLICY",
    "GO_HTTP_POLICY",
    "ENVOY_POLICY",
    "GO_HTTPS_PLAINTEXT_REPLY",
    "GO_BAD_REQUEST_REPLY",
    "DEFAULT_SERVICE_NAME",
    "DEFAULT_IO_TIMEOUT",
    "GrpcHealthServer",
    "TLSTerminator",
    "GoTLSGrpcServer",
    "GoHttpsServer",
    "GoProtocol",
    "GoListener",
    "GoProcess",
    "GoServer",
    "GoError",
    "GoUnavailable",
    "GoBuildError",
    "GoProcessError",
    "go_available",
    "go_binary",
    "LoadBalancer",
    "NginxIngress",
    "NginxIngressImitation",
    "NginxError",
    "nginx_available",
    "INGRESS_NGINX_HSTS",
    "INGRESS_NGINX_POLICY",
    "SniRouter",
    "SilentServer",
    "OldStackFront",
    "ExhaustedFront",
    "ResetServer",
    "GarbageServer",
    "TricklingServer",
    "RefusingPort",
]
