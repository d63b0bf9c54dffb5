"""JSON Schemas of the event contract: the committed files, export, drift and the versioning rule.

Every event type is exported to ``schemas/<event_type>/v<N>.json`` (msgspec's JSON
Schema, with the ``x-classification`` / ``x-pii`` annotations from events.py), where N
is the class's ``SCHEMA_VERSION``. The files are committed: they are the contract other
teams read, and the baseline the next change is checked against.

The versioning rule
-------------------
* Within a version, a change must be **fully compatible**: new readers read old data
  (BACKWARD) *and* old readers read new data (FORWARD) -- producers and consumers deploy
  independently and the archive is replayed years later. Allowed: a new field with a
  default, removing a field that had a default, descriptions. Refused: a new required
  field, removing a required field, a changed type (``int`` -> ``float`` and ``str`` ->
  ``str | None`` included), a Literal narrowed (old data breaks new readers) or widened
  (new data breaks old readers; use a plain ``str`` for open vocabularies), a bound
  tightened or loosened. Classification annotations are governance, not wire format,
  and are not checked here.
* An incompatible change is a **new major version**: raise the class's
  ``SCHEMA_VERSION`` and its ``schema_version`` field default to N+1, export (old
  ``v<N>.json`` files stay, the archive still holds that data), and write the migration
  note ``schemas/<event_type>/v<N+1>.md``: what changed, and how producers and consumers
  move. ``check_compatibility`` refuses a new major without its note. Readers refuse a
  major version newer than their own (``DecodeError`` -> dead-letter topic, re-drivable
  after the upgrade) rather than misread it, so upgrade consumers before producers.
* Removing an event type is refused: the archive still holds it. Stop producing it and
  keep the class.

The comparison of two schemas lives in ``compatibility.py``; the registry client in
``registry.py``. Stored files are compared with the code by meaning
(``same_meaning``): a description that only differs in whitespace or indentation (msgspec
versions format docstrings differently) is no change, while any type, field,
requiredness or enum change is.

``python -m callstream.contract.schemas export|check [DIRECTORY]`` runs the two hooks.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from callstream.contract.compatibility import Violation, compare_schemas, incompatible
from callstream.contract.events import EVENT_TYPES, Envelope, event_tag
from callstream.errors import ConfigError, SchemaCompatibilityError

DEFAULT_DIRECTORY = Path("schemas")
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
EXPORT_COMMAND = "callstream schemas export"

_VERSION_FILE = re.compile(r"^v(\d+)\.json$")


# --- export ---------------------------------------------------------------------------

def schema_for(cls: type[Envelope]) -> dict[str, Any]:
    """The JSON Schema of one event class, as it is stored in ``schemas/``."""
    tag = event_tag(cls)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": tag,
        "x-event-type": tag,
        "x-schema-version": cls.SCHEMA_VERSION,
        **msgspec.json.schema(cls),
    }


def schema_path(directory: Path, event_type: str, version: int) -> Path:
    return Path(directory) / event_type / f"v{version}.json"


def migration_note_path(directory: Path, event_type: str, version: int) -> Path:
    return Path(directory) / event_type / f"v{version}.md"


def _render(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def stored_versions(directory: Path, event_type: str) -> dict[int, Path]:
    """``{version: path}`` of the schema files kept for one event type."""
    folder = Path(directory) / event_type
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.iterdir():
        match = _VERSION_FILE.match(path.name)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def load_schema(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read schema file {path}: {exc}",
            hint=f"restore it from git, or re-export with `{EXPORT_COMMAND}`",
        ) from exc


def export_schemas(
    directory: Path = DEFAULT_DIRECTORY,
    event_types: Mapping[str, type[Envelope]] = EVENT_TYPES,
    *,
    allow_incompatible: bool = False,
) -> list[Path]:
    """Write each event type's current schema; return the files that changed.

    Refuses (``SchemaCompatibilityError``, nothing written) when the code breaks the
    stored schemas (see ``check_compatibility``), so an incompatible edit cannot be
    laundered by re-exporting. ``allow_incompatible`` is for a deliberate break in a
    schema nobody consumes yet; reviewers see it in the diff.
    """
    violations = check_compatibility(directory, event_types)
    if violations and not allow_incompatible:
        raise incompatible(violations)
    written = []
    for cls in event_types.values():
        path = schema_path(directory, event_tag(cls), cls.SCHEMA_VERSION)
        text = _render(schema_for(cls))
        if path.is_file() and same_meaning(load_schema(path), schema_for(cls)):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _meaning(node: Any, key: str = "") -> Any:
    """``node`` with descriptions reduced to their words (whitespace is formatting, not meaning)."""
    if isinstance(node, dict):
        return {k: _meaning(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [_meaning(v) for v in node]
    if key == "description" and isinstance(node, str):
        return " ".join(node.split())
    return node


def same_meaning(stored: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Whether two schemas say the same thing: equal but for whitespace in descriptions."""
    return bool(_meaning(dict(stored)) == _meaning(dict(current)))


