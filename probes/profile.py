"""The TLS profile: the thresholds the suite judges against (minimum version, validity margin, key sizes, weak
cipher families), and the protection it demands whatever the Helm values say.

Two profiles are built in: ``intermediate`` (Mozilla's "intermediate" line: TLS 1.2 and up), which takes the values'
word for which ports speak TLS and mTLS, and ``strict``, an audit baseline with intermediate's thresholds that also
demands TLS on every endpoint and mTLS on the three gRPC ports. A YAML file overrides any of intermediate's keys;
``name`` defaults to the file's stem::

    min_version: TLSv1.3
    min_days_valid: 30
    require_tls: [lb, api, ui]
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from probes.catalog import ENDPOINT_IDS, GRPC_ENDPOINT_IDS
from probes.errors import UsageError

__all__ = [
    "TLS_VERSIONS",
    "WEAK_CIPHER_FAMILIES",
    "SWITCHABLE_CONTROLS",
    "INTERMEDIATE",
    "STRICT",
    "BUILTIN_PROFILES",
    "Profile",
    "load_profile",
]

# Protocol versions from oldest to newest, spelled as probes.tls.TLSVersion spells them.
TLS_VERSIONS: tuple[str, ...] = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
# Other spellings people write in a profile.
_VERSION_ALIASES = {"TLSv1.0": "TLSv1", "SSLv3.0": "SSLv3"}
# The families T-WEAK-CIPHERS-REFUSED offers (probes.cipher_suites names; kRSA-CBC: static-RSA key transport with a
# CBC cipher, the Lucky13/ROBOT-exposed suites that Go accepted by default until 1.22).
WEAK_CIPHER_FAMILIES: tuple[str, ...] = ("NULL", "aNULL", "EXPORT", "RC4", "DES", "3DES", "kRSA-CBC")
# The controls a profile may switch off (the intermediate profile keeps them all on).
SWITCHABLE_CONTROLS: tuple[str, ...] = ("T-FORWARD-SECRECY", "T-SECURE-RENEGOTIATION", "T-DOWNGRADE-SCSV", "H-HSTS",
                                        "C-X509-STRICT")


@dataclass(frozen=True)
class Profile:
    """Thresholds for the C-* and T-* controls.

    Attributes:
        name: the profile's name (``intermediate``, or a file's name or stem).
        min_version: the oldest protocol version an endpoint may accept (T-LEGACY-PROTOCOLS-REFUSED).
        min_days_valid: days of validity that must remain (C-VALIDITY).
        rsa_min_bits: the smallest acceptable RSA key (C-KEY-STRENGTH).
        ec_min_bits: the smallest acceptable EC key (C-KEY-STRENGTH).
        weak_cipher_families: cipher families no endpoint may accept (T-WEAK-CIPHERS-REFUSED).
        hsts_min_days: the smallest Strict-Transport-Security max-age, in days, the lb must send (H-HSTS).
        controls_off: controls of :data:`SWITCHABLE_CONTROLS` this profile does not judge (they skip, saying so).
        require_tls: endpoints that must speak TLS even where the values turn it off (T-MODE-MATCHES-CONFIG fails
            on a plaintext port among them).
        require_mtls: gRPC endpoints that must demand client certificates even where the values do not.
    """

    name: str = "intermediate"
    min_version: str = "TLSv1.2"
    min_days_valid: int = 14
    rsa_min_bits: int = 2048
    ec_min_bits: int = 256
    weak_cipher_families: tuple[str, ...] = WEAK_CIPHER_FAMILIES
    hsts_min_days: int = 180
    controls_off: tuple[str, ...] = ()
    require_tls: tuple[str, ...] = ()
    require_mtls: tuple[str, ...] = ()

    def judges(self, control_id: str) -> bool:
        """Whether this profile judges ``control_id`` (only the switchable controls can be off)."""
        return control_id not in self.controls_off

    @property
    def refused_versions(self) -> tuple[str, ...]:
        """The versions below ``min_version``: each must be refused."""
        return TLS_VERSIONS[: TLS_VERSIONS.index(self.min_version)]


    def demanded_mode(self, endpoint_id: str) -> str | None:
        """``"mtls"`` or ``"tls"`` when this profile demands that much of ``endpoint_id`` whatever the values say,
        else None."""
        if endpoint_id in self.require_mtls:
            return "mtls"
        if endpoint_id in self.require_tls:
            return "tls"
        return None


INTERMEDIATE = Profile()
# The audit baseline: nothing in plaintext, and client certificates on every gRPC port (the values cannot relax it).
STRICT = replace(INTERMEDIATE, name="strict", require_tls=ENDPOINT_IDS, require_mtls=GRPC_ENDPOINT_IDS)
BUILTIN_PROFILES: dict[str, Profile] = {INTERMEDIATE.name: INTERMEDIATE, STRICT.name: STRICT}

_KEYS = tuple(f.name for f in fields(Profile))


def load_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile by name, or a YAML file overriding ``intermediate``; :class:`UsageError` otherwise."""
    if isinstance(name_or_path, str) and name_or_path in BUILTIN_PROFILES:
        return BUILTIN_PROFILES[name_or_path]
    path = Path(name_or_path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"profile {str(name_or_path)!r} is neither a built-in profile ({', '.join(BUILTIN_PROFILES)}) "
            "nor an existing file"
        ) from None
    except OSError as exc:
        raise UsageError(f"profile file {path} cannot be read: {exc.strerror or exc}") from None
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UsageError(f"profile file {path} is not valid YAML{where}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise UsageError(f"profile file {path} must hold a YAML mapping of profile keys, not a {type(doc).__name__}")
    changes = {"name": path.stem}
    for key, value in doc.items():
        changes[str(key)] = _check(path, key, value)
    return replace(INTERMEDIATE, **changes)


def _check(path: Path, key: Any, value: Any) -> Any:
    def bad(expected: str) -> UsageError:
        return UsageError(f"profile file {path}: key {key} must be {expected}, given: {value!r}")

    if key not in _KEYS:
        raise UsageError(f"profile file {path} has the unknown key {key!r}; known keys: {', '.join(_KEYS)}")
    if key == "name":
        if not isinstance(value, str) or not value.strip():
            raise bad("a non-empty string")
        return value.strip()
    if key == "min_version":
        version = _VERSION_ALIASES.get(value, value) if isinstance(value, str) else None
        if version not in TLS_VERSIONS:
            raise bad(f"one of {', '.join(TLS_VERSIONS)}")
        return version
    if key == "weak_cipher_families":
        if isinstance(value, list):  # an unquoted NULL in YAML is null, but here it can only mean the NULL family
            value = ["NULL" if v is None else v for v in value]
        return _listed(value, WEAK_CIPHER_FAMILIES, "cipher families", bad)
    if key == "controls_off":
        return _listed(value, SWITCHABLE_CONTROLS, "control IDs", bad, refused="others cannot be switched off; ")
    if key in ("require_tls", "require_mtls"):
        return _listed(value, ENDPOINT_IDS if key == "require_tls" else GRPC_ENDPOINT_IDS, "endpoint IDs", bad)
    # the integer thresholds
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad("an integer")
    if key in ("min_days_valid", "hsts_min_days") and value < 0:
        raise bad("zero or more")
    if key in ("rsa_min_bits", "ec_min_bits") and value <= 0:
        raise bad("a positive number of bits")
    return value


def _listed(value: Any, allowed: tuple[str, ...], what: str, bad, *, refused: str = "") -> tuple[str, ...]:
    """A YAML list of names from ``allowed``, without repeats, or ``bad(...)`` saying which are not."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(f"a list of {what} from {', '.join(allowed)}")
    unknown = [v for v in value if v not in allowed]
    if unknown:
        raise bad(f"a list of {what} from {', '.join(allowed)} ({refused}unknown: {', '.join(unknown)})")
    return tuple(dict.fromkeys(value))
