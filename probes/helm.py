"""Helm 3 release secrets and values: decoding, merging the way Helm merges, user values files.

A Helm 3 release revision lives in a Secret ``sh.helm.release.v1.<release>.v<revision>`` (type
``helm.sh/release.v1``). Its data key ``release`` is, on the wire, base64 (every Secret value) of base64 of gzip of
the release JSON; releases written by early Helm 3 versions lack the gzip layer. :func:`decode_release` takes the
value after the Kubernetes client removed the outer base64, exactly as ``secret.data["release"]`` decodes.

The release JSON keeps the chart's defaults (``chart.values``) apart from the user's overrides (``config``);
:attr:`HelmRelease.values` merges them with Helm's rules (:func:`deep_merge`). :func:`normalize_values` then
reads the values the way the Direktiv TLS documentation meant them (the ``isolates`` alias).
"""

from __future__ import annotations

import base64
import binascii
import copy
import gzip
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from probes.errors import ProbeError, UsageError

__all__ = [
    "RELEASE_SECRET_TYPE",
    "MAX_RELEASE_BYTES",
    "ReleaseDecodeError",
    "HelmRelease",
    "decode_release",
    "encode_release",
    "release_from_json",
    "release_from_secret_data",
    "release_secret_name",
    "release_secret_object",
    "latest_release",
    "deep_merge",
    "load_values_file",
    "normalize_values",
    "is_off",
]

# The Secret type Helm 3's storage driver writes.
RELEASE_SECRET_TYPE = "helm.sh/release.v1"
# Upper bound for the decompressed release JSON: a Secret holds at most 1 MiB, and a chart's manifest compresses
# well, but nothing legitimate comes near this; it stops a gzip bomb in a tampered secret from eating memory.
MAX_RELEASE_BYTES = 64 * 1024 * 1024
# Helm writes gzip at best compression (pkg/storage/driver/util.go encodeRelease).
_GZIP_LEVEL = 9
_GZIP_MAGIC = b"\x1f\x8b"
# Values that switch a Direktiv TLS setting off (the chart compares with "none"; an empty string also means unset).
_OFF_VALUES = ("none", "")


class ReleaseDecodeError(ProbeError):
    """A Helm release secret's payload is not base64, gzip and JSON of a release, as Helm writes it."""

    def __init__(self, reason: str, *, source: str = "") -> None:
        self.reason = reason
        self.source = source
        where = f"helm release secret {source}" if source else "helm release data"
        super().__init__(f"{where} does not decode: {reason}")


# --------------------------------------------------------------------------------------------------------- decode


def decode_release(data: bytes | str, *, source: str = "") -> dict:
    """Decode a release secret's ``data["release"]`` (outer Kubernetes base64 already removed) to the release JSON.

    The wire form (with the Kubernetes base64 layer still on) is accepted too. ``source`` names the secret
    (``namespace/name``) for the error message. Raises :class:`ReleaseDecodeError` and nothing else, whatever the
    input.
    """
    if isinstance(data, str):
        try:
            data = data.encode("ascii")
        except UnicodeEncodeError:
            raise ReleaseDecodeError("not base64 (non-ASCII characters)", source=source) from None
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ReleaseDecodeError(f"expected bytes, got {type(data).__name__}", source=source)
    text = b"".join(bytes(data).split())
    if not text:
        raise ReleaseDecodeError("the payload is empty", source=source)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ReleaseDecodeError(f"not base64 ({reason[:1].lower()}{reason[1:]})", source=source) from None
    raw = _peel_wire_layer(raw)
    if raw[:2] == _GZIP_MAGIC:
        raw = _gunzip(raw, source)
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise ReleaseDecodeError(f"not JSON ({reason})", source=source) from None
    if not isinstance(obj, dict):
        raise ReleaseDecodeError(f"the JSON is a {type(obj).__name__}, not a release object", source=source)
    return obj


def _looks_like_release(raw: bytes) -> bool:
    return raw[:2] == _GZIP_MAGIC or raw.lstrip()[:1] == b"{"


