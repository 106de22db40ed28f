"""The internal Contour in front of knative services (contour-internal/envoy)."""

from probes.suite import ServedCertificateControls, TransportControls, check, control

ENDPOINTS = ("knative",)


class TestCertificate(ServedCertificateControls):
    pass


class TestTransport(TransportControls):
    pass


@control("N-SNI-COVERAGE")
def test_every_knative_host_gets_a_covering_certificate(endpoint, verdict):
    check(verdict)
