"""Certificate facts and judgements (probes.x509) on cert-manager-like PKIs built with probes.pki."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from probes import pki
from probes import x509 as px
from probes.errors import CertificateError

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
DAY = dt.timedelta(days=1)
FLOW = "direktiv-flow-hl.default"


# --- builders -----------------------------------------------------------------------------------------------


def _name(cn: str | None) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]) if cn else x509.Name([])


def build_cert(
    subject: str | None,
    *,
    issuer: x509.Certificate | None = None,
    issuer_key=None,
    key=None,
    ca: bool = False,
    path_length: int | None = None,
    dns: tuple[str, ...] = (),
    not_before: dt.datetime = NOW - DAY,
    not_after: dt.datetime = NOW + 90 * DAY,
    extra_critical: x509.ExtensionType | None = None,
):
    """A certificate built with cryptography directly (intermediates, Ed25519, odd extensions); returns (cert, key)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    issuer_key = issuer_key or key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer is not None else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
    )
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns]), critical=False)
    if extra_critical is not None:
        builder = builder.add_extension(extra_critical, critical=True)
    algorithm = None if isinstance(issuer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(issuer_key, algorithm), key


def _tlv(tag: int, body: bytes) -> bytes:
    if len(body) < 128:
        return bytes([tag, len(body)]) + body
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


_SHA256_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
_WEAK_RSA = {"sha1": (bytes.fromhex("300d06092a864886f70d0101050500"), hashes.SHA1()),
             "md5": (bytes.fromhex("300d06092a864886f70d0101040500"), hashes.MD5())}


def resign_weak(cert: x509.Certificate, rsa_ca: pki.CertificateAuthority, weak: str) -> x509.Certificate:
    """``cert`` (signed sha256WithRSAEncryption by ``rsa_ca``) re-signed with SHA-1 or MD5. cryptography 50 no
    longer signs certificates with those hashes (pki's ``signature_hash=SHA1()`` raises), so swap the
    AlgorithmIdentifier (same length) in the DER and sign the TBS with the raw RSA primitive."""
    algorithm_id, digest = _WEAK_RSA[weak]
    tbs = cert.tbs_certificate_bytes
    assert tbs.count(_SHA256_RSA) == 1
    tbs = tbs.replace(_SHA256_RSA, algorithm_id)
    ca_key = serialization.load_pem_private_key(rsa_ca.key.bytes(), password=None)
    signature = ca_key.sign(tbs, padding.PKCS1v15(), digest)
    return x509.load_der_x509_certificate(_tlv(0x30, tbs + algorithm_id + _tlv(0x03, b"\x00" + signature)))


# --- fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> pki.CertificateAuthority:
    return pki.CertificateAuthority.self_signed("direktiv-system", key_type="ecdsa")


@pytest.fixture(scope="module")
def flow(ca) -> pki.IssuedCertificate:
    return ca.issue([FLOW, "direktiv-flow-hl.default.svc"], ip_addresses=["10.0.0.7"],
                    usages=pki.SERVER_AND_CLIENT_USAGES, key_type="ecdsa")


@pytest.fixture(scope="module")
def lb() -> pki.IssuedCertificate:
    """The TLS page's direktiv-lb: selfSigned issuer, no commonName, empty subject and issuer."""
    return pki.self_signed_certificate(["localhost", "myhost.mydomain"], key_type="ecdsa")


@pytest.fixture(scope="module")
def rsa_ca() -> pki.CertificateAuthority:
    return pki.CertificateAuthority.self_signed("direktiv-system", key_type="rsa")


@pytest.fixture(scope="module")
def three_level():
    """root (CA) -> intermediate (CA, pathlen 0) -> leaf, built with cryptography directly."""
    root, root_key = build_cert("direktiv-root", ca=True)
    inter, inter_key = build_cert("direktiv-intermediate", issuer=root, issuer_key=root_key, ca=True, path_length=0)
    leaf, leaf_key = build_cert(None, issuer=inter, issuer_key=inter_key, dns=(FLOW,))
    return root, inter, leaf, root_key, inter_key


# --- facts --------------------------------------------------------------------------------------------------


def test_facts_of_a_cert_manager_leaf_read_as_cert_manager_wrote_them(flow):
    facts = px.certificate_facts(flow.cert_der)
    assert facts.subject == "" and facts.issuer == "CN=direktiv-system" and facts.common_name is None
    assert facts.dns_names == (FLOW, "direktiv-flow-hl.default.svc") and facts.ip_addresses == ("10.0.0.7",)
    assert facts.san_critical is True
    assert facts.ekus == ("serverAuth", "clientAuth")
    assert facts.key_usage == ("digitalSignature", "keyEncipherment")
    assert (facts.key_type, facts.key_bits, facts.key_curve) == ("EC", 256, "secp256r1")
    assert (facts.signature_algorithm, facts.signature_hash) == ("ecdsa-with-SHA256", "sha256")
    assert facts.sha256_fingerprint == hashlib.sha256(flow.cert_der).hexdigest()
    assert int(facts.serial, 16) == flow.cert.serial_number
    assert facts.not_before.tzinfo is not None and facts.not_after - facts.not_before == pki.DEFAULT_DURATION
    assert facts.not_after_iso.endswith("Z") and facts.not_after_iso.startswith(str(facts.not_after.year))
    assert not facts.is_ca and not facts.self_issued and not facts.self_signed
    assert facts.pem == flow.cert_pem.decode()


def test_facts_accept_a_parsed_certificate_der_or_pem_alike(flow):
    assert px.certificate_facts(flow.cert) == px.certificate_facts(flow.cert_der) == px.certificate_facts(flow.cert_pem)


def test_default_cert_manager_usages_give_no_eku_which_means_any(ca):
    facts = px.certificate_facts(ca.issue(["x.default"], key_type="ecdsa").cert)
    assert facts.ekus is None


def test_ca_facts_show_a_self_signed_ca(ca):
    facts = px.certificate_facts(ca.cert)
    assert facts.is_ca and facts.self_issued and facts.self_signed and "keyCertSign" in facts.key_usage
    assert facts.subject == facts.issuer == "CN=direktiv-system" and facts.common_name == "direktiv-system"


def test_facts_of_rsa_and_ed25519_keys(ca):
    rsa_leaf = ca.issue(["x.default"], key_type="rsa", key_size=1024)
    assert (px.certificate_facts(rsa_leaf.cert).key_type, px.certificate_facts(rsa_leaf.cert).key_bits) == ("RSA", 1024)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    ed_cert, _ = build_cert("ed", key=ed_key, issuer_key=ed_key)
    facts = px.certificate_facts(ed_cert)
    assert (facts.key_type, facts.signature_algorithm, facts.signature_hash) == ("Ed25519", "ed25519", None)
    assert facts.self_signed


def test_facts_survive_a_json_round_trip(flow, lb):
    for cert in (flow.cert, lb.cert):
        facts = px.certificate_facts(cert)
        assert px.CertificateFacts.from_dict(json.loads(json.dumps(facts.to_dict()))) == facts
    assert px.certificate_facts(lb.cert).to_dict()["subject"] == ""


def test_facts_of_garbage_der_raise_certificate_error_naming_the_source():
    with pytest.raises(CertificateError, match="^served certificate 1 is not a valid DER"):
        px.certificate_facts(b"\x30\x03\x02\x01\x00", source="served certificate 1")


# --- loading ------------------------------------------------------------------------------------------------

SOURCE = "secret default/direktiv-cert-flow key tls.crt"


def test_bundle_returns_every_certificate_in_order_and_skips_other_blocks(flow, ca):
    data = flow.cert_pem + flow.key.bytes() + ca.cert_pem
    assert px.load_pem_bundle(data, source=SOURCE) == [flow.cert, ca.cert]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"  \n", "is empty"),
        (b"hello world, not a certificate", "holds no PEM certificate"),
        (b"\x30\x82\x01\x00garbage", "holds no PEM certificate (it looks like DER; PEM is expected)"),
        (b"-----BEGIN CERTIFICATE-----\nMIIB\n", "a BEGIN CERTIFICATE line has no matching END line"),
        (b"-----BEGIN CERTIFICATE-----\nc2VjcmV0LWlzaA==\n-----END CERTIFICATE-----\n",
         "holds a PEM block (certificate 1 of 1) that is not a valid X.509 certificate"),
    ],
)
def test_malformed_bundles_raise_one_sentence_naming_the_source(data, message):
    with pytest.raises(CertificateError) as info:
        px.load_pem_bundle(data, source=SOURCE)
    assert str(info.value).startswith(SOURCE) and message in str(info.value)
    assert "c2VjcmV0" not in str(info.value) and "garbage" not in str(info.value)


