"""Whether one JSON Schema may replace another: the comparison behind the versioning rule.

``compare_schemas(old, new)`` lists every way ``new`` breaks readers or data of ``old``, in
both directions: BACKWARD (new readers, old data) and FORWARD (old readers, new data).
It knows nothing about files or versions; ``callstream.contract.schemas`` applies it to
the committed schema files under the versioning rule described there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import msgspec

from callstream.errors import ConfigError, SchemaCompatibilityError

Direction = Literal["BACKWARD", "FORWARD", "VERSIONING"]


class Violation(msgspec.Struct, frozen=True):
    """One way a schema change breaks a reader.

    ``BACKWARD``: new readers cannot read data written before the change.
    ``FORWARD``: readers still on the old schema cannot read data written after it.
    ``VERSIONING``: the version files themselves break the rule in this module's docstring.
    """

    event_type: str
    direction: Direction
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.event_type} {self.direction} {self.path}: {self.reason}"


def compare_schemas(old: Mapping[str, Any], new: Mapping[str, Any], event_type: str = "") -> list[Violation]:
    """Every way ``new`` breaks readers or data of ``old``, in both directions."""
    event_type = event_type or str(new.get("title") or old.get("title") or "")
    backward = _Comparison(reader=new, writer=old, reader_name="new readers", writer_name="old data")
    forward = _Comparison(reader=old, writer=new, reader_name="old readers", writer_name="new data")
    return [
        *(Violation(event_type, "BACKWARD", path, reason) for path, reason in backward.gaps()),
        *(Violation(event_type, "FORWARD", path, reason) for path, reason in forward.gaps()),
    ]


def check(old: Mapping[str, Any], new: Mapping[str, Any], event_type: str = "") -> None:
    """Raise ``SchemaCompatibilityError`` if ``new`` may not replace ``old`` in the same version."""
    violations = compare_schemas(old, new, event_type)
    if violations:
        raise incompatible(violations)


def incompatible(violations: list[Violation]) -> SchemaCompatibilityError:
    shown = "; ".join(str(v) for v in violations[:5])
    more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
    return SchemaCompatibilityError(
        f"{len(violations)} schema compatibility violation(s): {shown}{more}",
        hint="give new fields a default and keep removed ones optional; for a deliberate break raise "
        "SCHEMA_VERSION and add a migration note (see callstream.contract.schemas)",
    )


_KINDS = ("null", "boolean", "integer", "number", "string", "array", "object")
_LOWER = (("minimum", False), ("exclusiveMinimum", True))
_UPPER = (("maximum", False), ("exclusiveMaximum", True))
_EXACT = ("pattern", "format", "multipleOf")


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


class _Comparison:
    """Can every value the writer schema allows be read by the reader schema?

    Schemas are walked as unions of branches (``anyOf``, ``type`` lists, ``enum``); each
    writer branch must fit some reader branch. Objects follow msgspec's reading rules:
    unknown properties are ignored, a property missing from the data needs a default.
    """

    def __init__(self, reader: Mapping[str, Any], writer: Mapping[str, Any], reader_name: str, writer_name: str):
        self.rdoc, self.wdoc = reader, writer
        self.R, self.W = reader_name, writer_name
        self._open: set[tuple[str | None, str | None]] = set()

    def gaps(self) -> list[tuple[str, str]]:
        return list(self._node(self.rdoc, self.wdoc, "$"))

    # -- structure
    @staticmethod
    def _resolve(node: Mapping[str, Any], doc: Mapping[str, Any]) -> Mapping[str, Any]:
        while isinstance(node, Mapping) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ConfigError(f"schema reference {ref!r} points outside the file", hint="only local $defs are supported")
            target: Any = doc
            for part in ref[2:].split("/"):
                target = target[part]
            node = {**{k: v for k, v in node.items() if k != "$ref"}, **target}
        return node

    def _branches(self, node: Mapping[str, Any], doc: Mapping[str, Any]) -> list[dict[str, Any]]:
        node = self._resolve(node, doc)
        for key in ("anyOf", "oneOf"):
            if key in node:
                base = {k: v for k, v in node.items() if k not in (key, "default", "description", "title")}
                return [b for sub in node[key] for b in self._branches({**base, **sub}, doc)]
        if "const" in node:
            return [{**node, "enum": [node["const"]]}]
        if "enum" in node:
            return [dict(node)]
        kinds = node.get("type")
        if kinds is None:
            return [{**node, "type": "any"}]
        if isinstance(kinds, list):
            return [{**node, "type": kind} for kind in kinds]
        return [dict(node)]

    def _node(self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str) -> Iterator[tuple[str, str]]:
        refs = (reader.get("$ref"), writer.get("$ref"))
        if refs != (None, None):
            if refs in self._open:  # a recursive type: this pair is being compared already
                return
            self._open.add(refs)
        try:
            rbranches = self._branches(reader, self.rdoc)
            for wb in self._branches(writer, self.wdoc):
                yield from self._branch(rbranches, wb, path)
        finally:
            self._open.discard(refs)

    def _branch(self, rbranches: list[dict[str, Any]], wb: dict[str, Any], path: str) -> Iterator[tuple[str, str]]:
        if "enum" in wb:
            for value in wb["enum"]:
                if not any(self._accepts_value(rb, value) for rb in rbranches):
                    yield path, f"{self.W} may hold {value!r}, which {self.R} do not accept{self._enum_hint()}"
            return
        kind = wb["type"]
        if any(rb.get("type") == "any" and "enum" not in rb for rb in rbranches):
            return
        fitting = [rb for rb in rbranches if "enum" not in rb and self._kind_fits(rb["type"], kind)]
        if not fitting:
            enums = [v for rb in rbranches if "enum" in rb for v in rb["enum"]]
            if enums and kind != "any" and any(_kind_of(v) == kind for v in enums):
                yield path, f"{self.W} may hold any {kind}, but {self.R} accept only {enums}"
            else:
                accepted = sorted({rb.get("type", "enum") for rb in rbranches if "enum" not in rb} | ({"enum"} if enums else set()))
                yield path, f"type changed: {self.W} may hold {kind}, {self.R} accept only {' or '.join(accepted)}"
            return
        problems: list[tuple[str, str]] = []
        for rb in fitting:
            problems = list(self._detail(rb, wb, path))
            if not problems:
                return
        yield from problems

    @staticmethod
    def _kind_fits(rkind: str, wkind: str) -> bool:
        return rkind == wkind or rkind == "any" or (rkind == "number" and wkind == "integer")

    def _enum_hint(self) -> str:
        return " (enum narrowed)" if self.R == "new readers" else " (enum widened)"

    def _accepts_value(self, rb: Mapping[str, Any], value: Any) -> bool:
        if "enum" in rb:  # compare kinds too: in Python True == 1
            return any(v == value and _kind_of(v) == _kind_of(value) for v in rb["enum"])
        if not self._kind_fits(rb["type"], _kind_of(value)):
            return False
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            for name, exclusive in _LOWER:
                if name in rb and (value < rb[name] or (exclusive and value == rb[name])):
                    return False
            for name, exclusive in _UPPER:
                if name in rb and (value > rb[name] or (exclusive and value == rb[name])):
                    return False
        if isinstance(value, str):
            if len(value) < rb.get("minLength", 0) or len(value) > rb.get("maxLength", len(value)):
                return False
            if "pattern" in rb and not re.search(rb["pattern"], value):
                return False
        return True

    # -- constraints and children of one kind
    def _detail(self, rb: Mapping[str, Any], wb: Mapping[str, Any], path: str) -> Iterator[tuple[str, str]]:
        yield from self._bounds(rb, wb, path, _LOWER, "at least", lambda r, w: w > r)
        yield from self._bounds(rb, wb, path, _UPPER, "at most", lambda r, w: w < r)
        for low, high, what in (("minLength", "maxLength", "characters"), ("minItems", "maxItems", "items"),
                                ("minProperties", "maxProperties", "properties")):
            if low in rb and wb.get(low, 0) < rb[low]:
                yield path, f"{self.R} require at least {rb[low]} {what}, {self.W} may have {wb.get(low, 0)}"
            if high in rb and (high not in wb or wb[high] > rb[high]):
                yield path, f"{self.R} allow at most {rb[high]} {what}, {self.W} may have {wb.get(high, 'more')}"
        for name in _EXACT:
            if name in rb and rb[name] != wb.get(name):
                yield path, f"{self.R} require {name} {rb[name]!r}, {self.W} has {wb.get(name, 'none')!r}"
        if rb["type"] == "array" and "items" in rb:
            yield from self._node(rb["items"], wb.get("items", {}), f"{path}[]")
        if rb["type"] == "object":
            yield from self._object(rb, wb, path)

    def _bounds(self, rb, wb, path, names, word, looser) -> Iterator[tuple[str, str]]:
        rbound = next(((rb[n], ex) for n, ex in names if n in rb), None)
        if rbound is None:
            return
        wbound = next(((wb[n], ex) for n, ex in names if n in wb), None)
        symbol = {("at least", False): ">=", ("at least", True): ">", ("at most", False): "<=", ("at most", True): "<"}
        need = f"{symbol[word, rbound[1]]} {rbound[0]}"
        if wbound is None:
            yield path, f"{self.R} require values {need}, {self.W} is not bounded"
        elif not (looser(rbound[0], wbound[0]) or (wbound[0] == rbound[0] and (wbound[1] or not rbound[1]))):
            yield path, f"{self.R} require values {need}, {self.W} may hold {symbol[word, wbound[1]]} {wbound[0]}"

    def _object(self, rb: Mapping[str, Any], wb: Mapping[str, Any], path: str) -> Iterator[tuple[str, str]]:
        rprops, wprops = rb.get("properties", {}), wb.get("properties", {})
        wrequired = set(wb.get("required", ()))
        for name in rb.get("required", ()):
            if name not in wrequired:
                hint = ("add a default to the new field" if self.R == "new readers"
                        else "a field old readers need was removed or made optional")
                yield f"{path}.{name}", f"{self.R} require `{name}`, which {self.W} may not have ({hint})"
        for name, rprop in rprops.items():
            if name in wprops:
                yield from self._node(rprop, wprops[name], f"{path}.{name}")
        radditional = rb.get("additionalProperties", True)
        for name, wprop in wprops.items():
            if name in rprops:
                continue
            if radditional is False:
                yield f"{path}.{name}", f"{self.R} forbid unknown fields, {self.W} may have `{name}`"
            elif isinstance(radditional, Mapping):
                yield from self._node(radditional, wprop, f"{path}.{name}")
        wadditional = wb.get("additionalProperties", True)
        if isinstance(radditional, Mapping) and isinstance(wadditional, Mapping):
            yield from self._node(radditional, wadditional, f"{path}{{}}")
        elif radditional is not True and wadditional is True and not rprops:
            yield f"{path}{{}}", f"{self.R} constrain map values, {self.W} does not"
