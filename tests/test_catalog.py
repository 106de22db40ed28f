"""The catalog in code mirrors the catalog document, and every control has a test in the suite."""

import re
from pathlib import Path

from probes.catalog import CONTROL_IDS, ENDPOINT_IDS, applies

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "CONTROLS.md").read_text()


def test_control_ids_match_the_document():
    documented = re.findall(r"^\| ([KCTMHN]-[A-Z0-9-]+) \|", DOC, flags=re.M)
    assert sorted(documented) == sorted(CONTROL_IDS)


def test_endpoint_ids_match_the_document():
    documented = re.findall(r"^\| `([a-z-]+)` \|", DOC, flags=re.M)
    assert tuple(documented) == ENDPOINT_IDS


def test_every_control_is_judged_by_a_suite_test():
    suite_text = "\n".join(p.read_text() for p in [*(ROOT / "suites").glob("test_*.py"), ROOT / "probes" / "suite.py"])
    marked = set(re.findall(r'@control\("([A-Z0-9-]+)"\)', suite_text))
    assert marked == set(CONTROL_IDS)


def test_mtls_controls_apply_only_to_grpc_ports():
    assert applies("M-NO-CERT-REJECTED", "flow-grpc")
    assert not applies("M-NO-CERT-REJECTED", "api")
    assert applies("K-SECRET-PRESENT", "cluster") and not applies("K-SECRET-PRESENT", "lb")