def test_a_bad_block_after_a_good_one_is_named_by_position(flow):
    data = flow.cert_pem + b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    with pytest.raises(CertificateError, match=r"certificate 2 of 2"):
        px.load_pem_bundle(data, source=SOURCE)


def test_private_key_loads_and_pairs_with_its_certificate(flow, ca):
    key = px.load_private_key(flow.key, source="secret default/direktiv-cert-flow key tls.key")
    assert key.public_key() == flow.cert.public_key()
    assert px.key_matches_certificate(flow.cert, flow.key)
    assert px.key_matches_certificate(flow.cert_pem, flow.key.bytes())
    assert not px.key_matches_certificate(flow.cert, ca.key)


def test_key_pairing_across_key_types_is_false_not_an_error(ca, rsa_ca):
    rsa_leaf = rsa_ca.issue(["x.default"], key_type="rsa", key_size=1024)
    assert not px.key_matches_certificate(ca.cert, rsa_leaf.key)
    assert not px.key_matches_certificate(rsa_leaf.cert, ca.key)
    assert px.key_matches_certificate(rsa_leaf.cert, rsa_leaf.key)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    ed_cert, _ = build_cert("ed", key=ed_key, issuer_key=ed_key)
    ed_pem = ed_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    assert px.key_matches_certificate(ed_cert, ed_pem) and not px.key_matches_certificate(ca.cert, ed_pem)


