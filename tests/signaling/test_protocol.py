"""The message schema: golden examples from docs/protocol.md, refusals, and a fuzzer."""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signaling import protocol as p
from signaling.errors import ErrorCode, ProtocolError

DOC = pathlib.Path(__file__).parents[2] / "docs" / "protocol.md"


def doc_examples() -> list[dict[str, Any]]:
    blocks = re.findall(r"```json\n(.*?)\n```", DOC.read_text(encoding="utf-8"), re.S)
    return [json.loads(block) for block in blocks]


class TestGoldenExamples:
    def test_every_message_type_has_exactly_one_example(self) -> None:
        """docs/protocol.md shows each client and server type once, and nothing else."""
        types = [example["type"] for example in doc_examples()]
        assert sorted(types) == sorted([*p.CLIENT_TYPES, *p.SERVER_TYPES])

    @pytest.mark.parametrize("example", doc_examples(), ids=lambda e: e["type"])
    def test_example_parses_and_serializes_back(self, example: dict[str, Any]) -> None:
        """Each documented example parses, and serializing it gives the same object."""
        raw = json.dumps(example, ensure_ascii=False)
        msg = p.parse(raw) if example["type"] in p.CLIENT_TYPES else p.parse_server(raw)
        assert json.loads(p.serialize(msg)) == example

    def test_serialize_is_compact_with_version_and_type_first(self) -> None:
        """The wire form starts with v and type and leaves absent optionals out."""
        assert p.serialize(p.Pong()) == '{"v":1,"type":"pong"}'
        text = p.serialize(p.Ended(session_id="S-1", outcome=p.Outcome.VOICEMAIL))
        assert text == '{"v":1,"type":"ended","session_id":"S-1","outcome":"voicemail"}'

    def test_client_and_server_types_are_disjoint_sets(self) -> None:
        """A type names one direction only, so a client cannot send a server message."""
        assert not set(p.CLIENT_TYPES) & set(p.SERVER_TYPES)
        with pytest.raises(ProtocolError) as info:
            p.parse('{"v":1,"type":"offer"}')
        assert info.value.code is ErrorCode.UNKNOWN_TYPE


BAD: list[tuple[str | bytes, ErrorCode]] = [
    ("", ErrorCode.BAD_JSON),
    ("{", ErrorCode.BAD_JSON),
    (b"\xff\xfe", ErrorCode.BAD_JSON),
    ("[1, 2]", ErrorCode.BAD_JSON),
    ('"hello"', ErrorCode.BAD_JSON),
    ("[" * 100_000, ErrorCode.TOO_LARGE),
    ("[" * 5000 + "]" * 5000, ErrorCode.TOO_LARGE),
    ("[" * 2000 + "]" * 2000, ErrorCode.BAD_JSON),
    ('{"type":"ping"}', ErrorCode.MISSING_FIELD),
    ('{"v":2,"type":"ping"}', ErrorCode.BAD_VERSION),
    ('{"v":true,"type":"ping"}', ErrorCode.BAD_VERSION),
    ('{"v":"1","type":"ping"}', ErrorCode.BAD_VERSION),
    ('{"v":1}', ErrorCode.MISSING_FIELD),
    ('{"v":1,"type":7}', ErrorCode.UNKNOWN_TYPE),
    ('{"v":1,"type":"teleport"}', ErrorCode.UNKNOWN_TYPE),
    ('{"v":1,"type":"ping","extra":1}', ErrorCode.UNKNOWN_FIELD),
    ('{"v":1,"type":"accept"}', ErrorCode.MISSING_FIELD),
    ('{"v":1,"type":"accept","offer_id":""}', ErrorCode.BAD_FIELD),
    ('{"v":1,"type":"accept","offer_id":12}', ErrorCode.BAD_FIELD),
    ('{"v":1,"type":"accept","offer_id":"a b"}', ErrorCode.BAD_FIELD),
    ('{"v":1,"type":"accept","offer_id":"' + "x" * 65 + '"}', ErrorCode.BAD_FIELD),
    ('{"v":1,"type":"accept","offer_id":null}', ErrorCode.BAD_FIELD),
    ('{"v":1,"type":"join_queue","category":"tax","language":"zh"}', ErrorCode.BAD_FIELD),
    ('{"v":1,"type":"join_queue","category":"general","language":"中文"}', ErrorCode.BAD_FIELD),
    (
        '{"v":1,"type":"join_queue","category":"general","language":"zh","phone":"1111111111111111111111111111111111111111"}',
        ErrorCode.BAD_FIELD,
    ),
    (
        '{"v":1,"type":"join_queue","category":"general","language":"zh","priority":"vip"}',
        ErrorCode.BAD_FIELD,
    ),
    ('{"v":1,"type":"presence","state":"break"}', ErrorCode.BAD_FIELD),
    ('{"v":1,"type":"presence","state":"available","reason":"x"}', ErrorCode.BAD_FIELD),
    ('{"v":1,"type":"presence","state":"in_session"}', ErrorCode.BAD_FIELD),
    ('{"v":1,"type":"transfer","session_id":"S-1"}', ErrorCode.BAD_FIELD),
    (
        '{"v":1,"type":"transfer","session_id":"S-1","to_queue":"general","to_agent":"A1"}',
        ErrorCode.BAD_FIELD,
    ),
    ('{"v":1,"type":"hello","resume_token":"short"}', ErrorCode.BAD_FIELD),
    ('{"v":1,"type":"ping","nonce":' + "1" * 5000 + "}", ErrorCode.BAD_JSON),
]


