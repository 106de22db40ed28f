"""Reaching the sandbox's endpoints for the comparison tools: a port-forward per endpoint, and the endpoint's
client certificate as files (the tools take nothing else) that live only as long as one scan.

The files are written 0600 into a private (0700) temporary directory and removed right after the scan; their
paths are the only thing that leaves this module, and the key bytes are never logged.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from probes.errors import ForwardError
from probes.forward import PortForwarder
from probes.kube import Cluster
from probes.pki import PrivateKeyPEM
from probes.timeouts import Timeouts
from probes.topology import EndpointSpec, Mode

__all__ = ["ClientCertificate", "ClientFiles", "client_certificate", "client_files", "forward_endpoint"]


@dataclass(frozen=True)
class ClientCertificate:
    """The client certificate an mTLS endpoint is checked with (its own secret's, as the suite's "configured").

    Attributes:
        cert_pem: ``tls.crt`` of the endpoint's secret.
        key: ``tls.key`` of that secret (masked in repr).
        source: ``namespace/name`` of the secret.
    """

    cert_pem: bytes
    key: PrivateKeyPEM
    source: str


@dataclass(frozen=True)
class ClientFiles:
    """Paths of a client certificate written for one tool run.

    Attributes:
        cert: the certificate chain (PEM).
        key: the private key (PEM, mode 0600).
    """

    cert: Path
    key: Path


def forward_endpoint(cluster: Cluster, spec: EndpointSpec, *, timeouts: Timeouts) -> PortForwarder:
    """A PortForwarder to the first ready pod behind the endpoint's service (as the suite's first probe)."""
    pods = [p for p in cluster.ready_pods(spec.namespace, spec.service, spec.port) if p.ready]
    if not pods:
        raise ForwardError(f"service {spec.namespace}/{spec.service} has no ready pod to forward to")
    forwarder = PortForwarder(cluster.api_client, pods[0].namespace, pods[0].name, pods[0].port, timeouts=timeouts)
    try:
        forwarder.check()
    except BaseException:
        forwarder.close()
        raise
    return forwarder


def client_certificate(cluster: Cluster, spec: EndpointSpec) -> ClientCertificate | None:
    """The endpoint's client certificate for mTLS endpoints; None for the others or when the secret lacks it."""
    if spec.mode is not Mode.MTLS or spec.secret is None:
        return None
    secret = cluster.secret(spec.secret.namespace, spec.secret.name)
    if secret is None or "tls.crt" not in secret.data or "tls.key" not in secret.data:
        return None
    return ClientCertificate(secret.data["tls.crt"], PrivateKeyPEM(secret.data["tls.key"]),
                             f"{spec.secret.namespace}/{spec.secret.name}")


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


@contextmanager
def client_files(client: ClientCertificate | None) -> Iterator[ClientFiles | None]:
    """Write the certificate and key into a private temporary directory for the ``with`` block only."""
    if client is None:
        yield None
        return
    directory = Path(tempfile.mkdtemp(prefix="bench-client-"))  # mode 0700
    try:
        files = ClientFiles(directory / "tls.crt", directory / "tls.key")
        _write_private(files.cert, client.cert_pem)
        _write_private(files.key, client.key.bytes())
        yield files
    finally:
        shutil.rmtree(directory, ignore_errors=True)
