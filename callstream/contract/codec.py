"""Event serialization: msgspec JSON values with the event type and schema version in Kafka headers.

The value is the event as JSON (tag ``event_type`` included, so a message stays
self-describing without its headers, e.g. in the archive). The headers let tools route,
filter and count messages by type without parsing them:

    callstream.event_type      b"transcript.segment"
    callstream.schema_version  b"1"
    content-type               b"application/json"

Readers ignore unknown fields (msgspec's default) and unknown event types
(``decode_event`` returns ``None``): newer producers may add both. Everything else that
cannot be read raises ``DecodeError`` with the reason, which processors put on the
dead-letter topic (``callstream.contract.deadletter``).

``EventSerializer`` / ``EventDeserializer`` plug the same codec into Quix Streams.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, Union

import msgspec

from callstream.contract.events import EVENT_TYPES, Envelope, event_tag, event_type_of
from callstream.errors import DecodeError, EncodeError

__all__ = [
    "EVENT_TYPE_HEADER", "SCHEMA_VERSION_HEADER", "CONTENT_TYPE_HEADER", "CONTENT_TYPE",
    # the two Quix classes are defined on first access (module __getattr__, below)
    "encode_event", "decode_event", "decode_as", "encoded_prefix", "EventSerializer", "EventDeserializer",  # noqa: F822
]

EVENT_TYPE_HEADER = "callstream.event_type"
SCHEMA_VERSION_HEADER = "callstream.schema_version"
CONTENT_TYPE_HEADER = "content-type"
CONTENT_TYPE = b"application/json"

Headers = Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None
E = TypeVar("E", bound=Envelope)

# msgspec.ValidationError (a wrong field, type or constraint) subclasses msgspec.DecodeError
# (not JSON at all): catching the latter catches both.
_ENCODER = msgspec.json.Encoder()
#: Reads any event in one pass: msgspec dispatches on the ``event_type`` tag. Built from
#: EVENT_TYPES (not the hand-written AnyEvent) so a new type can never be silently "unknown".
_UNION_DECODER = msgspec.json.Decoder(Union[tuple(EVENT_TYPES.values())])  # noqa: UP007 (runtime union of classes)
#: Per type, for validating what a producer is about to write.
_DECODERS: dict[str, msgspec.json.Decoder] = {
    tag: msgspec.json.Decoder(cls) for tag, cls in EVENT_TYPES.items()
}
#: Decoders for Structs outside EVENT_TYPES (schemas in development), made on first use.
_EXTRA_DECODERS: dict[type, msgspec.json.Decoder] = {}
#: Precomputed per class so encoding allocates only the list copy.
_HEADERS: dict[type, tuple[tuple[str, bytes], ...]] = {
    cls: (
        (EVENT_TYPE_HEADER, tag.encode()),
        (SCHEMA_VERSION_HEADER, str(cls.SCHEMA_VERSION).encode()),
        (CONTENT_TYPE_HEADER, CONTENT_TYPE),
    )
    for tag, cls in EVENT_TYPES.items()
}


class _TypeProbe(msgspec.Struct):
    """Only the envelope fields needed to explain a failed decode; msgspec skips the rest."""

    event_type: Any = None
    schema_version: Any = None


_PROBE_DECODER = msgspec.json.Decoder(_TypeProbe)


def encode_event(event: Envelope, *, validate: bool = True) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Serialize ``event`` to ``(value, headers)`` for a Kafka producer.

    Structs do not check their constraints when built, so with ``validate`` (the default)
    the bytes are decoded once more: a producer that writes ``confidence=1.5`` fails here,
    at its source, instead of in every consumer. Pass ``validate=False`` on hot paths
    whose events came from ``decode_event`` or trusted arithmetic.
    """
    cls = type(event)
    headers = _HEADERS.get(cls)
    if headers is None:
        raise EncodeError(
            f"cannot encode {cls.__name__}: it is not a callstream event type",
            hint="produce one of the Structs in callstream.contract.events.EVENT_TYPES",
        )
    if event.schema_version != cls.SCHEMA_VERSION:
        raise EncodeError(
            f"cannot encode {event_tag(cls)} event {event.event_id!r}: it says "
            f"schema_version={event.schema_version!r} but the contract is version {cls.SCHEMA_VERSION}",
            hint="leave schema_version at its default; the class declares the version it writes",
        )
    try:
        value = _ENCODER.encode(event)
    except (TypeError, ValueError, OverflowError) as exc:
        raise EncodeError(
            f"cannot encode {event_tag(cls)} event {event.event_id!r}: {exc}",
            hint="a field holds a value JSON cannot represent; check the types passed to the event",
        ) from exc
    if validate:
        try:
            _DECODERS[event_tag(cls)].decode(value)
        except msgspec.ValidationError as exc:
            raise EncodeError(
                f"{event_tag(cls)} event {event.event_id!r} breaks its contract: {exc}",
                hint="fix the producer; readers would send this event to the dead-letter topic",
            ) from exc
    return value, list(headers)


