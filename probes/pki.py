"""Certificates built the way cert-manager builds them, for the sandbox, the tests, and the client
certificates the suite mints to test that servers reject bad clients.

cert-manager conventions reproduced here:
- RSA 2048 keys by default, written as PKCS#1 ("RSA PRIVATE KEY"), ECDSA P-256 as SEC1 ("EC PRIVATE KEY");
- 90 days of validity (``duration: 2160h``), starting now;
- a random 128-bit serial, SubjectKeyIdentifier, AuthorityKeyIdentifier on issued certificates;
- an empty subject unless ``commonName`` is set, and then the SAN extension is critical (RFC 5280 4.2.1.6);
- ``usages`` default to ``digital signature`` and ``key encipherment`` with no ExtendedKeyUsage at all;
- a selfSigned issuer signs the certificate with its own key, so subject == issuer (both empty without a CN),
  and the secret's ``ca.crt`` is the certificate itself;
- a CA issuer writes the leaf into ``tls.crt`` and the CA certificate into ``ca.crt``.

Private keys only ever live in memory, wrapped in :class:`PrivateKeyPEM` whose repr is masked.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "DEFAULT_DURATION",
    "DEFAULT_USAGES",
    "SERVER_AND_CLIENT_USAGES",
    "PrivateKeyPEM",
    "IssuedCertificate",
    "CertificateAuthority",
    "self_signed_certificate",
    "self_signed_clone",
    "foreign_ca_client",
    "expired_client",
    "no_clientauth_client",
]

# cert-manager's default Certificate duration (spec.duration unset).
DEFAULT_DURATION = _dt.timedelta(days=90)
# cert-manager's default usages when spec.usages is unset: key usages only, no EKU extension.
DEFAULT_USAGES: tuple[str, ...] = ("digital signature", "key encipherment")
# What the Direktiv TLS page asks for on the gRPC certificates (one secret is server and client identity).
SERVER_AND_CLIENT_USAGES: tuple[str, ...] = ("digital signature", "key encipherment", "server auth", "client auth")

_EKU_BY_USAGE = {
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
}
_KEY_USAGE_FLAGS = {
    "digital signature": "digital_signature",
    "key encipherment": "key_encipherment",
    "cert sign": "key_cert_sign",
    "crl sign": "crl_sign",
    "content commitment": "content_commitment",
    "data encipherment": "data_encipherment",
    "key agreement": "key_agreement",
}


@dataclass(frozen=True, repr=False)
class PrivateKeyPEM:
    """A private key as PEM bytes; the only way out is :meth:`bytes`, and the repr never shows it."""

    _pem: bytes

    def bytes(self) -> bytes:
        return self._pem

    def __repr__(self) -> str:
        return "PrivateKeyPEM(<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate with its key, as a cert-manager secret would hold it.

    Attributes:
        cert: the leaf certificate.
        key: its private key (masked in repr).
        ca_pem: what cert-manager writes into ``ca.crt``: the issuing CA, or the certificate itself when self-signed.
        chain_pem: what cert-manager writes into ``tls.crt``: the leaf, then any intermediates (none here).
    """

    cert: x509.Certificate
    key: PrivateKeyPEM = field(repr=False)
    ca_pem: bytes
    chain_pem: bytes

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def secret_data(self) -> dict[str, bytes]:
        """The ``data`` of the ``kubernetes.io/tls`` secret cert-manager writes (values not yet base64)."""
        return {"tls.crt": self.chain_pem, "tls.key": self.key.bytes(), "ca.crt": self.ca_pem}


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def _new_key(key_type: str, key_size: int | None):
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=key_size or 2048)
    if key_type == "ecdsa":
        curve = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 521: ec.SECP521R1(), None: ec.SECP256R1()}[key_size]
        return ec.generate_private_key(curve)
    raise ValueError(f"key_type must be 'rsa' or 'ecdsa', given: {key_type!r}")


def _key_pem(key) -> PrivateKeyPEM:
    return PrivateKeyPEM(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )


def _subject(common_name: str | None) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]) if common_name else x509.Name([])


