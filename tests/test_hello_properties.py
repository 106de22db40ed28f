"""Property tests of the ClientHello prober (probes.hello): whatever bytes a server sends, in whatever pieces, the
answer reader returns one of its typed answers and raises nothing; the ServerHello parser raises only its own
TLSDecodeError; and the records, ClientHellos and (fitting) ServerHellos it reads back are what was built."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from probes.cipher_suites import FALLBACK_SCSV, RENEGOTIATION_INFO_SCSV
from probes.hello import (
    MAX_RECORD_LENGTH, VERSION_CODES, AnswerKind, AnswerReader, ClientHello, RecordReader, RenegotiationSignal,
    ServerAnswer, TLSDecodeError, build_client_hello, encode_records, parse_server_hello,
)
from probes.tls import TLSVersion
from test_hello import handshake_records, server_hello

# Deterministic (the suite's rule) and no example database written into the tree.
SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None)

HELLO = ClientHello("TLSv1.2", (0x002F, 0x0035, 0xC02F, 0x1301), "direktiv-flow-hl.default", lowest="TLSv1",
                    alpn=("h2", "http/1.1"))
SENT = build_client_hello(HELLO)
VALID = handshake_records(server_hello(suite=0xC02F, extensions=((0xFF01, b"\x00"), (23, b""))))
READER_KINDS = {AnswerKind.SERVER_HELLO, AnswerKind.ALERT, AnswerKind.CLOSED, AnswerKind.NOT_TLS,
                AnswerKind.PROTOCOL_ERROR}

cuts = st.lists(st.integers(min_value=1, max_value=300), max_size=20)


def pieces(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` cut at the given sizes (the rest in one last piece)."""
    out, at = [], 0
    for size in sizes:
        out.append(data[at:at + size])
        at += size
    return [p for p in out if p] + ([data[at:]] if data[at:] else [])


def assert_typed_answer(data: bytes, sizes: list[int]) -> ServerAnswer:
    reader = AnswerReader(SENT)
    answer = None
    for piece in pieces(data, sizes):
        answer = reader.feed(piece)
        assert answer is None or isinstance(answer, ServerAnswer)
        if answer is not None:
            break
    final = reader.eof()
    assert isinstance(final, ServerAnswer) and final.kind in READER_KINDS
    assert answer is None or final is answer
    assert (final.fault is not None) == (final.kind is AnswerKind.PROTOCOL_ERROR)
    assert (final.alert is not None) == (final.kind is AnswerKind.ALERT)
    assert isinstance(final.detail, str) and final.detail
    return final


# --- hostile bytes --------------------------------------------------------------------------------------------


@settings(SETTINGS, max_examples=400)
@given(st.binary(max_size=2048), cuts)
def test_any_bytes_give_a_typed_answer(data, sizes):
    assert_typed_answer(data, sizes)


tls_records = st.lists(
    st.tuples(st.sampled_from([20, 21, 22, 23, 24]), st.integers(0x0300, 0x0304), st.binary(max_size=120)),
    min_size=1, max_size=6,
).map(lambda records: b"".join(encode_records(t, v, p) for t, v, p in records))
server_hello_like = st.binary(max_size=160).map(lambda body: handshake_records(b"\x02" + len(body).to_bytes(3, "big")
                                                                               + body))


@SETTINGS
@given(st.one_of(tls_records, server_hello_like), cuts)
def test_tls_shaped_bytes_give_a_typed_answer(data, sizes):
    assert_typed_answer(data, sizes)


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=6),
       st.one_of(st.just(len(VALID)), st.integers(0, len(VALID))), cuts)
def test_a_mangled_server_hello_gives_a_typed_answer(changes, keep, sizes):
    data = bytearray(VALID)
    for index, value in changes:
        data[index] = value
    assert_typed_answer(bytes(data[:keep]), sizes)


@settings(SETTINGS, max_examples=400)
@given(st.binary(max_size=400))
def test_the_server_hello_parser_raises_only_its_own_error(body):
    try:
        parse_server_hello(body)
    except TLSDecodeError:
        pass


# --- round trips ----------------------------------------------------------------------------------------------


@SETTINGS
@given(st.sampled_from([20, 21, 22, 23, 24]), st.integers(0x0300, 0x0304), st.integers(0, 3 * MAX_RECORD_LENGTH + 5),
       cuts)