def test_a_corrupt_private_key_error_never_quotes_the_key(flow):
    lines = flow.key.bytes().decode().splitlines()
    middle = len(lines) // 2
    corrupt = "\n".join(lines[:middle] + ["!!!!"] + lines[middle + 1:]).encode()
    with pytest.raises(CertificateError) as info:
        px.load_private_key(corrupt, source="secret default/direktiv-cert-flow key tls.key")
    text = str(info.value)
    assert text == "secret default/direktiv-cert-flow key tls.key holds a PEM private key block that cannot be parsed"
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert not any(line in text for line in lines[1:-1])


def test_private_key_errors_say_what_is_wrong(flow):
    with pytest.raises(CertificateError, match="holds no PEM private key$"):
        px.load_private_key(flow.cert_pem, source="tls.key")
    with pytest.raises(CertificateError, match="is empty$"):
        px.load_private_key(b"", source="tls.key")
    key = serialization.load_pem_private_key(flow.key.bytes(), password=None)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(b"pw"))
    with pytest.raises(CertificateError, match="encrypted private key"):
        px.load_private_key(encrypted, source="tls.key")
    with pytest.raises(CertificateError, match="^private key holds no PEM"):
        px.key_matches_certificate(flow.cert, b"nope")


# --- trust --------------------------------------------------------------------------------------------------


def test_leaf_issued_by_the_anchor_is_trusted_by_path(flow, ca):
    result = px.verify_chain([flow.cert_der], [ca.cert])
    assert result.trusted and result.method == px.TrustMethod.PATH == "path"
    assert result.path_subjects == ("", "CN=direktiv-system")
    assert result.reason == "issued directly by anchor 'CN=direktiv-system'"
    assert result.anchor_sha256 == px.certificate_facts(ca.cert).sha256_fingerprint


def test_our_path_agrees_with_cryptography_verification_where_that_applies(ca):
    leaf = ca.issue([FLOW], common_name="flow", usages=pki.SERVER_AND_CLIENT_USAGES, key_type="ecdsa")
    verifier = verification.PolicyBuilder().store(verification.Store([ca.cert])).build_server_verifier(
        verification.DNSName(FLOW))
    verifier.verify(leaf.cert, [])
    assert px.verify_chain([leaf.cert], [ca.cert]).trusted
    foreign = pki.foreign_ca_client(leaf.cert_pem)
    with pytest.raises(verification.VerificationError):
        verifier.verify(foreign.cert, [])
    assert not px.verify_chain([foreign.cert], [ca.cert]).trusted


def test_empty_subject_self_signed_leaf_is_trusted_by_identity_where_cryptography_refuses(lb):
    with pytest.raises(verification.VerificationError, match="non-empty Issuer"):
        verification.PolicyBuilder().store(verification.Store([lb.cert])).build_server_verifier(
            verification.DNSName("localhost")).verify(lb.cert, [])
    result = px.verify_chain([lb.cert_der], px.load_pem_bundle(lb.ca_pem, source="ca.crt"))
    assert result.trusted and result.method == px.TrustMethod.IDENTITY
    assert "empty subject and issuer" in result.reason and "identity" in result.reason
    assert result.path_subjects == ("",)


