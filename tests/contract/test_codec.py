"""Unit tests for the event codec: round trips, tolerance to newer producers, clear failures."""

from __future__ import annotations

import json

import msgspec
import pytest
from quixstreams.models.serializers import SerializationContext
from quixstreams.models.serializers.exceptions import IgnoreMessage

from callstream.contract import codec
from callstream.contract.codec import (
    EVENT_TYPE_HEADER,
    SCHEMA_VERSION_HEADER,
    decode_as,
    decode_event,
    encode_event,
    encoded_prefix,
)
from callstream.contract.events import (
    EVENT_TYPES,
    Envelope,
    RedactedSegment,
    TranscriptSegment,
)
from callstream.errors import DecodeError, EncodeError


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_encoded_event_begins_with_its_own_types_prefix_and_no_others(event_type, sample_event):
    value, _ = encode_event(sample_event(EVENT_TYPES[event_type]))
    begins = [tag for tag, cls in EVENT_TYPES.items() if value.startswith(encoded_prefix(cls))]
    assert begins == [event_type], value[:80]


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_type_round_trips_with_and_without_headers(event_type, sample_event):
    event = sample_event(EVENT_TYPES[event_type])
    value, headers = encode_event(event)
    assert decode_event(value, headers) == event
    assert decode_event(value) == event  # the body alone is self-describing (archive, replay)
    assert dict(headers) == {
        "callstream.event_type": event_type.encode(),
        "callstream.schema_version": b"1",
        "content-type": b"application/json",
    }


def test_every_event_class_writes_the_version_it_declares():
    # Bumping SCHEMA_VERSION without the field default (or the reverse) would make the
    # header and the body disagree; see the versioning rule in callstream.contract.schemas.
    for event_type, cls in EVENT_TYPES.items():
        default = next(f.default for f in msgspec.structs.fields(cls) if f.name == "schema_version")
        assert default == cls.SCHEMA_VERSION, event_type


def test_unknown_fields_are_ignored(sample_event):
    event = sample_event(TranscriptSegment)
    body = json.loads(encode_event(event)[0])
    body["speaker_gender"] = "unknown"  # a field a newer producer added
    body["emotion"] = {"label": "calm", "score": 0.4}
    assert decode_event(json.dumps(body).encode()) == event


@pytest.mark.parametrize("with_headers", [True, False])
def test_unknown_event_type_is_skipped(sample_event, with_headers):
    body = json.loads(encode_event(sample_event(TranscriptSegment))[0])
    body["event_type"] = "transcript.summary"  # a type this reader predates
    headers = [(EVENT_TYPE_HEADER, b"transcript.summary")] if with_headers else None
    assert decode_event(json.dumps(body).encode(), headers) is None


def test_stale_header_from_an_input_message_does_not_mislabel_the_body(sample_event):
    redacted = sample_event(RedactedSegment)
    value, _ = encode_event(redacted)
    stale = [(EVENT_TYPE_HEADER, b"transcript.segment"), (SCHEMA_VERSION_HEADER, b"1")]
    assert decode_event(value, stale) == redacted


def test_blanked_type_header_falls_back_to_the_body(sample_event):
    event = sample_event(TranscriptSegment)
    assert decode_event(encode_event(event)[0], [(EVENT_TYPE_HEADER, None)]) == event


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\x00\x01garbage", "not valid JSON"),
        (b'{"event_type": "transcript.segment", "event_id": "e1", "contact', "not valid JSON: Input data was truncated"),
        (b"", "not valid JSON"),
        (b"[1, 2, 3]", "not a callstream event: Expected `object`, got `array`"),
        (b'{"contact_id": "c1", "text": "hello"}', "no event_type field"),
        (b'{"event_type": 7}', "not a callstream event"),
    ],
)
def test_undecodable_bytes_raise_decode_error_with_reason(value, reason):
    with pytest.raises(DecodeError) as err:
        decode_event(value)
    assert reason in err.value.message
    assert err.value.hint


def _mutated(sample_event, **changes) -> bytes:
    body = json.loads(encode_event(sample_event(TranscriptSegment))[0])
    for key, new in changes.items():
        if new is ...:
            del body[key]
        else:
            body[key] = new
    return json.dumps(body).encode()


@pytest.mark.parametrize("with_headers", [True, False])
@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"sequence": "twelve"}, "Expected `int`, got `str` - at `$.sequence`"),
        ({"text": ...}, "missing required field `text`"),
        ({"confidence": 1.7}, "Expected `float` <= 1.0 - at `$.confidence`"),
        ({"participant": "robot"}, "Invalid enum value 'robot' - at `$.participant`"),
        ({"event_time_ms": -5}, "Expected `int` >= 0 - at `$.event_time_ms`"),
    ],
)
def test_contract_violations_name_the_event_type_and_field(sample_event, changes, reason, with_headers):
    headers = [(EVENT_TYPE_HEADER, b"transcript.segment")] if with_headers else None
    with pytest.raises(DecodeError) as err:
        decode_event(_mutated(sample_event, **changes), headers)
    assert err.value.message.startswith("cannot decode transcript.segment event: ")
    assert reason in err.value.message


