"""The expiry forecast: cert-manager's renewal time on every served and stored leaf, a flag where a certificate
would expire before its renewal, and the earliest expiry per endpoint."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

# Loaded before pytester's in-process runs (see test_suite_run.py).
import probes.controls  # noqa: F401
import probes.observe  # noqa: F401
import probes.reporting  # noqa: F401
import sandbox.cluster  # noqa: F401
from probes.evidence import ObjectRead
from probes.report import evidence_document, render_html
from test_report import make_evidence, make_verdicts, pki  # noqa: F401

pytest_plugins = ["pytester"]

SUITES = Path(__file__).resolve().parents[1] / "suites"


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def certificate(namespace: str, secret: str, renewal: dt.datetime) -> dict:
    return {"metadata": {"name": f"{secret}-cert", "namespace": namespace},
            "spec": {"secretName": secret, "issuerRef": {"name": "direktiv-ca", "kind": "ClusterIssuer"}},
            "status": {"renewalTime": iso(renewal), "conditions": [{"type": "Ready", "status": "True"}]}}


@pytest.fixture
def document(pki):  # noqa: F811
    evidence = make_evidence(pki)
    lb_end = pki.lb.cert.not_valid_after_utc
    api_end = pki.api.cert.not_valid_after_utc
    certificates = ObjectRead("cert-manager Certificates", value=[
        certificate("default", "direktiv-lb", lb_end + dt.timedelta(days=1)),     # renews a day too late
        certificate("default", "direktiv-cert-api", api_end - dt.timedelta(days=10)),
    ])
    evidence = replace(evidence, objects={**evidence.objects, "certificates": certificates})
    return evidence_document(evidence, make_verdicts())


def digest(cert) -> str:
    from cryptography.hazmat.primitives import hashes

    return cert.fingerprint(hashes.SHA256()).hex()


def test_every_leaf_with_a_readable_certificate_gets_its_renewal_time(document, pki):  # noqa: F811
    table = document["forecast"]["certificates"]
    lb, api = table[digest(pki.lb.cert)], table[digest(pki.api.cert)]
    assert lb == {"renewal_time": iso(pki.lb.cert.not_valid_after_utc + dt.timedelta(days=1)),
                  "renewed_by": ["Certificate default/direktiv-lb-cert"], "expires_before_renewal": True}
    assert api["expires_before_renewal"] is False
    assert digest(pki.flow.cert) not in table  # its secret could not be read: no Certificate, no renewal time
    assert digest(pki.ca.cert) not in table   # a CA is not renewed by a leaf's Certificate


def test_the_earliest_expiry_per_endpoint(document, pki):  # noqa: F811
    endpoints = document["forecast"]["endpoints"]
    assert endpoints["lb"] == {"not_after": iso(pki.lb.cert.not_valid_after_utc), "sha256": digest(pki.lb.cert),
                               "name": endpoints["lb"]["name"], "from": "served by pod envoy-1",
                               "renewal_time": iso(pki.lb.cert.not_valid_after_utc + dt.timedelta(days=1)),
                               "expires_before_renewal": True}
    flow = endpoints["flow-grpc"]
    assert flow["sha256"] == digest(pki.flow.cert) and flow["renewal_time"] is None
    assert flow["expires_before_renewal"] is None
    api = endpoints["api"]  # unreachable: its configured secret still tells when it expires
    assert (api["sha256"], api["from"], api["expires_before_renewal"]) == (
        digest(pki.api.cert), "secret default/direktiv-cert-api", False)


def test_the_timeline_marks_the_renewal_and_flags_a_late_one(document, pki):  # noqa: F811
    html_text = render_html(document)
    timeline = html_text[html_text.index('<section id="timeline">'):html_text.index('<section id="secrets">')]
    late_rows = re.findall(r"<tr class=late>.*?</tr>", timeline, re.DOTALL)
    assert len(late_rows) == 1 and "expires before its renewal" in late_rows[0]
    assert 'class="renew"' in late_rows[0]
    api_row = re.search(r"<tr><td class=\"who\"><b>api</b>.*?</tr>", timeline, re.DOTALL).group(0)
    renewal_day = iso(pki.api.cert.not_valid_after_utc - dt.timedelta(days=10))[:10]
    assert f"renews {renewal_day}" in api_row and 'class="renew"' in api_row
    assert "1 certificate(s) would expire before cert-manager renews them." in timeline
    assert "<h3>Earliest expiry per endpoint</h3>" in timeline


def test_a_sandbox_run_forecasts_from_cert_managers_renewal_times(pytester):
    out = pytester.path / "out"
    result = pytester.runpytest(str(SUITES), "--direktiv-sandbox", "conformant", f"--junitxml={out / 'junit.xml'}")
    assert result.ret == pytest.ExitCode.OK
    doc = json.loads((out / "evidence.json").read_text())
    forecast = doc["forecast"]
    served = {p["served_chain"][0]["sha256"] for ep in doc["endpoints"].values() for p in ep["pods"]}
    assert served <= set(forecast["certificates"])  # every served leaf has its Certificate's renewal time
    assert not any(c["expires_before_renewal"] for c in forecast["certificates"].values())  # renewal at 2/3
    assert set(forecast["endpoints"]) == set(doc["endpoints"])
