"""The scenario registry: every control is broken by some scenario, names are unique, records are consistent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from probes import catalog
from probes.topology import derive_topology
from sandbox import scenarios
from sandbox.scenarios import ALL_SCENARIOS, CLUSTER, CONTROL_IDS, ENDPOINT_IDS, SCENARIOS, Issuer

_HERE = Path(__file__).resolve()
_CATALOG = _HERE.parents[1] / "docs" / "CONTROLS.md"
_GRPC = ("ingress-grpc", "flow-grpc", "functions-grpc")


def _catalog_text() -> str:
    return _CATALOG.read_text()


def _judged_on(control: str) -> tuple[str, ...]:
    return catalog.control(control).endpoints


def test_every_control_is_broken_by_at_least_one_scenario():
    broken = set().union(*(s.broken_controls for s in ALL_SCENARIOS))
    assert sorted(set(CONTROL_IDS) - broken) == []


def test_each_control_has_a_scenario_that_breaks_it_alone_or_says_what_comes_with_it():
    singles = {next(iter(s.broken_controls)) for s in ALL_SCENARIOS if len(s.broken_controls) == 1}
    # These cannot fail alone, whatever the server does:
    inseparable = {
        "C-CHAIN-TRUSTED",          # a strict RFC 5280 verifier checks the chain, the names and the EKU too:
        "C-SAN-MATCH",              # C-X509-STRICT fails with each of them
        "C-EKU",
        "M-VALID-CERT-ACCEPTED",    # a refused client certificate is a refused handshake
        "K-SECRET-CHAIN",           # a served or CA-shared secret: the chain or the CA comparison breaks too
        "T-PLAINTEXT-REFUSED",      # a port answering plaintext and TLS is not in the configured mode
        "M-NO-CERT-REJECTED",       # a port accepting clients without certificates is TLS, not mTLS
    }
    assert set(CONTROL_IDS) - singles == inseparable
    for control in inseparable:
        assert any(control in s.broken_controls for s in ALL_SCENARIOS)


def test_scenario_names_are_unique_and_the_registry_holds_them_all():
    names = [s.name for s in ALL_SCENARIOS]
    assert len(names) == len(set(names))
    assert list(SCENARIOS) == names
    with pytest.raises(ValueError, match="unique"):
        scenarios.by_unique_name([ALL_SCENARIOS[0], ALL_SCENARIOS[0]])


def test_the_baselines_exist_and_only_docs_verbatim_among_them_fails():
    for name in scenarios.BASELINES:
        assert name in SCENARIOS
    assert {n for n in scenarios.BASELINES if SCENARIOS[n].expected_failures} == {"docs-verbatim"}


def test_docs_verbatim_lists_the_documentation_gaps_and_the_legacy_versions():
    s = SCENARIOS["docs-verbatim"]
    assert {c for c, e in s.expected_failures if e == CLUSTER} == {"K-FUNCTIONS-CA", "K-SECRET-PRESENT", "K-INITPOD-SAN"}
    assert {e for c, e in s.expected_failures if c == "T-LEGACY-PROTOCOLS-REFUSED"} == {"api", "ui", *_GRPC}
    assert "isolates" in s.values and "certificate" not in s.values.get("functions", {})
    assert s.secret("default", "direktiv-cert-knative") is None
    assert s.secret("contour-internal", "direktiv-cert-knative") is not None


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=lambda s: s.name)
def test_expected_failures_name_catalog_controls_on_endpoints_they_are_judged_on(scenario):
    for control, endpoint in scenario.expected_failures:
        assert control in CONTROL_IDS
        assert endpoint in _judged_on(control), f"{control} is not judged on {endpoint}"


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=lambda s: s.name)
def test_scenario_records_are_consistent(scenario):
    assert scenario.description and "\n" not in scenario.description
    cert_ids = [c.id for c in scenario.certificates]
    assert len(cert_ids) == len(set(cert_ids))
    refs = [s.ref for s in scenario.secrets]
    assert len(refs) == len(set(refs))
    for secret in scenario.secrets:
        scenario.certificate(secret.cert)
        if secret.key_of:
            scenario.certificate(secret.key_of)
    for server in scenario.servers:
        assert server.endpoint in ENDPOINT_IDS
        for cert in server.pod_certs:
            if cert:
                scenario.certificate(cert)
        for _, cert in server.host_certs:
            scenario.certificate(cert)
    assert len({s.endpoint for s in scenario.servers}) == len(scenario.servers)
    for cert in scenario.certificates:
        assert cert.key_type in ("ecdsa", "rsa") and cert.signature_hash in ("sha256", "sha1")
        assert isinstance(cert.issuer, Issuer)


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=lambda s: s.name)
def test_every_secret_a_served_endpoint_mounts_exists(scenario):
    topology = derive_topology(scenario.values, model=scenario.model)
    present = {(s.namespace, s.name) for s in scenario.secrets}
    missing_on_purpose = {("K-SECRET-PRESENT", "cluster")} <= scenario.expected_failures
    for endpoint in topology.endpoints:
        if endpoint.secret is not None and not missing_on_purpose:
            assert (endpoint.secret.namespace, endpoint.secret.name) in present, endpoint.id


def test_suite_args_carry_the_ca_key_secret_where_cert_manager_holds_the_ca():
    assert SCENARIOS["conformant"].suite_args == ("--direktiv-ca-key-secret", "cert-manager/direktiv-ca")
    assert SCENARIOS["plaintext"].suite_args == ()


def test_unknown_scenario_names_the_known_ones():
    with pytest.raises(KeyError, match="known scenarios: conformant"):
        scenarios.scenario("no-such-thing")


def test_control_ids_mirror_the_catalog_module():
    catalog = pytest.importorskip("probes.catalog")
    assert CONTROL_IDS == catalog.CONTROL_IDS
    assert ENDPOINT_IDS == catalog.ENDPOINT_IDS


def test_control_ids_mirror_the_catalog_document():
    text = _catalog_text()
    if text is None:
        pytest.skip("CONTROLS.md is not beside the repository")
    documented = re.findall(r"^\| ([KCTMHN]-[A-Z0-9-]+) \|", text, flags=re.MULTILINE)
    assert tuple(documented) == CONTROL_IDS
    endpoints = re.findall(r"^\| `([a-z-]+)` \|", text, flags=re.MULTILINE)
    assert tuple(endpoints) == ENDPOINT_IDS
