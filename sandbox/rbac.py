"""RBAC for the emulated API server: a ClusterRole's rules, read from a manifest, and Kubernetes' match of a request
against them (``k8s.io/component-helpers/auth/rbac/validation``: ``VerbMatches``, ``APIGroupMatches``,
``ResourceMatches`` with ``*/subresource``, ``ResourceNameMatches``).

``ClusterRole.from_manifest(path)`` reads the ClusterRole of a (multi-document) YAML file, e.g. ``deploy/rbac.yaml``;
``ApiServer(store, role=role)`` then admits a request only when one of its rules allows it, and answers
SelfSubjectAccessReviews and SelfSubjectRulesReviews by the same rules. Non-resource rules are not read: every
authenticated user may read discovery and ``/version`` anyway (system:discovery).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import yaml

__all__ = ["PolicyRule", "ClusterRole"]

_ALL = "*"


def _strings(value, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{where} must be a list of strings, given: {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class PolicyRule:
    """One rule of a ClusterRole.

    Attributes:
        api_groups: ``""`` is the core group, ``*`` any.
        resources: plurals, ``resource/subresource`` (``pods/portforward``), ``*/subresource`` or ``*``.
        verbs: RBAC verbs (``get``, ``list``, ``create``, ...) or ``*``.
        resource_names: the objects it is limited to; empty: all (a list or a create names none, so a rule with
            names never allows one).
    """

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...] = ()

    @classmethod
    def from_manifest(cls, rule: dict, where: str) -> "PolicyRule":
        if not isinstance(rule, dict):
            raise ValueError(f"{where} must be a mapping, given: {rule!r}")
        return cls(_strings(rule.get("apiGroups"), f"{where}.apiGroups"),
                   _strings(rule.get("resources"), f"{where}.resources"),
                   _strings(rule.get("verbs"), f"{where}.verbs"),
                   _strings(rule.get("resourceNames"), f"{where}.resourceNames"))

    def as_manifest(self) -> dict:
        """The rule as a manifest writes it."""
        rule = {"apiGroups": list(self.api_groups), "resources": list(self.resources), "verbs": list(self.verbs)}
        if self.resource_names:
            rule["resourceNames"] = list(self.resource_names)
        return rule

    def allows(self, verb: str, group: str, resource: str, name: str | None = None) -> bool:
        """Whether this rule admits ``verb`` on ``resource`` (``pods/portforward`` for a subresource) of ``group``,
        on the object ``name`` (None for a list or a create)."""
        if not (_ALL in self.verbs or verb in self.verbs):
            return False
        if not (_ALL in self.api_groups or group in self.api_groups):
            return False
        subresource = resource.partition("/")[2]
        if not any(r == _ALL or r == resource or (subresource and r == f"*/{subresource}") for r in self.resources):
            return False
        return not self.resource_names or (name is not None and name in self.resource_names)


@dataclass(frozen=True)
class ClusterRole:
    """A ClusterRole's name and rules; a request is allowed when any rule allows it (RBAC only adds)."""

    name: str
    rules: tuple[PolicyRule, ...]

    @classmethod
    def from_manifest(cls, path: str | Path, *, name: str | None = None) -> "ClusterRole":
        """The ClusterRole (the one named ``name``, or the only one) of a YAML file of one or more documents.
        ValueError when there is none, or more than one and no ``name``, or a rule is malformed."""
        documents = [d for d in yaml.safe_load_all(Path(path).read_text(encoding="utf-8")) if isinstance(d, dict)]
        roles = [d for d in documents if d.get("kind") == "ClusterRole"
                 and (name is None or (d.get("metadata") or {}).get("name") == name)]
        if len(roles) != 1:
            which = f"named {name!r}" if name else "(exactly one)"
            raise ValueError(f"{path} has {len(roles)} ClusterRoles {which}; expected one")
        role = roles[0]
        rules = role.get("rules") or []
        if not isinstance(rules, list):
            raise ValueError(f"{path}: the ClusterRole's rules must be a list")
        return cls((role.get("metadata") or {}).get("name", ""),
                   tuple(PolicyRule.from_manifest(rule, f"{path} rules[{i}]") for i, rule in enumerate(rules)))

    def allows(self, verb: str, group: str, resource: str, name: str | None = None) -> bool:
        return any(rule.allows(verb, group, resource, name) for rule in self.rules)

    def without_rule(self, index: int) -> "ClusterRole":
        """The same role with rule ``index`` removed."""
        return replace(self, rules=self.rules[:index] + self.rules[index + 1:])
