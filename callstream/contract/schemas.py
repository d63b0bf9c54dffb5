"""JSON Schemas of the event contract: export, compatibility checks, schema-registry sync.

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

``python -m callstream.contract.schemas export|check [DIRECTORY]`` runs the two hooks.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from callstream.contract.events import EVENT_TYPES, Envelope
from callstream.errors import ConfigError, KafkaOperationError, SchemaCompatibilityError

DEFAULT_DIRECTORY = Path("schemas")
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
EXPORT_COMMAND = "callstream schemas export"

Direction = Literal["BACKWARD", "FORWARD", "VERSIONING"]
_VERSION_FILE = re.compile(r"^v(\d+)\.json$")


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


# --- export ---------------------------------------------------------------------------

def schema_for(cls: type[Envelope]) -> dict[str, Any]:
    """The JSON Schema of one event class, as it is stored in ``schemas/``."""
    tag = cls.__struct_config__.tag
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
        raise _incompatible(violations)
    written = []
    for cls in event_types.values():
        path = schema_path(directory, cls.__struct_config__.tag, cls.SCHEMA_VERSION)
        text = _render(schema_for(cls))
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def schema_drift(
    directory: Path = DEFAULT_DIRECTORY, event_types: Mapping[str, type[Envelope]] = EVENT_TYPES
) -> list[str]:
    """Event types whose stored schema file is missing or differs from the code."""
    drift = []
    for tag, cls in event_types.items():
        path = schema_path(directory, tag, cls.SCHEMA_VERSION)
        if not path.is_file():
            drift.append(f"{tag}: {path} is missing")
        elif path.read_text(encoding="utf-8") != _render(schema_for(cls)):
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
        raise _incompatible(violations)


def _incompatible(violations: list[Violation]) -> SchemaCompatibilityError:
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


# --- Confluent-compatible schema registry -----------------------------------------------

class SchemaRegistrySync:
    """Check and register the event schemas in a Confluent-compatible schema registry.

    One subject per event type and major version, ``callstream.<event_type>.v<N>``, with
    compatibility ``FULL``: the registry then enforces the same rule as
    ``check_compatibility``, and a new major version starts a new subject. Plain HTTP
    (urllib) against the REST API, so any compatible registry works (Confluent, Karapace,
    Redpanda, Apicurio's ccompat API). Credentials may be given in the URL
    (``https://key:secret@host``).
    """

    CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"schema registry URL {url!r} is not an http(s) URL",
                              hint="set schema_registry_url to e.g. http://127.0.0.1:8081")
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        self.url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self._auth = None
        if parts.username:
            token = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            self._auth = "Basic " + base64.b64encode(token.encode()).decode()
        self.timeout_s = timeout_s

    @staticmethod
    def subject(event_type: str, version: int) -> str:
        return f"callstream.{event_type}.v{version}"

    # -- requests (pure: tested without a registry)
    def _request(self, method: str, path: str, body: Mapping[str, Any] | None) -> urllib.request.Request:
        headers = {"Accept": f"{self.CONTENT_TYPE}, application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = self.CONTENT_TYPE
            data = json.dumps(body).encode()
        if self._auth:
            headers["Authorization"] = self._auth
        return urllib.request.Request(self.url + path, data=data, headers=headers, method=method)

    @staticmethod
    def _payload(schema: Mapping[str, Any]) -> dict[str, Any]:
        return {"schemaType": "JSON", "schema": json.dumps(schema, separators=(",", ":"))}

    def compatibility_request(self, subject: str, schema: Mapping[str, Any]) -> urllib.request.Request:
        path = f"/compatibility/subjects/{urllib.parse.quote(subject, safe='')}/versions/latest?verbose=true"
        return self._request("POST", path, self._payload(schema))

    def register_request(self, subject: str, schema: Mapping[str, Any]) -> urllib.request.Request:
        return self._request("POST", f"/subjects/{urllib.parse.quote(subject, safe='')}/versions", self._payload(schema))

    def config_request(self, subject: str, level: str = "FULL") -> urllib.request.Request:
        return self._request("PUT", f"/config/{urllib.parse.quote(subject, safe='')}", {"compatibility": level})

    # -- calls
    def _call(self, request: urllib.request.Request) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 (http(s) checked above)
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read() or b"{}")
            except ValueError:
                body = {}
            return exc.code, body if isinstance(body, dict) else {}
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise KafkaOperationError(f"schema registry {self.url} is unreachable: {exc}",
                                      hint="check schema_registry_url and that the registry is up") from exc

    def _fail(self, action: str, subject: str, status: int, body: Mapping[str, Any]) -> KafkaOperationError:
        return KafkaOperationError(
            f"schema registry refused to {action} {subject}: HTTP {status} {body.get('message', '')}".rstrip(),
            hint="check the registry's permissions and logs", code=str(body.get("error_code", status)),
        )

    def incompatibilities(self, subject: str, schema: Mapping[str, Any]) -> list[str]:
        """The registry's reasons ``schema`` cannot be the next version of ``subject`` ([] if it can)."""
        status, body = self._call(self.compatibility_request(subject, schema))
        if status == 404 and body.get("error_code") in (40401, 40402):
            return []  # no subject or no version yet: nothing to be incompatible with
        if status != 200:
            raise self._fail("check", subject, status, body)
        if body.get("is_compatible"):
            return []
        return [str(m) for m in body.get("messages") or ["incompatible (the registry gave no details)"]]

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its registry id."""
        status, body = self._call(self.config_request(subject))
        if status != 200:
            raise self._fail("configure", subject, status, body)
        status, body = self._call(self.register_request(subject, schema))
        if status == 409:
            raise SchemaCompatibilityError(f"schema registry rejected {subject} as incompatible: {body.get('message', '')}",
                                           hint="see the versioning rule in callstream.contract.schemas")
        if status != 200 or "id" not in body:
            raise self._fail("register", subject, status, body)
        return int(body["id"])

    def sync(self, event_types: Mapping[str, type[Envelope]] = EVENT_TYPES) -> dict[str, int]:
        """Check every event schema, then register them all: ``{subject: id}``.

        Checks all before registering any, so a refused change leaves the registry as it was.
        """
        schemas = {self.subject(tag, cls.SCHEMA_VERSION): schema_for(cls) for tag, cls in event_types.items()}
        problems = [f"{subject}: {m}" for subject, schema in schemas.items() for m in self.incompatibilities(subject, schema)]
        if problems:
            raise SchemaCompatibilityError(
                f"schema registry {self.url} reports {len(problems)} incompatibility(ies): " + "; ".join(problems[:5]),
                hint="see the versioning rule in callstream.contract.schemas",
            )
        return {subject: self.register(subject, schema) for subject, schema in schemas.items()}


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
