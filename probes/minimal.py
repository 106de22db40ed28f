"""The fields of the cluster objects that the judgements read, and nothing else.

    minimal_object(name, value) -> value      one object read (``Evidence.objects[name].value``), trimmed

The gathering (:mod:`probes.observe`) keeps only these fields, so the judges provably need nothing more (the
scenario tests judge every control from them), and the reports, which serialize the evidence, cannot carry the
rest: a knative Service's container environment, an annotation, a Certificate's private-key settings. The report
trims again (:mod:`probes.report`), so that hand-built evidence is held to the same rule.

Kept, per read (see :data:`KEPT`):

    config-contour     the data key ``default-tls-secret``
    delegations        metadata name/namespace; spec.delegations[].secretName, targetNamespaces
    knative-services   metadata name/namespace; status url, address.url, conditions
    certificates       metadata name/namespace; spec secretName, commonName, dnsNames, ipAddresses, usages, isCA,
                       duration, renewBefore, issuerRef; status conditions, notBefore, notAfter, renewalTime, revision
    issuers,           metadata name/namespace; spec: which kind of issuer (acme, ca, selfSigned, vault, venafi)
    clusterissuers     with acme.server and ca.secretName only; status conditions

Conditions keep type, status, reason, message, lastTransitionTime. Anything unknown (another read name, a value of
an unexpected shape) becomes ``None``: a trimmed read errs on the side of saying nothing.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["minimal_object", "KEPT"]

KEPT: dict[str, str] = {
    "config-contour": "the data key default-tls-secret",
    "delegations": "names, namespaces, delegated secret names and target namespaces",
    "knative-services": "names, namespaces, URLs (hosts) and conditions",
    "certificates": "names, namespaces, secret names, hosts, usages, issuer references, conditions and times",
    "issuers": "names, namespaces, issuer kind and conditions",
    "clusterissuers": "names, namespaces, issuer kind and conditions",
}
_CONTOUR_KEYS = ("default-tls-secret",)
_CONDITION_KEYS = ("type", "status", "reason", "message", "lastTransitionTime")
_CERTIFICATE_SPEC = ("secretName", "commonName", "dnsNames", "ipAddresses", "usages", "isCA", "duration",
                     "renewBefore")
_CERTIFICATE_STATUS = ("notBefore", "notAfter", "renewalTime", "revision")
_ISSUER_REF = ("name", "kind", "group")
_ISSUER_KINDS = ("acme", "ca", "selfSigned", "vault", "venafi")


def _pick(source: Any, keys) -> dict[str, Any]:
    if not isinstance(source, Mapping):
        return {}
    return {k: source[k] for k in keys if k in source and isinstance(source[k], (str, int, bool, list, type(None)))
            and _plain(source[k])}


def _plain(value: Any) -> bool:
    """Scalars and lists of scalars only: nothing nested can slip through a picked key."""
    if isinstance(value, list):
        return all(isinstance(v, (str, int, bool)) for v in value)
    return True


def _metadata(obj: Mapping) -> dict[str, Any]:
    return _pick(obj.get("metadata"), ("name", "namespace"))


def _conditions(status: Any) -> list[dict[str, Any]]:
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    return [_pick(c, _CONDITION_KEYS) for c in conditions or () if isinstance(c, Mapping)]


def _delegation(obj: Mapping) -> dict[str, Any]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    delegations = [_pick(d, ("secretName", "targetNamespaces")) for d in spec.get("delegations") or ()
                   if isinstance(d, Mapping)]
    return {"metadata": _metadata(obj), "spec": {"delegations": delegations}}


def _knative_service(obj: Mapping) -> dict[str, Any]:
    status = obj.get("status") if isinstance(obj.get("status"), Mapping) else {}
    kept: dict[str, Any] = {**_pick(status, ("url",)), "conditions": _conditions(status)}
    if isinstance(status.get("address"), Mapping):
        kept["address"] = _pick(status["address"], ("url",))
    return {"metadata": _metadata(obj), "status": kept}


def _certificate(obj: Mapping) -> dict[str, Any]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    status = obj.get("status") if isinstance(obj.get("status"), Mapping) else {}
    kept_spec = _pick(spec, _CERTIFICATE_SPEC)
    if isinstance(spec.get("issuerRef"), Mapping):
        kept_spec["issuerRef"] = _pick(spec["issuerRef"], _ISSUER_REF)
    return {"metadata": _metadata(obj), "spec": kept_spec,
            "status": {**_pick(status, _CERTIFICATE_STATUS), "conditions": _conditions(status)}}


def _issuer(obj: Mapping) -> dict[str, Any]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    kept: dict[str, Any] = {}
    for kind in _ISSUER_KINDS:
        if kind in spec:
            kept[kind] = {"acme": lambda s: _pick(s, ("server",)), "ca": lambda s: _pick(s, ("secretName",))}.get(
                kind, lambda s: {})(spec[kind])
    return {"metadata": _metadata(obj), "spec": kept, "status": {"conditions": _conditions(obj.get("status"))}}


_LISTS = {"delegations": _delegation, "knative-services": _knative_service, "certificates": _certificate,
          "issuers": _issuer, "clusterissuers": _issuer}


def minimal_object(name: str, value: Any) -> Any:
    """``value`` (one object read, by its name in ``Evidence.objects``) with only the fields the judgements read."""
    if value is None:
        return None
    if name == "config-contour":
        return _pick(value, _CONTOUR_KEYS) if isinstance(value, Mapping) else None
    trim = _LISTS.get(name)
    if trim is None or not isinstance(value, (list, tuple)):
        return None
    return [trim(item) for item in value if isinstance(item, Mapping)]
