"""Trust anchors: which certificates an endpoint's served chain must validate to, and where they came from (pure).

For each TLS endpoint, the first that applies:

1. ``--direktiv-ca-file ID=PATH`` for that endpoint, then ``--direktiv-ca-file PATH`` for all endpoints;
2. the ``ca.crt`` of the endpoint's secret;
3. the secret has no ``ca.crt`` because an ACME issuer wrote it (Let's Encrypt through cert-manager: ACME gives
   no CA certificate), and the endpoint's clients trust public roots rather than ``ca.crt`` (the ``lb``, ``api``
   and ``ui`` secrets: Envoy and Direktiv's HTTP servers read only ``tls.crt``/``tls.key``): the system trust
   store, :data:`SYSTEM_TRUST_STORE`;
4. none, with the sentence saying why.

Whether an ACME issuer wrote a secret is :func:`acme_issuance`: the cert-manager Certificate in the secret's
namespace whose ``spec.secretName`` names it, its ``issuerRef`` (an ``Issuer`` in that namespace or a
``ClusterIssuer``), and that issuer's ``spec.acme``. A read that failed, or an issuer that is missing, makes the
answer unknown (``acme is None``), never yes: K-SECRET-PRESENT and C-CHAIN-TRUSTED then say *error*.

The system trust store is certifi's bundle (Mozilla's roots), not the operating system's
``/etc/ssl/certs/ca-certificates.crt``: certifi is a pinned dependency, so the verdict is the same on every machine
that runs the suite (slim container images have no OS bundle, macOS has none at that path, and distributions add
or drop roots on their own schedules), and it is the bundle httpx, the suite's HTTPS client, trusts by default.
Roots your organisation adds to its machines are not in it: pass them with ``--direktiv-ca-file ID=PATH``.

Nothing here does I/O but :func:`system_trust_store` and :func:`load_ca_files` (reading files); the cluster objects
come in as already-read listings (anything with ``what``, ``value``, ``error`` and ``absent_reason``, such as
:class:`probes.evidence.ObjectRead`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from cryptography.hazmat.primitives.serialization import Encoding

from probes import x509 as x509facts
from probes.errors import CertificateError, UsageError
from probes.topology import ENDPOINT_IDS, EndpointSpec, SecretRef

__all__ = [
    "SYSTEM_TRUST_STORE",
    "CA_CRT_UNREAD_BY",
    "CERTIFICATES",
    "ISSUERS",
    "CLUSTER_ISSUERS",
    "Listing",
    "CaFile",
    "CaFiles",
    "AcmeIssuance",
    "Absence",
    "CaCrtAbsence",
    "SystemStore",
    "TrustAnchors",
    "parse_ca_file_option",
    "load_ca_files",
    "acme_issuance",
    "acme_issuance_in",
    "ca_crt_readers",
    "ca_crt_absence",
    "system_trust_store",
    "endpoint_anchors",
]

# certifi's bundle (see the module docstring for why not the operating system's).
SYSTEM_TRUST_STORE = "certifi"
# The values keys whose secret's ca.crt nothing reads: Envoy (the Ingress's spec.tls) and Direktiv's HTTP servers
# load only tls.crt and tls.key, so an ACME-issued secret without ca.crt serves them fully. Every other use
# reads ca.crt (gRPC clients' RootCAs, mTLS servers' ClientCAs, flow's functionsCA).
CA_CRT_UNREAD_BY: frozenset[str] = frozenset({"ingress.certificate", "api.certificate", "ui.certificate"})
_CERT_MANAGER_GROUP = "cert-manager.io"
# The keys of the gathering's object reads that :func:`acme_issuance_in` looks up.
CERTIFICATES, ISSUERS, CLUSTER_ISSUERS = "certificates", "issuers", "clusterissuers"


class Listing(Protocol):
    """A cluster read as the gathering records it (``probes.evidence.ObjectRead``)."""

    what: str
    value: Any
    error: str | None
    absent_reason: str | None


# ------------------------------------------------------------------------------------------------------ --direktiv-ca-file


@dataclass(frozen=True)
class CaFile:
    """One ``--direktiv-ca-file`` option.

    Attributes:
        endpoint: the endpoint ID it is for (``--direktiv-ca-file lb=PATH``), or None for every endpoint (``--direktiv-ca-file PATH``).
        path: the PEM file.
        anchors_der: its certificates (DER), once loaded; empty before.
    """

    endpoint: str | None
    path: str
    anchors_der: tuple[bytes, ...] = field(default=(), repr=False)

    @property
    def option(self) -> str:
        """The option as the user wrote it, for messages and anchor sources."""
        return f"--direktiv-ca-file {self.endpoint}={self.path}" if self.endpoint else f"--direktiv-ca-file {self.path}"


@dataclass(frozen=True)
class CaFiles:
    """Every ``--direktiv-ca-file`` option, loaded.

    Attributes:
        files: per endpoint or for all, at most one each.
    """

    files: tuple[CaFile, ...] = ()

    def for_endpoint(self, endpoint_id: str) -> CaFile | None:
        """The file for this endpoint: its own, else the one for all endpoints, else None."""
        own = next((f for f in self.files if f.endpoint == endpoint_id), None)
        return own or next((f for f in self.files if f.endpoint is None), None)


def parse_ca_file_option(text: str, *, endpoint_ids: Sequence[str] = ENDPOINT_IDS) -> tuple[str | None, str]:
    """``(endpoint ID or None, path)`` from ``--direktiv-ca-file``'s argument: ``ID=PATH`` or ``PATH``.

    A text that names an existing file is a path even when it holds ``=``. ``ValueError`` with one sentence for
    an unknown endpoint ID or an empty path.
    """
    ident, sep, path = text.partition("=")
    if not sep or Path(text).is_file():
        if not text:
            raise ValueError("expected PATH or ENDPOINT=PATH, given an empty value")
        return None, text
    if ident not in endpoint_ids:
        raise ValueError(f"{ident!r} in {text!r} is no endpoint ID; use one of {', '.join(endpoint_ids)} "
                         "(ENDPOINT=PATH), or a PATH for every endpoint")
    if not path:
        raise ValueError(f"expected a PEM file after '{ident}=', given: {text!r}")
    return ident, path


def load_ca_files(options: Iterable[tuple[str | None, str]]) -> CaFiles:
    """Read and check every ``--direktiv-ca-file`` (as :func:`parse_ca_file_option` parsed them).

    Raises:
        UsageError: one sentence: the same endpoint given twice, a file that cannot be read, or one without a
            PEM certificate.
    """
    loaded: list[CaFile] = []
    for endpoint, path in options:
        draft = CaFile(endpoint, path)
        twice = next((f for f in loaded if f.endpoint == endpoint), None)
        if twice is not None:
            scope = f"endpoint {endpoint}" if endpoint else "every endpoint"
            raise UsageError(f"{draft.option}: {twice.option} already gives the trust anchors for {scope}; put "
                             "all of its CA certificates in one PEM file")
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UsageError(f"{draft.option}: {path} cannot be read ({exc.strerror or exc}); pass a PEM file of "
                             "CA certificates") from None
        try:
            certs = x509facts.load_pem_bundle(data, source=draft.option)
        except CertificateError as exc:
            raise UsageError(f"{exc}; pass a PEM file of CA certificates") from None
        loaded.append(CaFile(endpoint, path, tuple(c.public_bytes(Encoding.DER) for c in certs)))
    return CaFiles(tuple(loaded))


# ------------------------------------------------------------------------------------------------------ ACME


@dataclass(frozen=True)
class AcmeIssuance:
    """Whether an ACME issuer writes a secret, as far as the cluster reads tell.

    Attributes:
        secret: the secret asked about.
        acme: True when every cert-manager Certificate writing it refers to an Issuer or ClusterIssuer whose spec
            has ``acme``; False when none writes it, the CRD is absent, or an issuer is not ACME; None when it
            could not be told (a read failed, or a referenced issuer does not exist).
        issuer: the ACME issuer's name (``letsencrypt-prod``), when ``acme``.
        issuer_kind: ``ClusterIssuer`` or ``Issuer``, when ``acme``.
        certificate: the Certificate that writes the secret (``default/direktiv-lb``), "" when none does or the
            Certificates could not be read.
        reason: one clause (no trailing period): what was found, or why not, or why unknown.
    """

    secret: SecretRef
    acme: bool | None
    issuer: str = ""
    issuer_kind: str = ""
    certificate: str = ""
    reason: str = ""


def _items(read: Listing | None) -> tuple[list | None, str | None]:
    """(items or None when the CRD is absent, error sentence or None)."""
    if read is None:
        return None, "it was not read"
    if read.error:
        return None, f"{read.what} could not be read: {read.error.rstrip('.')}"
    return (list(read.value) if read.value is not None else None), None


def acme_issuance(secret: SecretRef, *, certificates: Listing | None, issuers: Listing | None,
                  cluster_issuers: Listing | None) -> AcmeIssuance:
    """Whether an ACME issuer writes ``secret`` (see :class:`AcmeIssuance`), from the cert-manager reads."""
    items, error = _items(certificates)
    if error:
        return AcmeIssuance(secret, None, reason=f"the Certificate that writes it is unknown: {error}")
    writers = [c for c in items or () if isinstance(c, Mapping)
               and (c.get("metadata") or {}).get("namespace") == secret.namespace
               and (c.get("spec") or {}).get("secretName") == secret.name]
    if not writers:
        why = "cert-manager is not installed" if items is None else "no cert-manager Certificate writes it"
        return AcmeIssuance(secret, False, reason=why)
    found = [_issuer_of(secret, c, issuers, cluster_issuers) for c in sorted(
        writers, key=lambda c: str((c.get("metadata") or {}).get("name")))]
    for verdict in (False, None):  # a non-ACME writer, then an unknown one, speaks for the secret
        hit = next((f for f in found if f.acme is verdict), None)
        if hit is not None:
            return hit
    return found[0]


def acme_issuance_in(objects: Mapping[str, Listing], secret: SecretRef) -> AcmeIssuance:
    """:func:`acme_issuance` from the gathering's object reads, keyed :data:`CERTIFICATES`, :data:`ISSUERS` and
    :data:`CLUSTER_ISSUERS`."""
    return acme_issuance(secret, certificates=objects.get(CERTIFICATES), issuers=objects.get(ISSUERS),
                         cluster_issuers=objects.get(CLUSTER_ISSUERS))


def _issuer_of(secret: SecretRef, certificate: Mapping, issuers: Listing | None,
               cluster_issuers: Listing | None) -> AcmeIssuance:
    written_by = f"{secret.namespace}/{(certificate.get('metadata') or {}).get('name', '?')}"

    def answer(acme: bool | None, reason: str, **found: str) -> AcmeIssuance:
        return AcmeIssuance(secret, acme, certificate=written_by, reason=f"Certificate {written_by} {reason}",
                            **found)

    ref = (certificate.get("spec") or {}).get("issuerRef") or {}
    name, kind = ref.get("name") or "", ref.get("kind") or "Issuer"  # cert-manager's default kind
    group = ref.get("group") or _CERT_MANAGER_GROUP
    if group != _CERT_MANAGER_GROUP:
        return answer(False, f"uses the external issuer {kind} {name} ({group})")
    if kind not in ("Issuer", "ClusterIssuer"):
        return answer(False, f"refers to an issuer of kind {kind}")
    items, error = _items(cluster_issuers if kind == "ClusterIssuer" else issuers)
    if error:
        return answer(None, f"is issued by {kind} {name}, but {error}")
    namespace = None if kind == "ClusterIssuer" else secret.namespace
    where = f"{kind} {name}" if namespace is None else f"{kind} {namespace}/{name}"
    issuer = next((i for i in items or () if isinstance(i, Mapping)
                   and (i.get("metadata") or {}).get("name") == name
                   and (namespace is None or (i.get("metadata") or {}).get("namespace") == namespace)), None)
    if issuer is None:
        return answer(None, f"refers to {where}, which does not exist")
    if not isinstance(issuer.get("spec"), Mapping) or "acme" not in issuer["spec"]:
        return answer(False, f"is issued by {where}, which is not an ACME issuer")
    return answer(True, f"is issued by the ACME {where}", issuer=name, issuer_kind=kind)


def ca_crt_readers(sources: Iterable[str]) -> tuple[str, ...]:
    """Of the values keys naming a secret's uses, those whose consumers read its ``ca.crt``."""
    return tuple(dict.fromkeys(s for s in sources if s not in CA_CRT_UNREAD_BY))


