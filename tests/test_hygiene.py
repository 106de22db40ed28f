"""Secrets hygiene: private keys stay in memory, the files a library forces are private and gone when the run
ends, and no output, report, verdict or exception text of any scenario carries key material. Also the property
tests for the untrusted input the earlier property modules leave out (Secret decoding, key parsing, values)."""

import base64
import concurrent.futures as cf
import multiprocessing
import os
import stat
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from expect import assert_verdicts, observed

from probes import pki
from probes.catalog import CONTROLS
from probes.controls import judge
from probes.errors import CertificateError, ClusterError, UsageError
from probes.helm import load_values_file
from probes.kube import Cluster, Secret, _decode_data, looks_like_key
from probes.profile import INTERMEDIATE
from probes.report import evidence_document, render_html, render_json
from probes.session import RunOptions, gather_evidence
from probes.x509 import key_matches_certificate
from sandbox.cluster import start_sandbox
from sandbox.scenarios import SCENARIOS

SUITES = Path(__file__).resolve().parent.parent / "suites"
STEP_TIMEOUT = 5.0
# Scenarios swept at once, in worker processes (threads would share one interpreter lock); a gathering mostly
# waits on sockets, so four overlap well even on two cores.
SWEEP_WORKERS = 4
# base64 of "-----BEGIN": how a PEM looks when someone base64-encodes it again (a Secret's wire form).
_PEM_IN_BASE64 = base64.b64encode(b"-----BEGIN").decode()[:12]


def key_material(store) -> list[str]:
    """Text fragments of every private key in the store's secrets: the PEM body lines, and the start of the body
    of the API's base64 of the PEM (what a secret's ``data`` holds)."""
    fragments: list[str] = []
    items, _ = store.list("", "secrets", None)
    for obj in items:
        for value in (obj.get("data") or {}).values():
            raw = base64.b64decode(value)
            if b"PRIVATE KEY" not in raw:
                continue
            fragments += [line for line in raw.decode().splitlines() if len(line) >= 16 and "-----" not in line]
            fragments.append(value[60:120])
    return fragments


def assert_no_key_material(text: str, fragments: list[str], where: str) -> None:
    assert "PRIVATE KEY" not in text, f"a PEM private key header in {where}"
    assert _PEM_IN_BASE64 not in text, f"a base64-wrapped PEM in {where}"
    for fragment in fragments:
        assert fragment not in text, f"a fragment of a private key in {where}"


def _options(running, **changes) -> RunOptions:
    args = list(running.suite_args)
    ca_key = tuple(args[args.index("--direktiv-ca-key-secret") + 1].split("/")) if "--direktiv-ca-key-secret" in args else None
    options = dict(kubeconfig=str(running.kubeconfig_path), ca_key_secret=ca_key, timeout=STEP_TIMEOUT)
    return RunOptions(**{**options, **changes})


def _sweep(name: str) -> tuple[str, int, int]:
    """One scenario: gather, judge, render; every text a person or a pipeline sees is checked. Returns the number
    of key fragments looked for and of failing or erroring verdicts."""
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    with start_sandbox(name) as running:
        fragments = key_material(running.store)
        evidence = gather_evidence(_options(running), INTERMEDIATE)
        verdicts = [judge(c.id, e, evidence, INTERMEDIATE) for c in CONTROLS for e in c.endpoints]
    texts = [v.message for v in verdicts] + [str(value) for v in verdicts for value in v.facts.values()]
    texts += [repr(evidence), repr(verdicts)]
    document = evidence_document(evidence, verdicts)
    texts += [render_json(document), render_html(document)]
    for text in texts:
        assert_no_key_material(text, fragments, f"scenario {name}")
    return name, len(fragments), sum(v.status.value in ("fail", "error") for v in verdicts)


