"""The external load balancer (Contour/Envoy in contour-external): TLS on 443, the redirect on 80."""

from probes.suite import ServedCertificateControls, TransportControls, check, control

ENDPOINTS = ("lb",)


class TestCertificate(ServedCertificateControls):
    pass


class TestTransport(TransportControls):
    pass


@control("H-HTTPS-RESPONDS")
def test_https_get_answers(endpoint, verdict):
    check(verdict)


@control("H-HTTP-REDIRECTS")
def test_plain_http_redirects_to_https(endpoint, verdict):
    check(verdict)


@control("H-HSTS")
def test_https_answer_demands_https_for_long_enough(endpoint, verdict):
    check(verdict)