class Absence(str, Enum):
    """What a secret without ``ca.crt`` means for K-SECRET-PRESENT."""

    FINE = "fine"        # an ACME issuer writes it and none of its uses reads ca.crt
    NEEDED = "needed"    # a failure: no ACME issuer writes it, or a use reads ca.crt
    UNKNOWN = "unknown"  # an error: whether an ACME issuer writes it could not be told


@dataclass(frozen=True)
class CaCrtAbsence:
    """K-SECRET-PRESENT's judgement of one secret copy without ``ca.crt``.

    Attributes:
        status: fine, needed (fail) or unknown (error).
        reason: one sentence for the verdict's message (no trailing period), naming the secret.
        issuance: what the cert-manager reads told.
    """

    status: Absence
    reason: str
    issuance: AcmeIssuance


def ca_crt_absence(issuance: AcmeIssuance, sources: Iterable[str]) -> CaCrtAbsence:
    """Whether the secret ``issuance`` is about may lack ``ca.crt``, given the values keys of its uses in that
    namespace (``SecretRequirement.uses``' sources)."""
    ref = issuance.secret
    if issuance.acme is None:
        return CaCrtAbsence(Absence.UNKNOWN, f"secret {ref} has no ca.crt, and whether an ACME issuer writes it "
                                             f"could not be told: {issuance.reason}", issuance)
    if not issuance.acme:
        hint = ("kubectl create secret tls writes no ca.crt; let cert-manager issue it from a CA issuer"
                if not issuance.certificate else issuance.reason)
        return CaCrtAbsence(Absence.NEEDED, f"secret {ref} lacks ca.crt ({hint})", issuance)
    readers = ca_crt_readers(sources)
    if readers:
        return CaCrtAbsence(Absence.NEEDED, (
            f"secret {ref} lacks ca.crt: {issuance.reason}, which writes none, but its use by "
            f"{', '.join(readers)} reads ca.crt; issue it from a CA issuer"), issuance)
    return CaCrtAbsence(Absence.FINE, (
        f"secret {ref} has no ca.crt, as ACME CAs such as Let's Encrypt give none ({issuance.reason}), and none of "
        "its uses reads it: its clients trust the system roots"), issuance)