def test_self_signed_leaf_not_among_anchors(lb, ca):
    other = pki.self_signed_certificate(["localhost"], key_type="ecdsa")
    result = px.verify_chain([lb.cert], [other.cert, ca.cert])
    assert not result.trusted and result.method == px.TrustMethod.NONE
    assert result.reason == ("self-signed and not among the anchors "
                             "(an anchor has the same name but is a different certificate)")
    clone = pki.self_signed_clone(ca.issue([FLOW], common_name="flow", key_type="ecdsa").cert_pem)
    assert px.verify_chain([clone.cert], [ca.cert]).reason == "self-signed and not among the anchors"


def test_same_name_different_key_ca_is_named_as_such(flow):
    impostor = pki.CertificateAuthority.self_signed("direktiv-system", key_type="ecdsa")
    result = px.verify_chain([flow.cert], [impostor.cert])
    assert not result.trusted
    assert result.reason == ("signature does not verify against anchor 'CN=direktiv-system' "
                             "(a different key with the same name)")


def test_unknown_issuer_name(flow):
    other = pki.CertificateAuthority.self_signed("someone-else", key_type="ecdsa")
    result = px.verify_chain([flow.cert], [other.cert])
    assert result.reason == "issued by 'CN=direktiv-system' but no anchor has that name"


def test_intermediate_chains_in_any_order_with_extra_certificates(three_level, ca):
    root, inter, leaf, _, _ = three_level
    result = px.verify_chain([leaf, inter], [root])
    assert result.trusted and result.path_subjects == ("", "CN=direktiv-intermediate", "CN=direktiv-root")
    assert result.reason == "issued via 'CN=direktiv-intermediate' by anchor 'CN=direktiv-root'"
    assert px.verify_chain([leaf, ca.cert, root, inter], [ca.cert, root]).trusted


def test_missing_intermediate_is_reported(three_level):
    root, _, leaf, _, _ = three_level
    result = px.verify_chain([leaf], [root])
    assert result.reason == "issued by 'CN=direktiv-intermediate' but no anchor has that name"


def test_intermediate_under_a_same_name_different_key_root_is_named(three_level):
    _, inter, leaf, _, _ = three_level
    impostor, _ = build_cert("direktiv-root", ca=True)
    result = px.verify_chain([leaf, inter], [impostor])
    assert result.reason == ("intermediate 'CN=direktiv-intermediate': signature does not verify against anchor "
                             "'CN=direktiv-root' (a different key with the same name)")


def test_intermediate_that_is_not_a_ca_cannot_sign(three_level):
    root, _, _, root_key, _ = three_level
    not_ca, not_ca_key = build_cert("not-a-ca", issuer=root, issuer_key=root_key, ca=False)
    leaf, _ = build_cert(None, issuer=not_ca, issuer_key=not_ca_key, dns=(FLOW,))
    result = px.verify_chain([leaf, not_ca], [root])
    assert not result.trusted and "intermediate 'CN=not-a-ca' is not a CA" in result.reason


def test_path_length_constraint_is_enforced(three_level):
    root, _, _, _, inter_key = three_level
    # an anchor with pathlen 0 cannot have an intermediate below it
    tight_root, tight_key = build_cert("tight-root", ca=True, path_length=0)
    inter, inter_key = build_cert("inter", issuer=tight_root, issuer_key=tight_key, ca=True)
    leaf, _ = build_cert(None, issuer=inter, issuer_key=inter_key)
    result = px.verify_chain([leaf, inter], [tight_root])
    assert not result.trusted and "pathLenConstraint" in result.reason


def test_expired_leaf_is_still_trusted_unless_an_instant_is_given(ca):
    # the CA certificate is younger than the leaf, like a CA renewed with the same key after the leaf expired
    expired = ca.issue([FLOW], key_type="ecdsa", not_before=NOW - 30 * DAY, not_after=NOW - DAY)
    result = px.verify_chain([expired.cert], [ca.cert])
    assert result.trusted and result.at >= NOW
    assert result.reason.startswith("issued directly by anchor 'CN=direktiv-system'; the leaf itself expired at ")
    assert result.reason.endswith("(judged by C-VALIDITY, not here)")
    late = px.verify_chain([expired.cert], [ca.cert], at=NOW)
    assert not late.trusted and late.reason.startswith("the leaf is not valid at")
    future = ca.issue([FLOW], key_type="ecdsa", not_before=NOW + 10 * DAY)
    assert px.verify_chain([future.cert], [ca.cert]).trusted
    later = px.verify_chain([future.cert], [ca.cert], at=NOW + 11 * DAY)
    assert later.reason == "issued directly by anchor 'CN=direktiv-system'"


