"""deploy/: the RBAC is exactly the README's and exactly what the suite needs, and the manifests and the Containerfile
agree with each other.

The RBAC proof runs the suite against a sandbox whose API server enforces the ClusterRole read from deploy/rbac.yaml
(sandbox.rbac): under it a conformant run passes every control, and with each one of its rules removed the run gives
the error the README documents for that missing permission."""

from __future__ import annotations

import http.client
import json
import re
import ssl
from pathlib import Path

import pytest
import yaml

from expect import assert_verdicts, observed
from probes.catalog import CONTROLS
from probes.controls import judge
from probes.profile import INTERMEDIATE
from probes.session import ObservationError, RunOptions, gather_evidence
from sandbox.apiserver import DEFAULT_USER, ApiServer, ObjectStore, secret_object
from sandbox.cluster import POD_IPS_LOOPBACK, start_sandbox
from sandbox.faults import CA_KEY_SECRET
from sandbox.rbac import ClusterRole, PolicyRule

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
RBAC = DEPLOY / "rbac.yaml"
# The step limit of these runs: generous, since nothing here is about a deadline (see tests/test_faults.py).
TIMEOUT = 10.0


def documents(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d is not None]


def one(name: str, kind: str) -> dict:
    found = [d for d in documents(name) if d["kind"] == kind]
    assert len(found) == 1, f"{name} has {len(found)} {kind}s"
    return found[0]


