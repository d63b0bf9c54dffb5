"""Schema export, the compatibility checker and the schema-registry sync."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest
from support.schema_changes import COMPATIBLE_CHANGES, INCOMPATIBLE_CHANGES, variant

from callstream.contract.codec import encode_event
from callstream.contract.compatibility import check, compare_schemas
from callstream.contract.events import EVENT_TYPES, RedactedSegment, TranscriptSegment
from callstream.contract.registry import REGISTRY_DIALECT, SchemaRegistrySync
from callstream.contract.schemas import (
    EXPORT_COMMAND,
    check_compatibility,
    export_schemas,
    same_meaning,
    schema_drift,
    schema_for,
    schema_path,
    stored_versions,
)
from callstream.errors import ConfigError, SchemaCompatibilityError, SchemaRegistryError

REPO_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def violations_of(changed: type, base: type = TranscriptSegment) -> list[tuple[str, str, str]]:
    return [(v.direction, v.path, v.reason) for v in compare_schemas(schema_for(base), schema_for(changed))]


# --- the committed schema files ------------------------------------------------------------

def test_committed_schemas_match_the_code():
    drift = schema_drift(REPO_SCHEMAS)
    assert not drift, (
        "schemas/ is out of date with callstream/contract/events.py:\n  " + "\n  ".join(drift)
        + f"\nre-export from the repository root with:  {EXPORT_COMMAND}"
    )


def _with_description(schema: dict[str, Any], field: str, text: str) -> dict[str, Any]:
    edited = json.loads(json.dumps(schema))
    edited["$defs"]["TranscriptSegment"]["properties"][field]["description"] = text
    return edited


def test_description_whitespace_is_not_a_schema_change():
    schema = schema_for(TranscriptSegment)
    described = _with_description(schema, "text", "What was said,\n    as the speech engine heard it.")
    redented = _with_description(schema, "text", "What was said,\nas the speech engine heard it.  ")
    assert same_meaning(described, redented)
    assert not same_meaning(described, _with_description(schema, "text", "What was said."))


@pytest.mark.parametrize("edit", [
    lambda props, required: props["text"].update(type="integer"),
    lambda props, required: props.pop("is_final"),
    lambda props, required: required.remove("text"),
    lambda props, required: props["participant"].update(enum=["agent", "customer"]),
], ids=["type", "field", "requiredness", "enum"])
def test_any_structural_change_still_counts(edit):
    schema = schema_for(TranscriptSegment)
    edited = json.loads(json.dumps(schema))
    definition = edited["$defs"]["TranscriptSegment"]
    edit(definition["properties"], definition["required"])
    assert not same_meaning(schema, edited)


def test_the_code_is_compatible_with_the_committed_schemas():
    violations = check_compatibility(REPO_SCHEMAS)
    assert not violations, "\n".join(map(str, violations))


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_committed_schema_accepts_what_the_codec_writes(event_type, sample_event):
    schema = json.loads(schema_path(REPO_SCHEMAS, event_type, 1).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    validator.check_schema(schema)
    body = json.loads(encode_event(sample_event(EVENT_TYPES[event_type]))[0])
    validator.validate(body)
    body["event_type"] = "something.else"
    assert not validator.is_valid(body)


def test_classification_annotations_are_exported():
    schema = json.loads(schema_path(REPO_SCHEMAS, "transcript.segment", 1).read_text())
    fields = schema["$defs"]["TranscriptSegment"]["properties"]
    assert fields["text"]["x-classification"] == "restricted"
    assert fields["text"]["x-pii"] == "free-text"
    assert schema["x-event-type"] == "transcript.segment" and schema["x-schema-version"] == 1


# --- the compatibility checker ---------------------------------------------------------------

def test_identical_schema_is_compatible():
    assert violations_of(variant(TranscriptSegment)) == []


@pytest.mark.parametrize("changed", COMPATIBLE_CHANGES.values(), ids=COMPATIBLE_CHANGES.keys())
def test_compatible_changes_pass(changed):
    assert violations_of(changed) == []
    check(schema_for(TranscriptSegment), schema_for(changed))


@pytest.mark.parametrize(("changed", "expected"), INCOMPATIBLE_CHANGES.values(), ids=INCOMPATIBLE_CHANGES.keys())
def test_incompatible_changes_are_rejected_with_path_and_reason(changed, expected):
    assert violations_of(changed) == expected
    with pytest.raises(SchemaCompatibilityError) as err:
        check(schema_for(TranscriptSegment), schema_for(changed))
    assert expected[0][1] in err.value.message
    assert "SCHEMA_VERSION" in err.value.hint


def test_nested_struct_changes_are_found_by_path():
    class Span(msgspec.Struct, frozen=True):
        start: str  # was int
        end: int
        entity_type: str

    changed = variant(RedactedSegment, change={"redactions": list[Span]})
    assert violations_of(changed, RedactedSegment) == [
        ("BACKWARD", "$.redactions[].start", "type changed: old data may hold integer, new readers accept only string"),
        ("FORWARD", "$.redactions[].start", "type changed: new data may hold string, old readers accept only integer"),
    ]


def test_map_values_and_recursive_types_are_compared():
    old = {"type": "object", "properties": {"tags": {"type": "object", "additionalProperties": {"type": "integer"}},
                                            "tree": {"$ref": "#/$defs/Node"}},
           "$defs": {"Node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                                                               "size": {"type": "integer"}}}}}
    new = json.loads(json.dumps(old))
    new["properties"]["tags"]["additionalProperties"] = {"type": "string"}
    new["$defs"]["Node"]["properties"]["size"] = {"type": "string"}
    paths = {(v.direction, v.path) for v in compare_schemas(old, new, "x")}
    assert paths == {("BACKWARD", "$.tags{}"), ("FORWARD", "$.tags{}"),
                     ("BACKWARD", "$.tree.size"), ("FORWARD", "$.tree.size")}


# --- the directory hooks and the versioning rule ----------------------------------------------

@pytest.fixture
def schema_dir(tmp_path) -> Path:
    export_schemas(tmp_path)
    return tmp_path


def test_export_writes_one_file_per_event_type_and_is_idempotent(tmp_path):
    written = export_schemas(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(f"{t}/v1.json" for t in EVENT_TYPES)
    assert export_schemas(tmp_path) == []


def test_export_refuses_an_incompatible_change_and_writes_nothing(schema_dir):
    before = schema_path(schema_dir, "transcript.segment", 1).read_text()
    changed = {**EVENT_TYPES, "transcript.segment": variant(TranscriptSegment, add=[("speaker_id", str)])}
    assert [v.path for v in check_compatibility(schema_dir, changed)] == ["$.speaker_id"]
    with pytest.raises(SchemaCompatibilityError, match=r"transcript.segment BACKWARD \$.speaker_id"):
        export_schemas(schema_dir, changed)
    assert schema_path(schema_dir, "transcript.segment", 1).read_text() == before
    assert schema_drift(schema_dir, changed) == [
        f"transcript.segment: {schema_path(schema_dir, 'transcript.segment', 1)} differs from callstream/contract/events.py"]


def test_export_writes_a_compatible_change(schema_dir):
    changed = {**EVENT_TYPES, "transcript.segment": variant(TranscriptSegment, add=[("speaker_id", str | None, None)])}
    assert export_schemas(schema_dir, changed) == [schema_path(schema_dir, "transcript.segment", 1)]
    assert schema_drift(schema_dir, changed) == []


def test_a_breaking_change_is_a_new_major_version_with_a_migration_note(schema_dir):
    v2 = variant(TranscriptSegment, add=[("speaker_id", str)], drop=["language"], version=2)
    changed = {**EVENT_TYPES, "transcript.segment": v2}
    [violation] = check_compatibility(schema_dir, changed)
    assert violation.direction == "VERSIONING"
    assert "new major version v2 needs a migration note at" in violation.reason
    (schema_dir / "transcript.segment" / "v2.md").write_text("speaker_id is now required; ...\n")
    assert check_compatibility(schema_dir, changed) == []
    export_schemas(schema_dir, changed)
    assert sorted(stored_versions(schema_dir, "transcript.segment")) == [1, 2]  # v1 stays for the archive


def test_versions_may_not_skip_or_go_backwards(schema_dir):
    skipping = {**EVENT_TYPES, "transcript.segment": variant(TranscriptSegment, version=3)}
    [violation] = check_compatibility(schema_dir, skipping)
    assert "the next major version is v2" in violation.reason
    (schema_dir / "transcript.segment" / "v2.json").write_text(json.dumps(schema_for(TranscriptSegment)))
    [violation] = check_compatibility(schema_dir, EVENT_TYPES)
    assert "must not go backwards" in violation.reason


def test_removing_an_event_type_is_refused(schema_dir):
    fewer = {tag: cls for tag, cls in EVENT_TYPES.items() if tag != "call.heartbeat"}
    [violation] = check_compatibility(schema_dir, fewer)
    assert (violation.event_type, violation.direction) == ("call.heartbeat", "BACKWARD")
    assert "event type removed" in violation.reason


def test_a_new_event_type_has_nothing_to_break(schema_dir):
    from callstream.contract.events import Envelope

    class CallRecorded(Envelope, tag="call.recorded", frozen=True, kw_only=True):
        recording_uri: str

    assert check_compatibility(schema_dir, {**EVENT_TYPES, "call.recorded": CallRecorded}) == []


def test_corrupt_schema_file_is_a_config_error(schema_dir):
    schema_path(schema_dir, "call.held", 1).write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read schema file .*call.held/v1.json"):
        check_compatibility(schema_dir)


def test_module_command_checks_and_exports(tmp_path, capsys):
    from callstream.contract.schemas import main

    assert main(["check", str(tmp_path)]) == 1  # nothing exported yet: every file missing
    assert main(["export", str(tmp_path)]) == 0
    assert main(["check", str(tmp_path)]) == 0
    assert "ok: schemas compatible and up to date" in capsys.readouterr().out


# --- schema registry ------------------------------------------------------------------------
# The requests are checked as data here; test_registry.py runs them against a real registry.

def test_registry_requests_follow_the_confluent_rest_api():
    registry = SchemaRegistrySync("https://key:s%40cret@registry.example:8081/base/")
    schema = schema_for(TranscriptSegment)
    subject = registry.subject("transcript.segment", 1)
    assert subject == "callstream.transcript.segment.v1"

    check_req = registry.compatibility_request(subject, schema)
    assert check_req.get_method() == "POST"
    assert check_req.full_url == (
        "https://registry.example:8081/base/compatibility/subjects/callstream.transcript.segment.v1/versions/latest?verbose=true")
    body = json.loads(check_req.data)
    assert body["schemaType"] == "JSON" and json.loads(body["schema"]) == {**schema, "$schema": REGISTRY_DIALECT}
    assert check_req.get_header("Content-type") == "application/vnd.schemaregistry.v1+json"
    assert check_req.get_header("Authorization") == "Basic a2V5OnNAY3JldA=="  # key:s@cret

    register_req = registry.register_request(subject, schema)
    assert register_req.full_url.endswith("/base/subjects/callstream.transcript.segment.v1/versions")
    assert json.loads(register_req.data) == body

    config_req = registry.config_request(subject)
    assert (config_req.get_method(), json.loads(config_req.data)) == ("PUT", {"compatibility": "FULL"})


def test_registry_url_must_be_http():
    with pytest.raises(ConfigError, match="not an http"):
        SchemaRegistrySync("registry:8081")


def test_registry_unreachable_is_a_clear_error():
    registry = SchemaRegistrySync("http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(SchemaRegistryError, match="schema registry http://127.0.0.1:9 is unreachable"):
        registry.incompatibilities("callstream.call.held.v1", schema_for(EVENT_TYPES["call.held"]))