def _general_names(dns_names: Iterable[str], ip_addresses: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    return names


def _key_usage(usages: Sequence[str], is_ca: bool) -> x509.KeyUsage:
    flags = {v: False for v in _KEY_USAGE_FLAGS.values()}
    for usage in usages:
        if usage in _KEY_USAGE_FLAGS:
            flags[_KEY_USAGE_FLAGS[usage]] = True
    if is_ca:
        flags["key_cert_sign"] = True
    return x509.KeyUsage(encipher_only=False, decipher_only=False, **flags)


def _check_usages(usages: Sequence[str]) -> None:
    unknown = [u for u in usages if u not in _EKU_BY_USAGE and u not in _KEY_USAGE_FLAGS]
    if unknown:
        raise ValueError(f"unknown certificate usage(s) {unknown}; use cert-manager's names, e.g. 'server auth'")


def _build(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    public_key,
    signing_key,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    usages: Sequence[str],
    is_ca: bool,
    not_before: _dt.datetime,
    not_after: _dt.datetime,
    issuer_public_key,
    signature_hash,
) -> x509.Certificate:
    _check_usages(usages)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(_key_usage(usages, is_ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    ekus = [_EKU_BY_USAGE[u] for u in usages if u in _EKU_BY_USAGE]
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    names = _general_names(dns_names, ip_addresses)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=len(subject) == 0)
    if issuer_public_key is not public_key:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key), critical=False
        )
    return builder.sign(signing_key, signature_hash or hashes.SHA256())


def _window(not_before: _dt.datetime | None, not_after: _dt.datetime | None, duration: _dt.timedelta):
    start = not_before or _now()
    return start, not_after or start + duration


class CertificateAuthority:
    """A CA as cert-manager's ``ca`` ClusterIssuer uses it (``secretName: direktiv-ca``)."""

    def __init__(self, cert: x509.Certificate, private_key) -> None:
        self.cert = cert
        self._private_key = private_key

    def __repr__(self) -> str:
        return f"CertificateAuthority(subject={self.cert.subject.rfc4514_string()!r})"

    @classmethod
    def self_signed(
        cls,
        common_name: str = "direktiv-system",
        *,
        key_type: str = "rsa",
        key_size: int | None = None,
        not_before: _dt.datetime | None = None,
        not_after: _dt.datetime | None = None,
    ) -> "CertificateAuthority":
        """The ``isCA: true`` Certificate signed by a selfSigned ClusterIssuer (the TLS page's ``direktiv-ca``)."""
        key = _new_key(key_type, key_size)
        start, end = _window(not_before, not_after, DEFAULT_DURATION)
        name = _subject(common_name)
        cert = _build(
            subject=name,
            issuer=name,
            public_key=key.public_key(),
            signing_key=key,
            dns_names=(),
            ip_addresses=(),
            usages=DEFAULT_USAGES + ("cert sign",),
            is_ca=True,
            not_before=start,
            not_after=end,
            issuer_public_key=key.public_key(),
            signature_hash=hashes.SHA256(),
        )
        return cls(cert, key)

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes) -> "CertificateAuthority":
        """A CA from a secret's ``tls.crt`` and ``tls.key`` (e.g. ``cert-manager/direktiv-ca``)."""
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
        return cls(cert, key)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key(self) -> PrivateKeyPEM:
        return _key_pem(self._private_key)

    def secret_data(self) -> dict[str, bytes]:
        """The ``direktiv-ca`` secret: a self-signed CA's ``ca.crt`` is itself."""
        return {"tls.crt": self.cert_pem, "tls.key": self.key.bytes(), "ca.crt": self.cert_pem}

    def issue(
        self,
        dns_names: Sequence[str] = (),
        *,
        common_name: str | None = None,
        ip_addresses: Sequence[str] = (),
        usages: Sequence[str] = DEFAULT_USAGES,
        not_before: _dt.datetime | None = None,
        not_after: _dt.datetime | None = None,
        key_type: str = "rsa",
        key_size: int | None = None,
        signature_hash: hashes.HashAlgorithm | None = None,
        subject: x509.Name | None = None,
    ) -> IssuedCertificate:
        """Sign a leaf, like a Certificate whose issuerRef is this CA."""
        key = _new_key(key_type, key_size)
        start, end = _window(not_before, not_after, DEFAULT_DURATION)
        cert = _build(
            subject=subject if subject is not None else _subject(common_name),
            issuer=self.cert.subject,
            public_key=key.public_key(),
            signing_key=self._private_key,
            dns_names=dns_names,
            ip_addresses=ip_addresses,
            usages=usages,
            is_ca=False,
            not_before=start,
            not_after=end,
            issuer_public_key=self.cert.public_key(),
            signature_hash=signature_hash,
        )
        pem = cert.public_bytes(serialization.Encoding.PEM)
        return IssuedCertificate(cert=cert, key=_key_pem(key), ca_pem=self.cert_pem, chain_pem=pem)


