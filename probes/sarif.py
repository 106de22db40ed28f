"""The SARIF 2.1.0 log (``reports/results.sarif``) for code-scanning dashboards, from the evidence document.

    sarif_log(document) -> dict        one run: a rule per control (its catalog sentence, help text and fix), a
                                       taxonomy per framework (the requirements), a result per verdict
    render_sarif(document) -> str      the file's text

Results: a failed control is ``kind: fail`` at ``level: error``; a control the suite could not observe is
``kind: open`` (SARIF's "could not determine"; level ``none``, as the standard requires for every kind but fail); a
pass is ``kind: pass`` and a skip ``kind: notApplicable``. Each result names its endpoint as a logical location and,
as its physical location, the Kubernetes object it was judged on, as an API path relative to the cluster's API
server (``uriBaseId`` ``KUBE_API``). With a baseline (``drift`` in the document) every failed result carries
``baselineState``: ``new`` when it did not fail in the baseline, ``unchanged`` otherwise. Rules relate to the
framework requirements they evidence (``relationships`` into the run's taxonomies), so a dashboard can group by
PCI DSS or NIST requirement.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from probes.catalog import CLUSTER, CONTROLS, FRAMEWORKS, mappings

__all__ = ["SARIF_VERSION", "SARIF_SCHEMA_URI", "sarif_log", "render_sarif"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_TOOL = "direktiv-tls-conformance"
_INFO_URI = "https://github.com/direktiv/direktiv"
_KIND = {"fail": "fail", "error": "open", "pass": "pass", "skip": "notApplicable"}
_GROUP_TAG = {"cluster": "kubernetes", "certificate": "x509", "transport": "tls", "mtls": "mtls", "http": "http",
              "knative": "knative"}


def _text(text: str) -> dict[str, str]:
    return {"text": text}


def _rule(control) -> dict[str, Any]:
    related = mappings(control=control.id)
    relationships = [{"target": {"id": m.requirement, "toolComponent": {"name": m.framework}},
                      "kinds": ["relevant"], "description": _text(f"{m.coverage.value}: {m.note}")}
                     for m in related]
    tags = ["security", "tls", _GROUP_TAG.get(control.group, control.group),
            *dict.fromkeys(f"{m.framework}:{m.requirement}" for m in related)]
    help_text = f"Passes when {control.summary}. Fix: {control.fix}"
    return {
        "id": control.id,
        "name": "".join(part.capitalize() for part in control.id.split("-")),
        "shortDescription": _text(f"{control.id}: {control.summary}"),
        "fullDescription": _text(f"{control.summary[0].upper()}{control.summary[1:]} (judged on: "
                                 f"{', '.join(control.endpoints)})."),
        "help": {"text": help_text, "markdown": f"**Passes when** {control.summary}.\n\n**Fix:** {control.fix}"},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": list(dict.fromkeys(tags)), "group": control.group},
        **({"relationships": relationships} if relationships else {}),
    }


def _taxonomy(fw) -> dict[str, Any]:
    return {
        "name": fw.name,
        "fullName": fw.title,
        "informationUri": fw.url,
        "shortDescription": _text(fw.scope),
        "taxa": [{"id": r.id, "name": r.title, "shortDescription": _text(r.title),
                  "properties": {"verified": r.verified}} for r in fw.requirements],
    }


def _object_path(document: Mapping[str, Any], endpoint: str) -> str:
    """The Kubernetes object a verdict speaks of, as an API path: the endpoint's Service, or the release namespace."""
    spec = ((document.get("endpoints") or {}).get(endpoint) or {}).get("expected") or {}
    if not spec:
        spec = next((e for e in (document.get("expected") or {}).get("endpoints") or () if isinstance(e, Mapping)
                     and e.get("id") == endpoint), {})
    if spec.get("namespace") and spec.get("service"):
        return f"api/v1/namespaces/{spec['namespace']}/services/{spec['service']}"
    namespace = (document.get("expected") or {}).get("namespace") or "default"
    return f"api/v1/namespaces/{namespace}"


def _baseline_states(document: Mapping[str, Any]) -> dict[tuple[str, str], str] | None:
    drift = document.get("drift")
    if not drift:
        return None
    return {(c["control"], c["endpoint"]): (c.get("old") or "") for c in drift.get("verdicts") or ()}


def _result(document, control_id: str, endpoint: str, verdict: Mapping[str, Any], index: int,
            previous: dict[tuple[str, str], str] | None) -> dict[str, Any]:
    status = str(verdict.get("status"))
    kind = _KIND.get(status, "open")
    message = str(verdict.get("message") or f"{control_id} on {endpoint}: {status}")
    result: dict[str, Any] = {
        "ruleId": control_id,
        "ruleIndex": index,
        "kind": kind,
        "level": "error" if kind == "fail" else "none",
        "message": _text(message),
        "locations": [{
            "physicalLocation": {"artifactLocation": {"uri": _object_path(document, endpoint),
                                                      "uriBaseId": "KUBE_API"}},
            "logicalLocations": [{"name": endpoint, "kind": "module" if endpoint != CLUSTER else "namespace",
                                  "fullyQualifiedName": f"{endpoint}/{control_id}"}],
        }],
        "partialFingerprints": {"controlEndpoint/v1": f"{control_id}/{endpoint}"},
        "properties": {"endpoint": endpoint, "status": status,
                       **{f"fact.{k}": str(v) for k, v in sorted((verdict.get("facts") or {}).items())}},
    }
    if previous is not None and kind == "fail":
        old = previous.get((control_id, endpoint))
        result["baselineState"] = "new" if old is not None and old != "fail" else "unchanged"
    return result


def sarif_log(document: Mapping[str, Any]) -> dict[str, Any]:
    """The SARIF log of one run (see the module docstring)."""
    run = document.get("run") or {}
    rules = [_rule(c) for c in CONTROLS]
    index = {c.id: i for i, c in enumerate(CONTROLS)}
    previous = _baseline_states(document)
    results = []
    for control in CONTROLS:
        for endpoint, verdict in sorted(((document.get("verdicts") or {}).get(control.id) or {}).items()):
            results.append(_result(document, control.id, endpoint, verdict, index[control.id], previous))
    server = str(run.get("cluster_server") or "https://kubernetes.default.svc").rstrip("/") + "/"
    invocation: dict[str, Any] = {"executionSuccessful": not run.get("incomplete")}
    if run.get("incomplete_reason"):
        invocation["toolExecutionNotifications"] = [{"level": "warning",
                                                      "message": _text(f"incomplete run: {run['incomplete_reason']}")}]
    if run.get("exit_status") is not None:
        invocation["exitCode"] = int(run["exit_status"])
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": _TOOL, "version": str(run.get("tool_version") or "unknown"), "informationUri": _INFO_URI,
                "rules": rules,
                "supportedTaxonomies": [{"name": fw.name} for fw in FRAMEWORKS],
            }},
            "taxonomies": [_taxonomy(fw) for fw in FRAMEWORKS],
            "automationDetails": {"id": f"{_TOOL}/{run.get('context') or 'cluster'}/"},
            "originalUriBaseIds": {"KUBE_API": {"uri": server,
                                                "description": _text("the cluster's Kubernetes API server")}},
            "invocations": [invocation],
            "results": results,
            "properties": {"evidenceSchema": str(document.get("schema") or ""),
                           "framework": (document.get("framework") or {}).get("name"),
                           "chart": run.get("chart")},
        }],
    }


def render_sarif(document: Mapping[str, Any]) -> str:
    """The SARIF file's text (sorted keys, two-space indent)."""
    return json.dumps(sarif_log(document), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
