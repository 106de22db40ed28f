"""Certificate facts and judgements: pure functions of certificates the probes observed, on top of ``cryptography``.

Facts (:func:`certificate_facts`) are gathered apart from judgements (:func:`verify_chain`, :func:`names_covered`,
:func:`validity`, :func:`eku_allows`, :func:`key_strength`, :func:`key_matches_certificate`), and every record has a
JSON-friendly ``to_dict()``. Nothing here touches the network or the clock, except that ``now``/``at`` default to
the current time.

Which library does what: ``cryptography`` parses PEM/DER, certificates, extensions and keys, and checks each
signature (``public_key.verify``). The chain search is written here, because ``cryptography.x509.verification``
is stricter than the Go clients Direktiv runs, in ways that would make C-CHAIN-TRUSTED fail for what other
controls judge, or fail where Go succeeds:

- it refuses certificates with an empty issuer or subject ("certificate must have a non-empty Issuer"), which
  cert-manager's selfSigned issuer writes without a commonName (the ``direktiv-lb`` certificate); Go accepts them,
  and accepts a leaf that is itself in the root pool without building a path at all;
- it requires a SAN on the leaf and always checks a hostname or a client EKU (C-SAN-MATCH and C-EKU judge those);
- it enforces the CA/Browser (webpki) profile: no SHA-1 or MD5 signatures, RSA >= 2048 bits ("RSA key is too
  weak"), a fixed list of signature algorithms and curves, AuthorityKeyIdentifier required on every non-root
  certificate ("missing required extension" 2.5.29.35), keyCertSign on every CA (C-KEY-STRENGTH judges key sizes
  and hashes; Go 1.15/1.16, which Direktiv v0.4 is built with, accepts SHA-1 signatures and needs no AKI);
- it checks every certificate against one instant, so an expired leaf is untrusted (C-VALIDITY judges that).

What :func:`verify_chain` checks, mirroring Go's ``crypto/x509`` ``Certificate.Verify`` (as of Go 1.15):

- a leaf whose DER equals an anchor is trusted by identity (``method='identity'``), as Go does when the root pool
  contains the leaf, with no signature, CA or path check (the reason says so);
- otherwise a path is searched from the leaf through the served certificates to an anchor: each parent's subject
  equals the child's issuer, the child's signature verifies with the parent's key (any hash: the hash is
  C-KEY-STRENGTH's business; note that Go >= 1.18 refuses SHA-1 and every Go refuses MD5), the parent may sign
  certificates (Go's ``CheckSignatureFrom``: a v3 parent needs basicConstraints cA=TRUE, and keyCertSign if it has
  a keyUsage extension), intermediates carry basicConstraints cA=TRUE, pathLenConstraint holds, and every parent is
  valid at the verification time;
- the leaf must carry no critical extension that Go does not handle.

Not checked (as documented limitations): hostnames (C-SAN-MATCH), EKU of the leaf or nested EKU of intermediates
(C-EKU), nameConstraints, revocation.

Verification time: with ``at=None`` the intermediates and anchors are judged at the current time and the leaf's own
validity window is not judged at all, so that an expired or not-yet-valid leaf fails C-VALIDITY only (the reason
mentions it), while an expired intermediate or anchor still fails trust, as it does in Go (no other control looks at
them). Clamping the time into the leaf's window instead was considered and rejected: a CA certificate renewed with
the same key after the leaf expired (cert-manager ``rotationPolicy: Never``) would then read as "anchor not valid",
and an expired CA under an expired leaf would pass. Pass ``at`` to judge everything, the leaf included, at one
instant, as Go does.

Hostname matching (:func:`hostname_matches`, :func:`names_covered`) follows Go's ``VerifyHostname``: SANs only (Go
ignores the commonName since 1.15), ASCII case-insensitive, one trailing dot ignored, a wildcard only as the whole
left-most label matching exactly one non-empty label, no partial-label wildcards, IP names only against IP SANs.
One deliberate difference: a bare ``*`` pattern matches nothing (Go would let it match a single-label name).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Sequence, Union

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from probes.errors import CertificateError
from probes.pki import PrivateKeyPEM

__all__ = [
    "DEFAULT_MIN_DAYS",
    "DEFAULT_RSA_MIN_BITS",
    "DEFAULT_EC_MIN_BITS",
    "CertificateInput",
    "CertificateFacts",
    "certificate_facts",
    "load_pem_bundle",
    "load_certificate",
    "load_private_key",
    "TrustMethod",
    "ChainResult",
    "verify_chain",
    "hostname_matches",
    "NameCoverage",
    "names_covered",
    "ValidityResult",
    "validity",
    "eku_allows",
    "KeyStrengthResult",
    "key_strength",
    "key_matches_certificate",
    "StrictResult",
    "verify_strict",
]

# CONTROLS.md, C-VALIDITY: at least `min_days_valid` days must remain (profile default 14).
DEFAULT_MIN_DAYS = 14
# CONTROLS.md, C-KEY-STRENGTH: RSA >= 2048 bits or EC >= 256 bits.
DEFAULT_RSA_MIN_BITS = 2048
DEFAULT_EC_MIN_BITS = 256

# A certificate as callers hold it: parsed, DER bytes, or PEM bytes/text of one certificate.
CertificateInput = Union[x509.Certificate, bytes, bytearray, memoryview, str]

_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}
_PURPOSES = ("serverAuth", "clientAuth")
_KEY_USAGE_NAMES = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "contentCommitment"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)
# Extensions Go's x509 parser handles; a critical extension outside this set fails Go's Verify on the leaf.
_GO_HANDLED_EXTENSIONS = frozenset(
    {
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.NAME_CONSTRAINTS,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    }
)
_WEAK_HASHES = {"sha1": "SHA-1", "md5": "MD5"}
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.DOTALL)
_PEM_KEY = re.compile(rb"-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----.*?-----END \1-----", re.DOTALL)
_MAX_PATH = 8  # served chains are short; bounds the search on hostile input


class _Record:
    """Adds a JSON-friendly ``to_dict()`` to the frozen dataclasses below."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, _dt.datetime):
        return _iso(value)
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, _Record):
        return value.to_dict()
    return value