def self_signed_certificate(
    dns_names: Sequence[str] = (),
    *,
    common_name: str | None = None,
    ip_addresses: Sequence[str] = (),
    usages: Sequence[str] = DEFAULT_USAGES,
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
    key_type: str = "rsa",
    key_size: int | None = None,
    subject: x509.Name | None = None,
) -> IssuedCertificate:
    """A Certificate whose issuerRef is a selfSigned issuer (the TLS page's ``direktiv-lb``): without a
    commonName its subject and issuer are both empty, and ``ca.crt`` is the certificate itself."""
    key = _new_key(key_type, key_size)
    start, end = _window(not_before, not_after, DEFAULT_DURATION)
    name = subject if subject is not None else _subject(common_name)
    cert = _build(
        subject=name,
        issuer=name,
        public_key=key.public_key(),
        signing_key=key,
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        usages=usages,
        is_ca=False,
        not_before=start,
        not_after=end,
        issuer_public_key=key.public_key(),
        signature_hash=hashes.SHA256(),
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    return IssuedCertificate(cert=cert, key=_key_pem(key), ca_pem=pem, chain_pem=pem)


# --- client certificates the suite mints to prove that a server rejects them -------------------------------


def _template(cert_pem: bytes) -> tuple[x509.Certificate, list[str], list[str], list[str]]:
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = san.get_values_for_type(x509.DNSName)
        ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns, ips = [], []
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        by_oid = {oid: name for name, oid in _EKU_BY_USAGE.items()}
        usages = list(DEFAULT_USAGES) + [by_oid[oid] for oid in eku if oid in by_oid]
    except x509.ExtensionNotFound:
        usages = list(SERVER_AND_CLIENT_USAGES)
    return cert, dns, ips, usages


def _ec_or_rsa(cert: x509.Certificate) -> str:
    return "ecdsa" if isinstance(cert.public_key(), ec.EllipticCurvePublicKey) else "rsa"


def self_signed_clone(cert_pem: bytes) -> IssuedCertificate:
    """A self-signed certificate with the same subject, SANs and usages as ``cert_pem``, under a new key:
    what an attacker who read the client certificate (public) but not its key could present."""
    cert, dns, ips, usages = _template(cert_pem)
    return self_signed_certificate(
        dns, ip_addresses=ips, usages=usages, subject=cert.subject, key_type=_ec_or_rsa(cert)
    )


def foreign_ca_client(cert_pem: bytes, *, ca_common_name: str = "direktiv-system") -> IssuedCertificate:
    """The same subject and SANs, issued by a throwaway CA that even shares the real CA's name."""
    cert, dns, ips, usages = _template(cert_pem)
    foreign = CertificateAuthority.self_signed(ca_common_name, key_type=_ec_or_rsa(cert))
    return foreign.issue(dns, ip_addresses=ips, usages=usages, subject=cert.subject, key_type=_ec_or_rsa(cert))


def expired_client(ca: CertificateAuthority, cert_pem: bytes) -> IssuedCertificate:
    """Issued by the right CA with the right usages, but expired a day ago (valid for one day a month ago)."""
    cert, dns, ips, usages = _template(cert_pem)
    start = _now() - _dt.timedelta(days=30)
    return ca.issue(
        dns, ip_addresses=ips, usages=usages, subject=cert.subject, key_type=_ec_or_rsa(cert),
        not_before=start, not_after=_now() - _dt.timedelta(days=1),
    )


def no_clientauth_client(ca: CertificateAuthority, cert_pem: bytes) -> IssuedCertificate:
    """Issued by the right CA, valid, but its ExtendedKeyUsage allows serverAuth only."""
    cert, dns, ips, _ = _template(cert_pem)
    return ca.issue(
        dns, ip_addresses=ips, usages=DEFAULT_USAGES + ("server auth",), subject=cert.subject,
        key_type=_ec_or_rsa(cert),
    )