def readme_rbac_block() -> dict:
    """The ClusterRole of README.md's "RBAC it needs" section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### RBAC it needs", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block, "README.md's 'RBAC it needs' has no yaml block"
    return yaml.safe_load(block.group(1))


def judge_all(evidence) -> dict:
    return {(c.id, e): judge(c.id, e, evidence, INTERMEDIATE) for c in CONTROLS for e in c.endpoints}


def gather(running, **changes):
    """The verdicts of a run against ``running`` (its kubeconfig, its scenario's --ca-file and --ca-key-secret)."""
    args = running.suite_args
    ca_files = tuple(tuple(v.split("=", 1)) for f, v in zip(args[::2], args[1::2]) if f == "--direktiv-ca-file")
    options = RunOptions(kubeconfig=str(running.kubeconfig_path), ca_key_secret=CA_KEY_SECRET, ca_files=ca_files,
                         timeout=TIMEOUT, **changes)
    return judge_all(gather_evidence(options, INTERMEDIATE))


# --- the rules ------------------------------------------------------------------------------------------------


def test_the_cluster_role_is_the_readmes_word_for_word():
    assert one("rbac.yaml", "ClusterRole") == readme_rbac_block()


def test_the_sandbox_reads_the_same_rules():
    role = ClusterRole.from_manifest(RBAC)
    assert role.name == "direktiv-tls-conformance"
    assert [r.as_manifest() for r in role.rules] == readme_rbac_block()["rules"]


@pytest.mark.parametrize("verb, group, resource, name, allowed", [
    ("get", "", "secrets", "x", True),
    ("list", "", "secrets", None, True),
    ("watch", "", "secrets", None, False),
    ("create", "", "secrets", None, False),
    ("get", "apps", "deployments", "x", False),
    ("list", "cert-manager.io", "clusterissuers", None, True),
    ("list", "serving.knative.dev", "services", None, True),
    ("list", "cert-manager.io", "tlscertificatedelegations", None, True),  # the rule's groups x resources
    ("create", "", "pods/portforward", "flow-0", True),
    ("get", "", "pods/portforward", "flow-0", True),
    ("create", "", "pods/exec", "flow-0", False),
    ("create", "", "pods", None, False),
])
def test_a_request_is_allowed_when_a_rule_of_the_deploy_role_allows_it(verb, group, resource, name, allowed):
    assert ClusterRole.from_manifest(RBAC).allows(verb, group, resource, name) is allowed


def test_rbacs_wildcards_subresources_and_resource_names():
    assert PolicyRule(("*",), ("*",), ("*",)).allows("delete", "apps", "deployments/scale", "x")
    any_portforward = PolicyRule(("",), ("*/portforward",), ("create",))
    assert any_portforward.allows("create", "", "pods/portforward", "p")
    assert not any_portforward.allows("create", "", "pods", "p")
    assert not PolicyRule(("",), ("pods",), ("get",)).allows("get", "", "pods/portforward", "p")
    named = PolicyRule(("",), ("secrets",), ("get", "list"), ("direktiv-ca",))
    assert named.allows("get", "", "secrets", "direktiv-ca")
    assert not named.allows("get", "", "secrets", "other")
    assert not named.allows("list", "", "secrets", None)  # a list names no object


def _raw(api: ApiServer, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    host, port = api.url.removeprefix("https://").split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cadata=api.ca_pem.decode()),
                                       timeout=10)
    try:
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                     headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def test_the_api_server_enforces_a_role_in_requests_and_in_reviews():
    store = ObjectStore()
    store.add(secret_object("default", "direktiv-ca", {"ca.crt": b"CA"}))
    role = ClusterRole("reader", (PolicyRule(("",), ("secrets",), ("get",)),))
    with ApiServer(store, role=role) as api:
        assert _raw(api, "GET", "/api/v1/namespaces/default/secrets/direktiv-ca")[0] == 200
        status, answer = _raw(api, "GET", "/api/v1/namespaces/default/secrets")
        assert status == 403 and answer["message"] == (
            f'secrets is forbidden: User "{DEFAULT_USER}" cannot list resource "secrets" in API group "" in the '
            'namespace "default"')
        reviews = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        for verb, allowed in (("get", True), ("list", False)):
            review = {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                      "spec": {"resourceAttributes": {"namespace": "default", "verb": verb, "resource": "secrets"}}}
            assert _raw(api, "POST", reviews, review)[1]["status"] == {"allowed": allowed}
        rules = {"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
                 "spec": {"namespace": "default"}}
        granted = _raw(api, "POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", rules)[1]
        assert [r for r in granted["status"]["resourceRules"] if r["apiGroups"] != ["authorization.k8s.io"]] == [
            {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]


# --- the RBAC proof -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("connect", ["port-forward", "direct"])
def test_a_conformant_run_under_the_deploy_role_passes_every_control(connect):
    pod_ips = POD_IPS_LOOPBACK if connect == "direct" else "cluster"
    with start_sandbox("conformant", role=RBAC, pod_ips=pod_ips) as running:
        verdicts = gather(running, connect=connect)
    assert_verdicts({}, observed(verdicts), others="pass", context=f"conformant under deploy/rbac.yaml, {connect}")


def _without(resource: str) -> ClusterRole:
    role = ClusterRole.from_manifest(RBAC)
    index = next(i for i, rule in enumerate(role.rules) if resource in rule.resources)
    return role.without_rule(index)


def _errors(verdicts) -> dict:
    return {key: v.message for key, v in verdicts.items() if v.status.value != "pass"}


def test_without_the_core_rule_the_release_cannot_be_read_and_the_error_names_rbac():
    with start_sandbox("conformant", role=_without("secrets")) as running:
        with pytest.raises(ObservationError) as caught:
            gather(running)
    assert str(caught.value) == (
        "could not learn the expected configuration: Reading secrets in namespace default with labels "
        "owner=helm,name=direktiv,status=deployed is forbidden by RBAC: secrets is forbidden: User "
        f'"{DEFAULT_USER}" cannot list resource "secrets" in API group "" in the namespace "default"; grant the '
        "suite's identity list on secrets in that namespace, or pass --direktiv-values FILE with the installation's Helm "
        "values")


def test_without_the_port_forward_rule_every_pod_is_an_error_unless_the_pods_are_dialled_directly():
    role = _without("pods/portforward")
    with start_sandbox("conformant", role=role) as running:
        errors = _errors(gather(running))
    observed_endpoints = {e for _, e in errors}
    assert observed_endpoints == {"lb", "api", "ui", "ingress-grpc", "flow-grpc", "functions-grpc", "knative"}
    forbidden = 'is forbidden: User "system:serviceaccount:default:direktiv-tls-conformance" cannot create resource ' \
                '"pods/portforward"'
    assert all("port-forward to pod" in m and "failed with HTTP 403" in m and forbidden in m
               for m in errors.values()), errors
    with start_sandbox("conformant", role=role, pod_ips=POD_IPS_LOOPBACK) as running:
        assert _errors(gather(running, connect="direct")) == {}


def test_without_the_custom_resources_rule_the_cluster_controls_error_naming_rbac():
    with start_sandbox("conformant", role=_without("tlscertificatedelegations")) as running:
        errors = _errors(gather(running))
    cluster = {control: m for (control, endpoint), m in errors.items() if endpoint == "cluster"}
    assert set(cluster) == {"K-DELEGATION", "K-CERTMANAGER-READY"}, errors
    assert "TLSCertificateDelegations in contour-internal could not be read" in cluster["K-DELEGATION"]
    assert "cert-manager Certificates could not be read" in cluster["K-CERTMANAGER-READY"]
    assert all("is forbidden by RBAC" in m for m in cluster.values()), cluster
    # Without the knative Services, the hosts that the internal Contour routes are unknown: knative is not judged.
    assert {e for _, e in errors} == {"cluster", "knative"}, errors


def test_without_the_issuers_rule_an_acme_secret_without_ca_crt_is_an_error_as_documented():
    with start_sandbox("lb-acme", role=_without("clusterissuers")) as running:
        errors = _errors(gather(running))
    assert list(errors) == [("K-SECRET-PRESENT", "cluster")], errors
    message = errors[("K-SECRET-PRESENT", "cluster")]
    assert "secret default/direktiv-lb has no ca.crt, and whether an ACME issuer writes it could not be told" in message
    assert "ClusterIssuers could not be read" in message and "forbidden by RBAC" in message
    with start_sandbox("conformant", role=_without("clusterissuers")) as running:
        assert _errors(gather(running)) == {}  # every secret has its ca.crt: the issuers are not needed


def test_the_endpointslices_rule_is_not_used_by_the_suite():
    """The README grants endpoints and endpointslices, which no read of the suite needs today: without that rule
    a conformant run still passes. (Kept identical to the README; see the report of issue 13, item 5.)"""
    with start_sandbox("conformant", role=_without("endpointslices")) as running:
        assert _errors(gather(running)) == {}


# --- the manifests ------------------------------------------------------------------------------------------------


def _pod_specs() -> dict[str, dict]:
    return {
        "job.yaml": one("job.yaml", "Job")["spec"]["template"]["spec"],
        "cronjob.yaml": one("cronjob.yaml", "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        "helm-test-pod.yaml": one("helm-test-pod.yaml", "Pod")["spec"],
    }


def _option_names(args: list[str]) -> list[str]:
    return [a for a in args if a.startswith("--")]


def test_every_manifest_parses_with_the_kinds_and_names_it_should_have():
    kinds = {path.name: [d["kind"] for d in documents(path.name)] for path in sorted(DEPLOY.glob("*.yaml"))}
    assert kinds == {"cronjob.yaml": ["CronJob"], "helm-test-pod.yaml": ["Pod"], "job.yaml": ["Job"],
                     "rbac.yaml": ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"],
                     "reports.yaml": ["PersistentVolumeClaim"]}
    for path in DEPLOY.glob("*.yaml"):
        for document in documents(path.name):
            api_version = {"ServiceAccount": "v1", "Pod": "v1", "PersistentVolumeClaim": "v1", "Job": "batch/v1",
                           "CronJob": "batch/v1", "ClusterRole": "rbac.authorization.k8s.io/v1",
                           "ClusterRoleBinding": "rbac.authorization.k8s.io/v1"}[document["kind"]]
            assert document["apiVersion"] == api_version, path.name


def test_the_binding_gives_the_role_to_the_account_the_workloads_run_as():
    account, role = one("rbac.yaml", "ServiceAccount"), one("rbac.yaml", "ClusterRole")
    binding = one("rbac.yaml", "ClusterRoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": account["metadata"]["namespace"]}]
    # The user the sandbox's RBAC messages name is this account.
    assert DEFAULT_USER == f"system:serviceaccount:{account['metadata']['namespace']}:{account['metadata']['name']}"
    for name, spec in _pod_specs().items():
        assert spec["serviceAccountName"] == account["metadata"]["name"], name
        assert spec.get("automountServiceAccountToken", True) is True, name
    for name, kind in (("job.yaml", "Job"), ("cronjob.yaml", "CronJob"), ("reports.yaml", "PersistentVolumeClaim")):
        assert one(name, kind)["metadata"]["namespace"] == account["metadata"]["namespace"], name


def test_the_workloads_run_the_image_dialling_pods_directly_and_keep_their_reports():
    claim = one("reports.yaml", "PersistentVolumeClaim")["metadata"]["name"]
    for name, spec in _pod_specs().items():
        (container,) = spec["containers"]
        assert container["image"] == "direktiv-tls-conformance:0.1.0", name
        args = container["args"]
        assert all(option.startswith("--direktiv-") for option in _option_names(args)), (name, args)
        assert args[args.index("--direktiv-connect") + 1] == "direct", name
        assert spec["restartPolicy"] == "Never" and spec["securityContext"]["runAsNonRoot"] is True, name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts["reports"] == "/reports", name
        volumes = {v["name"]: v for v in spec["volumes"]}
        if name == "helm-test-pod.yaml":
            assert volumes["reports"] == {"name": "reports", "emptyDir": {}}
        else:
            assert volumes["reports"]["persistentVolumeClaim"] == {"claimName": claim}, name


def test_the_helm_test_pod_is_a_test_hook_for_the_release():
    pod = one("helm-test-pod.yaml", "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["metadata"]["namespace"] == "{{ .Release.Namespace }}"
    args = pod["spec"]["containers"][0]["args"]
    assert args[args.index("--direktiv-namespace") + 1] == "{{ .Release.Namespace }}"
    assert args[args.index("--direktiv-release") + 1] == "{{ .Release.Name }}"


def containerfile() -> list[tuple[str, str]]:
    """The Containerfile's instructions as (INSTRUCTION, rest), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Containerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0], line.split(None, 1)[1]) for line in lines]


def test_the_containerfile_installs_the_package_and_runs_the_suite_into_the_reports_volume():
    steps = containerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    by = {}
    for instruction, rest in steps:
        by.setdefault(instruction, []).append(rest)
    for copied in by["COPY"]:
        source = copied.split()[0]
        assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"
    assert any("pip install --no-cache-dir ." in run for run in by["RUN"])
    assert by["USER"] == ["65532"] and json.loads(by["VOLUME"][0]) == ["/reports"]
    entrypoint, command = json.loads(by["ENTRYPOINT"][0]), json.loads(by["CMD"][0])
    assert entrypoint[:2] == ["pytest", "/opt/direktiv-tls-conformance/suites"]
    assert "--junitxml=/reports/junit.xml" in entrypoint
    assert command == ["--direktiv-connect", "direct"]
    workdir = by["WORKDIR"][0]
    assert entrypoint[1] == f"{workdir}/suites" and "suites/ suites/" in by["COPY"]
