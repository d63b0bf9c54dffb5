"""Edits of an event type as a developer would make them, and what callstream's check says of them.

Shared by the compatibility checker's tests and the real schema registry's tests, which hold
the registry's verdict on the same edits against callstream's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from callstream.contract.events import TranscriptSegment


def variant(base: type, *, drop=(), change: dict[str, Any] | None = None, add=(), version: int = 1) -> type:
    """``base`` as an edited copy (same tag): how a developer's change to events.py looks."""
    change = change or {}
    fields: list[tuple] = []
    for f in msgspec.structs.fields(base):
        if f.name in drop:
            continue
        kind = change.get(f.name, f.type)
        if f.name == "schema_version":
            fields.append((f.name, int, version))
        elif f.default is not msgspec.NODEFAULT:
            fields.append((f.name, kind, f.default))
        elif f.default_factory is not msgspec.NODEFAULT:
            fields.append((f.name, kind, msgspec.field(default_factory=f.default_factory)))
        else:
            fields.append((f.name, kind))
    return msgspec.defstruct(
        base.__name__, [*fields, *add], tag_field="event_type", tag=base.__struct_config__.tag,
        kw_only=True, frozen=True, namespace={"SCHEMA_VERSION": version},
    )


#: edits callstream's check accepts (its readers ignore unknown fields and fill defaults)
COMPATIBLE_CHANGES: dict[str, type] = {
    "new optional field": variant(TranscriptSegment, add=[("speaker_id", str | None, None)]),
    "new field with default": variant(TranscriptSegment, add=[("channel", str, "voice")]),
    "removed field with default": variant(TranscriptSegment, drop=["language"]),  # it had a default
}

#: edits callstream's check refuses, with the (direction, path, reason) it gives
INCOMPATIBLE_CHANGES: dict[str, tuple[type, list[tuple[str, str, str]]]] = {
    "new required field": (variant(TranscriptSegment, add=[("speaker_id", str)]),
         [("BACKWARD", "$.speaker_id", "new readers require `speaker_id`, which old data may not have (add a default to the new field)")]),
    "removed required field": (variant(TranscriptSegment, drop=["text"]),
         [("FORWARD", "$.text", "old readers require `text`, which new data may not have (a field old readers need was removed or made optional)")]),
    "type changed": (variant(TranscriptSegment, change={"sequence": str}),
         [("BACKWARD", "$.sequence", "type changed: old data may hold integer, new readers accept only string"),
         ("FORWARD", "$.sequence", "type changed: new data may hold string, old readers accept only integer")]),
    "int to float": (variant(TranscriptSegment, change={"sequence": float}),
         [("FORWARD", "$.sequence", "type changed: new data may hold number, old readers accept only integer")]),
    "made nullable": (variant(TranscriptSegment, change={"text": str | None}),
         [("FORWARD", "$.text", "type changed: new data may hold null, old readers accept only string")]),
    "enum narrowed": (variant(TranscriptSegment, change={"participant": Literal["agent", "customer", "system", "supervisor"]}),
         [("BACKWARD", "$.participant", "old data may hold 'bot', which new readers do not accept (enum narrowed)")]),
    "enum widened": (variant(TranscriptSegment, change={"participant": Literal["agent", "customer", "system", "bot", "supervisor", "ivr"]}),
         [("FORWARD", "$.participant", "new data may hold 'ivr', which old readers do not accept (enum widened)")]),
    "enum opened to str": (variant(TranscriptSegment, change={"participant": str}),
         [("FORWARD", "$.participant", "new data may hold any string, but old readers accept only ['agent', 'bot', 'customer', 'supervisor', 'system']")]),
    "bound tightened": (variant(TranscriptSegment, change={"confidence": Annotated[float, msgspec.Meta(ge=0.0, le=0.5)]}),
         [("BACKWARD", "$.confidence", "new readers require values <= 0.5, old data may hold <= 1.0")]),
    "bound removed": (variant(TranscriptSegment, change={"start_offset_ms": int}),
         [("FORWARD", "$.start_offset_ms", "old readers require values >= 0, new data is not bounded")]),
}
