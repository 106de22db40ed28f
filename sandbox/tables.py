"""Server-side printing: the ``Table`` a real API server answers when a client (``kubectl get``) asks for one with
``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``.

Columns are the real ones: kube-apiserver's printers for the built-in kinds (namespaces, pods, services, secrets,
configmaps, endpoints, endpointslices) and the CRDs' ``additionalPrinterColumns`` for the custom kinds the sandbox knows
(cert-manager, knative, Contour); any other kind gets a CRD's default, Name and Age. Columns with priority 1 are what
``kubectl get -o wide`` adds. Each row carries the object's metadata (``PartialObjectMetadata``), from which kubectl
takes the namespace column of ``-A``. Ages are computed now, in apimachinery's HumanDuration.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Callable, NamedTuple

__all__ = ["TABLE_VERSIONS", "table", "table_version", "human_duration"]

# The meta.k8s.io versions a Table can be asked for in (kubectl offers both, v1 first).
TABLE_VERSIONS = ("v1", "v1beta1")
# How many addresses an Endpoints or EndpointSlice cell shows before "+ N more..." (kubectl's printers).
_MAX_ADDRESSES = 3

Cell = Callable[[dict], Any]


class _Column(NamedTuple):
    name: str
    cell: Cell
    type: str = "string"
    priority: int = 0


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration: ``45s``, ``5m10s``, ``3h20m``, ``4d5h``, ``2y3d``."""
    seconds = int(seconds)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes, hours = seconds // 60, seconds // 3600
    days, years = hours // 24, hours // (24 * 365)
    steps = (
        (minutes < 10, minutes, "m", seconds % 60, "s"),
        (minutes < 180, minutes, "m", 0, ""),
        (hours < 8, hours, "h", minutes % 60, "m"),
        (hours < 48, hours, "h", 0, ""),
        (hours < 24 * 8, days, "d", hours % 24, "h"),
        (hours < 24 * 365 * 2, days, "d", 0, ""),
        (hours < 24 * 365 * 8, years, "y", days % 365, "d"),
    )
    for applies, big, big_unit, small, small_unit in steps:
        if applies:
            return f"{big}{big_unit}{small}{small_unit}" if small else f"{big}{big_unit}"
    return f"{years}y"


def _age(now: _dt.datetime) -> Cell:
    def cell(obj: dict) -> str:
        created = obj["metadata"].get("creationTimestamp")
        if not created:
            return "<unknown>"
        since = _dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
        return human_duration((now - since).total_seconds())
    return cell


def _path(*keys: str) -> Cell:
    """The value at ``.a.b.c`` (a CRD column's simple JSONPath), None where absent."""
    def cell(obj: dict) -> Any:
        value: Any = obj
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value
    return cell


def _condition(kind: str, field: str) -> Cell:
    """``.status.conditions[?(@.type=="<kind>")].<field>``."""
    def cell(obj: dict) -> Any:
        for condition in (obj.get("status") or {}).get("conditions") or []:
            if condition.get("type") == kind:
                return condition.get(field)
        return None
    return cell


def _some(values: list[str], *, empty: str = "<none>") -> str:
    if not values:
        return empty
    shown = ",".join(values[:_MAX_ADDRESSES])
    return shown + (f" + {len(values) - _MAX_ADDRESSES} more..." if len(values) > _MAX_ADDRESSES else "")


# --- the built-in printers (pkg/printers/internalversion) ------------------------------------------------------


