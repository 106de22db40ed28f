"""Building blocks for the suite's test modules: the control marker, the pass/fail check, and the groups of
controls every TLS endpoint shares (a suite module subclasses them and names its ``ENDPOINTS``)."""

from __future__ import annotations

import pytest

from probes.controls import Status, Verdict

__all__ = ["control", "check", "ServedCertificateControls", "TransportControls", "MutualTlsControls"]


def control(control_id: str) -> pytest.MarkDecorator:
    """Mark a test as the judge of one control of CONTROLS.md."""
    return pytest.mark.control(control_id)


def check(verdict: Verdict) -> None:
    """Pass, or fail with the verdict's sentence (skip and error verdicts never reach a test body)."""
    if verdict.status is Status.FAIL:
        pytest.fail(verdict.message, pytrace=False)
    assert verdict.status is Status.PASS, f"unexpected verdict {verdict.status.value}: {verdict.message}"


class ServedCertificateControls:
    """The certificate an endpoint serves."""

    @control("C-CHAIN-TRUSTED")
    def test_served_chain_is_trusted(self, endpoint, verdict):
        check(verdict)

    @control("C-SAN-MATCH")
    def test_certificate_names_the_endpoint(self, endpoint, verdict):
        check(verdict)

    @control("C-VALIDITY")
    def test_certificate_is_valid_long_enough(self, endpoint, verdict):
        check(verdict)

    @control("C-EKU")
    def test_certificate_allows_its_usages(self, endpoint, verdict):
        check(verdict)

    @control("C-KEY-STRENGTH")
    def test_keys_and_signatures_are_strong(self, endpoint, verdict):
        check(verdict)

    @control("C-SERVED-MATCHES-SECRET")
    def test_every_pod_serves_the_configured_secret(self, endpoint, verdict):
        check(verdict)

    @control("C-X509-STRICT")
    def test_served_chain_passes_a_strict_verifier(self, endpoint, verdict):
        check(verdict)


class TransportControls:
    """How the port speaks: mode, handshake, plaintext, versions, suites."""

    @control("T-MODE-MATCHES-CONFIG")
    def test_port_mode_matches_configuration(self, endpoint, verdict):
        check(verdict)

    @control("T-TLS-HANDSHAKE")
    def test_tls_handshake_completes(self, endpoint, verdict):
        check(verdict)

    @control("T-PLAINTEXT-REFUSED")
    def test_plaintext_is_refused(self, endpoint, verdict):
        check(verdict)

    @control("T-LEGACY-PROTOCOLS-REFUSED")
    def test_legacy_protocols_are_refused(self, endpoint, verdict):
        check(verdict)

    @control("T-WEAK-CIPHERS-REFUSED")
    def test_weak_ciphers_are_refused(self, endpoint, verdict):
        check(verdict)

    @control("T-FORWARD-SECRECY")
    def test_every_accepted_suite_has_forward_secrecy(self, endpoint, verdict):
        check(verdict)

    @control("T-SECURE-RENEGOTIATION")
    def test_renegotiation_is_secure_and_compression_off(self, endpoint, verdict):
        check(verdict)

    @control("T-DOWNGRADE-SCSV")
    def test_a_downgrade_is_detected(self, endpoint, verdict):
        check(verdict)


class MutualTlsControls:
    """A port that demands client certificates accepts the right one and rejects the rest."""

    @control("M-VALID-CERT-ACCEPTED")
    def test_mtls_accepts_configured_client_certificate(self, endpoint, verdict):
        check(verdict)

    @control("M-NO-CERT-REJECTED")
    def test_mtls_rejects_client_without_certificate(self, endpoint, verdict):
        check(verdict)

    @control("M-UNTRUSTED-CA-REJECTED")
    def test_mtls_rejects_foreign_ca_certificate(self, endpoint, verdict):
        check(verdict)

    @control("M-SELF-SIGNED-CLONE-REJECTED")
    def test_mtls_rejects_self_signed_clone(self, endpoint, verdict):
        check(verdict)

    @control("M-EXPIRED-CERT-REJECTED")
    def test_mtls_rejects_expired_certificate(self, endpoint, verdict):
        check(verdict)

    @control("M-NO-CLIENTAUTH-EKU-REJECTED")
    def test_mtls_rejects_certificate_without_client_auth(self, endpoint, verdict):
        check(verdict)
