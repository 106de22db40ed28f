"""Property tests of the untrusted-input parts of probes.x509: hostname matching and PEM bundle parsing."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from probes import x509 as px
from probes.errors import CertificateError

# Deterministic (the suite's rule) and no example database written into the tree.
SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None)

# DNS labels start with a letter here, so that no generated name is an IP address ("0.0.0.0"), which by design
# never matches a DNS pattern (covered by its own property below).
label = st.from_regex(r"[a-zA-Z]([a-zA-Z0-9-]{0,14}[a-zA-Z0-9])?", fullmatch=True)
hostname = st.lists(label, min_size=1, max_size=5).map(".".join)
parent = st.lists(label, min_size=1, max_size=4).map(".".join)


def _swap_case(text: str, flips: list[bool]) -> str:
    return "".join(c.swapcase() if flip else c for c, flip in zip(text, flips + [False] * len(text)))


@SETTINGS
@given(hostname, st.lists(st.booleans(), max_size=80), st.booleans())
def test_a_name_matches_itself_in_any_case_with_or_without_trailing_dot(name, flips, dot):
    assert px.hostname_matches(name, _swap_case(name, flips) + ("." if dot else ""))


@SETTINGS
@given(label, label, parent)
def test_a_wildcard_covers_exactly_one_label(first, second, base):
    pattern = "*." + base
    assert px.hostname_matches(pattern, f"{first}.{base}")
    assert not px.hostname_matches(pattern, f"{first}.{second}.{base}")
    assert not px.hostname_matches(pattern, base)


@SETTINGS
@given(label, label, parent)
def test_a_partial_label_wildcard_never_matches(prefix, first, base):
    assert not px.hostname_matches(f"{prefix}*.{base}", f"{first}.{base}")
    assert not px.hostname_matches(f"{first}.*.{base}", f"{first}.{prefix}.{base}")


@SETTINGS
@given(st.ip_addresses().map(str), st.sampled_from(["*.0.1", "*", "*.1"]))
def test_ip_addresses_never_match_dns_patterns(address, suffix):
    assert not px.hostname_matches(address, address)
    assert not px.hostname_matches(suffix, address)


@SETTINGS
@given(hostname, hostname)
def test_matching_is_symmetric_for_plain_names(a, b):
    assert px.hostname_matches(a, b) == px.hostname_matches(b, a) == (a.lower() == b.lower())


SOURCE = "secret default/direktiv-cert-flow key tls.crt"
framed = st.binary(min_size=0, max_size=300).map(
    lambda body: b"-----BEGIN CERTIFICATE-----\n" + body + b"\n-----END CERTIFICATE-----\n"
)
b64ish = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n", max_size=400).map(
    lambda body: b"-----BEGIN CERTIFICATE-----\n" + body.encode() + b"\n-----END CERTIFICATE-----\n"
)


@SETTINGS
@given(st.one_of(st.binary(max_size=400), framed, b64ish))
def test_any_bytes_yield_certificates_or_one_certificate_error_that_never_echoes_them(data):
    try:
        certs = px.load_pem_bundle(data, source=SOURCE)
    except CertificateError as exc:
        message = str(exc)
        assert message.startswith(SOURCE) and "\n" not in message
        payload = data.replace(b"-----BEGIN CERTIFICATE-----", b"").replace(b"-----END CERTIFICATE-----", b"")
        for chunk in payload.split():
            if len(chunk) >= 8:
                assert chunk.decode("latin-1") not in message
    else:
        assert certs  # only reached for valid certificates, which random bytes never are


@SETTINGS
@given(st.lists(st.from_regex(r"[a-zA-Z0-9]{1,4}", fullmatch=True), min_size=1, max_size=4).map(".".join))
def test_a_name_matches_itself_unless_it_is_an_ip_address(name):
    try:
        ipaddress.ip_address(name)
        is_ip = True
    except ValueError:
        is_ip = False
    assert px.hostname_matches(name, name) is not is_ip
