"""The test PKI builds certificates the way cert-manager does."""

import datetime as dt

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from probes import pki


def _eku(cert):
    try:
        return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return None


def test_ca_is_self_signed_with_direktiv_system_name():
    ca = pki.CertificateAuthority.self_signed(key_type="ecdsa")
    assert ca.cert.subject == ca.cert.issuer
    assert ca.cert.subject.rfc4514_string() == "CN=direktiv-system"
    assert ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert ca.secret_data()["ca.crt"] == ca.cert_pem


def test_issued_leaf_without_common_name_has_empty_subject_and_critical_san():
    ca = pki.CertificateAuthority.self_signed(key_type="ecdsa")
    leaf = ca.issue(["direktiv-flow-hl.default"], usages=pki.SERVER_AND_CLIENT_USAGES, key_type="ecdsa")
    assert len(leaf.cert.subject) == 0
    san = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and san.value.get_values_for_type(x509.DNSName) == ["direktiv-flow-hl.default"]
    assert _eku(leaf.cert) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    leaf.cert.verify_directly_issued_by(ca.cert)
    assert leaf.secret_data()["ca.crt"] == ca.cert_pem


def test_default_usages_carry_no_eku_like_cert_manager():
    ca = pki.CertificateAuthority.self_signed(key_type="ecdsa")
    assert _eku(ca.issue(["x.default"], key_type="ecdsa").cert) is None


def test_self_signed_issuer_without_cn_gives_empty_subject_and_issuer():
    lb = pki.self_signed_certificate(["localhost", "myhost.mydomain"], key_type="ecdsa")
    assert len(lb.cert.subject) == 0 and len(lb.cert.issuer) == 0
    assert lb.ca_pem == lb.cert_pem


def test_minted_clients_differ_from_the_original_in_the_way_they_claim():
    ca = pki.CertificateAuthority.self_signed(key_type="ecdsa")
    good = ca.issue(["direktiv-flow-hl.default"], common_name="flow", usages=pki.SERVER_AND_CLIENT_USAGES, key_type="ecdsa")
    clone = pki.self_signed_clone(good.cert_pem)
    assert clone.cert.subject == good.cert.subject and clone.cert.issuer == good.cert.subject
    assert clone.cert.public_key() != good.cert.public_key()
    foreign = pki.foreign_ca_client(good.cert_pem)
    assert foreign.cert.issuer == ca.cert.subject  # same CA name, different key
    assert foreign.ca_pem != ca.cert_pem
    expired = pki.expired_client(ca, good.cert_pem)
    assert expired.cert.not_valid_after_utc < dt.datetime.now(dt.timezone.utc)
    expired.cert.verify_directly_issued_by(ca.cert)
    no_client = pki.no_clientauth_client(ca, good.cert_pem)
    assert _eku(no_client.cert) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_private_key_never_shows_in_repr():
    leaf = pki.self_signed_certificate(["a.example"], key_type="ecdsa")
    key = leaf.key.bytes()
    assert b"PRIVATE KEY" in key
    for text in (repr(leaf), str(leaf), repr(leaf.key), str(leaf.key)):
        assert "PRIVATE KEY" not in text and key.decode() not in text
