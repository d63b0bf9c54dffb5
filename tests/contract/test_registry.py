"""The schema-registry sync against a real Confluent-compatible registry (Apicurio, in memory).

One registry for the module (start ~3 s; its first build on a machine ~1-2 min with Maven);
each test uses its own subject prefix so they do not see each other's versions.
"""

from __future__ import annotations

import json
import urllib.request
from itertools import count

import pytest
from support.schema_changes import COMPATIBLE_CHANGES, INCOMPATIBLE_CHANGES, variant

from callstream.cli import main
from callstream.contract.events import EVENT_TYPES, TranscriptSegment
from callstream.contract.registry import REGISTRY_DIALECT, SchemaRegistrySync
from callstream.contract.schemas import schema_for
from callstream.errors import SchemaCompatibilityError
from callstream.local.registry import SchemaRegistryServer

pytestmark = pytest.mark.slow
_prefixes = count()

#: JSON Schema keywords draft-07 and 2020-12 read alike, plus callstream's annotations; the
#: registry is told draft-07 (see SchemaRegistrySync._payload), which holds only while the
#: schemas keep to these
SHARED_KEYWORDS = {"$schema", "$ref", "$defs", "title", "description", "default", "type", "properties", "required",
                   "items", "enum", "anyOf", "minimum", "maximum",
                   "x-classification", "x-event-type", "x-pii", "x-schema-version"}


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory):
    server = SchemaRegistryServer(tmp_path_factory.mktemp("registry"))
    state, started = server.start()
    assert started
    yield server.api_url(state)
    assert server.stop() == state.pid


@pytest.fixture
def sync(registry_url, monkeypatch):
    """A sync whose subjects are ``t<N>.callstream...``: fresh for each test."""
    prefix = f"t{next(_prefixes)}."
    registry = SchemaRegistrySync(registry_url)
    subject = SchemaRegistrySync.subject
    monkeypatch.setattr(registry, "subject", lambda tag, version: prefix + subject(tag, version))
    return registry


def _keywords(node: object, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            found.add(key)
            children = value.values() if key in ("properties", "$defs") and isinstance(value, dict) else [value]
            for child in children:
                _keywords(child, found)
    elif isinstance(node, list):
        for child in node:
            _keywords(child, found)
    return found


def test_schemas_keep_to_keywords_both_dialects_read_alike():
    used = set().union(*(_keywords(schema_for(cls), set()) for cls in EVENT_TYPES.values()))
    assert used <= SHARED_KEYWORDS, f"new keywords {used - SHARED_KEYWORDS}: check they mean the same in draft-07"


def test_sync_registers_every_event_type_then_refuses_a_breaking_change(sync, registry_url):
    ids = sync.sync()
    assert sorted(ids) == sorted(sync.subject(t, 1) for t in EVENT_TYPES)
    assert len(set(ids.values())) == len(ids)
    assert sync.sync() == ids  # idempotent: the same schema is the same version

    subject = sync.subject("transcript.segment", 1)
    with urllib.request.urlopen(f"{registry_url}/config/{subject}") as answer:
        assert json.loads(answer.read())["compatibilityLevel"] == "FULL"
    with urllib.request.urlopen(f"{registry_url}/subjects/{subject}/versions/latest") as answer:
        stored = json.loads(answer.read())
    assert json.loads(stored["schema"]) == {**schema_for(TranscriptSegment), "$schema": REGISTRY_DIALECT}

    breaking = {"transcript.segment": variant(TranscriptSegment, add=[("speaker_id", str)])}
    with pytest.raises(SchemaCompatibilityError, match=f"{subject}: incompatible") as err:
        sync.sync(breaking)
    assert "open content model" in err.value.hint
    with urllib.request.urlopen(f"{registry_url}/subjects/{subject}/versions") as answer:
        assert json.loads(answer.read()) == [1]  # nothing registered by the refused sync


def _registry_refuses(sync: SchemaRegistrySync, changed: type) -> bool:
    subject = sync.subject("transcript.segment", 1)
    sync.register(subject, schema_for(TranscriptSegment))
    return bool(sync.incompatibilities(subject, schema_for(changed)))


@pytest.mark.parametrize(("changed", "expected"), INCOMPATIBLE_CHANGES.values(), ids=INCOMPATIBLE_CHANGES.keys())
def test_the_registry_refuses_every_change_callstream_refuses(sync, changed, expected):
    assert _registry_refuses(sync, changed)


@pytest.mark.parametrize("changed", COMPATIBLE_CHANGES.values(), ids=COMPATIBLE_CHANGES.keys())
def test_the_registry_is_stricter_on_added_and_removed_fields(sync, changed):
    # Measured: under FULL the registry refuses adding or removing even an optional field (JSON
    # Schema's open content model: old data could hold any value under the new name).
    # callstream's check accepts these, so `schemas register` names that rule in its hint.
    assert _registry_refuses(sync, changed)


def test_cli_registers_with_the_state_dirs_registry(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CALLSTREAM_SCHEMA_REGISTRY_URL", raising=False)

    def callstream(*args: str) -> tuple[int, str]:
        code = main(["--state-dir", str(tmp_path), *args])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    code, out = callstream("schemas", "register")
    assert code != 0 and "no schema registry is configured" in out and "callstream registry start" in out
    code, out = callstream("registry", "start")
    try:
        assert code == 0 and "/apis/ccompat/v6" in out, out
        assert "already running" in callstream("registry", "start")[1]
        code, out = callstream("schemas", "register")
        assert code == 0 and "callstream.transcript.segment.v1" in out, out
    finally:
        code, out = callstream("registry", "stop")
    assert code == 0 and "stopped (pid" in out
    assert SchemaRegistryServer(tmp_path).state() is None