def test_no_verdict_evidence_or_report_of_any_scenario_holds_key_material():
    spawn = multiprocessing.get_context("spawn")  # no fork of a process that runs grpcio and server threads
    with cf.ProcessPoolExecutor(SWEEP_WORKERS, mp_context=spawn) as pool:
        results = {name: (keys, broken) for name, keys, broken in pool.map(_sweep, sorted(SCENARIOS))}
    assert set(results) == set(SCENARIOS)
    # Every scenario with TLS secrets was searched for its keys (plaintext has none; the generic markers still apply).
    assert all(keys for name, (keys, _) in results.items() if SCENARIOS[name].secrets), results
    assert sum(broken for _, broken in results.values())  # failing controls were part of the sweep


def test_the_suite_run_verbose_with_a_failing_control_prints_and_writes_no_key_material(pytester):
    # secret-key-mismatch: a secret holds the key of another certificate, and K-SECRET-KEYPAIR fails on it.
    with start_sandbox("secret-key-mismatch") as running:
        fragments = key_material(running.store)
        junit = pytester.path / "out" / "junit.xml"
        result = pytester.runpytest(str(SUITES), "-p", "no:cacheprovider", "-vv", "-l", "--tb=long",
                                    "--kubeconfig", str(running.kubeconfig_path), *running.suite_args,
                                    "--direktiv-timeout", str(STEP_TIMEOUT), f"--junitxml={junit}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    outputs = {"stdout": result.stdout.str(), "stderr": result.stderr.str()}
    assert "tls.key is not the private key of tls.crt" in outputs["stdout"]  # K-SECRET-KEYPAIR failed
    for path in junit.parent.iterdir():
        outputs[path.name] = path.read_text()
    assert {"junit.xml", "evidence.json"} <= set(outputs)
    for where, text in outputs.items():
        assert_no_key_material(text, fragments, where)


# -- files forced by a library -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client_cert_sandbox():
    """A sandbox whose API server also takes client certificates, and a kubeconfig with client-key-data."""
    client_ca = pki.CertificateAuthority.self_signed("sandbox-admins", key_type="ecdsa")
    admin = client_ca.issue(["sandbox-admin"], usages=("digital signature", "client auth"), key_type="ecdsa")
    with start_sandbox("conformant", client_ca_pem=client_ca.cert_pem) as running:
        path = Path(running.kubeconfig_path).with_name("kubeconfig-client-cert")
        running.api.write_kubeconfig(path, client=admin)
        assert "client-key-data" in yaml.safe_load(path.read_text())["users"][0]["user"]
        yield running, path, admin


def test_the_client_key_of_a_kubeconfig_goes_to_a_private_file_that_close_removes(client_cert_sandbox):
    from kubernetes.config import kube_config

    running, kubeconfig, admin = client_cert_sandbox
    before = set(Path(tempfile.gettempdir()).glob("direktiv-tls-kube-*"))
    cluster = Cluster.from_kubeconfig(kubeconfig)
    [directory] = set(Path(tempfile.gettempdir()).glob("direktiv-tls-kube-*")) - before
    try:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        files = list(directory.iterdir())
        assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
        assert any(f.read_bytes() == admin.key.bytes() for f in files)  # the key went there and nowhere else
        assert not any(str(directory) in p for p in kube_config._temp_files.values())
        assert cluster.secret("cert-manager", "direktiv-ca") is not None  # the certificate authenticates
    finally:
        cluster.close()
    assert not directory.exists()


def test_a_cluster_that_is_never_closed_still_removes_its_private_directory(client_cert_sandbox):
    import gc

    _, kubeconfig, _ = client_cert_sandbox
    before = set(Path(tempfile.gettempdir()).glob("direktiv-tls-kube-*"))
    cluster = Cluster.from_kubeconfig(kubeconfig)
    [directory] = set(Path(tempfile.gettempdir()).glob("direktiv-tls-kube-*")) - before
    del cluster
    gc.collect()
    assert not directory.exists()


def test_a_run_with_a_client_certificate_kubeconfig_leaves_no_file_behind(client_cert_sandbox, tmp_path, monkeypatch):
    running, kubeconfig, admin = client_cert_sandbox
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # every temp file of the run lands here
    evidence = gather_evidence(_options(running, kubeconfig=str(kubeconfig)), INTERMEDIATE)
    verdicts = [judge(c.id, e, evidence, INTERMEDIATE) for c in CONTROLS for e in c.endpoints]
    # the port-forwards authenticated with the certificate too
    assert_verdicts({}, observed(verdicts), others="pass", context="a client-certificate kubeconfig")
    assert list(scratch.iterdir()) == []


# -- properties of untrusted input ---------------------------------------------------------------------------

SETTINGS = settings(max_examples=150, deadline=None)
_b64 = st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode())
_junk = st.text(max_size=40)


