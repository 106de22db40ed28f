"""Helm release secrets decode as Helm writes them; values merge and load with Helm's rules and clear errors."""

import base64
import gzip

import pytest

from probes import helm
from probes.errors import ProbeError, UsageError

SOURCE = "default/sh.helm.release.v1.direktiv.v3"

RELEASE_JSON = {
    "name": "direktiv",
    "namespace": "default",
    "version": 3,
    "info": {"status": "deployed", "first_deployed": "2021-09-01T10:00:00Z"},
    "chart": {"metadata": {"name": "direktiv", "version": "0.4.1"},
              "values": {"api": {"certificate": "none", "image": "vorteil/api"}, "flow": {"functionsCA": "none"}}},
    "config": {"api": {"certificate": "direktiv-cert"}},
    "manifest": "---\n# Source: direktiv/templates/api.yaml\n",
}


def test_encode_decode_round_trip():
    encoded = helm.encode_release(RELEASE_JSON)
    assert base64.b64decode(encoded)[:2] == b"\x1f\x8b"
    assert helm.decode_release(encoded) == RELEASE_JSON


def test_decode_accepts_the_old_form_without_gzip():
    encoded = helm.encode_release(RELEASE_JSON, compress=False)
    assert base64.b64decode(encoded)[:1] == b"{"
    assert helm.decode_release(encoded) == RELEASE_JSON


def test_decode_accepts_the_wire_form_too():
    for compress in (True, False):
        wire = base64.b64encode(helm.encode_release(RELEASE_JSON, compress=compress)).decode()
        assert helm.decode_release(wire) == RELEASE_JSON


def test_decode_accepts_text_and_line_breaks():
    encoded = helm.encode_release(RELEASE_JSON).decode()
    wrapped = "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    assert helm.decode_release(wrapped) == RELEASE_JSON


@pytest.mark.parametrize("payload, reason", [
    (b"", "empty"),
    (b"not base64!", "not base64"),
    (base64.b64encode(b"\x1f\x8bgarbage"), "not gzip"),
    (base64.b64encode(gzip.compress(b'{"name": "x"}')[:-9]), "truncated"),
    (base64.b64encode(b"{not json"), "not JSON"),
    (base64.b64encode(gzip.compress(b"\xff\xfe")), "not JSON"),
    (base64.b64encode(b"[1, 2]"), "not a release object"),
    ("Zü", "not base64"),
])
def test_malformed_payloads_name_the_secret(payload, reason):
    with pytest.raises(helm.ReleaseDecodeError, match=reason) as info:
        helm.decode_release(payload, source=SOURCE)
    assert str(info.value).startswith(f"helm release secret {SOURCE} does not decode: ")
    assert info.value.source == SOURCE
    assert isinstance(info.value, ProbeError)


def test_gzip_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(helm, "MAX_RELEASE_BYTES", 1000)
    bomb = base64.b64encode(gzip.compress(b'{"a": "' + b"x" * 5000 + b'"}'))
    with pytest.raises(helm.ReleaseDecodeError, match="inflates beyond"):
        helm.decode_release(bomb)


def test_release_from_json_reads_the_record_and_merges_values():
    release = helm.release_from_json(RELEASE_JSON)
    assert (release.name, release.namespace, release.revision) == ("direktiv", "default", 3)
    assert release.status == "deployed"
    assert (release.chart_name, release.chart_version) == ("direktiv", "0.4.1")
    assert release.values["api"] == {"certificate": "direktiv-cert", "image": "vorteil/api"}
    assert release.secret_name == SOURCE.split("/")[1]
    assert helm.release_from_json(release.to_json()) == release


def test_release_without_user_values_has_empty_config():
    obj = dict(RELEASE_JSON, config=None)
    assert helm.release_from_json(obj).config == {}


@pytest.mark.parametrize("change, reason", [
    ({"name": ""}, "no name"),
    ({"version": "3"}, "no integer version"),
    ({"config": ["a"]}, "config is a list"),
    ({"namespace": None}, "no namespace"),
])
def test_release_json_without_required_fields(change, reason):
    with pytest.raises(helm.ReleaseDecodeError, match=reason):
        helm.release_from_json(dict(RELEASE_JSON, **change), source=SOURCE)