# ------------------------------------------------------------------------------------------------- anchors


@dataclass(frozen=True)
class SystemStore:
    """The system trust store.

    Attributes:
        path: the bundle file.
        anchors_der: its root certificates (DER).
    """

    path: str
    anchors_der: tuple[bytes, ...] = field(repr=False)


@functools.lru_cache(maxsize=1)
def system_trust_store() -> SystemStore:
    """certifi's bundle, loaded once. ``CertificateError`` when it cannot be read or parsed."""
    import certifi

    path = certifi.where()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CertificateError(f"the system trust store {path} cannot be read ({exc.strerror or exc})") from None
    certs = x509facts.load_pem_bundle(data, source=f"the system trust store {path}")
    return SystemStore(path, tuple(c.public_bytes(Encoding.DER) for c in certs))


@dataclass(frozen=True)
class TrustAnchors:
    """What an endpoint's served chain must validate to.

    Attributes:
        anchors_der: the anchors (DER); empty when there are none.
        source: where they came from, for messages: ``--direktiv-ca-file lb=PATH``, ``--direktiv-ca-file PATH``,
            ``secret default/direktiv-lb ca.crt``, ``system trust store (ACME issuer letsencrypt-prod)``; None for
            an endpoint without a secret.
        missing: when ``anchors_der`` is empty, why (one sentence, no trailing period); None otherwise.
        store: the system trust store's path when the anchors are that store (reports name it rather than list
            its roots); None otherwise.
    """

    anchors_der: tuple[bytes, ...] = field(default=(), repr=False)
    source: str | None = None
    missing: str | None = None
    store: str | None = None


