"""Cluster objects: the secrets, their copies and CAs, Contour's and knative's wiring, cert-manager."""

from probes.suite import check, control


@control("K-SECRET-PRESENT")
def test_tls_secrets_exist_where_mounted(verdict):
    check(verdict)


@control("K-SECRET-KEYPAIR")
def test_secret_keys_match_their_certificates(verdict):
    check(verdict)


@control("K-SECRET-CHAIN")
def test_secret_certificates_chain_to_their_ca(verdict):
    check(verdict)


@control("K-CA-CONSISTENT")
def test_secrets_that_must_share_a_ca_do(verdict):
    check(verdict)


@control("K-FUNCTIONS-CA")
def test_functions_ca_exists_in_release_namespace(verdict):
    check(verdict)


@control("K-DELEGATION")
def test_knative_secret_is_delegated(verdict):
    check(verdict)


@control("K-CONTOUR-DEFAULT-TLS")
def test_internal_contour_defaults_to_knative_secret(verdict):
    check(verdict)


@control("K-PROTOCOL-CONSISTENT")
def test_knative_and_pod_services_agree_on_tls(verdict):
    check(verdict)


@control("K-INITPOD-SAN")
def test_init_pod_certificate_covers_dialled_names(verdict):
    check(verdict)


@control("K-CERTMANAGER-READY")
def test_certificates_are_ready(verdict):
    check(verdict)
