"""Direktiv's API and UI on port 8080, behind the load balancer."""

from probes.suite import ServedCertificateControls, TransportControls, check, control

ENDPOINTS = ("api", "ui")


class TestCertificate(ServedCertificateControls):
    pass


class TestTransport(TransportControls):
    pass


@control("H-HTTPS-RESPONDS")
def test_https_get_answers(endpoint, verdict):
    check(verdict)
