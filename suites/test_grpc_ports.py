"""The three gRPC ports: engine ingress 6666, engine flow 7777, function controller 5555."""

from probes.suite import MutualTlsControls, ServedCertificateControls, TransportControls, check, control

ENDPOINTS = ("ingress-grpc", "flow-grpc", "functions-grpc")


class TestCertificate(ServedCertificateControls):
    pass


class TestTransport(TransportControls):
    @control("T-ALPN-H2")
    def test_alpn_negotiates_h2(self, endpoint, verdict):
        check(verdict)


class TestMutualTls(MutualTlsControls):
    pass