def test_expired_anchor_under_a_valid_leaf_is_untrusted():
    old_root, old_key = build_cert("old-root", ca=True, not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    leaf, _ = build_cert(None, issuer=old_root, issuer_key=old_key)
    result = px.verify_chain([leaf], [old_root])
    assert not result.trusted and result.reason.startswith("anchor 'CN=old-root' is not valid at")


def test_trust_ignores_names_and_usages(ca):
    bare = ca.issue([], common_name="no-sans", usages=("digital signature",), key_type="ecdsa")
    assert px.verify_chain([bare.cert], [ca.cert]).trusted
    server_only = ca.issue(["wrong.name"], usages=pki.DEFAULT_USAGES + ("server auth",), key_type="ecdsa")
    assert px.verify_chain([server_only.cert], [ca.cert]).trusted


def test_sha1_signed_leaf_chains_like_go_1_15_and_key_strength_flags_it(rsa_ca):
    leaf = resign_weak(rsa_ca.issue([FLOW], key_type="ecdsa").cert, rsa_ca, "sha1")
    assert px.certificate_facts(leaf).signature_hash == "sha1"
    assert px.verify_chain([leaf], [rsa_ca.cert]).trusted
    result = px.key_strength([leaf])
    assert not result.ok
    assert result.problems == ("the leaf '' (empty) is signed with sha1WithRSAEncryption (SHA-1)",)


def test_leaf_with_critical_extension_go_does_not_handle(three_level):
    root, _, _, root_key, _ = three_level
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    leaf, _ = build_cert(None, issuer=root, issuer_key=root_key, extra_critical=odd)
    result = px.verify_chain([leaf], [root])
    assert not result.trusted and "1.3.6.1.4.1.99999.1" in result.reason


def test_no_chain_or_no_anchor(ca, flow):
    assert px.verify_chain([], [ca.cert]).reason == "the server sent no certificate"
    assert not px.verify_chain([flow.cert], []).trusted


def test_chain_result_is_json_friendly(flow, ca):
    data = json.loads(json.dumps(px.verify_chain([flow.cert], [ca.cert]).to_dict()))
    assert data["method"] == "path" and data["trusted"] is True and data["at"].endswith("Z")


# --- names --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("direktiv-flow-hl.default", "direktiv-flow-hl.default", True),
        ("Direktiv-Flow-HL.Default", "direktiv-flow-hl.DEFAULT", True),
        ("direktiv-flow-hl.default.", "direktiv-flow-hl.default", True),
        ("direktiv-flow-hl.default", "direktiv-flow-hl.default.", True),
        ("*.default", "a.default", True),
        ("*.default", "A.Default.", True),
        ("*.default", "a.b.default", False),
        ("*.default", "default", False),
        ("*.default", ".default", False),
        ("*.direktiv-services-direktiv.pod", "10-0-0-7.direktiv-services-direktiv.pod", True),
        ("f*.example", "foo.example", False),
        ("*o.example", "foo.example", False),
        ("a.*.example", "a.b.example", False),
        ("*.*.example", "a.b.example", False),
        ("*", "localhost", False),
        ("*.0.0.1", "127.0.0.1", False),
        ("127.0.0.1", "127.0.0.1", False),
        ("", "", False),
        ("a.default", "b.default", False),
    ],
)
def test_hostname_matching_follows_go(pattern, name, expected):
    assert px.hostname_matches(pattern, name) is expected


def test_names_covered_by_dns_wildcard_and_ip_sans(ca):
    cert = ca.issue(["*.direktiv-services-direktiv", "direktiv-api-service.default"], common_name="legacy.default",
                    ip_addresses=["10.0.0.7", "::1"], key_type="ecdsa").cert
    asked = ["svc.direktiv-services-direktiv", "direktiv-api-service.default", "10.0.0.7", "[::1]", "10.0.0.8",
             "legacy.default", "a.b.direktiv-services-direktiv"]
    coverage = px.names_covered(cert, asked)
    assert coverage.covered == ("svc.direktiv-services-direktiv", "direktiv-api-service.default", "10.0.0.7", "[::1]")
    assert coverage.missing == ("10.0.0.8", "legacy.default", "a.b.direktiv-services-direktiv")
    assert coverage.common_name_only == ("legacy.default",) and not coverage.all_covered