def test_release_secret_object_is_shaped_like_helms():
    release = helm.release_from_json(RELEASE_JSON)
    secret = helm.release_secret_object(release)
    assert secret["type"] == "helm.sh/release.v1"
    assert secret["metadata"]["name"] == "sh.helm.release.v1.direktiv.v3"
    assert secret["metadata"]["labels"] == {
        "name": "direktiv", "owner": "helm", "status": "deployed", "version": "3"}
    wire = base64.b64decode(secret["data"]["release"])  # what the kubernetes client hands over
    assert helm.release_from_secret_data(wire) == release


def test_latest_release_prefers_the_highest_deployed_revision():
    def rel(rev, status):
        return helm.HelmRelease("direktiv", "default", rev, status)
    assert helm.latest_release([rel(1, "superseded"), rel(2, "deployed"), rel(3, "failed")]).revision == 2
    assert helm.latest_release([rel(1, "superseded"), rel(4, "pending-upgrade")]).revision == 4
    assert helm.latest_release([]) is None


def test_deep_merge_follows_helm():
    base = {"flow": {"certificates": {"flow": "none", "ingress": "none"}, "image": "vorteil/flow"},
            "ingress": {"host": "", "certificate": "none"}, "list": [1, 2], "scalar": "a"}
    override = {"flow": {"certificates": {"flow": "direktiv-cert-flow"}}, "ingress": None, "list": [3],
                "scalar": {"now": "a map"}, "new": {"x": 1, "gone": None}}
    merged = helm.deep_merge(base, override)
    assert merged == {
        "flow": {"certificates": {"flow": "direktiv-cert-flow", "ingress": "none"}, "image": "vorteil/flow"},
        "list": [3], "scalar": {"now": "a map"}, "new": {"x": 1},
    }
    assert base["flow"]["certificates"]["flow"] == "none"  # inputs untouched
    assert override["new"] == {"x": 1, "gone": None}


def test_map_over_scalar_and_scalar_over_map():
    assert helm.deep_merge({"a": {"b": 1}}, {"a": "none"}) == {"a": "none"}


def test_load_values_file(tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text("ingress:\n  certificate: direktiv-lb\n")
    assert helm.load_values_file(path) == {"ingress": {"certificate": "direktiv-lb"}}
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    assert helm.load_values_file(empty) == {}


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("ingress: [unclosed\n", "is not valid YAML: .* at line 2"),
    ("- a\n- b\n", "must hold a YAML mapping at the top level, but holds a list"),
    ("just text\n", "but holds a string"),
    (b"a: \xff\xfe\n", "is not valid YAML"),
])
def test_values_file_errors_are_one_sentence(tmp_path, content, message):
    path = tmp_path / "values.yaml"
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(UsageError, match=message) as info:
        helm.load_values_file(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_values_file_that_is_a_directory(tmp_path):
    with pytest.raises(UsageError, match="is a directory"):
        helm.load_values_file(tmp_path)


def test_normalize_values_folds_isolates_into_functions():
    values = {"functions": {"certificate": "none", "mtls": "none", "image": "vorteil/functions"},
              "isolates": {"certificate": "direktiv-cert-fn", "mtls": "none"}}
    normalized, notices = helm.normalize_values(values)
    assert normalized == {"functions": {"certificate": "direktiv-cert-fn", "mtls": "none",
                                        "image": "vorteil/functions"}}
    assert notices == ["values use isolates.certificate, which the Direktiv chart never had; treating it as "
                       "functions.certificate as the TLS documentation intends"]
    assert values["isolates"]["certificate"] == "direktiv-cert-fn"  # input untouched


def test_normalize_values_keeps_functions_when_both_are_set():
    normalized, notices = helm.normalize_values(
        {"functions": {"certificate": "fn-a"}, "isolates": {"certificate": "fn-b"}})
    assert normalized["functions"]["certificate"] == "fn-a"
    assert len(notices) == 1 and "the chart reads only functions.certificate" in notices[0]


def test_normalize_values_without_functions_or_with_odd_isolates():
    normalized, notices = helm.normalize_values({"isolates": {"mtls": "fn"}})
    assert normalized == {"functions": {"mtls": "fn"}} and len(notices) == 1
    normalized, notices = helm.normalize_values({"isolates": "fn"})
    assert normalized == {} and "ignored" in notices[0]
    assert helm.normalize_values({"api": {}}) == ({"api": {}}, [])


def test_release_decode_error_message_without_source():
    assert str(helm.ReleaseDecodeError("not base64")) == "helm release data does not decode: not base64"


def test_release_repr_hides_values():
    release = helm.HelmRelease("direktiv", "default", 1, "deployed", {"secrets": {"key": "s3cr3t"}}, {})
    assert "s3cr3t" not in repr(release)