def encoded_prefix(cls: type[Envelope]) -> bytes:
    """The bytes every value ``encode_event`` writes for a ``cls`` event begins with: msgspec
    writes the tag first. A reader that only needs to know the type can tell it from them
    without decoding; a value another producer wrote with its keys in another order does not
    begin so, and must be decoded to be known."""
    return b'{"event_type":' + _ENCODER.encode(event_tag(cls)) + b","


def decode_event(value: bytes | None, headers: Headers = None) -> Envelope | None:
    """Read one message value as its event Struct, or ``None`` for an unknown event type.

    The type comes from the body's ``event_type``: msgspec dispatches on the tag in C as
    fast as decoding one known type, while finding the header in Python costs a third more
    (bench/serialization.py), and the body's tag cannot be stale. ``headers`` is accepted
    so callers can pass what the consumer gave them; decoding does not need it.

    Unknown fields are ignored. Raises ``DecodeError`` for bytes that are not JSON, a
    missing or mistyped field, a broken constraint, or a schema version newer than this
    reader knows.
    """
    if value is None:
        raise _tombstone()
    try:
        event = _UNION_DECODER.decode(value)
    except msgspec.DecodeError as exc:
        _unknown_or_raise(value, exc)
        return None
    if event.schema_version > type(event).SCHEMA_VERSION:
        raise _newer_version(event_type_of(event), event.schema_version, type(event))
    return event


def decode_as(value: bytes | None, cls: type[E], headers: Headers = None) -> E:
    """Read a message that must be a ``cls`` event (a consumer of a single-type topic).

    Unlike ``decode_event`` there is no ``None``: another event type on this topic is a
    contract violation (see the topic catalog) and raises ``DecodeError``.
    """
    if value is None:
        raise _tombstone()
    if cls not in _HEADERS:
        # A Struct outside EVENT_TYPES (a schema in development): decode it directly.
        decoder = _EXTRA_DECODERS.get(cls) or _EXTRA_DECODERS.setdefault(cls, msgspec.json.Decoder(cls))
        try:
            return decoder.decode(value)
        except (msgspec.DecodeError, TypeError) as exc:
            raise DecodeError(f"cannot decode {cls.__name__}: {exc}") from exc
    event = decode_event(value)
    if type(event) is cls:
        return event
    found = event_type_of(event) if event is not None else _probe(value).event_type
    raise DecodeError(
        f"expected a {event_tag(cls)} event, got {found!r}",
        hint="check the topic catalog: this topic should carry only the expected event type",
    )


def _probe(value: bytes) -> _TypeProbe:
    try:
        return _PROBE_DECODER.decode(value)
    except msgspec.DecodeError:
        return _TypeProbe()


def _tombstone() -> DecodeError:
    return DecodeError("message has no value (a tombstone), not a callstream event",
                       hint="event topics use cleanup.policy=delete; find who produced a null value")