def test_common_name_alone_covers_nothing(ca):
    cert = ca.issue([], common_name=FLOW, key_type="ecdsa").cert
    coverage = px.names_covered(cert, [FLOW])
    assert coverage.missing == (FLOW,) and coverage.common_name_only == (FLOW,)
    assert json.loads(json.dumps(coverage.to_dict()))["missing"] == [FLOW]


# --- validity, usage, strength ------------------------------------------------------------------------------


def test_validity_of_a_fresh_cert_manager_certificate(flow):
    result = px.validity(flow.cert, now=NOW + DAY, min_days=14)
    assert result.valid_now and not result.expired and not result.not_yet_valid and result.meets_minimum
    assert result.days_left == pytest.approx(89.0, abs=0.01)
    assert not px.validity(flow.cert, now=NOW + DAY, min_days=100).meets_minimum


def test_validity_of_expired_and_future_certificates(ca):
    expired = pki.expired_client(ca, ca.issue([FLOW], key_type="ecdsa").cert_pem)
    result = px.validity(expired.cert, min_days=14)
    assert result.expired and not result.valid_now and result.days_left < 0 and not result.meets_minimum
    future = ca.issue([FLOW], key_type="ecdsa", not_before=NOW + 10 * DAY)
    result = px.validity(future.cert, now=NOW, min_days=14)
    assert result.not_yet_valid and not result.valid_now and not result.meets_minimum
    assert json.loads(json.dumps(result.to_dict()))["not_yet_valid"] is True
    with pytest.raises(ValueError, match="timezone-aware"):
        px.validity(future.cert, now=dt.datetime(2030, 1, 1))


def test_eku_absent_allows_both_and_server_only_refuses_client(ca, flow):
    no_eku = ca.issue([FLOW], key_type="ecdsa").cert
    server_only = pki.no_clientauth_client(ca, flow.cert_pem).cert
    assert px.eku_allows(no_eku, "serverAuth") and px.eku_allows(no_eku, "clientAuth")
    assert px.eku_allows(flow.cert, "serverAuth") and px.eku_allows(flow.cert, "clientAuth")
    assert px.eku_allows(server_only, "serverAuth") and not px.eku_allows(server_only, "clientAuth")
    with pytest.raises(ValueError):
        px.eku_allows(flow.cert, "codeSigning")


def test_any_extended_key_usage_allows_both(three_level):
    root, _, _, root_key, _ = three_level
    builder_cert, _ = build_cert(None, issuer=root, issuer_key=root_key,
                                 extra_critical=x509.ExtendedKeyUsage([ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]))
    assert px.eku_allows(builder_cert, "clientAuth") and px.eku_allows(builder_cert, "serverAuth")


def test_key_strength_passes_a_p256_chain_and_flags_small_keys(ca, flow, rsa_ca):
    assert px.key_strength([flow.cert, ca.cert]) == px.KeyStrengthResult(True, (), ("EC 256 (secp256r1)",) * 2)
    small = rsa_ca.issue([FLOW], common_name="small", key_type="rsa", key_size=1024)
    result = px.key_strength([small.cert_der, rsa_ca.cert])
    assert result.problems == ("the leaf 'CN=small' has a 1024-bit RSA key, below the 2048-bit minimum",)
    assert result.keys == ("RSA 1024", "RSA 2048")
    strict = px.key_strength([flow.cert], ec_min_bits=384)
    assert strict.problems == ("the leaf '' (empty) has a 256-bit EC key (secp256r1), below the 384-bit minimum",)


def test_key_strength_judges_a_served_self_signed_root_too_and_says_so(rsa_ca):
    leaf = rsa_ca.issue([FLOW], key_type="ecdsa")
    weak_root = resign_weak(rsa_ca.cert, rsa_ca, "sha1")
    md5_leaf = resign_weak(leaf.cert, rsa_ca, "md5")
    result = px.key_strength([md5_leaf, weak_root])
    assert result.problems[0] == "the leaf '' (empty) is signed with md5WithRSAEncryption (MD5)"
    assert result.problems[1].startswith(
        "the self-signed root 'CN=direktiv-system' (served certificate 2) is signed with sha1WithRSAEncryption (SHA-1)"
        " (its own signature, which clients do not check on a trust anchor")
    assert px.verify_chain([md5_leaf, weak_root], [rsa_ca.cert]).trusted