def test_tombstone_is_a_decode_error():
    with pytest.raises(DecodeError, match="tombstone"):
        decode_event(None)


def test_newer_major_schema_version_is_refused_not_misread(sample_event):
    value = _mutated(sample_event, schema_version=2)
    with pytest.raises(DecodeError, match="schema_version 2 is newer than this reader's version 1"):
        decode_event(value)
    # ... also when the newer version no longer fits the old Struct at all
    value = _mutated(sample_event, schema_version=2, text=...)
    with pytest.raises(DecodeError, match="schema_version 2 is newer"):
        decode_event(value)


def test_decode_as_returns_the_expected_type_and_refuses_others(sample_event):
    segment = sample_event(TranscriptSegment)
    value, headers = encode_event(segment)
    assert decode_as(value, TranscriptSegment, headers) == segment
    with pytest.raises(DecodeError, match="expected a transcript.redacted event, got 'transcript.segment'"):
        decode_as(value, RedactedSegment, headers)
    unknown = value.replace(b'"transcript.segment"', b'"transcript.summary"')
    with pytest.raises(DecodeError, match="got 'transcript.summary'"):
        decode_as(unknown, TranscriptSegment)


def test_decode_as_reads_a_struct_outside_the_registry(sample_event):
    class TranscriptSummary(Envelope, tag="transcript.summary", frozen=True, kw_only=True):
        summary: str

    draft = sample_event(TranscriptSummary)
    assert decode_as(msgspec.json.encode(draft), TranscriptSummary) == draft
    with pytest.raises(DecodeError, match="cannot decode TranscriptSummary"):
        decode_as(b"{}", TranscriptSummary)


def test_encode_refuses_a_struct_that_is_not_an_event():
    class Note(msgspec.Struct):
        text: str

    with pytest.raises(EncodeError, match="Note: it is not a callstream event type"):
        encode_event(Note("hi"))


def test_encode_catches_a_broken_constraint_at_the_producer(sample_event):
    bad = sample_event(TranscriptSegment, confidence=1.5)
    with pytest.raises(EncodeError, match=r"transcript.segment event 'event_id-1' breaks its contract: .*confidence"):
        encode_event(bad)
    # Hot paths may skip the check; then the reader is the one that refuses it.
    value, headers = encode_event(bad, validate=False)
    with pytest.raises(DecodeError, match="confidence"):
        decode_event(value, headers)


def test_encode_refuses_unserializable_values_and_a_wrong_version(sample_event):
    with pytest.raises(EncodeError, match="cannot encode transcript.segment event"):
        encode_event(sample_event(TranscriptSegment, text=object()))
    with pytest.raises(EncodeError, match="schema_version=3 but the contract is version 1"):
        encode_event(sample_event(TranscriptSegment, schema_version=3))


def test_encode_returns_fresh_header_lists(sample_event):
    _, first = encode_event(sample_event(TranscriptSegment))
    first.append(("traceparent", b"00-abc"))
    _, second = encode_event(sample_event(TranscriptSegment))
    assert ("traceparent", b"00-abc") not in second


# --- Quix Streams serializers ------------------------------------------------------------

def _ctx(headers=None) -> SerializationContext:
    return SerializationContext(topic="callstream.transcript.raw", field="value", headers=headers)


def test_quix_serializer_pair_round_trips_typed_events(sample_event):
    event = sample_event(TranscriptSegment)
    serializer = codec.EventSerializer(TranscriptSegment)
    value = serializer(event, _ctx())
    headers = list(serializer.extra_headers.items())
    assert serializer.extra_headers[EVENT_TYPE_HEADER] == b"transcript.segment"
    assert codec.EventDeserializer()(value, _ctx(headers)) == event
    assert codec.EventDeserializer(TranscriptSegment)(value, _ctx(headers)) == event


def test_quix_typed_serializer_refuses_another_event_type(sample_event):
    serializer = codec.EventSerializer(RedactedSegment)
    with pytest.raises(EncodeError, match="takes transcript.redacted events, got TranscriptSegment"):
        serializer(sample_event(TranscriptSegment), _ctx())


def test_quix_untyped_serializer_blanks_type_headers_it_cannot_know():
    extra = codec.EventSerializer().extra_headers
    assert extra[EVENT_TYPE_HEADER] is None and extra[SCHEMA_VERSION_HEADER] is None


def test_quix_deserializer_skips_unknown_types_and_raises_decode_error_on_garbage(sample_event):
    unknown = encode_event(sample_event(TranscriptSegment))[0].replace(b"transcript.segment", b"transcript.summary")
    with pytest.raises(IgnoreMessage):
        codec.EventDeserializer()(unknown, _ctx())
    with pytest.raises(DecodeError, match="not valid JSON"):
        codec.EventDeserializer()(b"{oops", _ctx())


def test_any_event_union_names_every_event_type():
    from typing import get_args

    from callstream.contract.events import AnyEvent

    assert set(get_args(AnyEvent)) == set(EVENT_TYPES.values())