def _unknown_or_raise(value: bytes, exc: Exception) -> None:
    """Tell an unknown event type (ignored) from a broken message (``DecodeError``)."""
    probe = _probe(value)
    tag = probe.event_type
    if isinstance(tag, str) and tag not in EVENT_TYPES:
        return None
    if isinstance(tag, str):
        cls = EVENT_TYPES[tag]
        if isinstance(probe.schema_version, int) and probe.schema_version > cls.SCHEMA_VERSION:
            raise _newer_version(tag, probe.schema_version, cls) from exc
        raise DecodeError(
            f"cannot decode {tag} event: {exc}",
            hint="the producer broke the event contract; fix it, then re-drive from the dead-letter topic",
        ) from exc
    if not isinstance(exc, msgspec.ValidationError):  # its base, msgspec.DecodeError: bad JSON
        reason = f"not valid JSON: {exc}"
    elif tag is None and "event_type" in str(exc):
        reason = "not a callstream event: no event_type field"
    else:
        reason = f"not a callstream event: {exc}"
    raise DecodeError(reason, hint="find the producer writing to this topic outside the contract") from exc


def _newer_version(tag: str, version: int, cls: type[Envelope]) -> DecodeError:
    return DecodeError(
        f"{tag} schema_version {version} is newer than this reader's version {cls.SCHEMA_VERSION}",
        hint="upgrade this consumer to the new contract, then re-drive from the dead-letter topic",
    )


# --- Quix Streams ------------------------------------------------------------------------
# Importing quixstreams costs ~0.3 s (it loads its whole Application), which every
# producer and CLI command would pay; the Quix classes are built on first access instead.

def __getattr__(name: str) -> Any:
    if name in ("EventSerializer", "EventDeserializer"):
        _define_quix_classes()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _define_quix_classes() -> None:
    from quixstreams.models.serializers import Deserializer, SerializationContext, Serializer
    from quixstreams.models.serializers.exceptions import IgnoreMessage

    class EventSerializer(Serializer):
        """Quix Streams value serializer writing callstream events.

        Give it the event class of a single-type output topic: Quix asks for headers before
        it sees the value, so only then can it set ``callstream.event_type`` (and reject a
        wrong event). Without a class it blanks the type headers it cannot know, so headers
        copied from an input message never mislabel the output; readers then use the body.
        """

        def __init__(self, event_class: type[Envelope] | None = None, *, validate: bool = True) -> None:
            super().__init__()
            if event_class is not None and event_class not in _HEADERS:
                raise EncodeError(
                    f"{event_class.__name__} is not a callstream event type",
                    hint="pass one of the Structs in callstream.contract.events.EVENT_TYPES",
                )
            self._event_class = event_class
            self._validate = validate
            if event_class is None:
                self._extra: dict[str, bytes | None] = {
                    EVENT_TYPE_HEADER: None, SCHEMA_VERSION_HEADER: None, CONTENT_TYPE_HEADER: CONTENT_TYPE,
                }
            else:
                self._extra = dict(_HEADERS[event_class])

        @property  # Quix types header values as str | bytes; None blanks a copied header
        def extra_headers(self) -> dict[str, bytes | None]:  # type: ignore[override]
            return self._extra

        def __call__(self, value: Envelope, ctx: SerializationContext) -> bytes:
            if self._event_class is not None and type(value) is not self._event_class:
                raise EncodeError(
                    f"topic {ctx.topic} takes {event_tag(self._event_class)} events, "
                    f"got {type(value).__name__}",
                    hint="produce the declared event type, or use EventSerializer() for a mixed topic",
                )
            return encode_event(value, validate=self._validate)[0]

    class EventDeserializer(Deserializer):
        """Quix Streams value deserializer reading callstream events.

        Unknown event types are skipped (``IgnoreMessage``). A message that cannot be read
        raises ``DecodeError``; Quix hands it with the raw message to the Application's
        ``on_consumer_error``, where ``DeadLetterRouter.on_consumer_error`` sends it to the
        dead-letter topic. With ``event_class`` every message must be of that type.
        """

        def __init__(self, event_class: type[Envelope] | None = None) -> None:
            super().__init__()
            self._event_class = event_class

        def __call__(self, value: bytes, ctx: SerializationContext) -> Envelope:
            if self._event_class is not None:
                return decode_as(value, self._event_class, ctx.headers)
            event = decode_event(value, ctx.headers)
            if event is None:
                raise IgnoreMessage(f"unknown event type on {ctx.topic}")
            return event

    for cls in (EventSerializer, EventDeserializer):
        cls.__module__, cls.__qualname__ = __name__, cls.__name__
    globals().update(EventSerializer=EventSerializer, EventDeserializer=EventDeserializer)
