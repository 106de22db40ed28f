"""The control catalog (../shared/CONTROLS.md) as data: IDs, what each control checks, where it applies.

The IDs are a contract: reports, dashboards and auditors key on them. ``ENDPOINT_IDS`` and the ``CONTROLS``
table mirror the catalog; a test compares them with the catalog document when it is present.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "ENDPOINT_IDS", "GRPC_ENDPOINT_IDS", "CLUSTER", "Control", "CONTROLS", "CONTROL_IDS", "control", "applies",
    "Coverage", "Requirement", "Framework", "Mapping", "FRAMEWORKS", "FRAMEWORK_NAMES", "MAPPINGS", "framework",
    "mappings",
]

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

    @property
    def fix(self) -> str:
        """What to change when the control fails, in one or two sentences (the SARIF rule's help)."""
        return _FIXES[self.id]


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


# -- what to change when a control fails (SARIF rule help, report hints) -----------------------------------------

_FIXES: dict[str, str] = {
    "K-SECRET-PRESENT": "Create the secret (type kubernetes.io/tls, with tls.crt, tls.key and ca.crt) in every namespace "
                        "that mounts it, e.g. with a cert-manager Certificate whose spec.secretName is that name.",
    "K-SECRET-KEYPAIR": "Reissue the certificate, or write tls.key and tls.crt from the same issuance; a cert-manager "
                        "Certificate rewrites both together.",
    "K-SECRET-CHAIN": "Write the issuing CA's certificate into ca.crt (cert-manager's CA issuer does), or reissue "
                      "tls.crt from the CA in ca.crt.",
    "K-CA-CONSISTENT": "Issue the flow secret, its copy in the services namespace, flow.functionsCA and the knative "
                       "certificate from the same CA issuer.",
    "K-FUNCTIONS-CA": "Create the flow.functionsCA secret in the release namespace, where the flow pod mounts it.",
    "K-DELEGATION": "Create a TLSCertificateDelegation in contour-internal that delegates the knative secret to \"*\" "
                    "or to the services namespace.",
    "K-CONTOUR-DEFAULT-TLS": "Set default-tls-secret: contour-internal/<knative secret> in ConfigMap "
                             "knative-serving-knative/config-contour.",
    "K-PROTOCOL-CONSISTENT": "Set flow.functionsProtocol: https together with functions.initPodCertificate, or neither.",
    "K-INITPOD-SAN": "Add the dnsName the engine dials (*.<services namespace>.pod) to the init-pod certificate.",
    "K-CERTMANAGER-READY": "Read the Certificate's Ready condition and events (kubectl describe certificate) and repair "
                           "its issuer; the secret is not renewed while it is not Ready.",
    "C-CHAIN-TRUSTED": "Serve the full chain issued by the expected CA (tls.crt with intermediates), or pass the right "
                       "trust anchor with --ca-file.",
    "C-SAN-MATCH": "Reissue the certificate with the endpoint's expected names as dnsNames.",
    "C-VALIDITY": "Renew the certificate (cert-manager: check the Certificate's renewBefore and Ready condition) and "
                  "make the pods load the new one.",
    "C-EKU": "Reissue the certificate with the usages server auth (and client auth where it is also the mTLS client "
             "identity).",
    "C-KEY-STRENGTH": "Reissue with an RSA key of at least 2048 bits or an EC key of at least 256 bits, signed with "
                      "SHA-256 or better (cert-manager: spec.privateKey).",
    "C-SERVED-MATCHES-SECRET": "Restart (or reload) the pods that still serve the old certificate, so every replica "
                               "serves the secret's current tls.crt.",
    "C-X509-STRICT": "Reissue the certificate with a commonName or subject and proper extensions (a CA that sets "
                     "them), so that strict RFC 5280 verifiers accept it.",
    "T-MODE-MATCHES-CONFIG": "Make the server's TLS settings match the Helm values (certificate and mTLS switches), "
                             "then redeploy.",
    "T-TLS-HANDSHAKE": "Make the port serve TLS for the expected name with the configured certificate; see the "
                       "handshake's detail for the alert.",
    "T-PLAINTEXT-REFUSED": "Stop serving plaintext on the TLS port: the listener must require TLS.",
    "T-LEGACY-PROTOCOLS-REFUSED": "Set the server's minimum TLS version to 1.2 (Envoy: minimumProtocolVersion; Go: "
                                  "tls.Config.MinVersion).",
    "T-WEAK-CIPHERS-REFUSED": "Restrict the server's cipher suites to AEAD suites with (EC)DHE key exchange.",
    "T-ALPN-H2": "Serve gRPC over TLS with ALPN h2 (grpc-go and Envoy do by default).",
    "T-FORWARD-SECRECY": "Remove static-RSA key exchange suites from the server's TLS 1.2 cipher list.",
    "T-SECURE-RENEGOTIATION": "Update the TLS library: it must send renegotiation_info (RFC 5746) and never choose "
                              "TLS compression.",
    "T-DOWNGRADE-SCSV": "Update the TLS library or proxy: it must answer TLS_FALLBACK_SCSV with inappropriate_fallback "
                        "(RFC 7507).",
    "M-VALID-CERT-ACCEPTED": "Make the server trust the CA that issued the configured client certificate.",
    "M-NO-CERT-REJECTED": "Require client certificates on the port (Go: tls.RequireAndVerifyClientCert).",
    "M-UNTRUSTED-CA-REJECTED": "Trust only the issuing CA for client certificates (ClientCAs), not the system roots or "
                               "another CA.",
    "M-SELF-SIGNED-CLONE-REJECTED": "Verify client certificates against the CA (not by subject or fingerprint match).",
    "M-EXPIRED-CERT-REJECTED": "Verify client certificates' validity period; do not skip verification.",
    "M-NO-CLIENTAUTH-EKU-REJECTED": "Verify client certificates' extended key usage (clientAuth).",
    "H-HTTPS-RESPONDS": "Make the HTTPS endpoint answer with a status below 500; see the server's logs.",
    "H-HTTP-REDIRECTS": "Redirect plain HTTP on port 80 to https (Contour: HTTPProxy with tls and permitInsecure false).",
    "H-HSTS": "Send Strict-Transport-Security with max-age of at least the profile's hsts_min_days.",
    "N-SNI-COVERAGE": "Make the internal Contour's default certificate (K-CONTOUR-DEFAULT-TLS) cover "
                      "*.<services namespace> and chain to the expected CA.",
}


# -- frameworks: which requirements each control evidences ---------------------------------------------------------
#
# A control *evidences* a requirement when its verdict is something an assessor would look at for that requirement.
# ``FULL`` means the control checks what the requirement asks of a TLS endpoint; ``PARTIAL`` means it checks part of
# it (the note says which part is missing). ``verified`` is False where the section number could not be confirmed
# against a copy of the document (the note then says "unverified"); such a row is a pointer to check, not a citation.


class Coverage(str, Enum):
    """How much of a requirement a control's verdict shows."""

    FULL = "full"
    PARTIAL = "partial"


@dataclass(frozen=True)
class Requirement:
    """One requirement (section) of a framework.

    Attributes:
        id: the section or requirement number as the framework writes it, e.g. ``4.2.1``.
        title: its heading, shortened.
        verified: whether the number was confirmed against a copy of the framework's text.
    """

    id: str
    title: str
    verified: bool = True


@dataclass(frozen=True)
class Framework:
    """A framework that controls map to.

    Attributes:
        name: the ``--direktiv-framework`` name, e.g. ``pci-dss-4``.
        title: its full name and version.
        url: where to read it.
        scope: one sentence on what the mapping can and cannot show.
        requirements: the requirements some control maps to, in the framework's order.
    """

    name: str
    title: str
    url: str
    scope: str
    requirements: tuple[Requirement, ...]

    def requirement(self, requirement_id: str) -> Requirement:
        for r in self.requirements:
            if r.id == requirement_id:
                return r
        raise ValueError(f"{self.name} has no requirement {requirement_id!r} in the catalog")


@dataclass(frozen=True)
class Mapping:
    """One control evidencing one requirement.

    Attributes:
        control: the control ID.
        framework: the framework name.
        requirement: the requirement ID.
        coverage: FULL or PARTIAL.
        note: what the control shows of the requirement, and for PARTIAL what it does not.
    """

    control: str
    framework: str
    requirement: str
    coverage: Coverage
    note: str


_UNVERIFIED = " (section number unverified)"
FULL, PARTIAL = Coverage.FULL, Coverage.PARTIAL

FRAMEWORKS: tuple[Framework, ...] = (
    Framework(
        "nist-800-52r2", "NIST SP 800-52 Rev. 2 (2019): Guidelines for the Selection, Configuration, and Use of TLS",
        "https://doi.org/10.6028/NIST.SP.800-52r2",
        "Section 3 (TLS servers) and 4 (clients): the endpoints are servers; mTLS rows show the server side of client "
        "authentication.",
        (
            Requirement("3.1", "Protocol version support"),
            Requirement("3.2", "Server keys and certificates"),
            Requirement("3.3.1", "Cipher suites"),
            Requirement("3.4.1", "Mandatory TLS extensions (renegotiation indication)" + _UNVERIFIED, verified=False),
            Requirement("3.5", "Client authentication" + _UNVERIFIED, verified=False),
            Requirement("3.7", "Compression methods" + _UNVERIFIED, verified=False),
        ),
    ),
    Framework(
        "pci-dss-4", "PCI DSS v4.0.1 (2024)", "https://www.pcisecuritystandards.org/document_library/",
        "Requirement 4.2.1 protects PAN over open, public networks (the lb); the in-cluster endpoints evidence it "
        "only where the assessed scope includes them. Inventories (4.2.1.1, 12.3.3) are documents no verdict "
        "replaces: the evidence file lists every certificate, version and suite seen, as input to them.",
        (
            Requirement("4.2.1", "Strong cryptography and security protocols safeguard PAN in transmission"),
            Requirement("4.2.1.1", "Inventory of trusted keys and certificates"),
            Requirement("8.3.2", "Authentication factors unreadable during transmission"),
        ),
    ),
    Framework(
        "bsi-tr-02102-2", "BSI TR-02102-2: Kryptographische Verfahren, Teil 2: Verwendung von TLS (editions 2022-01 on)",
        "https://www.bsi.bund.de/dok/TR-02102",
        "Recommendations for TLS 1.2 (section 3.3) and TLS 1.3 (3.4); key lengths follow TR-02102-1, stricter than "
        "the intermediate profile (RSA 3000 bits).",
        (
            Requirement("3.2", "SSL/TLS versions" + _UNVERIFIED, verified=False),
            Requirement("3.3", "Recommendations for TLS 1.2 (cipher suites, extensions)"),
            Requirement("3.4", "Recommendations for TLS 1.3 (cipher suites)"),
            Requirement("3.5", "Authentication of the communication partners" + _UNVERIFIED, verified=False),
            Requirement("3.6", "Domain parameters and key lengths" + _UNVERIFIED, verified=False),
        ),
    ),
    Framework(
        "cis-kubernetes", "CIS Kubernetes Benchmark v1.10.0", "https://www.cisecurity.org/benchmark/kubernetes",
        "The benchmark asks TLS of the control plane (API server, etcd), not of workloads: every row is an analogue "
        "(the same property shown for Direktiv's endpoints), so every row is partial and evidences no benchmark item "
        "of the cluster itself.",
        (
            Requirement("1.2.24", "API server --tls-cert-file and --tls-private-key-file set"),
            Requirement("1.2.25", "API server --client-ca-file set"),
            Requirement("1.2.29", "API server uses only strong cryptographic ciphers"),
            Requirement("2.1", "etcd --cert-file and --key-file set"),
            Requirement("2.2", "etcd --client-cert-auth true"),
            Requirement("2.3", "etcd --auto-tls not true"),
        ),
    ),
)

_PUBLIC_NETWORKS = "4.2.1 applies over open, public networks: the lb; other endpoints where the scope includes them. "
_CIS = "analogue: the benchmark asks this of the control plane; "

MAPPINGS: tuple[Mapping, ...] = (
    # NIST SP 800-52r2
    Mapping("T-TLS-HANDSHAKE", "nist-800-52r2", "3.1", PARTIAL,
            "a TLS 1.2 or 1.3 handshake completes; which of the two was negotiated is in the evidence, not judged"),
    Mapping("T-LEGACY-PROTOCOLS-REFUSED", "nist-800-52r2", "3.1", FULL,
            "SSL 3.0, TLS 1.0 and TLS 1.1 refused (profile min_version TLS 1.2, the default)"),
    Mapping("T-DOWNGRADE-SCSV", "nist-800-52r2", "3.1", PARTIAL,
            "fallback to a lower version is refused (RFC 7507); where the document requires it is unverified"),
    Mapping("C-KEY-STRENGTH", "nist-800-52r2", "3.2", PARTIAL, "key size and signature hash of the served chain"),
    Mapping("C-EKU", "nist-800-52r2", "3.2", PARTIAL, "extendedKeyUsage serverAuth of the served leaf"),
    Mapping("C-SAN-MATCH", "nist-800-52r2", "3.2", PARTIAL, "subjectAltName covers the server's names"),
    Mapping("C-VALIDITY", "nist-800-52r2", "3.2", PARTIAL, "validity period; revocation is not checked"),
    Mapping("C-CHAIN-TRUSTED", "nist-800-52r2", "3.2", PARTIAL, "the certificate chains to the expected CA"),
    Mapping("C-X509-STRICT", "nist-800-52r2", "3.2", PARTIAL, "RFC 5280 profile checked by a strict verifier"),
    Mapping("T-WEAK-CIPHERS-REFUSED", "nist-800-52r2", "3.3.1", PARTIAL,
            "the forbidden families are refused; that only the listed suites are accepted is not judged"),
    Mapping("T-FORWARD-SECRECY", "nist-800-52r2", "3.3.1", FULL, "only ephemeral (EC)DHE key exchange below TLS 1.3"),
    Mapping("T-SECURE-RENEGOTIATION", "nist-800-52r2", "3.4.1", PARTIAL,
            "renegotiation_info is sent (RFC 5746); other mandatory extensions are not checked; section unverified"),
    Mapping("T-SECURE-RENEGOTIATION", "nist-800-52r2", "3.7", FULL,
            "the server does not choose DEFLATE compression; section unverified"),
    *(Mapping(c, "nist-800-52r2", "3.5", PARTIAL,
              "the server's side of client-certificate authentication (path validation of the client's "
              "certificate); section unverified")
      for c in ("M-NO-CERT-REJECTED", "M-UNTRUSTED-CA-REJECTED", "M-SELF-SIGNED-CLONE-REJECTED",
                "M-EXPIRED-CERT-REJECTED", "M-NO-CLIENTAUTH-EKU-REJECTED")),
    # PCI DSS v4.0.1
    Mapping("C-CHAIN-TRUSTED", "pci-dss-4", "4.2.1", PARTIAL, _PUBLIC_NETWORKS + "bullet 1: only trusted certificates"),
    Mapping("C-X509-STRICT", "pci-dss-4", "4.2.1", PARTIAL, _PUBLIC_NETWORKS + "bullet 1: certificates verifiable"),
    Mapping("N-SNI-COVERAGE", "pci-dss-4", "4.2.1", PARTIAL, _PUBLIC_NETWORKS + "bullet 1, for knative hosts"),
    Mapping("C-VALIDITY", "pci-dss-4", "4.2.1", PARTIAL,
            _PUBLIC_NETWORKS + "bullet 2: valid and not expired; revocation is not checked"),
    Mapping("T-LEGACY-PROTOCOLS-REFUSED", "pci-dss-4", "4.2.1", PARTIAL,
            _PUBLIC_NETWORKS + "bullet 3: no insecure versions"),
    Mapping("T-DOWNGRADE-SCSV", "pci-dss-4", "4.2.1", PARTIAL, _PUBLIC_NETWORKS + "bullet 3: no fallback"),
    Mapping("T-WEAK-CIPHERS-REFUSED", "pci-dss-4", "4.2.1", PARTIAL,
            _PUBLIC_NETWORKS + "bullets 3 and 4: no insecure algorithms"),
    Mapping("T-FORWARD-SECRECY", "pci-dss-4", "4.2.1", PARTIAL, _PUBLIC_NETWORKS + "bullet 3 (stricter than asked)"),
    Mapping("T-SECURE-RENEGOTIATION", "pci-dss-4", "4.2.1", PARTIAL,
            _PUBLIC_NETWORKS + "bullet 3: no insecure configurations"),
    Mapping("C-KEY-STRENGTH", "pci-dss-4", "4.2.1", PARTIAL, _PUBLIC_NETWORKS + "bullet 3: no insecure key sizes"),
    Mapping("T-PLAINTEXT-REFUSED", "pci-dss-4", "4.2.1", PARTIAL, _PUBLIC_NETWORKS + "no cleartext on the TLS port"),
    Mapping("H-HTTP-REDIRECTS", "pci-dss-4", "4.2.1", PARTIAL, _PUBLIC_NETWORKS + "cleartext HTTP sends clients to https"),
    Mapping("H-HSTS", "pci-dss-4", "4.2.1", PARTIAL, _PUBLIC_NETWORKS + "browsers keep to https"),
    Mapping("C-SERVED-MATCHES-SECRET", "pci-dss-4", "4.2.1.1", PARTIAL,
            "the served certificates are the inventoried ones (the evidence file lists every certificate served and "
            "stored, with issuer and expiry); owners and purposes are not recorded"),
    Mapping("K-CERTMANAGER-READY", "pci-dss-4", "4.2.1.1", PARTIAL,
            "every certificate behind a named secret is managed and current"),
    *(Mapping(c, "pci-dss-4", "8.3.2", PARTIAL,
              "client certificates are verified, so credentials sent on these ports travel only over mutually "
              "authenticated TLS; storage is not checked")
      for c in ("M-NO-CERT-REJECTED", "M-UNTRUSTED-CA-REJECTED", "M-SELF-SIGNED-CLONE-REJECTED",
                "M-EXPIRED-CERT-REJECTED", "M-NO-CLIENTAUTH-EKU-REJECTED")),
    Mapping("T-PLAINTEXT-REFUSED", "pci-dss-4", "8.3.2", PARTIAL,
            "authentication factors sent to these ports cannot travel in cleartext; storage is not checked"),
    # BSI TR-02102-2
    Mapping("T-LEGACY-PROTOCOLS-REFUSED", "bsi-tr-02102-2", "3.2", FULL,
            "only TLS 1.2 and 1.3 are accepted; section unverified"),
    Mapping("T-TLS-HANDSHAKE", "bsi-tr-02102-2", "3.2", PARTIAL, "TLS 1.2 or 1.3 is offered; section unverified"),
    Mapping("T-WEAK-CIPHERS-REFUSED", "bsi-tr-02102-2", "3.3", PARTIAL,
            "the forbidden families are refused; that only the recommended suites are accepted is not judged"),
    Mapping("T-FORWARD-SECRECY", "bsi-tr-02102-2", "3.3", FULL, "only (EC)DHE suites at TLS 1.2, as recommended"),
    Mapping("T-SECURE-RENEGOTIATION", "bsi-tr-02102-2", "3.3", PARTIAL,
            "secure renegotiation and no TLS compression (the TLS 1.2 further recommendations)"),
    Mapping("T-DOWNGRADE-SCSV", "bsi-tr-02102-2", "3.3", PARTIAL, "no downgrade by fallback"),
    Mapping("T-TLS-HANDSHAKE", "bsi-tr-02102-2", "3.4", PARTIAL,
            "a TLS 1.3 handshake's suite is in the evidence, not judged against the recommended list"),
    *(Mapping(c, "bsi-tr-02102-2", "3.5", PARTIAL, "mutual authentication by certificates; section unverified")
      for c in ("M-NO-CERT-REJECTED", "M-UNTRUSTED-CA-REJECTED", "M-SELF-SIGNED-CLONE-REJECTED",
                "M-EXPIRED-CERT-REJECTED", "M-NO-CLIENTAUTH-EKU-REJECTED", "C-CHAIN-TRUSTED")),
    Mapping("C-KEY-STRENGTH", "bsi-tr-02102-2", "3.6", PARTIAL,
            "key lengths, judged against the profile: set rsa_min_bits 3000 for BSI's RSA length; section unverified"),
    # CIS Kubernetes Benchmark v1.10.0 (analogues only)
    Mapping("T-TLS-HANDSHAKE", "cis-kubernetes", "1.2.24", PARTIAL, _CIS + "the endpoint serves TLS"),
    Mapping("T-PLAINTEXT-REFUSED", "cis-kubernetes", "1.2.24", PARTIAL, _CIS + "the endpoint serves only TLS"),
    Mapping("M-VALID-CERT-ACCEPTED", "cis-kubernetes", "1.2.25", PARTIAL,
            _CIS + "client certificates from the configured CA are accepted"),
    Mapping("M-UNTRUSTED-CA-REJECTED", "cis-kubernetes", "1.2.25", PARTIAL,
            _CIS + "client certificates from other CAs are refused"),
    Mapping("T-WEAK-CIPHERS-REFUSED", "cis-kubernetes", "1.2.29", PARTIAL, _CIS + "no weak suite is accepted"),
    Mapping("T-FORWARD-SECRECY", "cis-kubernetes", "1.2.29", PARTIAL,
            _CIS + "the benchmark's list holds only (EC)DHE and TLS 1.3 suites"),
    Mapping("K-SECRET-KEYPAIR", "cis-kubernetes", "2.1", PARTIAL, _CIS + "the served key pair is consistent"),
    Mapping("M-NO-CERT-REJECTED", "cis-kubernetes", "2.2", PARTIAL, _CIS + "client certificates are required"),
    Mapping("C-CHAIN-TRUSTED", "cis-kubernetes", "2.3", PARTIAL,
            _CIS + "certificates chain to the expected CA, not to generated self-signed ones"),
)

FRAMEWORK_NAMES: tuple[str, ...] = tuple(f.name for f in FRAMEWORKS)
_FRAMEWORKS_BY_NAME = {f.name: f for f in FRAMEWORKS}


def framework(name: str) -> Framework:
    """The framework with this name; a ValueError names the known ones."""
    try:
        return _FRAMEWORKS_BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown framework {name!r}; choose one of {', '.join(FRAMEWORK_NAMES)}") from None


def mappings(*, framework: str | None = None, control: str | None = None) -> tuple[Mapping, ...]:
    """The mappings, optionally only those of one framework and/or one control, in catalog order."""
    return tuple(m for m in MAPPINGS if (framework is None or m.framework == framework)
                 and (control is None or m.control == control))
