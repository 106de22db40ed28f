"""TLS profiles: the built-in intermediate profile and YAML files that override it, with clear errors."""

import pytest

from probes.errors import UsageError
from probes.profile import INTERMEDIATE, STRICT, Profile, load_profile


def test_intermediate_is_built_in():
    profile = load_profile("intermediate")
    assert profile is INTERMEDIATE
    assert (profile.min_version, profile.min_days_valid, profile.rsa_min_bits, profile.ec_min_bits) == (
        "TLSv1.2", 14, 2048, 256)
    assert profile.weak_cipher_families == ("NULL", "aNULL", "EXPORT", "RC4", "DES", "3DES", "kRSA-CBC")
    assert profile.refused_versions == ("SSLv3", "TLSv1", "TLSv1.1")
    assert (profile.hsts_min_days, profile.controls_off) == (180, ())
    assert all(profile.judges(c) for c in ("T-FORWARD-SECRECY", "H-HSTS", "C-X509-STRICT"))


def test_a_file_switches_the_new_controls_off_and_only_those(tmp_path):
    path = tmp_path / "relaxed.yaml"
    path.write_text("controls_off: [H-HSTS, T-DOWNGRADE-SCSV]\nhsts_min_days: 30\n")
    profile = load_profile(path)
    assert profile.controls_off == ("H-HSTS", "T-DOWNGRADE-SCSV") and profile.hsts_min_days == 30
    assert not profile.judges("H-HSTS") and profile.judges("T-FORWARD-SECRECY")
    path.write_text("controls_off: [M-NO-CERT-REJECTED]\n")
    with pytest.raises(UsageError, match="cannot be switched off"):
        load_profile(path)


def test_file_overrides_some_keys(tmp_path):
    path = tmp_path / "strict.yaml"
    path.write_text("min_version: TLSv1.3\nmin_days_valid: 30\nweak_cipher_families: [NULL, RC4]\n")
    profile = load_profile(str(path))
    assert profile == Profile(name="strict", min_version="TLSv1.3", min_days_valid=30,
                              weak_cipher_families=("NULL", "RC4"))
    assert profile.refused_versions == ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2")


def test_file_with_name_and_version_alias(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: legacy-ok\nmin_version: TLSv1.0\n")
    profile = load_profile(path)
    assert (profile.name, profile.min_version, profile.refused_versions) == ("legacy-ok", "TLSv1", ("SSLv3",))


def test_empty_file_is_intermediate_under_its_name(tmp_path):
    path = tmp_path / "same.yaml"
    path.write_text("")
    assert load_profile(path) == Profile(name="same")


@pytest.mark.parametrize("content, message", [
    ("min_versoin: TLSv1.2\n", "unknown key 'min_versoin'"),
    ("min_version: TLSv1.4\n", "key min_version must be one of SSLv3, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3"),
    ("min_days_valid: '14'\n", "key min_days_valid must be an integer"),
    ("min_days_valid: -1\n", "key min_days_valid must be zero or more"),
    ("rsa_min_bits: true\n", "key rsa_min_bits must be an integer"),
    ("ec_min_bits: 0\n", "key ec_min_bits must be a positive number of bits"),
    ("weak_cipher_families: RC4\n", "key weak_cipher_families must be a list"),
    ("weak_cipher_families: [RC4, CHACHA]\n", "unknown: CHACHA"),
    ("name: ''\n", "key name must be a non-empty string"),
    ("require_tls: api\n", "key require_tls must be a list of endpoint IDs"),
    ("require_tls: [api, edge]\n", "unknown: edge"),
    ("require_mtls: [api]\n", "require_mtls must be a list of endpoint IDs from ingress-grpc, flow-grpc, functions-grpc"),
    ("- min_version\n", "must hold a YAML mapping"),
    ("min_version: [\n", "is not valid YAML at line 2"),
])
def test_bad_files_name_the_file_and_the_key(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(UsageError, match=message) as info:
        load_profile(path)
    assert str(path) in str(info.value)


def test_unknown_name_that_is_no_file():
    with pytest.raises(UsageError, match="'modern' is neither a built-in profile \\(intermediate, strict\\) nor"):
        load_profile("modern")


def test_directory_is_unreadable(tmp_path):
    with pytest.raises(UsageError, match="cannot be read"):
        load_profile(tmp_path)


def test_strict_is_intermediate_that_demands_tls_everywhere_and_mtls_on_the_grpc_ports():
    assert load_profile("strict") is STRICT
    assert STRICT == Profile(name="strict", require_tls=("lb", "api", "ui", "ingress-grpc", "flow-grpc",
                                                           "functions-grpc", "knative"),
                             require_mtls=("ingress-grpc", "flow-grpc", "functions-grpc"))
    assert [STRICT.demanded_mode(e) for e in ("lb", "api", "flow-grpc", "knative")] == ["tls", "tls", "mtls", "tls"]
    assert INTERMEDIATE.demanded_mode("flow-grpc") is None and INTERMEDIATE.require_tls == ()


def test_a_file_demands_tls_and_mtls_where_it_says(tmp_path):
    path = tmp_path / "audit.yaml"
    path.write_text("require_tls: [api, ui]\nrequire_mtls: [flow-grpc]\n")
    profile = load_profile(path)
    assert (profile.demanded_mode("api"), profile.demanded_mode("flow-grpc"), profile.demanded_mode("lb")) == (
        "tls", "mtls", None)