def _iso(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _aware(moment: _dt.datetime, what: str) -> _dt.datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, given: {moment!r}")
    return moment.astimezone(_dt.timezone.utc)


# --- loading ------------------------------------------------------------------------------------------------


def load_pem_bundle(data: bytes | str, *, source: str) -> list[x509.Certificate]:
    """All certificates of a PEM bundle, in order (other PEM blocks, such as a key, are skipped).

    Raises:
        CertificateError: one sentence naming ``source`` (e.g. "secret default/direktiv-cert-flow key tls.crt"),
            when the data is empty, holds no PEM certificate, or holds a block that is not a valid certificate.
            The message never quotes the data.
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, given: {type(data).__name__}")
    data = bytes(data)
    if not data.strip():
        raise CertificateError(f"{source} is empty")
    blocks = _PEM_CERT.findall(data)
    if not blocks:
        hint = " (it looks like DER; PEM is expected)" if data[:1] == b"\x30" else ""
        if b"-----BEGIN CERTIFICATE-----" in data:
            hint = " (a BEGIN CERTIFICATE line has no matching END line)"
        raise CertificateError(f"{source} holds no PEM certificate{hint}")
    certificates = []
    for number, block in enumerate(blocks, start=1):
        try:
            cert = x509.load_pem_x509_certificate(block + b"\n")
            _ = cert.extensions  # parsed lazily: surface a malformed extension here, not in a judgement
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise CertificateError(
                f"{source} holds a PEM block (certificate {number} of {len(blocks)}) that is not a valid "
                "X.509 certificate"
            ) from exc
        certificates.append(cert)
    return certificates


def load_certificate(cert: CertificateInput, *, source: str = "certificate") -> x509.Certificate:
    """One certificate from a parsed certificate, DER bytes or PEM (the first certificate of a bundle).

    Raises:
        CertificateError: naming ``source``, when the bytes are not a certificate.
    """
    if isinstance(cert, x509.Certificate):
        return cert
    if isinstance(cert, str):
        return load_pem_bundle(cert, source=source)[0]
    if isinstance(cert, (bytes, bytearray, memoryview)):
        data = bytes(cert)
        if b"-----BEGIN" in data[:4096]:
            return load_pem_bundle(data, source=source)[0]
        try:
            parsed = x509.load_der_x509_certificate(data)
            _ = parsed.extensions
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise CertificateError(f"{source} is not a valid DER-encoded X.509 certificate") from exc
        return parsed
    raise TypeError(f"expected a certificate, DER or PEM bytes, given: {type(cert).__name__}")


def load_private_key(data: bytes | PrivateKeyPEM, *, source: str):
    """The private key in a PEM blob (PKCS#1, SEC1 or PKCS#8, unencrypted, as cert-manager writes them).

    Raises:
        CertificateError: naming ``source`` when there is no usable key. Neither the message nor its cause
            (suppressed) carries any key bytes.
    """
    if isinstance(data, PrivateKeyPEM):
        data = data.bytes()
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes or PrivateKeyPEM, given: {type(data).__name__}")
    data = bytes(data)
    if not data.strip():
        raise CertificateError(f"{source} is empty")
    match = _PEM_KEY.search(data)
    if match is None:
        raise CertificateError(f"{source} holds no PEM private key")
    if match.group(1) == b"ENCRYPTED PRIVATE KEY":
        raise CertificateError(f"{source} holds an encrypted private key, which a TLS server cannot load unattended")
    message = None
    try:
        key = serialization.load_pem_private_key(match.group(0) + b"\n", password=None)
    except TypeError:
        message = f"{source} holds an encrypted private key, which a TLS server cannot load unattended"
    except UnsupportedAlgorithm:
        message = f"{source} holds a private key of an unsupported type"
    except ValueError:
        message = f"{source} holds a PEM private key block that cannot be parsed"
    if message is not None:
        raise CertificateError(message) from None  # the cause may describe the key's contents: drop it
    return key


def _private_key_or_error(key: Any, source: str):
    if isinstance(key, (bytes, bytearray, memoryview, str, PrivateKeyPEM)):
        return load_private_key(key, source=source)
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey,
                        ed448.Ed448PrivateKey, dsa.DSAPrivateKey)):
        return key
    raise TypeError(f"expected a PEM private key, given: {type(key).__name__}")


# --- facts --------------------------------------------------------------------------------------------------


def _name(name: x509.Name) -> str:
    return name.rfc4514_string()


def _show(name: x509.Name) -> str:
    """A name for a sentence: 'CN=direktiv-system', or "'' (empty)"."""
    text = _name(name)
    return f"'{text}'" if text else "'' (empty)"


def _extension(cert: x509.Certificate, cls):
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def _key_description(public_key) -> tuple[str, int, str | None]:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA", public_key.key_size, None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "EC", public_key.curve.key_size, public_key.curve.name
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, None
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448", 456, None
    if isinstance(public_key, dsa.DSAPublicKey):
        return "DSA", public_key.key_size, None
    return type(public_key).__name__, 0, None


def _signature_hash(cert: x509.Certificate) -> str | None:
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None
    return algorithm.name if algorithm is not None else None


def _signature_algorithm(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    name = getattr(oid, "_name", "Unknown OID")  # cryptography's OID names, e.g. "sha256WithRSAEncryption"
    return oid.dotted_string if name == "Unknown OID" else name


def _ekus(cert: x509.Certificate) -> tuple[str, ...] | None:
    ext = _extension(cert, x509.ExtendedKeyUsage)
    if ext is None:
        return None
    return tuple(_EKU_NAMES.get(oid, oid.dotted_string) for oid in ext.value)


def _key_usage(cert: x509.Certificate) -> tuple[str, ...] | None:
    ext = _extension(cert, x509.KeyUsage)
    if ext is None:
        return None
    usage = ext.value
    names = [label for attr, label in _KEY_USAGE_NAMES if getattr(usage, attr)]
    if usage.key_agreement:
        names += [label for attr, label in (("encipher_only", "encipherOnly"), ("decipher_only", "decipherOnly"))
                  if getattr(usage, attr)]
    return tuple(names)


def _sans(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    ext = _extension(cert, x509.SubjectAlternativeName)
    if ext is None:
        return (), (), False
    dns = tuple(ext.value.get_values_for_type(x509.DNSName))
    ips = tuple(str(ip) for ip in ext.value.get_values_for_type(x509.IPAddress))
    return dns, ips, ext.critical


def _common_name(cert: x509.Certificate) -> str | None:
    values = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if not values:
        return None
    value = values[-1].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _verifies(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """Whether ``child``'s signature verifies with ``parent``'s public key, whatever the hash (SHA-1 and MD5
    included: ``verify_directly_issued_by`` refuses those, and C-KEY-STRENGTH judges hashes)."""
    key = parent.public_key()
    data, signature = child.tbs_certificate_bytes, child.signature
    try:
        algorithm = child.signature_hash_algorithm
        params = child.signature_algorithm_parameters
        if isinstance(key, rsa.RSAPublicKey):
            pad = params if isinstance(params, padding.AsymmetricPadding) else padding.PKCS1v15()
            key.verify(signature, data, pad, algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, params if isinstance(params, ec.ECDSA) else ec.ECDSA(algorithm))
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(signature, data)
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(signature, data, algorithm)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


@dataclass(frozen=True)
class CertificateFacts(_Record):
    """What a certificate says, as plain JSON-friendly values (public data only).

    Attributes:
        subject: RFC 4514 string; '' for an empty subject (cert-manager without commonName).
        issuer: RFC 4514 string; '' when empty.
        common_name: the subject's last CN, or None; shown for people only (Go ignores it for names).
        serial: the serial number in lowercase hex.
        not_before: start of validity, aware UTC.
        not_after: end of validity, aware UTC.
        not_before_iso: ``not_before`` as 'YYYY-MM-DDTHH:MM:SSZ'.
        not_after_iso: ``not_after`` likewise.
        dns_names: the DNS SANs, in certificate order.
        ip_addresses: the IP SANs, as strings.
        san_critical: whether the SAN extension is marked critical (cert-manager does so for an empty subject).
        ekus: ExtendedKeyUsage names ('serverAuth', 'clientAuth', ..., dotted OIDs for unknown ones), or None when
            the extension is absent, which (as in Go) allows any usage.
        key_usage: keyUsage names ('digitalSignature', 'keyEncipherment', 'keyCertSign', ...), or None if absent.
        key_type: 'RSA', 'EC', 'Ed25519', 'Ed448' or 'DSA'.
        key_bits: the key size (curve size for EC).
        key_curve: the EC curve name (e.g. 'secp256r1'), else None.
        signature_algorithm: e.g. 'sha256WithRSAEncryption', 'ecdsa-with-SHA256', 'ed25519'.
        signature_hash: 'sha256', 'sha1', 'md5', ... or None (Ed25519, or unknown).
        sha256_fingerprint: SHA-256 over the DER, lowercase hex without separators.
        is_ca: basicConstraints cA is TRUE.
        path_length: basicConstraints pathLenConstraint, or None.
        self_issued: subject equals issuer (both empty counts).
        self_signed: self-issued and the signature verifies with the certificate's own key.
        pem: the certificate in PEM (public).
    """

    subject: str
    issuer: str
    common_name: str | None
    serial: str
    not_before: _dt.datetime
    not_after: _dt.datetime
    not_before_iso: str
    not_after_iso: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    san_critical: bool
    ekus: tuple[str, ...] | None
    key_usage: tuple[str, ...] | None
    key_type: str
    key_bits: int
    key_curve: str | None
    signature_algorithm: str
    signature_hash: str | None
    sha256_fingerprint: str
    is_ca: bool
    path_length: int | None
    self_issued: bool
    self_signed: bool
    pem: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CertificateFacts":
        """The inverse of ``to_dict()`` (for reading evidence files back)."""
        values = dict(data)
        for key in ("not_before", "not_after"):
            values[key] = _dt.datetime.strptime(values[key], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc)
        for key in ("dns_names", "ip_addresses"):
            values[key] = tuple(values[key])
        for key in ("ekus", "key_usage"):
            values[key] = None if values[key] is None else tuple(values[key])
        return cls(**values)


def certificate_facts(cert: CertificateInput, *, source: str = "certificate") -> CertificateFacts:
    """The facts of one certificate (parsed, DER or PEM); the same bytes give the same facts, computed once.

    Raises:
        CertificateError: naming ``source`` when the bytes are not a certificate or an extension cannot be parsed.
    """
    if isinstance(cert, (bytes, str)):
        return _facts_of_bytes(cert, source)
    return _certificate_facts(cert, source)


@functools.lru_cache(maxsize=4096)
def _facts_of_bytes(data: bytes | str, source: str) -> CertificateFacts:
    return _certificate_facts(data, source)


def _certificate_facts(cert: CertificateInput, source: str) -> CertificateFacts:
    cert = load_certificate(cert, source=source)
    try:
        dns, ips, san_critical = _sans(cert)
        basic = _extension(cert, x509.BasicConstraints)
        key_type, key_bits, curve = _key_description(cert.public_key())
        ekus, key_usage = _ekus(cert), _key_usage(cert)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertificateError(f"{source} has an extension or key that cannot be parsed") from exc
    self_issued = cert.subject == cert.issuer
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    return CertificateFacts(
        subject=_name(cert.subject),
        issuer=_name(cert.issuer),
        common_name=_common_name(cert),
        serial=format(cert.serial_number, "x"),
        not_before=not_before,
        not_after=not_after,
        not_before_iso=_iso(not_before),
        not_after_iso=_iso(not_after),
        dns_names=dns,
        ip_addresses=ips,
        san_critical=san_critical,
        ekus=ekus,
        key_usage=key_usage,
        key_type=key_type,
        key_bits=key_bits,
        key_curve=curve,
        signature_algorithm=_signature_algorithm(cert),
        signature_hash=_signature_hash(cert),
        sha256_fingerprint=_fingerprint(cert),
        is_ca=bool(basic and basic.value.ca),
        path_length=basic.value.path_length if basic else None,
        self_issued=self_issued,
        self_signed=self_issued and _verifies(cert, cert),
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )


# --- trust --------------------------------------------------------------------------------------------------


class TrustMethod(str, enum.Enum):
    """How a chain was judged trusted (or NONE when it was not)."""

    PATH = "path"          # a signature path from the leaf to an anchor
    IDENTITY = "identity"  # the leaf is itself one of the anchors (byte-identical), as Go's root pool allows
    NONE = "none"          # not trusted


@dataclass(frozen=True)
class ChainResult(_Record):
    """Whether a served chain validates to one of the trust anchors.

    Attributes:
        trusted: the leaf chains to an anchor (or is one).
        reason: one sentence saying why, e.g. "issued by 'CN=direktiv-system' but no anchor has that name".
        method: PATH, IDENTITY, or NONE when not trusted.
        path_subjects: subjects from the leaf to the anchor when trusted (RFC 4514; '' for empty), else the
            leaf's subject alone (empty tuple when there is no leaf).
        at: the instant the intermediates and anchors were judged at (see the module docstring).
        anchor_sha256: the SHA-256 fingerprint of the anchor reached, or None.
    """

    trusted: bool
    reason: str
    method: TrustMethod
    path_subjects: tuple[str, ...]
    at: _dt.datetime | None
    anchor_sha256: str | None = None


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _valid_at(cert: x509.Certificate, at: _dt.datetime) -> bool:
    return cert.not_valid_before_utc <= at <= cert.not_valid_after_utc


def _may_sign(parent: x509.Certificate) -> str | None:
    """Go's CheckSignatureFrom constraints on a parent; a phrase saying what is wrong, or None."""
    basic = _extension(parent, x509.BasicConstraints)
    if parent.version == x509.Version.v3 and basic is None:
        return "has no basicConstraints extension, so it may not sign certificates"
    if basic is not None and not basic.value.ca:
        return "is not a CA (basicConstraints cA is FALSE)"
    usage = _extension(parent, x509.KeyUsage)
    if usage is not None and not usage.value.key_cert_sign:
        return "has a keyUsage without keyCertSign"
    return None


def _unhandled_critical(cert: x509.Certificate) -> list[str]:
    return [ext.oid.dotted_string for ext in cert.extensions
            if ext.critical and ext.oid not in _GO_HANDLED_EXTENSIONS]


def _role(cert: x509.Certificate, depth: int) -> str:
    return "the leaf" if depth == 0 else f"intermediate {_show(cert.subject)}"


class _Search:
    """Depth-first path search from the leaf through the served certificates to an anchor."""

    def __init__(self, pool: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate], at: _dt.datetime):
        anchor_ders = {_der(a) for a in anchors}
        self.anchors = anchors
        self.pool = [c for c in pool if _der(c) not in anchor_ders]
        self.at = at
        self.failures: list[str] = []

    def _fail(self, depth: int, child: x509.Certificate, text: str) -> None:
        prefix = "" if depth == 0 else f"{_role(child, depth)}: "
        if prefix + text not in self.failures:
            self.failures.append(prefix + text)

    def _parent_problem(self, child, parent, depth: int, kind: str) -> str | None:
        label = f"{kind} {_show(parent.subject)}"
        if not _verifies(child, parent):
            return f"signature does not verify against {label} (a different key with the same name)"
        problem = _may_sign(parent)
        if problem is None and kind == "intermediate" and parent.version != x509.Version.v3:
            problem = "is not a v3 CA certificate"
        if problem is not None:
            return f"{label} {problem}"
        basic = _extension(parent, x509.BasicConstraints)
        if basic is not None and basic.value.path_length is not None and depth > basic.value.path_length:
            return (f"{label} allows {basic.value.path_length} intermediate(s) below it (pathLenConstraint), "
                    f"found {depth}")
        if not _valid_at(parent, self.at):
            return (f"{label} is not valid at {_iso(self.at)} (valid {_iso(parent.not_valid_before_utc)} to "
                    f"{_iso(parent.not_valid_after_utc)})")
        return None

    def extend(self, path: tuple[x509.Certificate, ...]) -> tuple[x509.Certificate, ...] | None:
        child, depth = path[-1], len(path) - 1
        named = [a for a in self.anchors if a.subject == child.issuer]
        for anchor in named:
            problem = self._parent_problem(child, anchor, depth, "anchor")
            if problem is None:
                return path + (anchor,)
            self._fail(depth, child, problem)
        in_path = {_der(c) for c in path}
        candidates = [c for c in self.pool if c.subject == child.issuer and _der(c) not in in_path]
        if not named and not candidates:
            self._fail(depth, child, f"issued by {_show(child.issuer)} but no anchor has that name")
            return None
        if len(path) >= _MAX_PATH:
            self._fail(depth, child, f"no anchor within {_MAX_PATH} certificates")
            return None
        for candidate in candidates:
            problem = self._parent_problem(child, candidate, depth, "intermediate")
            if problem is not None:
                self._fail(depth, child, problem)
                continue
            found = self.extend(path + (candidate,))
            if found is not None:
                return found
        return None


def _leaf_window_note(leaf: x509.Certificate, when: _dt.datetime) -> str:
    if when > leaf.not_valid_after_utc:
        return f"; the leaf itself expired at {_iso(leaf.not_valid_after_utc)} (judged by C-VALIDITY, not here)"
    if when < leaf.not_valid_before_utc:
        return (f"; the leaf itself is valid only from {_iso(leaf.not_valid_before_utc)} "
                "(judged by C-VALIDITY, not here)")
    return ""


def verify_chain(
    chain_der: Sequence[CertificateInput],
    anchors: Iterable[CertificateInput],
    *,
    at: _dt.datetime | None = None,
) -> ChainResult:
    """Does the served chain (leaf first, then intermediates in any order, extra certificates allowed) validate to
    one of ``anchors``, the way Go's crypto/x509 would, leaving hostname, EKU and leaf expiry to their own controls?

    See the module docstring for exactly what is checked and the choice of ``at``.

    Raises:
        CertificateError: when a served certificate or an anchor cannot be parsed.
    """
    chain = [load_certificate(c, source=f"served certificate {i + 1}") for i, c in enumerate(chain_der)]
    anchor_list = [load_certificate(a, source=f"trust anchor {i + 1}") for i, a in enumerate(anchors)]
    if not chain:
        return ChainResult(False, "the server sent no certificate", TrustMethod.NONE, (), None)
    leaf = chain[0]
    when = _utcnow() if at is None else _aware(at, "at")
    leaf_only = (_name(leaf.subject),)

    def untrusted(reason: str) -> ChainResult:
        return ChainResult(False, reason, TrustMethod.NONE, leaf_only, when)

    if not anchor_list:
        return untrusted("no trust anchor was given to verify against")
    if at is not None and not _valid_at(leaf, when):
        return untrusted(f"the leaf is not valid at {_iso(when)} (valid {_iso(leaf.not_valid_before_utc)} to "
                         f"{_iso(leaf.not_valid_after_utc)})")
    unhandled = _unhandled_critical(leaf)
    if unhandled:
        return untrusted(f"the leaf has critical extension(s) {', '.join(unhandled)} that Go does not handle")
    leaf_der = _der(leaf)
    if any(_der(a) == leaf_der for a in anchor_list):
        empty = " with an empty subject and issuer (cert-manager's selfSigned issuer without a commonName)" if (
            len(leaf.subject) == 0 and len(leaf.issuer) == 0) else ""
        return ChainResult(
            True,
            f"the leaf{empty} is itself one of the anchors: trusted by identity, as Go trusts a root pool entry "
            f"equal to the leaf (no path is built){_leaf_window_note(leaf, when)}",
            TrustMethod.IDENTITY,
            leaf_only,
            when,
            _fingerprint(leaf),
        )
    search = _Search(chain[1:], anchor_list, when)
    path = search.extend((leaf,))
    if path is not None:
        anchor = path[-1]
        via = ", ".join(_show(c.subject) for c in path[1:-1])
        how = f"via {via} " if via else "directly "
        reason = f"issued {how}by anchor {_show(anchor.subject)}"
        if anchor.subject == leaf.subject and len(path) == 2 and len(leaf.subject) == 0:
            reason += " (both names empty; matched by signature)"
        reason += _leaf_window_note(leaf, when)
        return ChainResult(True, reason, TrustMethod.PATH, tuple(_name(c.subject) for c in path), when,
                           _fingerprint(anchor))
    if leaf.subject == leaf.issuer and _verifies(leaf, leaf):
        same_name = any(a.subject == leaf.subject for a in anchor_list)
        extra = " (an anchor has the same name but is a different certificate)" if same_name else ""
        return untrusted(f"self-signed and not among the anchors{extra}")
    return untrusted("; ".join(search.failures) or "no path to an anchor")


# --- names --------------------------------------------------------------------------------------------------

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _normalize(name: str) -> str:
    name = name.translate(_ASCII_LOWER)
    return name[:-1] if name.endswith(".") else name


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def hostname_matches(pattern: str, name: str) -> bool:
    """Whether a DNS SAN ``pattern`` covers host ``name``, by RFC 6125 as Go's VerifyHostname applies it.

    ASCII case-insensitive; one trailing dot ignored on both; ``*`` only as the entire left-most label, standing
    for exactly one non-empty label ('*.default' covers 'a.default', not 'a.b.default' nor 'default'); any other
    '*' ('f*.example', 'a.*.example') matches nothing; a bare '*' matches nothing; an IP address never matches a
    DNS pattern (IP names match IP SANs only, see :func:`names_covered`).
    """
    if _ip(name) is not None:
        return False
    pattern, name = _normalize(pattern), _normalize(name)
    if not pattern or not name:
        return False
    if "*" not in pattern:
        return pattern == name
    pattern_labels, name_labels = pattern.split("."), name.split(".")
    if pattern_labels[0] != "*" or "*" in pattern[1:] or len(pattern_labels) < 2:
        return False
    if len(pattern_labels) != len(name_labels) or not name_labels[0]:
        return False
    return pattern_labels[1:] == name_labels[1:]


@dataclass(frozen=True)
class NameCoverage(_Record):
    """Which expected names a certificate's SANs cover (the commonName is ignored, as Go does since 1.15).

    Attributes:
        covered: the expected names some SAN covers, in the order asked.
        missing: the expected names no SAN covers.
        common_name_only: missing names the subject's commonName would have matched (legacy clients only): a
            hint for the failure message.
        dns_names: the certificate's DNS SANs (for the message).
        ip_addresses: the certificate's IP SANs.
    """

    covered: tuple[str, ...]
    missing: tuple[str, ...]
    common_name_only: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()

    @property
    def all_covered(self) -> bool:
        return not self.missing


def names_covered(cert: CertificateInput, names: Iterable[str]) -> NameCoverage:
    """Which of ``names`` the certificate's SANs cover: DNS names by :func:`hostname_matches`, IP addresses by
    equality with IP SANs (brackets around IPv6 allowed)."""
    cert = load_certificate(cert)
    dns, ips, _ = _sans(cert)
    ip_sans = {ipaddress.ip_address(ip) for ip in ips}
    common_name = _common_name(cert)
    covered, missing, cn_only = [], [], []
    for name in names:
        address = _ip(name)
        if address is not None:
            ok = address in ip_sans
        else:
            ok = any(hostname_matches(pattern, name) for pattern in dns)
        (covered if ok else missing).append(name)
        if not ok and common_name and address is None and hostname_matches(common_name, name):
            cn_only.append(name)
    return NameCoverage(tuple(covered), tuple(missing), tuple(cn_only), dns, ips)


# --- validity, usage, strength, pairing --------------------------------------------------------------------


@dataclass(frozen=True)
class ValidityResult(_Record):
    """Where ``now`` lies in the certificate's validity window.

    Attributes:
        valid_now: notBefore <= now <= notAfter.
        not_yet_valid: now < notBefore.
        expired: now > notAfter.
        days_left: (notAfter - now) in days, negative once expired.
        meets_minimum: valid now and at least ``min_days`` days left.
        min_days: the minimum asked for.
        now: the instant judged.
        not_before: the certificate's notBefore (aware UTC).
        not_after: the certificate's notAfter (aware UTC).
    """

    valid_now: bool
    not_yet_valid: bool
    expired: bool
    days_left: float
    meets_minimum: bool
    min_days: float
    now: _dt.datetime
    not_before: _dt.datetime
    not_after: _dt.datetime


def validity(cert: CertificateInput, *, now: _dt.datetime | None = None,
             min_days: float = DEFAULT_MIN_DAYS) -> ValidityResult:
    """The certificate's validity at ``now`` (default: the current time), and whether ``min_days`` remain."""
    cert = load_certificate(cert)
    now = _utcnow() if now is None else _aware(now, "now")
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    not_yet, expired = now < not_before, now > not_after
    days_left = (not_after - now).total_seconds() / 86400.0
    valid = not (not_yet or expired)
    return ValidityResult(valid, not_yet, expired, days_left, valid and days_left >= min_days, min_days, now,
                          not_before, not_after)


def eku_allows(cert: CertificateInput, purpose: Literal["serverAuth", "clientAuth"]) -> bool:
    """Whether the certificate may be used for ``purpose``: no ExtendedKeyUsage extension (any usage, as in Go),
    anyExtendedKeyUsage, or the purpose listed."""
    if purpose not in _PURPOSES:
        raise ValueError(f"purpose must be one of {_PURPOSES}, given: {purpose!r}")
    ekus = _ekus(load_certificate(cert))
    return ekus is None or "anyExtendedKeyUsage" in ekus or purpose in ekus


@dataclass(frozen=True)
class KeyStrengthResult(_Record):
    """Key sizes and signature hashes of the served chain.

    Attributes:
        ok: no problem found.
        problems: one sentence per problem, naming the certificate (e.g. "the leaf 'CN=x' has a 1024-bit RSA key,
            below the 2048-bit minimum").
        keys: per served certificate, e.g. 'RSA 2048', 'EC 256 (secp256r1)', leaf first.
    """

    ok: bool
    problems: tuple[str, ...]
    keys: tuple[str, ...] = ()


def _position(cert: x509.Certificate, index: int) -> tuple[str, bool]:
    """How a problem names a served certificate, and whether it is a self-signed root (not the leaf)."""
    name = _show(cert.subject)
    if index == 0:
        return f"the leaf {name}", False
    if cert.subject == cert.issuer and _verifies(cert, cert):
        return f"the self-signed root {name} (served certificate {index + 1})", True
    return f"intermediate {name} (served certificate {index + 1})", False


def key_strength(
    chain: Sequence[CertificateInput],
    *,
    rsa_min_bits: int = DEFAULT_RSA_MIN_BITS,
    ec_min_bits: int = DEFAULT_EC_MIN_BITS,
) -> KeyStrengthResult:
    """Judge every served certificate: RSA keys of at least ``rsa_min_bits``, EC keys of at least ``ec_min_bits``
    (Ed25519/Ed448 pass; DSA fails), and no SHA-1 or MD5 signature anywhere in the chain, a served self-signed
    root included (clients do not check a root's own signature, which the problem text says)."""
    certs = [load_certificate(c, source=f"served certificate {i + 1}") for i, c in enumerate(chain)]
    problems, keys = [], []
    for index, cert in enumerate(certs):
        where, is_root = _position(cert, index)
        key_type, bits, curve = _key_description(cert.public_key())
        keys.append(f"{key_type} {bits}" + (f" ({curve})" if curve else ""))
        if key_type == "RSA" and bits < rsa_min_bits:
            problems.append(f"{where} has a {bits}-bit RSA key, below the {rsa_min_bits}-bit minimum")
        elif key_type == "EC" and bits < ec_min_bits:
            problems.append(f"{where} has a {bits}-bit EC key ({curve}), below the {ec_min_bits}-bit minimum")
        elif key_type == "DSA":
            problems.append(f"{where} has a DSA key, which TLS 1.3 and Go do not accept")
        elif key_type not in ("RSA", "EC", "Ed25519", "Ed448"):
            problems.append(f"{where} has a key of unknown type {key_type}")
        weak = _WEAK_HASHES.get(_signature_hash(cert) or "")
        if weak:
            note = (" (its own signature, which clients do not check on a trust anchor; CONTROLS forbids "
                    f"{weak} anywhere in the served chain)") if is_root else ""
            problems.append(f"{where} is signed with {_signature_algorithm(cert)} ({weak}){note}")
    if not certs:
        problems.append("the server sent no certificate")
    return KeyStrengthResult(not problems, tuple(problems), tuple(keys))


def key_matches_certificate(cert: CertificateInput, key_pem: bytes | PrivateKeyPEM, *,
                            source: str = "private key") -> bool:
    """Whether the private key is the key of the certificate (public keys compared; RSA, EC, Ed25519, Ed448).

    Raises:
        CertificateError: naming ``source`` when the key cannot be parsed (never quoting it).
    """
    certificate = load_certificate(cert)
    key = _private_key_or_error(key_pem, source)
    try:
        return bool(key.public_key() == certificate.public_key())
    except TypeError:  # keys of different types
        return False


@dataclass(frozen=True)
class StrictResult:
    """What a strict RFC 5280 verifier (``cryptography.x509.verification``, as rustls-based and recent clients
    verify) says of a served chain.

    Attributes:
        trusted: the chain verifies to one of the anchors for the name.
        reason: one sentence: the verified path, or the verifier's complaint.
    """

    trusted: bool
    reason: str


def verify_strict(chain_der: Sequence[bytes], anchors: Sequence[x509.Certificate], name: str, *,
                  at: _dt.datetime | None = None) -> StrictResult:
    """Verify the served chain (leaf first) for the DNS name or IP address ``name`` with cryptography's strict
    verifier. Unlike :func:`verify_chain` it applies RFC 5280 to the letter: an empty issuer, a missing SAN, a CA
    without the keyCertSign usage or basicConstraints are refused."""
    from cryptography.x509 import DNSName, IPAddress
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    try:
        subject = IPAddress(ipaddress.ip_address(name))
    except ValueError:
        subject = DNSName(name)
    try:
        leaf = x509.load_der_x509_certificate(chain_der[0])
        intermediates = [x509.load_der_x509_certificate(d) for d in chain_der[1:]]
        verifier = (PolicyBuilder().store(Store(list(anchors)))
                    .time(at or _dt.datetime.now(_dt.timezone.utc)).build_server_verifier(subject))
        path = verifier.verify(leaf, intermediates)
    except (VerificationError, ValueError) as exc:
        return StrictResult(False, f"a strict RFC 5280 verifier refuses it: {exc}")
    names = " -> ".join(c.subject.rfc4514_string() or "(empty subject)" for c in path)
    return StrictResult(True, f"a strict RFC 5280 verifier accepts the path {names}")
