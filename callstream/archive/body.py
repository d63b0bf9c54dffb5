"""Event bodies as typed columns: how compaction stores cold rows, and how readers get the
original bytes back.

The archiver keeps each message's bytes (``payload``): it is on the live path and decodes
only the envelope. Compaction, which rewrites cold files anyway, moves each event's other
fields into ``body``, a struct with one typed column per field of the event contract, and
drops the payload of every row whose bytes ``rebuild`` gives back exactly. Columns of one
kind compress far better than JSON documents (ADR 0012 has the bytes), and other engines
read ``body.text`` or ``body.score`` without parsing JSON.

Exactness is checked row by row, not assumed: a row whose producer wrote its JSON another
way (key order, spacing, a field this version does not know, a float written differently)
keeps its payload and no body. So an archived row holds either its payload or its body,
and ``payloads`` returns the original bytes of both kinds.
"""

from __future__ import annotations

import functools
import typing
from dataclasses import dataclass

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from callstream.collector import collector_paused
from callstream.contract.events import EVENT_TYPES, Envelope

#: envelope fields the archive already keeps as top-level columns (the rest go in ``body``)
TOP_LEVEL = ("schema_version", "event_id", "contact_id", "event_time_ms", "producer", "caused_by")
#: what ``payloads`` reads: the columns a payload is rebuilt from
PAYLOAD_COLUMNS = ("event_type", *TOP_LEVEL, "payload", "body")
#: how a field is written back: a JSON string, integer, float or boolean, or verbatim JSON
Kind = typing.Literal["string", "int", "float", "bool", "json"]

_ARROW: dict[str, pa.DataType] = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(),
                                  "bool": pa.bool_(), "json": pa.string()}


def _kind(info: msgspec.inspect.Type) -> Kind:
    """A contract field's kind; lists, objects and mixed unions are kept as their JSON text."""
    if isinstance(info, msgspec.inspect.Metadata):
        return _kind(info.type)
    if isinstance(info, msgspec.inspect.UnionType):
        others = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        return _kind(others[0]) if len(others) == 1 else "json"
    if isinstance(info, msgspec.inspect.LiteralType):
        return "string" if all(isinstance(v, str) for v in info.values) else "json"
    simple: dict[type, Kind] = {msgspec.inspect.StrType: "string", msgspec.inspect.IntType: "int",
                                msgspec.inspect.FloatType: "float", msgspec.inspect.BoolType: "bool"}
    return simple.get(type(info), "json")


def _fields(event_class: type[Envelope]) -> list[tuple[str, Kind]]:
    info = msgspec.inspect.type_info(event_class)
    assert isinstance(info, msgspec.inspect.StructType)
    return [(f.encode_name, _kind(f.type)) for f in info.fields]


@dataclass(frozen=True)
class Layout:
    """How one event type's JSON is written: its tag, then its fields in contract order."""

    tag: str
    fields: tuple[tuple[str, Kind], ...]


LAYOUTS: dict[str, Layout] = {tag: Layout(tag, tuple(_fields(cls))) for tag, cls in EVENT_TYPES.items()}


def _body_fields() -> dict[str, Kind]:
    kinds: dict[str, Kind] = {}
    for layout in LAYOUTS.values():
        for name, kind in layout.fields:
            if name not in TOP_LEVEL:
                # Two event types giving one name different kinds: keep that field as JSON text.
                kinds[name] = kind if kinds.get(name, kind) == kind else "json"
    return dict(sorted(kinds.items()))


#: every body field of every event type, by name (a union: each row fills its type's fields)
BODY_FIELDS: dict[str, Kind] = _body_fields()
BODY_TYPE = pa.struct([pa.field(name, _ARROW[kind]) for name, kind in BODY_FIELDS.items()])


# --- rebuilding payloads ---------------------------------------------------------------------

#: what msgspec escapes in a JSON string, in the order they must be replaced (other control
#: characters become \u00XX: such a row's rebuild differs and it keeps its payload)
_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\b", "\\b"), ("\f", "\\f"))
_QUOTE, _NOTHING = pa.scalar('"', pa.large_string()), pa.scalar("", pa.large_string())  # 64-bit like the columns


def _needs_escape(column: pa.Array) -> bool:
    """Whether any string in ``column`` holds a byte msgspec escapes (a quote, a backslash, a
    control character), read straight from the values buffer: a slice may see bytes of its
    neighbours, which only sends it down the escaping path, which is right for any string."""
    data = column.buffers()[2]
    if data is None:
        return False
    values = np.frombuffer(data, dtype=np.uint8)
    return bool((values < 0x20).any() or (values == 0x22).any() or (values == 0x5C).any())


