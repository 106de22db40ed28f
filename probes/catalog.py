"""The control catalog (../shared/CONTROLS.md) as data: IDs, what each control checks, where it applies.

The IDs are a contract: reports, dashboards and auditors key on them. ``ENDPOINT_IDS`` and the ``CONTROLS``
table mirror the catalog; a test compares them with the catalog document when it is present.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENDPOINT_IDS", "GRPC_ENDPOINT_IDS", "CLUSTER", "Control", "CONTROLS", "CONTROL_IDS", "control", "applies"]

ENDPOINT_IDS: tuple[str, ...] = ("lb", "api", "ui", "ingress-grpc", "flow-grpc", "functions-grpc", "knative")
CLUSTER = "cluster"

# The gRPC ports, the only endpoints that can demand client certificates.
GRPC_ENDPOINT_IDS: tuple[str, ...] = ("ingress-grpc", "flow-grpc", "functions-grpc")

_TLS_ENDPOINTS = ENDPOINT_IDS
_GRPC = GRPC_ENDPOINT_IDS


@dataclass(frozen=True)
class Control:
    """One control of the catalog.

    Attributes:
        id: the stable ID, e.g. ``M-NO-CERT-REJECTED``.
        group: the catalog section (cluster, certificate, transport, mtls, http, knative).
        summary: when it passes, in a few words.
        endpoints: the endpoint IDs it is judged on (``("cluster",)`` for object checks).
    """

    id: str
    group: str
    summary: str
    endpoints: tuple[str, ...]


CONTROLS: tuple[Control, ...] = (
    Control("K-SECRET-PRESENT", "cluster", "every named TLS secret exists where it is mounted, with tls.crt, tls.key and ca.crt", (CLUSTER,)),
    Control("K-SECRET-KEYPAIR", "cluster", "each secret's tls.key is the key of its tls.crt", (CLUSTER,)),
    Control("K-SECRET-CHAIN", "cluster", "each secret's tls.crt chains to its own ca.crt", (CLUSTER,)),
    Control("K-CA-CONSISTENT", "cluster", "secrets that must share a CA do", (CLUSTER,)),
    Control("K-FUNCTIONS-CA", "cluster", "with https functions, flow.functionsCA exists in the release namespace", (CLUSTER,)),
    Control("K-DELEGATION", "cluster", "the knative secret is delegated by a TLSCertificateDelegation", (CLUSTER,)),
    Control("K-CONTOUR-DEFAULT-TLS", "cluster", "config-contour names the knative secret as default-tls-secret", (CLUSTER,)),
    Control("K-PROTOCOL-CONSISTENT", "cluster", "https functions exactly when the init pods have a certificate", (CLUSTER,)),
    Control("K-INITPOD-SAN", "cluster", "the init-pod certificate covers the names the engine dials", (CLUSTER,)),
    Control("K-CERTMANAGER-READY", "cluster", "each cert-manager Certificate behind a named secret is Ready", (CLUSTER,)),
    Control("C-CHAIN-TRUSTED", "certificate", "the served chain validates to the expected trust anchor", _TLS_ENDPOINTS),
    Control("C-SAN-MATCH", "certificate", "the leaf's SANs cover the endpoint's expected names", _TLS_ENDPOINTS),
    Control("C-VALIDITY", "certificate", "the leaf is valid now with enough days left", _TLS_ENDPOINTS),
    Control("C-EKU", "certificate", "the leaf allows serverAuth (and clientAuth where it is the mTLS client identity)", _TLS_ENDPOINTS),
    Control("C-KEY-STRENGTH", "certificate", "strong keys and no SHA-1/MD5 signatures in the chain", _TLS_ENDPOINTS),
    Control("C-SERVED-MATCHES-SECRET", "certificate", "every ready pod serves the configured secret's tls.crt", _TLS_ENDPOINTS),
    Control("C-X509-STRICT", "certificate", "the served chain passes a strict RFC 5280 verifier", _TLS_ENDPOINTS),
    Control("T-MODE-MATCHES-CONFIG", "transport", "the observed mode (plaintext, TLS, mTLS) is the configured one", _TLS_ENDPOINTS),
    Control("T-TLS-HANDSHAKE", "transport", "a TLS handshake with the expected SNI completes", _TLS_ENDPOINTS),
    Control("T-PLAINTEXT-REFUSED", "transport", "a TLS port serves nothing in plaintext", _TLS_ENDPOINTS),
    Control("T-LEGACY-PROTOCOLS-REFUSED", "transport", "SSLv3, TLS 1.0 and TLS 1.1 are refused", _TLS_ENDPOINTS),
    Control("T-WEAK-CIPHERS-REFUSED", "transport", "no NULL, anonymous, EXPORT, RC4, DES, 3DES or static-RSA CBC suite is accepted", _TLS_ENDPOINTS),
    Control("T-ALPN-H2", "transport", "a gRPC endpoint negotiates ALPN h2", _GRPC),
    Control("T-FORWARD-SECRECY", "transport", "every suite accepted at TLS 1.2 and below uses (EC)DHE", _TLS_ENDPOINTS),
    Control("T-SECURE-RENEGOTIATION", "transport", "a TLS 1.2 ServerHello carries renegotiation_info; no compression",
            _TLS_ENDPOINTS),
    Control("T-DOWNGRADE-SCSV", "transport", "a fallback ClientHello with TLS_FALLBACK_SCSV is refused",
            _TLS_ENDPOINTS),
    Control("M-VALID-CERT-ACCEPTED", "mtls", "the configured client certificate is accepted and a gRPC call gets through", _GRPC),
    Control("M-NO-CERT-REJECTED", "mtls", "a client without a certificate is rejected", _GRPC),
    Control("M-UNTRUSTED-CA-REJECTED", "mtls", "a client certificate from a foreign CA is rejected", _GRPC),
    Control("M-SELF-SIGNED-CLONE-REJECTED", "mtls", "a self-signed clone of the client certificate is rejected", _GRPC),
    Control("M-EXPIRED-CERT-REJECTED", "mtls", "an expired client certificate from the right CA is rejected", _GRPC),
    Control("M-NO-CLIENTAUTH-EKU-REJECTED", "mtls", "a certificate from the right CA without clientAuth is rejected", _GRPC),
    Control("H-HTTPS-RESPONDS", "http", "an HTTPS GET gets a status below 500", ("lb", "api", "ui")),
    Control("H-HTTP-REDIRECTS", "http", "plain HTTP on port 80 redirects to https", ("lb",)),
    Control("H-HSTS", "http", "the lb's HTTPS answer carries Strict-Transport-Security, long enough", ("lb",)),
    Control("N-SNI-COVERAGE", "knative", "every knative host gets a covering, trusted certificate", ("knative",)),
)

CONTROL_IDS: tuple[str, ...] = tuple(c.id for c in CONTROLS)
_BY_ID = {c.id: c for c in CONTROLS}


def control(control_id: str) -> Control:
    """The control with this ID; a ValueError names the unknown ID."""
    try:
        return _BY_ID[control_id]
    except KeyError:
        raise ValueError(f"unknown control ID {control_id!r}; see CONTROLS.md for the catalog") from None


def applies(control_id: str, endpoint_id: str) -> bool:
    """Whether the control is judged on this endpoint at all (configuration aside)."""
    return endpoint_id in control(control_id).endpoints
