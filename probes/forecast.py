"""The expiry forecast: when cert-manager will renew each certificate, which would expire first, and each
endpoint's earliest expiry. A pure function of the evidence document (the certificates table, the secrets, the
endpoints' served chains and the cert-manager Certificates read).

    forecast(document) -> dict         the ``forecast`` section of evidence.json

    certificates  sha256 -> {renewal_time, renewed_by: ["Certificate ns/name", ...], expires_before_renewal}
                  for every leaf that a secret holds or an endpoint serves and whose secret a cert-manager
                  Certificate writes (``status.renewalTime``, where the Certificate could be read and has it)
    endpoints     id -> {not_after, sha256, name, from, renewal_time, expires_before_renewal}: the certificate that
                  expires first of those the endpoint's pods served (whole chains) and its configured secret holds

A served leaf takes the renewal time of the Certificate behind the endpoint's configured secret: that renewal is
what replaces it. A served leaf that is not the secret's (a pod still serving an old certificate) is thus flagged
when it expires before that renewal: nothing will replace it in time. CA certificates get no renewal time (the
leaf's Certificate does not renew them). ``expires_before_renewal`` is None where the renewal time is unknown.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Iterable, Mapping

__all__ = ["forecast", "expiring_first", "parse_iso"]


def parse_iso(text: Any) -> _dt.datetime | None:
    """An ISO 8601 time (``Z`` or an offset; naive means UTC), or None for anything else."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _renewals(document: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """"ns/secret" -> (renewalTime, "Certificate ns/name") from the cert-manager Certificates read."""
    read = _dict(_dict(document.get("objects")).get("certificates"))
    out: dict[str, tuple[str, str]] = {}
    for item in read.get("value") or ():
        meta, spec, status = (_dict(_dict(item).get(k)) for k in ("metadata", "spec", "status"))
        renewal = status.get("renewalTime")
        if spec.get("secretName") and parse_iso(renewal):
            ref = f"{meta.get('namespace')}/{spec.get('secretName')}"
            name = f"Certificate {meta.get('namespace')}/{meta.get('name')}"
            if ref not in out or parse_iso(renewal) < parse_iso(out[ref][0]):
                out[ref] = (str(renewal), name)
    return out


def _name(entry: Mapping[str, Any]) -> str:
    f = _dict(entry.get("facts"))
    return str(f.get("common_name") or next(iter(f.get("dns_names") or ()), None) or f.get("subject") or "")


def _not_after(entry: Mapping[str, Any]) -> _dt.datetime | None:
    return parse_iso(_dict(entry.get("facts")).get("not_after_iso"))


def forecast(document: Mapping[str, Any]) -> dict[str, Any]:
    """The ``forecast`` section (see the module docstring)."""
    certs = _dict(document.get("certificates"))
    renewals = _renewals(document)
    leaves: dict[str, set[str]] = {}  # sha256 -> the secrets whose renewal replaces it

    secrets = _dict(document.get("secrets"))
    for ref, secret in secrets.items():
        chain = _dict(secret).get("cert_chain_sha256") or ()
        if chain:
            leaves.setdefault(chain[0], set()).add(ref)
    endpoints: dict[str, Any] = {}
    for eid, ep in _dict(document.get("endpoints")).items():
        spec_secret = _dict(_dict(_dict(ep).get("expected")).get("secret"))
        secret_ref = f"{spec_secret.get('namespace')}/{spec_secret.get('name')}" if spec_secret else None
        seen: list[tuple[str, str]] = []  # (sha256, from)
        for pod in _dict(ep).get("pods") or ():
            chain = [c.get("sha256") for c in _dict(pod).get("served_chain") or () if isinstance(c, Mapping)]
            if chain and secret_ref:
                leaves.setdefault(chain[0], set()).add(secret_ref)
            seen += [(d, f"served by pod {_dict(pod).get('pod')}") for d in chain if d]
        if secret_ref:
            seen += [(d, f"secret {secret_ref}") for d in _dict(secrets.get(secret_ref)).get("cert_chain_sha256") or ()]
        dated = [(_not_after(_dict(certs.get(d))), d, where) for d, where in seen]
        dated = [x for x in dated if x[0] is not None]
        if dated:
            end, digest, where = min(dated, key=lambda x: (x[0], x[1]))
            endpoints[eid] = {"not_after": _iso(end), "sha256": digest, "name": _name(_dict(certs.get(digest))),
                              "from": where}

    table: dict[str, Any] = {}
    for digest, refs in sorted(leaves.items()):
        found = sorted((renewals[r] for r in refs if r in renewals), key=lambda x: parse_iso(x[0]))
        end = _not_after(_dict(certs.get(digest)))
        if not found or end is None:
            continue
        renewal = parse_iso(found[0][0])
        table[digest] = {"renewal_time": _iso(renewal), "renewed_by": sorted({name for _, name in found}),
                         "expires_before_renewal": end < renewal}
    for entry in endpoints.values():
        known = table.get(entry["sha256"])
        entry["renewal_time"] = known["renewal_time"] if known else None
        entry["expires_before_renewal"] = known["expires_before_renewal"] if known else None
    return {"certificates": table, "endpoints": endpoints}


def _iso(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def expiring_first(view: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """The endpoints of a forecast, earliest expiry first."""
    items = _dict(view.get("endpoints")).items()
    return sorted(items, key=lambda kv: (str(kv[1].get("not_after")), kv[0]))