def schema_drift(
    directory: Path = DEFAULT_DIRECTORY, event_types: Mapping[str, type[Envelope]] = EVENT_TYPES
) -> list[str]:
    """Event types whose stored schema file is missing or differs from the code."""
    drift = []
    for tag, cls in event_types.items():
        path = schema_path(directory, tag, cls.SCHEMA_VERSION)
        if not path.is_file():
            drift.append(f"{tag}: {path} is missing")
        elif not same_meaning(load_schema(path), schema_for(cls)):
            drift.append(f"{tag}: {path} differs from callstream/contract/events.py")
    return drift


# --- compatibility ----------------------------------------------------------------------

def check_compatibility(
    directory: Path = DEFAULT_DIRECTORY, event_types: Mapping[str, type[Envelope]] = EVENT_TYPES
) -> list[Violation]:
    """Compare the code's schemas with the stored ones under the versioning rule.

    An event type with no stored schema is new and breaks nobody; an empty list means
    the change is safe to export and deploy.
    """
    violations: list[Violation] = []
    for tag, cls in event_types.items():
        versions = stored_versions(directory, tag)
        if not versions:
            continue
        version, latest = cls.SCHEMA_VERSION, max(versions)
        if version in versions:
            violations += compare_schemas(load_schema(versions[version]), schema_for(cls), tag)
            if version < latest:
                violations.append(Violation(tag, "VERSIONING", "$", (
                    f"the code writes v{version} but {versions[latest]} exists; "
                    "a version must not go backwards")))
        elif version != latest + 1:
            violations.append(Violation(tag, "VERSIONING", "$", (
                f"the code writes v{version} but the latest stored schema is v{latest}; "
                f"the next major version is v{latest + 1}")))
        elif not migration_note_path(directory, tag, version).is_file():
            violations.append(Violation(tag, "VERSIONING", "$", (
                f"new major version v{version} needs a migration note at "
                f"{migration_note_path(directory, tag, version)} (what changed, how consumers move)")))
    stored_types = {p.name for p in Path(directory).iterdir() if p.is_dir()} if Path(directory).is_dir() else set()
    for tag in sorted(stored_types - set(event_types)):
        if stored_versions(directory, tag):
            violations.append(Violation(tag, "BACKWARD", "$", (
                "event type removed, but the archive and replays still hold it; "
                "stop producing it and keep its class")))
    return violations


# --- command line (the `callstream` CLI wraps the same functions) ------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m callstream.contract.schemas", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["export", "check"])
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIRECTORY)
    args = parser.parse_args(argv)
    try:
        if args.action == "export":
            written = export_schemas(args.directory)
            print(f"{len(written)} schema file(s) written under {args.directory}")
            for path in written:
                print(f"  {path}")
            return 0
        problems = [str(v) for v in check_compatibility(args.directory)] + schema_drift(args.directory)
    except SchemaCompatibilityError as exc:
        print(f"error: {exc.message}\n  {exc.hint}", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem)
    print("ok: schemas compatible and up to date" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
