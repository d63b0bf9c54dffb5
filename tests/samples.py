"""Sample events built from each Struct's own field types (contract and archive tests).

Building samples from ``msgspec.inspect`` means a new event type in EVENT_TYPES is
covered by the round-trip tests without anyone writing a fixture for it.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import inspect as mi


def _value(t: mi.Type, name: str) -> Any:
    if isinstance(t, mi.Metadata):
        return _value(t.type, name)
    if isinstance(t, mi.UnionType):
        # Prefer the non-null member so optional fields round-trip real values too.
        return _value(next(m for m in t.types if not isinstance(m, mi.NoneType)), name)
    if isinstance(t, mi.StrType):
        return f"{name}-1"
    if isinstance(t, mi.BoolType):
        return True
    if isinstance(t, mi.IntType):
        return max(t.ge or 0, 7) if t.le is None else t.le
    if isinstance(t, mi.FloatType):
        return 0.5 if (t.le or 1.0) <= 1.0 else 42.5
    if isinstance(t, mi.LiteralType):
        return t.values[-1]
    if isinstance(t, mi.ListType):
        return [_value(t.item_type, name)]
    if isinstance(t, mi.StructType):
        return t.cls(**{f.name: _value(f.type, f.name) for f in t.fields})
    raise TypeError(f"sample builder does not know {t!r} (field {name}); extend tests/contract/conftest.py")


def build_sample(cls: type[msgspec.Struct], **overrides: Any) -> msgspec.Struct:
    """An instance of ``cls`` with every field (optional ones too) set to a valid value."""
    info = mi.type_info(cls)
    fields = {f.name: _value(f.type, f.name) for f in info.fields if f.name != "schema_version"}
    fields.update(overrides)
    return cls(**fields)