def endpoint_anchors(spec: EndpointSpec, *, secret_data: Mapping[str, bytes] | None, ca_files: CaFiles = CaFiles(),
                     issuance: Callable[[], AcmeIssuance] | None = None,
                     system_store: Callable[[], SystemStore] = system_trust_store) -> TrustAnchors:
    """The trust anchors of one endpoint (the order is the module docstring's).

    ``secret_data`` is the endpoint secret's data as read (None when it was not: missing, or the read failed);
    ``issuance`` tells, when asked, whether an ACME issuer writes the secret (only asked when ``ca.crt`` is
    absent); ``system_store`` loads the system trust store (only when it is the answer).
    """
    chosen = ca_files.for_endpoint(spec.id)
    if chosen is not None:
        return TrustAnchors(chosen.anchors_der, chosen.option)
    if spec.secret is None:
        return TrustAnchors(missing="no secret is configured")
    ref = spec.secret
    source = f"secret {ref} ca.crt"
    if secret_data is None:
        return TrustAnchors(source=source, missing=f"secret {ref} could not be read")
    if "ca.crt" in secret_data:
        try:
            certs = x509facts.load_pem_bundle(secret_data["ca.crt"], source=source)
        except CertificateError as exc:
            return TrustAnchors(source=source, missing=str(exc))
        return TrustAnchors(tuple(c.public_bytes(Encoding.DER) for c in certs), source)
    found = issuance() if issuance is not None else AcmeIssuance(ref, False, reason="its issuer was not looked up")
    if found.acme is None:
        return TrustAnchors(source=source, missing=(
            f"secret {ref} has no ca.crt, and whether an ACME issuer writes it could not be told: {found.reason}"))
    if not found.acme:
        return TrustAnchors(source=source, missing=f"secret {ref} holds no ca.crt ({found.reason})")
    readers = ca_crt_readers(spec.sources[:1])
    if readers:
        return TrustAnchors(source=source, missing=(
            f"secret {ref} has no ca.crt ({found.reason}), but {spec.id}'s clients verify the served chain "
            f"against its ca.crt ({readers[0]})"))
    try:
        store = system_store()
    except CertificateError as exc:
        return TrustAnchors(source=source, missing=str(exc))
    return TrustAnchors(store.anchors_der, f"system trust store (ACME issuer {found.issuer})", store=store.path)