def _pod_counts(pod: dict) -> tuple[int, int, int, str]:
    """(ready containers, containers, restarts, status) as printPod computes them."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or ""
    ready = restarts = 0
    for container in reversed(status.get("containerStatuses") or []):
        restarts += int(container.get("restartCount") or 0)
        state = container.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif container.get("ready") and "running" in state:
            ready += 1
    return ready, len((pod.get("spec") or {}).get("containers") or []), restarts, reason


_POD_COLUMNS = (
    _Column("Ready", lambda pod: "{0}/{1}".format(*_pod_counts(pod))),
    _Column("Status", lambda pod: _pod_counts(pod)[3]),
    _Column("Restarts", lambda pod: _pod_counts(pod)[2], "integer"),
    _Column("IP", lambda pod: (pod.get("status") or {}).get("podIP") or "<none>", priority=1),
    _Column("Node", lambda pod: (pod.get("spec") or {}).get("nodeName") or "<none>", priority=1),
    _Column("Nominated Node", lambda pod: (pod.get("status") or {}).get("nominatedNodeName") or "<none>",
            priority=1),
    _Column("Readiness Gates", lambda pod: "<none>", priority=1),
)


def _service_ports(service: dict) -> str:
    ports = [f"{p['port']}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort")
             else f"{p['port']}/{p.get('protocol', 'TCP')}" for p in service["spec"].get("ports") or []]
    return ",".join(ports) or "<none>"


def _external_ip(service: dict) -> str:
    spec = service.get("spec") or {}
    if spec.get("type") != "LoadBalancer":
        return ",".join(spec.get("externalIPs") or []) or "<none>"
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return ",".join(i.get("ip") or i.get("hostname", "") for i in ingress) or "<pending>"


def _endpoints(endpoints: dict) -> str:
    return _some([f"{address['ip']}:{port['port']}" for subset in endpoints.get("subsets") or []
                  for port in subset.get("ports") or [] for address in subset.get("addresses") or []])


def _slice_endpoints(slice_: dict) -> str:
    return _some([a for e in slice_.get("endpoints") or [] for a in e.get("addresses") or []], empty="<unset>")


def _slice_ports(slice_: dict) -> str:
    return _some([str(p["port"]) if p.get("port") is not None else "<unset>"
                  for p in slice_.get("ports") or []], empty="<unset>")


_SERVICE_COLUMNS = (
    _Column("Type", _path("spec", "type")),
    _Column("Cluster-IP", _path("spec", "clusterIP")),
    _Column("External-IP", _external_ip),
    _Column("Port(s)", _service_ports),
    _Column("Selector", lambda svc: ",".join(f"{k}={v}" for k, v in sorted(
        (svc["spec"].get("selector") or {}).items())) or "<none>", priority=1),
)
# (group, plural) -> the columns between Name and Age.
_COLUMNS: dict[tuple[str, str], tuple[_Column, ...]] = {
    ("", "pods"): _POD_COLUMNS,
    ("", "services"): _SERVICE_COLUMNS,
    ("", "secrets"): (_Column("Type", _path("type")), _Column("Data", lambda s: len(s.get("data") or {}), "integer")),
    ("", "configmaps"): (_Column("Data", lambda c: len(c.get("data") or {}) + len(c.get("binaryData") or {}),
                                 "integer"),),
    ("", "endpoints"): (_Column("Endpoints", _endpoints),),
    ("", "namespaces"): (_Column("Status", _path("status", "phase")),),
    ("discovery.k8s.io", "endpointslices"): (_Column("AddressType", _path("addressType")),
                                             _Column("Ports", _slice_ports), _Column("Endpoints", _slice_endpoints)),
    # The CRDs' additionalPrinterColumns.
    ("cert-manager.io", "certificates"): (
        _Column("Ready", _condition("Ready", "status")), _Column("Secret", _path("spec", "secretName")),
        _Column("Issuer", _path("spec", "issuerRef", "name"), priority=1),
        _Column("Status", _condition("Ready", "message"), priority=1)),
    ("serving.knative.dev", "services"): (
        _Column("URL", _path("status", "url")),
        _Column("LatestCreated", _path("status", "latestCreatedRevisionName")),
        _Column("LatestReady", _path("status", "latestReadyRevisionName")),
        _Column("Ready", _condition("Ready", "status")), _Column("Reason", _condition("Ready", "reason"))),
    ("projectcontour.io", "httpproxies"): (
        _Column("FQDN", _path("spec", "virtualhost", "fqdn")),
        _Column("TLS Secret", _path("spec", "virtualhost", "tls", "secretName")),
        _Column("Status", _path("status", "currentStatus")),
        _Column("Status Description", _path("status", "description"))),
}
# Kinds whose printer has no Age column (knative's Service and Contour's HTTPProxy declare none).
_NO_AGE = {("serving.knative.dev", "services"), ("projectcontour.io", "httpproxies")}


def _columns(group: str, plural: str, now: _dt.datetime) -> list[_Column]:
    columns = [_Column("Name", _path("metadata", "name")), *_COLUMNS.get((group, plural), ())]
    if (group, plural) not in _NO_AGE:
        columns.append(_Column("Age", _age(now)))
    return columns


def table_version(accept: str) -> str | None:
    """The meta.k8s.io version of the Table an Accept header asks for first, None when it asks for none."""
    for media_range in accept.split(","):
        kind, *params = (part.strip() for part in media_range.split(";"))
        options = dict(p.partition("=")[::2] for p in params)
        if (kind == "application/json" and options.get("as") == "Table" and options.get("g") == "meta.k8s.io"
                and options.get("v") in TABLE_VERSIONS):
            return options["v"]
    return None


def table(group: str, plural: str, objects: list[dict], *, resource_version: str, version: str = "v1",
          now: _dt.datetime | None = None) -> dict:
    """The Table of ``objects`` (as stored) of one resource."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    columns = _columns(group, plural, now)
    api_version = f"meta.k8s.io/{version}"
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [{"name": c.name, "type": c.type, "format": "name" if c.name == "Name" else "",
                               "description": "", "priority": c.priority} for c in columns],
        "rows": [{"cells": [c.cell(obj) for c in columns],
                  "object": {"kind": "PartialObjectMetadata", "apiVersion": api_version,
                             "metadata": obj["metadata"]}} for obj in objects],
    }
