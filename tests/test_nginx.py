"""The sandbox's ingress-nginx (chart line v0.5.10 to v0.7.x): the real nginx, configured as ingress-nginx v1.1.0
configures itself, and the imitation that stands in without it, observed with the probes' own clients. Both must
show the same thing wherever a control looks: the certificate by SNI (the Fake Certificate for any other name),
TLS 1.2 and 1.3 only by default, nginx's answers to plaintext on the TLS port, 308 redirects and HSTS."""

from __future__ import annotations


import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from probes import pki
from probes.hello import TLSVersion, accepted_versions
from probes.https import http_get, https_get
from probes.plaintext import probe_plaintext
from probes.timeouts import Timeouts
from local_servers import served_common_name
from sandbox.servers import (
    INGRESS_NGINX_HSTS, INGRESS_NGINX_POLICY, NginxError, NginxIngress, NginxIngressImitation, ServerTLS, TLSPolicy,
    nginx_available,
)

HOST = "myhost.mydomain"
LIMITS = Timeouts(connect=5.0, read=5.0)  # generous: a busy machine
needs_nginx = pytest.mark.skipif(not nginx_available(), reason="nginx is not installed (apt-get install nginx-light)")
KINDS = [pytest.param(NginxIngress, id="nginx", marks=needs_nginx), pytest.param(NginxIngressImitation, id="imitation")]
FAKE_CN = "Kubernetes Ingress Controller Fake Certificate"


@pytest.fixture(scope="module")
def identities():
    ca = pki.CertificateAuthority.self_signed("direktiv-system")
    leaf = ca.issue([HOST], key_type="ecdsa")
    fake = pki.self_signed_certificate(["ingress.local"], subject=x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme Co"), x509.NameAttribute(NameOID.COMMON_NAME, FAKE_CN)]))
    return (ServerTLS(cert_pem=leaf.chain_pem, key=leaf.key), ServerTLS(cert_pem=fake.chain_pem, key=fake.key),
            ca.cert_pem)


@pytest.mark.parametrize("kind", KINDS)
def test_the_host_gets_its_certificate_and_every_other_name_the_fake_one(kind, identities):
    leaf, fake, _ = identities
    with kind({HOST: leaf}, fake) as lb:
        assert served_common_name(lb.https_address, HOST) == ""  # cert-manager's leaf: SANs only
        assert served_common_name(lb.https_address, "other.example.com") == FAKE_CN
        assert served_common_name(lb.https_address, None) == FAKE_CN


@pytest.mark.parametrize("kind", KINDS)
def test_a_host_whose_secret_is_missing_gets_the_fake_certificate_and_is_still_redirected(kind, identities):
    _, fake, _ = identities
    with kind({HOST: None}, fake) as lb:
        assert served_common_name(lb.https_address, HOST) == FAKE_CN
        redirect = http_get(lb.http_address, host=HOST, path="/api/", timeouts=LIMITS)
    assert (redirect.status, redirect.location) == (308, f"https://{HOST}/api/")


@pytest.mark.parametrize("kind", KINDS)
def test_defaults_tls12_and_13_only_308_redirect_and_hsts(kind, identities):
    leaf, fake, ca_pem = identities
    with kind({HOST: leaf}, fake) as lb:
        versions = accepted_versions(lb.https_address, server_name=HOST, timeouts=LIMITS)
        redirect = http_get(lb.http_address, host=HOST, timeouts=LIMITS)
        page = https_get(lb.https_address, host=HOST, ca_pem=ca_pem, timeouts=LIMITS)
    assert set(versions.accepted) == {TLSVersion.TLSv1_2, TLSVersion.TLSv1_3}, versions.detail
    assert set(versions.refused) == {TLSVersion.SSLv3, TLSVersion.TLSv1, TLSVersion.TLSv1_1}, versions.detail
    assert (redirect.status, redirect.location) == (308, f"https://{HOST}/")
    assert (page.status, page.hsts) == (200, INGRESS_NGINX_HSTS)


@pytest.mark.parametrize("kind", KINDS)
def test_opened_protocols_and_ciphers_accept_tls10(kind, identities):
    leaf, fake, _ = identities
    legacy = TLSPolicy(min_version="TLSv1", ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA",
                       security_level=0, alpn=INGRESS_NGINX_POLICY.alpn)
    with kind({HOST: leaf}, fake, policy=legacy) as lb:
        versions = accepted_versions(lb.https_address, server_name=HOST, timeouts=LIMITS)
    assert {TLSVersion.TLSv1, TLSVersion.TLSv1_1} <= set(versions.accepted), versions.detail


@pytest.mark.parametrize("kind", KINDS)
def test_plaintext_on_the_tls_port_gets_nginxs_400s(kind, identities):
    leaf, fake, _ = identities
    with kind({HOST: leaf}, fake) as lb:
        result = probe_plaintext(lb.https_address, host=HOST, timeouts=LIMITS)
    assert (result.http1_answered, result.http1_status, result.http1_refusal) == (False, 400, "https-port-400")
    assert (result.h2c_settings, result.h2c_refusal) == (False, "http1-400"), result.detail


@pytest.mark.parametrize("kind", KINDS)
def test_plain_hosts_are_served_on_port_80_without_redirect(kind, identities):
    _, fake, _ = identities
    with kind({}, fake, plain_hosts=(HOST,)) as lb:
        page = http_get(lb.http_address, host=HOST, timeouts=LIMITS)
        assert served_common_name(lb.https_address, HOST) == FAKE_CN
    assert page.status == 200 and page.location is None


@needs_nginx
def test_nginx_stops_cleanly_and_its_files_go(identities):
    leaf, fake, _ = identities
    lb = NginxIngress({HOST: leaf}, fake)
    directory = lb._dir
    assert any(p.suffix == ".key" and p.stat().st_mode & 0o077 == 0 for p in directory.iterdir())
    lb.stop()
    assert not directory.exists()
    gone = http_get(lb.http_address, host=HOST, timeouts=Timeouts(connect=1.0, read=1.0))
    assert gone.status is None and gone.error, gone


@needs_nginx
def test_a_configuration_nginx_refuses_is_one_error_with_its_words(identities):
    leaf, fake, _ = identities
    with pytest.raises(NginxError, match="nginx exited"):
        NginxIngress({"bad host name;": leaf}, fake)