def _pieces(column: pa.Array, kind: Kind) -> list[str | pa.Array]:
    """A column's values as msgspec writes them in JSON (null as ``null``), as text and
    arrays to join: constant text stays text, so a column without nulls costs no join of its
    own and a column of nulls costs nothing per row."""
    if column.null_count == len(column):
        return ["null"]
    if kind in ("string", "json"):
        # 64-bit offsets: a compaction run's rebuilt payloads can pass 2 GiB
        column = column.cast(pa.large_string())
    if kind == "string":
        text = column
        if _needs_escape(column):  # rare
            for raw, escaped in _ESCAPES:
                text = pc.replace_substring(text, raw, escaped)
        if column.null_count == 0:
            return ['"', text, '"']
        return [pc.fill_null(pc.binary_join_element_wise(_QUOTE, text, _QUOTE, _NOTHING), "null")]
    if kind == "bool":
        rendered = pc.if_else(column, "true", "false")
    elif kind == "float":
        # Written by msgspec itself, as the producers wrote them (Arrow's text differs: "1"
        # for 1.0); one call for the column, split at the commas of the list.
        rendered = pa.array(msgspec.json.encode(column.to_pylist())[1:-1].split(b","), pa.binary()).cast(pa.string())
    elif kind == "int":
        rendered = pc.cast(column, pa.string())
    else:
        rendered = column
    return [pc.fill_null(rendered, "null").cast(pa.large_string())]


def _joined(pieces: list[str | pa.Array]) -> pa.Array:
    """Pieces joined row by row, neighbouring constant text merged first."""
    merged: list[str | pa.Array] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    return pc.binary_join_element_wise(*(_text(p) if isinstance(p, str) else p for p in merged), _NOTHING)


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, pa.large_string())


def _has_body(rows: pa.Table) -> bool:
    return "body" in rows.column_names and pa.types.is_struct(rows.schema.field("body").type)


def rebuild(rows: pa.Table) -> pa.Array:
    """The JSON bytes of every row that has a body (null for the others)."""
    n = rows.num_rows
    if n == 0 or not _has_body(rows):
        return pa.nulls(n, pa.large_binary())
    body_column = _array(rows, "body")
    present = set(body_column.type.names) if pa.types.is_struct(body_column.type) else set()
    positions: list[np.ndarray] = []
    pieces_out: list[pa.Array] = []
    types = _array(rows, "event_type")
    top_level = {name: _array(rows, name) for name in TOP_LEVEL}
    for tag in pc.unique(pc.drop_null(types)).to_pylist():
        layout = LAYOUTS.get(tag)
        if layout is None or any(name not in present and name not in TOP_LEVEL for name, _ in layout.fields):
            continue
        where = pc.and_(pc.equal(types, tag).fill_null(False), body_column.is_valid())
        index = np.flatnonzero(where.to_numpy(zero_copy_only=False))
        if not len(index):
            continue
        take = None if len(index) == n else pa.array(index)  # one event type per topic: the common case
        pieces: list[str | pa.Array] = ['{"event_type":' + msgspec.json.encode(tag).decode()]
        for name, kind in layout.fields:
            column = top_level[name] if name in TOP_LEVEL else body_column.field(name)
            column = column if take is None else column.take(take)
            pieces += [f',"{name}":', *_pieces(column, kind)]
        pieces.append("}")
        positions.append(index)
        pieces_out.append(_joined(pieces))
    return _scatter(n, positions, [p.cast(pa.large_binary()) for p in pieces_out], pa.large_binary())


def _array(rows: pa.Table, name: str) -> pa.Array:
    return rows[name].combine_chunks()


def payloads(rows: pa.Table) -> pa.Array:
    """Every row's original message bytes: its payload, or rebuilt from its body."""
    kept = _array(rows, "payload").cast(pa.large_binary())
    if not _has_body(rows):
        return kept
    return pc.coalesce(kept, rebuild(rows))


# --- moving payloads into bodies ---------------------------------------------------------------

def _decoded(event_class: type[Envelope], values: list[bytes]) -> list[tuple | None]:
    """Each value decoded as ``event_class`` and taken apart into its fields (None if it
    does not decode: that row keeps its payload)."""
    decoder = _list_decoder(event_class)
    try:
        events = decoder.decode(b"[" + b",".join(values) + b"]")  # one call for the whole group
    except (msgspec.DecodeError, msgspec.ValidationError):
        single = _decoder(event_class)
        events = []
        for value in values:
            try:
                events.append(single.decode(value))
            except (msgspec.DecodeError, msgspec.ValidationError):
                events.append(None)
    return [msgspec.structs.astuple(e) if e is not None else None for e in events]


@functools.cache
def _list_decoder(event_class: type[Envelope]) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(list[event_class])  # type: ignore[valid-type]


@functools.cache
def _decoder(event_class: type[Envelope]) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(event_class)