class TestRefusals:
    @pytest.mark.parametrize(("raw", "code"), BAD, ids=range(len(BAD)))
    def test_bad_message_raises_protocol_error_with_code(
        self, raw: str | bytes, code: ErrorCode
    ) -> None:
        """Each malformed message is refused with the documented code."""
        with pytest.raises(ProtocolError) as info:
            p.parse(raw)
        assert info.value.code is code

    def test_bytes_are_parsed_like_text(self) -> None:
        """A binary frame holding UTF-8 JSON is accepted."""
        assert p.parse(b'{"v":1,"type":"ping","nonce":"\xe4\xbd\xa0"}') == p.Ping(nonce="你")

    def test_peek_type_only_for_short_string_types(self) -> None:
        """The error's ref is the refused message's type when there is one."""
        assert p.peek_type('{"type":"accept"}') == "accept"
        assert p.peek_type('{"type":1}') is None
        assert p.peek_type("nope") is None


json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_value = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    sorted(
        {f for cls in p.CLIENT_TYPES.values() for f in cls.__dataclass_fields__}
        | {"v", "type", "x"}
    )
)
plausible = st.fixed_dictionaries(
    {"v": st.sampled_from([1, 1, 1, 2, "1", None]), "type": st.sampled_from([*p.CLIENT_TYPES, "x"])}
).flatmap(
    lambda base: st.dictionaries(
        field_names,
        json_value | st.sampled_from(["available", "break", "general", "zh", "S-1", "A1"]),
        max_size=5,
    ).map(lambda extra: {**extra, **base})
)


class TestFuzz:
    @settings(max_examples=400, deadline=None)
    @given(st.binary(max_size=300) | st.text(max_size=300))
    def test_arbitrary_input_raises_only_protocol_error(self, raw: bytes | str) -> None:
        """Whatever arrives, parse returns a message or raises ProtocolError."""
        try:
            msg = p.parse(raw)
        except ProtocolError:
            return
        assert type(msg) in p.CLIENT_TYPES.values()

    @settings(max_examples=600, deadline=None)
    @given(plausible)
    def test_plausible_objects_raise_only_protocol_error(self, obj: dict[str, Any]) -> None:
        """Objects close to real messages either parse to a message that round-trips, or
        are refused with ProtocolError."""
        try:
            msg = p.parse(json.dumps(obj))
        except ProtocolError:
            return
        assert p.parse(p.serialize(msg)) == msg
