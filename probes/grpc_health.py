"""One grpc.health.v1 Check through a local address, with the endpoint's name as TLS name and authority.

grpcio does the whole call (HTTP/2, TLS with BoringSSL, which offers TLS 1.2 and 1.3 only). The channel dials
``127.0.0.1:PORT`` (a port-forward), while ``grpc.ssl_target_name_override`` and ``grpc.default_authority``
carry the endpoint's expected name, so the server sees the SNI and :authority that Direktiv's clients send and
grpcio checks the served certificate against that name.

Trust: for TLS the caller must pass ``ca_pem`` (the secret's ``ca.crt`` or ``--direktiv-ca-file``); grpcio cannot do
TLS without roots, and the system roots never trust a cluster CA. So a call that fails with UNAVAILABLE may also
mean "chain or name not accepted": the chain and SANs are judged on their own by the handshake probe; this
probe answers "does a call reach the server with this client identity" (M-VALID-CERT-ACCEPTED).

No retries and no waiting for readiness: one attempt within ``timeouts.rpc``; the channel is always closed.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Protocol

# grpcio's C core logs every refused handshake to stderr, and the suite provokes them on purpose: silence it
# before grpc starts (it reads the variable then), unless the user asked for its logs.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import grpc  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc

from probes.timeouts import DEFAULT_TIMEOUTS, Budget, Timeouts

__all__ = ["GrpcResult", "health_check"]

# Codes that say the call never reached a server: grpcio could not connect or complete the handshake.
_NOT_REACHED = frozenset({"UNAVAILABLE"})
# How long to wait for grpcio to report the channel state after a deadline (its poller ticks every 0.2 s; a
# subscription costs up to that much again at close(), so it is only made after DEADLINE_EXCEEDED).
_STATE_WAIT = 0.5


class _KeyLike(Protocol):
    def bytes(self) -> bytes: ...


class _Identity(Protocol):  # probes.tls.ClientIdentity, or anything with the same two fields
    cert_pem: bytes
    key: _KeyLike


@dataclass(frozen=True)
class GrpcResult:
    """The outcome of one health check.

    Attributes:
        code: the grpc.StatusCode name: 'OK', 'UNAVAILABLE', 'UNIMPLEMENTED', 'DEADLINE_EXCEEDED', ...
        detail: grpcio's status details on one line ('' when OK).
        serving_status: the HealthCheckResponse status name ('SERVING', 'NOT_SERVING', ...) when code is 'OK'.
        reached_server: the call reached a gRPC server: any code but UNAVAILABLE, and DEADLINE_EXCEEDED only if
            the channel was ready (UNIMPLEMENTED counts: a server answered that it has no health
            service).
        channel_ready: the transport was up (TLS accepted): true when the call got any answer but UNAVAILABLE;
            after DEADLINE_EXCEEDED, whether the channel was READY when the deadline struck.
        elapsed: seconds the call took.
    """

    code: str
    detail: str
    serving_status: str | None
    reached_server: bool
    channel_ready: bool
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.code == "OK"


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _credentials(ca_pem: bytes | None, client: _Identity | None) -> grpc.ChannelCredentials:
    if not ca_pem:
        raise ValueError("a TLS health check needs ca_pem (the secret's ca.crt or --direktiv-ca-file); pass plaintext=True "
                         "for a plaintext port")
    if client is None:
        return grpc.ssl_channel_credentials(root_certificates=ca_pem)
    return grpc.ssl_channel_credentials(
        root_certificates=ca_pem, private_key=client.key.bytes(), certificate_chain=client.cert_pem
    )


def health_check(
    address: tuple[str, int],
    *,
    authority: str,
    ca_pem: bytes | None = None,
    client: _Identity | None = None,
    plaintext: bool = False,
    service: str = "",
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    budget: Budget | None = None,
) -> GrpcResult:
    """Call grpc.health.v1.Health/Check once on ``address`` as ``authority``; never raises for network trouble.

    ``ca_pem`` is required unless ``plaintext`` (ValueError otherwise); ``client`` is presented when given.
    The deadline is ``timeouts.rpc``, cut to what is left of ``budget``.
    """
    deadline = budget.limit(timeouts.rpc) if budget is not None else timeouts.rpc
    host, port = address
    target = f"{host}:{port}"
    options = [
        ("grpc.default_authority", authority),
        ("grpc.enable_retries", 0),
        ("grpc.use_local_subchannel_pool", 1),  # no connection shared with another probe
        ("grpc.max_reconnect_backoff_ms", int(deadline * 1000)),
    ]
    if plaintext:
        channel = grpc.insecure_channel(target, options=options)
    else:
        credentials = _credentials(ca_pem, client)
        channel = grpc.secure_channel(target, credentials, options=[("grpc.ssl_target_name_override", authority),
                                                                     *options])
    started = time.monotonic()
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=deadline,
                                  wait_for_ready=False)
        except grpc.RpcError as exc:
            code = exc.code().name if exc.code() is not None else "UNKNOWN"
            detail = _one_line(exc.details())
            serving = None
        else:
            code, detail = "OK", ""
            serving = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        elapsed = time.monotonic() - started
        if code == "DEADLINE_EXCEEDED":  # did the transport come up (a slow server) or not (a hung handshake)?
            channel_ready = _state_now(channel) is grpc.ChannelConnectivity.READY
        else:
            channel_ready = code != "UNAVAILABLE"
        reached = code not in _NOT_REACHED and (code != "DEADLINE_EXCEEDED" or channel_ready)
        return GrpcResult(code, detail, serving, reached, channel_ready, elapsed)
    finally:
        channel.close()


def _state_now(channel: grpc.Channel, wait: float = _STATE_WAIT) -> grpc.ChannelConnectivity | None:
    """The channel's connectivity state, as grpcio's subscription reports it first (None if it does not)."""
    states: list[grpc.ChannelConnectivity] = []
    seen = threading.Event()

    def watch(state: grpc.ChannelConnectivity) -> None:
        states.append(state)
        seen.set()

    channel.subscribe(watch, try_to_connect=False)
    try:
        seen.wait(wait)
    finally:
        channel.unsubscribe(watch)
    return states[0] if states else None