def _column(values: typing.Sequence, kind: Kind) -> pa.Array:
    if kind == "json":
        return pa.array([None if v is None else msgspec.json.encode(v).decode() for v in values], pa.string())
    try:
        return pa.array(values, _ARROW[kind])
    except (pa.ArrowInvalid, OverflowError):
        # An integer past 64 bits: stored as null, so that row's rebuild differs and it
        # keeps its payload.
        return pa.array([v if v is None or -(2**63) <= v < 2**63 else None for v in values], _ARROW[kind])


def _scatter(n: int, positions: list[np.ndarray], parts: list[pa.Array], kind: pa.DataType) -> pa.Array:
    """One array of ``n`` rows from parts whose rows sit at ``positions`` (null elsewhere)."""
    if len(parts) == 1 and len(positions[0]) == n:
        return parts[0]
    if not parts:
        return pa.nulls(n, kind)
    inverse = np.full(n, -1, dtype=np.int64)
    inverse[np.concatenate(positions)] = np.arange(sum(len(p) for p in positions))
    return pa.concat_arrays(parts).take(pa.array(inverse, mask=inverse < 0))


def _fresh_bodies(rows: pa.Table, payload: pa.Array) -> pa.StructArray:
    """The body of every row whose event type the contract knows (null for the others)."""
    n = rows.num_rows
    types = _array(rows, "event_type")
    candidates = pc.and_(types.is_valid(), payload.is_valid())
    positions: list[np.ndarray] = []
    parts: dict[str, list[pa.Array]] = {name: [] for name in BODY_FIELDS}
    valid: list[pa.Array] = []
    for tag in pc.unique(pc.drop_null(types)).to_pylist():
        layout = LAYOUTS.get(tag)
        if layout is None:
            continue
        index = np.flatnonzero(pc.and_(pc.equal(types, tag), candidates).fill_null(False).to_numpy(zero_copy_only=False))
        if not len(index):
            continue
        with collector_paused():  # 3.5 -> 1.2 us per event to decode, 2.1 -> 0.2 to take apart
            fields = _decoded(EVENT_TYPES[tag], payload.take(pa.array(index)).to_pylist())
            empty = (None,) * len(layout.fields)
            columns = list(zip(*(f if f is not None else empty for f in fields), strict=True))
        mine = {name: columns[i] for i, (name, _) in enumerate(layout.fields) if name in BODY_FIELDS}
        for name, kind in BODY_FIELDS.items():
            values = mine.get(name)
            parts[name].append(_column(values, kind) if values is not None else pa.nulls(len(index), _ARROW[kind]))
        valid.append(pa.array([f is not None for f in fields], pa.bool_()))
        positions.append(index)
    children = [_scatter(n, positions, parts[name], _ARROW[kind]) for name, kind in BODY_FIELDS.items()]
    is_valid = _scatter(n, positions, valid, pa.bool_()).fill_null(False)
    return pa.StructArray.from_arrays(children, fields=list(BODY_TYPE), mask=pc.invert(is_valid))


def shred(rows: pa.Table) -> pa.Table:
    """``rows`` with each event's body in ``body`` and its payload dropped where the body
    rebuilds it exactly. Rows already holding a body (compacted before) keep it."""
    n = rows.num_rows
    payload = _array(rows, "payload").cast(pa.large_binary())
    old_body = _array(rows, "body").cast(BODY_TYPE) if _has_body(rows) else pa.nulls(n, BODY_TYPE)
    fresh = _fresh_bodies(rows, payload)
    exact = pc.fill_null(pc.equal(rebuild(_with(rows, payload=payload, body=fresh)), payload), False)
    # Rows kept as payload carry no body; rows compacted before keep theirs.
    body = _select_struct(exact, fresh, old_body)
    return _with(rows, payload=pc.if_else(exact, pa.nulls(n, pa.large_binary()), payload), body=body)


def _select_struct(condition: pa.Array, when_true: pa.StructArray, otherwise: pa.StructArray) -> pa.StructArray:
    children = [pc.if_else(condition, when_true.field(i), otherwise.field(i)) for i in range(BODY_TYPE.num_fields)]
    valid = pc.if_else(condition, when_true.is_valid(), otherwise.is_valid())
    return pa.StructArray.from_arrays(children, fields=list(BODY_TYPE), mask=pc.invert(valid))


def _with(rows: pa.Table, *, payload: pa.Array, body: pa.Array) -> pa.Table:
    out = rows.set_column(rows.schema.get_field_index("payload"), pa.field("payload", payload.type), payload)
    if "body" in out.column_names:
        return out.set_column(out.schema.get_field_index("body"), pa.field("body", BODY_TYPE), body)
    return out.append_column(pa.field("body", BODY_TYPE), body)