def test_records_read_back_as_encoded_in_any_pieces(content_type, version, size, sizes):
    payload = (bytes(range(256)) * (size // 256 + 1))[:size]
    reader = RecordReader()
    records = [r for piece in pieces(encode_records(content_type, version, payload), sizes) for r in reader.feed(piece)]
    assert reader.pending == 0 and records
    assert all((r.content_type, r.version) == (content_type, version) for r in records)
    assert all(len(r.payload) <= MAX_RECORD_LENGTH for r in records)
    assert b"".join(r.payload for r in records) == payload


def _vector(data: bytes, at: int, size: int) -> tuple[bytes, int]:
    length = int.from_bytes(data[at:at + size], "big")
    assert at + size + length <= len(data)
    return data[at + size:at + size + length], at + size + length


def decode_client_hello(wire: bytes) -> dict:
    """The fields of a ClientHello, read back independently of the module's builder."""
    records = RecordReader().feed(wire)
    message = b"".join(r.payload for r in records)
    assert message[0] == 1 and int.from_bytes(message[1:4], "big") == len(message) - 4
    body = message[4:]
    fields = {"record_version": records[0].version, "legacy_version": int.from_bytes(body[:2], "big")}
    fields["session_id"], at = _vector(body, 34, 1)
    suites, at = _vector(body, at, 2)
    fields["suites"] = tuple(int.from_bytes(suites[i:i + 2], "big") for i in range(0, len(suites), 2))
    compression, at = _vector(body, at, 1)
    fields["compression"] = tuple(compression)
    extensions = {}
    if at < len(body):
        block, end = _vector(body, at, 2)
        assert end == len(body)
        i = 0
        while i < len(block):
            kind = int.from_bytes(block[i:i + 2], "big")
            extensions[kind], i = _vector(block, i + 2, 2)
    fields["extensions"] = extensions
    return fields


def _names(data: bytes, size: int) -> list[bytes]:
    out, at = [], 0
    while at < len(data):
        name, at = _vector(data, at, size)
        out.append(name)
    return out


label = st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
server_names = st.one_of(st.none(), st.lists(label, min_size=1, max_size=4).map(".".join),
                         st.ip_addresses(v=4).map(str))
versions = st.sampled_from(list(TLSVersion))


@st.composite
def client_hellos(draw) -> ClientHello:
    version = draw(versions)
    order = list(TLSVersion)
    lowest = draw(st.sampled_from(order[:order.index(version) + 1]))
    return ClientHello(
        version, tuple(draw(st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=60))), draw(server_names),
        lowest=lowest, renegotiation=draw(st.sampled_from(list(RenegotiationSignal))),
        fallback_scsv=draw(st.booleans()),
        compression_methods=tuple(draw(st.lists(st.integers(0, 255), min_size=1, max_size=3))),
        alpn=tuple(draw(st.lists(st.sampled_from(["h2", "http/1.1", "grpc-exp"]), max_size=3, unique=True))),
    )


@SETTINGS
@given(client_hellos())
def test_a_client_hello_reads_back_as_built(hello):
    sent = build_client_hello(hello)
    fields = decode_client_hello(sent.wire)
    tls13 = hello.version is TLSVersion.TLSv1_3
    assert fields["record_version"] == (0x0300 if hello.version is TLSVersion.SSLv3 else 0x0301)
    assert fields["legacy_version"] == min(VERSION_CODES[hello.version], 0x0303)
    assert len(fields["session_id"]) == (32 if tls13 else 0)
    signals = ((RENEGOTIATION_INFO_SCSV,) if hello.renegotiation is RenegotiationSignal.SCSV else ()) + \
              ((FALLBACK_SCSV,) if hello.fallback_scsv else ())
    assert fields["suites"] == hello.suites + signals == sent.suites
    assert fields["compression"] == hello.compression_methods
    extensions = fields["extensions"]
    assert tuple(extensions) == sent.extensions
    sni = extensions.get(0)
    if hello.server_name is None or hello.server_name[0].isdigit():  # an IPv4 literal (labels start with a letter)
        assert sni is None
    else:
        assert sni[2] == 0 and _vector(sni, 3, 2)[0] == hello.server_name.encode()
    if hello.alpn:
        assert [n.decode() for n in _names(_vector(extensions[16], 0, 2)[0], 1)] == list(hello.alpn)
    if tls13:
        listed = _vector(extensions[43], 0, 1)[0]
        assert [int.from_bytes(listed[i:i + 2], "big") for i in range(0, len(listed), 2)] == \
               [VERSION_CODES[v] for v in hello.versions]
        shares = _vector(extensions[51], 0, 2)[0]
        assert shares[:2] == b"\x00\x1d" and _vector(shares, 2, 2)[0] != b"\x00" * 32 and len(shares) == 36
    else:
        assert 43 not in extensions and 51 not in extensions


@st.composite
def fitting_server_hellos(draw) -> tuple[bytes, dict]:
    """A ServerHello that fits HELLO (TLS 1.0 to 1.2, four suites, ALPN h2 or http/1.1), and its fields."""
    fields = {
        "version": draw(st.sampled_from([0x0301, 0x0302, 0x0303])),
        "suite": draw(st.sampled_from([0x002F, 0x0035])),
        "session_id": draw(st.binary(max_size=32)),
        "random": draw(st.binary(min_size=32, max_size=32)),
    }
    optional = [(0xFF01, b"\x00"), (23, b""), (11, b"\x01\x00"), (0, b""),
                (16, b"\x00\x03\x02h2"), (16, b"\x00\x09\x08http/1.1")]
    chosen = draw(st.lists(st.sampled_from(optional), unique_by=lambda e: e[0], max_size=5))
    fields["extensions"] = tuple(draw(st.permutations(chosen)))
    return handshake_records(server_hello(**fields), fields["version"]), fields


@SETTINGS
@given(fitting_server_hellos(), cuts)
def test_a_fitting_server_hello_reads_back_as_built_in_any_pieces(built, sizes):
    wire, fields = built
    answer = assert_typed_answer(wire, sizes)
    assert answer.kind is AnswerKind.SERVER_HELLO, answer.detail
    sh = answer.server_hello
    assert (sh.version_code, sh.cipher_suite, sh.compression_method) == (fields["version"], fields["suite"], 0)
    assert (sh.session_id, sh.random) == (fields["session_id"], fields["random"])
    assert sh.extensions == tuple(kind for kind, _ in fields["extensions"])
    assert sh.renegotiation_info == (0xFF01 in sh.extensions)
    alpn = dict(fields["extensions"]).get(16)
    assert sh.alpn == (None if alpn is None else alpn[3:].decode())
    assert answer.received == len(wire)