@SETTINGS
@given(st.dictionaries(st.text(min_size=1, max_size=12), st.one_of(_b64, _junk, st.none()), max_size=5))
def test_secret_data_decodes_or_fails_with_one_sentence_that_never_quotes_a_value(data):
    try:
        decoded = _decode_data(data, "secret default/x")
    except ClusterError as exc:
        message = str(exc)
        assert "\n" not in message and "secret default/x" in message
        for value in data.values():
            # The sentence names the key (not secret); a value that is also a key's text proves nothing.
            if value and len(value) >= 6 and not any(value in key for key in data):
                assert value not in message
    else:
        assert set(decoded) == set(data)
        for key, value in data.items():
            assert decoded[key] == base64.b64decode(value or "", validate=True)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["tls.key", "tls.crt", "ca.crt", "password", "token", "x"]),
                       st.binary(min_size=8, max_size=40), max_size=6))
def test_a_secret_repr_shows_no_value_of_a_key_like_entry(data):
    secret = Secret("default", "s", "Opaque", dict(data))
    text = repr(secret) + str(secret)
    for key, value in data.items():
        if looks_like_key(key, value):
            assert value.decode("latin-1") not in text and value.hex() not in text
        assert f"{key!r}" in text


@pytest.fixture(scope="module")
def leaf():
    return pki.CertificateAuthority.self_signed("prop-ca", key_type="ecdsa").issue(["a.example"], key_type="ecdsa")


@SETTINGS
@given(st.one_of(st.binary(max_size=200),
                 st.binary(min_size=1, max_size=120).map(
                     lambda b: b"-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(b) + b"-----END PRIVATE KEY-----\n")))
def test_any_key_bytes_match_or_fail_with_one_sentence_that_never_quotes_them(leaf, data):
    try:
        matches = key_matches_certificate(leaf.cert, data, source="secret default/x key tls.key")
    except CertificateError as exc:
        message = str(exc)
        assert "\n" not in message and "secret default/x key tls.key" in message
        assert "PRIVATE KEY" not in message
        body = data.replace(b"-----BEGIN PRIVATE KEY-----", b"").replace(b"-----END PRIVATE KEY-----", b"")
        for chunk in body.split():
            if len(chunk) >= 8:
                assert chunk.decode("latin-1") not in message
    else:
        assert matches is False  # random bytes are never the leaf's key


@SETTINGS
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_any_values_file_is_a_mapping_or_one_usage_sentence(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("values") / "values.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        values = load_values_file(path)
    except UsageError as exc:
        assert str(path) in str(exc) and "Traceback" not in str(exc)
    else:
        assert isinstance(values, dict)


def test_a_file_of_the_users_is_told_from_the_repositorys_and_pythons():
    from isolation import REAL_HOME, REPO, reads_a_users_file

    assert reads_a_users_file(str(REAL_HOME / ".kube" / "config"))
    assert not reads_a_users_file(str(REPO / "pyproject.toml"))
    assert not reads_a_users_file(os.__file__)  # the standard library, wherever Python is installed
    assert os.environ["HOME"] == str(REPO / "build" / "test-home") and "KUBECONFIG" not in os.environ
