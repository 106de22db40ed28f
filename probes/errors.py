"""The one exception hierarchy of the probes library.

    ProbeError                      anything a probe could not observe
    ├── ProbeTimeout                a step ran out of time (carries the phase and the seconds waited)
    │   ├── ConnectTimeout          TCP connect
    │   ├── ForwardOpenTimeout      opening a port-forward stream
    │   ├── HandshakeTimeout        TLS handshake
    │   ├── ReadTimeout             waiting for bytes after a request or handshake
    │   ├── RpcTimeout              a gRPC call's deadline
    │   └── BudgetExhausted         the run's --direktiv-budget is spent
    ├── ForwardError                the port-forward failed (the error channel's text, e.g. connection refused)
    ├── ConnectError                TCP connect refused or reset
    ├── ClusterError                the Kubernetes API refused or failed a request (status, object)
    │   ├── ClusterUnauthorized     401
    │   ├── ClusterForbidden        403 (RBAC)
    │   └── ClusterNotFound         404
    └── CertificateError            a PEM or certificate that cannot be parsed (where it came from)
    UsageError                      bad user input: kubeconfig, context, values file, profile (exit status 4)

Messages are one sentence: what was attempted, where, what went wrong. They never contain key material.
"""

from __future__ import annotations

__all__ = [
    "ProbeError", "ProbeTimeout", "ConnectTimeout", "ForwardOpenTimeout", "HandshakeTimeout", "ReadTimeout",
    "RpcTimeout", "BudgetExhausted", "ForwardError", "ConnectError", "ClusterError", "ClusterUnauthorized",
    "ClusterForbidden", "ClusterNotFound", "CertificateError", "UsageError",
]


class ProbeError(Exception):
    """Something the suite tried to observe could not be observed."""


class ProbeTimeout(ProbeError):
    """A network step did not finish within its limit."""

    phase = "step"

    def __init__(self, seconds: float, where: str = "") -> None:
        self.seconds = seconds
        self.where = where
        at = f" ({where})" if where else ""
        super().__init__(f"{self.phase} timed out after {seconds:.1f}s{at}")


class ConnectTimeout(ProbeTimeout):
    """Timed out while connecting."""

    phase = "TCP connect"


class ForwardOpenTimeout(ProbeTimeout):
    """Timed out while opening a port-forward stream."""

    phase = "port-forward open"


class HandshakeTimeout(ProbeTimeout):
    """Timed out during the TLS handshake."""

    phase = "TLS handshake"


class ReadTimeout(ProbeTimeout):
    """Timed out waiting for the peer to send something."""

    phase = "read"


class RpcTimeout(ProbeTimeout):
    """A gRPC call hit its deadline."""

    phase = "gRPC call"


class BudgetExhausted(ProbeTimeout):
    """The whole run's budget (--direktiv-budget) is spent."""

    phase = "evidence budget"

    def __init__(self, seconds: float, where: str = "") -> None:
        super().__init__(seconds, where)
        at = f" ({where})" if where else ""
        self.args = (f"the evidence budget (--direktiv-budget {seconds:g}s) left too little time to observe this{at}",)


class ForwardError(ProbeError):
    """The port-forward stream failed; the message carries the API server's or kubelet's words."""


class ConnectError(ProbeError):
    """A TCP connection was refused or reset before anything was exchanged."""


class ClusterError(ProbeError):
    """The Kubernetes API failed a request."""

    def __init__(self, message: str, *, status: int | None = None, obj: str = "") -> None:
        self.status = status
        self.obj = obj
        super().__init__(message)


class ClusterUnauthorized(ClusterError):
    """The API server rejected the credentials (401)."""


class ClusterForbidden(ClusterError):
    """RBAC forbids the request (403)."""


class ClusterNotFound(ClusterError):
    """The object does not exist (404)."""


class CertificateError(ProbeError):
    """A certificate or PEM bundle could not be parsed."""


class UsageError(Exception):
    """The user's input (options, kubeconfig, values, profile) is unusable; pytest exits with status 4."""