def _peel_wire_layer(raw: bytes) -> bytes:
    """Also accept the value as it is on the wire (the kubernetes Python client's ``V1Secret.data`` leaves the
    Kubernetes base64 layer on): if one more base64 layer yields gzip or JSON, take it."""
    if _looks_like_release(raw):
        return raw
    try:
        inner = base64.b64decode(b"".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        return raw
    return inner if _looks_like_release(inner) else raw


def _gunzip(raw: bytes, source: str) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip header and trailer, CRC checked
    try:
        out = inflater.decompress(raw, MAX_RELEASE_BYTES)
    except zlib.error as exc:
        raise ReleaseDecodeError(f"not gzip ({exc})", source=source) from None
    if inflater.unconsumed_tail:
        raise ReleaseDecodeError(
            f"the gzip data inflates beyond {MAX_RELEASE_BYTES // (1024 * 1024)} MiB", source=source
        )
    if not inflater.eof:
        raise ReleaseDecodeError("not gzip (the gzip stream is truncated)", source=source)
    return out


def encode_release(release: Mapping[str, Any], *, compress: bool = True) -> bytes:
    """Encode release JSON the way Helm's secrets driver does: base64 of gzip of JSON (the inverse of decode).

    ``compress=False`` writes the older form without the gzip layer. The result is what ``data["release"]``
    holds once the Kubernetes base64 layer is removed (the API server adds that layer on the wire).
    """
    payload = json.dumps(release, separators=(",", ":")).encode("utf-8")
    if compress:
        payload = gzip.compress(payload, compresslevel=_GZIP_LEVEL, mtime=0)
    return base64.b64encode(payload)


# -------------------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class HelmRelease:
    """One revision of a Helm release, as its release secret holds it.

    Attributes:
        name: the release name (``direktiv``).
        namespace: the namespace the release is installed in.
        revision: the release version (the ``v<revision>`` of the secret name).
        status: Helm's status (``deployed``, ``superseded``, ``failed``, ``pending-upgrade``, ...).
        chart_values: the chart's default values (``chart.values``); not shown in the repr.
        config: the user's overrides (``config``: ``--set`` and ``-f`` values); not shown in the repr.
        chart_name: the chart's name (``chart.metadata.name``), ``""`` when not recorded.
        chart_version: the chart's version (``chart.metadata.version``), ``""`` when not recorded.
        app_version: the chart's ``appVersion`` (``chart.metadata.appVersion``: the Direktiv version), ``""`` when
            not recorded.
    """

    name: str
    namespace: str
    revision: int
    status: str
    chart_values: dict = field(default_factory=dict, repr=False, hash=False)
    config: dict = field(default_factory=dict, repr=False, hash=False)
    chart_name: str = ""
    chart_version: str = ""
    app_version: str = ""

    @property
    def values(self) -> dict:
        """The values the templates saw: chart defaults deep-merged with the user's config (Helm's rules)."""
        return deep_merge(self.chart_values, self.config)

    @property
    def secret_name(self) -> str:
        return release_secret_name(self.name, self.revision)

    def to_json(self) -> dict:
        """The release JSON as Helm writes it (the fields this tool reads, plus an empty manifest)."""
        return {
            "name": self.name,
            "namespace": self.namespace,
            "version": self.revision,
            "info": {"status": self.status},
            "chart": {
                "metadata": {"name": self.chart_name, "version": self.chart_version,
                             "appVersion": self.app_version},
                "values": copy.deepcopy(self.chart_values),
            },
            "config": copy.deepcopy(self.config),
            "manifest": "",
        }


def release_secret_name(release: str, revision: int) -> str:
    """``sh.helm.release.v1.<release>.v<revision>``, the name Helm 3 gives a revision's secret."""
    return f"sh.helm.release.v1.{release}.v{revision}"


def release_from_json(obj: Any, *, source: str = "") -> HelmRelease:
    """Read the fields this tool needs from decoded release JSON; :class:`ReleaseDecodeError` if they are missing."""
    if not isinstance(obj, Mapping):
        raise ReleaseDecodeError(f"the release is a {type(obj).__name__}, not an object", source=source)
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise ReleaseDecodeError("the release JSON has no name", source=source)
    namespace = obj.get("namespace")
    if not isinstance(namespace, str):
        raise ReleaseDecodeError("the release JSON has no namespace", source=source)
    revision = obj.get("version")
    if isinstance(revision, bool) or not isinstance(revision, int):
        raise ReleaseDecodeError("the release JSON has no integer version", source=source)
    info = obj.get("info")
    status = info.get("status") if isinstance(info, Mapping) else None
    chart = obj.get("chart")
    chart = chart if isinstance(chart, Mapping) else {}
    chart_values = _mapping_or_empty(chart.get("values"), "chart.values", source)
    config = _mapping_or_empty(obj.get("config"), "config", source)
    metadata = chart.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    return HelmRelease(
        name=name,
        namespace=namespace,
        revision=revision,
        status=status if isinstance(status, str) else "unknown",
        chart_values=copy.deepcopy(dict(chart_values)),
        config=copy.deepcopy(dict(config)),
        chart_name=_text(metadata.get("name")),
        chart_version=_text(metadata.get("version")),
        app_version=_text(metadata.get("appVersion")),
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _mapping_or_empty(value: Any, key: str, source: str) -> Mapping:
    if value is None:  # Helm writes null for a release installed without any user values
        return {}
    if not isinstance(value, Mapping):
        raise ReleaseDecodeError(f"{key} is a {type(value).__name__}, not a mapping", source=source)
    return value


def release_from_secret_data(data: bytes | str, *, source: str = "") -> HelmRelease:
    """:func:`decode_release` then :func:`release_from_json`, for a secret's ``data["release"]``."""
    return release_from_json(decode_release(data, source=source), source=source)


def release_secret_object(release: HelmRelease, *, compress: bool = True) -> dict:
    """The Secret object Helm 3 stores for ``release``, as the Kubernetes API returns it (``data`` base64'd)."""
    payload = encode_release(release.to_json(), compress=compress)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": RELEASE_SECRET_TYPE,
        "metadata": {
            "name": release.secret_name,
            "namespace": release.namespace,
            "labels": {
                "name": release.name,
                "owner": "helm",
                "status": release.status,
                "version": str(release.revision),
            },
        },
        "data": {"release": base64.b64encode(payload).decode("ascii")},
    }


def latest_release(releases: Iterable[HelmRelease]) -> HelmRelease | None:
    """The revision that is installed: the highest ``deployed`` one, else the highest of any status."""
    releases = list(releases)
    deployed = [r for r in releases if r.status == "deployed"]
    pool = deployed or releases
    return max(pool, key=lambda r: r.revision) if pool else None


# --------------------------------------------------------------------------------------------------------- values


def deep_merge(base: Mapping[str, Any] | None, override: Mapping[str, Any] | None) -> dict:
    """Merge ``override`` onto ``base`` the way Helm coalesces user values onto chart defaults.

    Maps merge key by key, recursively; any other override value (scalar, list, or a map over a scalar) replaces
    the base value; an override of ``None`` (YAML ``null``) deletes the key. Neither argument is modified.
    """
    result = copy.deepcopy(dict(base or {}))
    for key, value in (override or {}).items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = deep_merge(result[key], value)
        elif isinstance(value, Mapping):
            result[key] = deep_merge({}, value)  # drops nulls inside, as Helm does for keys without defaults
        else:
            result[key] = copy.deepcopy(value)
    return result


def load_values_file(path: str | Path) -> dict:
    """Read a Helm values file (``-f values.yaml``); :class:`UsageError` with one sentence if it is unusable."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"values file {path} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"values file {path} is a directory, not a file") from None
    except OSError as exc:
        raise UsageError(f"values file {path} cannot be read: {exc.strerror or exc}") from None
    try:
        values = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise UsageError(f"values file {path} is not valid YAML: {_yaml_problem(exc)}") from None
    if values is None:  # an empty file, as Helm accepts it
        return {}
    if not isinstance(values, dict):
        raise UsageError(
            f"values file {path} must hold a YAML mapping at the top level, but holds a {_yaml_kind(values)}"
        )
    return values


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return problem


def _yaml_kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def is_off(value: Any) -> bool:
    """Whether a Direktiv TLS value means "not configured": missing/null, ``none`` or the empty string."""
    return value is None or value is False or (isinstance(value, str) and value.strip() in _OFF_VALUES)


def normalize_values(values: Mapping[str, Any]) -> tuple[dict, list[str]]:
    """Read values the way the TLS documentation intends; returns the new values and notices for the run output.

    The documentation's example writes ``isolates.certificate`` and ``isolates.mtls``, keys the Direktiv chart
    never had (the chart reads ``functions.*``). Each ``isolates`` key that is set fills the ``functions`` key of
    the same name where that one is off; where both are set and differ, ``functions`` wins (it is what the chart
    renders) and a notice says so. ``isolates`` is then removed, so normalizing again changes nothing.
    """
    result = copy.deepcopy(dict(values))
    notices: list[str] = []
    if "isolates" not in result:
        return result, notices
    isolates = result.pop("isolates")
    if isolates is None:
        return result, notices
    if not isinstance(isolates, Mapping):
        notices.append(
            f"values set isolates to a {_yaml_kind(isolates)}, a key the Direktiv chart never had; it is ignored"
        )
        return result, notices
    functions = result.get("functions")
    if not isinstance(functions, dict):
        if functions is not None:
            notices.append("values set functions to something other than a mapping; isolates.* replaces it")
        functions = {}
        result["functions"] = functions
    _fold_alias(isolates, functions, "isolates", "functions", notices)
    return result, notices


def _fold_alias(alias: Mapping, target: dict, alias_path: str, target_path: str, notices: list[str]) -> None:
    for key, value in alias.items():
        a_key, t_key = f"{alias_path}.{key}", f"{target_path}.{key}"
        current = target.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            _fold_alias(value, current, a_key, t_key, notices)
        elif is_off(value):
            continue  # an unset alias key changes nothing
        elif is_off(current):
            target[key] = copy.deepcopy(value)
            notices.append(
                f"values use {a_key}, which the Direktiv chart never had; "
                f"treating it as {t_key} as the TLS documentation intends"
            )
        elif current != value:
            notices.append(
                f"values set both {a_key} ({_show(value)}) and {t_key} ({_show(current)}); the chart reads only "
                f"{t_key}, so {_show(current)} is expected"
            )


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)
