"""Properties of the configuration layer: Helm's merge, the release decoder on hostile input, normalization."""

import base64
import gzip

from hypothesis import given, settings
from hypothesis import strategies as st

from probes import helm
from probes.topology import derive_topology

_keys = st.sampled_from(["functions", "flow", "certificate", "mtls", "isolates", "a", "b", "host"])
_scalars = st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.sampled_from(["none", ""]))
_values = st.recursive(
    _scalars | st.lists(_scalars, max_size=3),
    lambda children: st.dictionaries(_keys, children, max_size=4),
    max_leaves=20,
)
_maps = st.dictionaries(_keys, _values, max_size=5)
_maps_with_nulls = st.dictionaries(_keys, st.one_of(st.none(), _values), max_size=5)

_aliased = st.fixed_dictionaries({"functions": st.one_of(st.none(), _scalars, _maps), "isolates": _values})

SETTINGS = settings(max_examples=50, deadline=None)
DECODER_SETTINGS = settings(max_examples=200, deadline=None)  # cheap: hostile bytes deserve more examples


def _has_none(value):
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_none(v) for v in value.values())
    return False


@SETTINGS
@given(_maps)
def test_merge_with_empty_is_identity(base):
    assert helm.deep_merge(base, {}) == base
    assert helm.deep_merge(base, None) == base
    assert helm.deep_merge({}, base) == base  # no nulls in these maps, so nothing is deleted


@SETTINGS
@given(_maps, _maps_with_nulls)
def test_override_keys_win_and_base_keys_stay(base, override):
    merged = helm.deep_merge(base, override)
    for key, value in override.items():
        if value is None:
            assert key not in merged
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            assert merged[key] == helm.deep_merge(base[key], value)
        elif isinstance(value, dict):
            assert merged[key] == helm.deep_merge({}, value)
        else:
            assert merged[key] == value
    for key in base.keys() - override.keys():
        assert merged[key] == base[key]
    assert not _has_none({k: v for k, v in merged.items() if k in override})


@SETTINGS
@given(_maps, _maps, _keys)
def test_nested_maps_merge(inner_base, inner_override, key):
    merged = helm.deep_merge({key: inner_base}, {key: inner_override})
    assert set(merged[key]) == set(inner_base) | set(inner_override)


@SETTINGS
@given(_maps, _maps_with_nulls)
def test_merge_leaves_its_inputs_alone(base, override):
    before = (repr(base), repr(override))
    helm.deep_merge(base, override)
    assert (repr(base), repr(override)) == before


@DECODER_SETTINGS
@given(st.binary(max_size=300))
def test_decode_raises_only_release_decode_error_on_bytes(data):
    try:
        helm.decode_release(data, source="ns/x")
    except helm.ReleaseDecodeError as exc:
        assert "ns/x" in str(exc)


@DECODER_SETTINGS
@given(st.binary(max_size=200))
def test_decode_raises_only_release_decode_error_on_base64_and_gzip_wrappers(data):
    for payload in (base64.b64encode(data), base64.b64encode(gzip.compress(data)),
                    base64.b64encode(b"\x1f\x8b" + data)):
        try:
            helm.decode_release(payload)
        except helm.ReleaseDecodeError:
            pass


@SETTINGS
@given(_maps)
def test_encode_decode_round_trip(release):
    assert helm.decode_release(helm.encode_release(release)) == release
    assert helm.decode_release(helm.encode_release(release, compress=False)) == release


@SETTINGS
@given(st.one_of(_maps, _aliased))
def test_normalize_values_is_idempotent(values):
    once, _ = helm.normalize_values(values)
    twice, notices = helm.normalize_values(once)
    assert twice == once and notices == []
    assert "isolates" not in once


@SETTINGS
@given(st.one_of(_maps, _aliased))
def test_topology_derives_from_any_values(values):
    topology = derive_topology(values)
    assert len(topology.endpoints) == 7
    assert all(isinstance(n, str) and "\n" not in n for n in topology.notices)
