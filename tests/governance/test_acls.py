"""Least privilege compiled from the catalog, applied to the secured session broker, and
verified with real clients as every principal."""

from __future__ import annotations

import subprocess
import time

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient

from callstream.contract.catalog import load_catalog
from callstream.contract.events import TranscriptSegment
from callstream.errors import KafkaOperationError
from callstream.governance.acls import (
    CONNECT_TOPIC_PREFIX,
    EXACTLY_ONCE,
    OBSERVER,
    Grant,
    add,
    compile_grants,
    grant_catalog,
    plan,
    principal_for,
    reaches_catalog,
    revoke,
    services,
)
from callstream.governance.verify import check_access, verify_catalog
from callstream.local import broker
from callstream.local.credentials import write_client_properties
from callstream.settings import load_settings

CATALOG = load_catalog()
RAW, REDACTED = "callstream.transcript.raw", "callstream.transcript.redacted"


def granted(grants: set[Grant], service: str, operation: str, name: str) -> bool:
    return any(g.principal == f"User:{service}" and g.operation == operation and g.name == name for g in grants)


def test_nothing_broader_than_the_catalog_is_granted() -> None:
    grants = compile_grants(CATALOG)
    assert not [g for g in grants if g.operation == "ALL" or g.name in ("*", "")]
    assert not [g for g in grants if g.pattern == "prefixed" and g.resource == "topic"
                and not g.name.startswith(("changelog__callstream-", "repartition__callstream-"))
                and (g.principal, g.name) != ("User:connect", CONNECT_TOPIC_PREFIX)]
    assert granted(grants, "redactor", "READ", RAW) and granted(grants, "archiver", "READ", RAW)
    assert not granted(grants, OBSERVER, "READ", RAW) and granted(grants, OBSERVER, "DESCRIBE", RAW)
    assert not granted(grants, "sentiment", "READ", RAW) and granted(grants, "sentiment", "READ", REDACTED)
    assert not granted(grants, "simulator", "READ", RAW) and granted(grants, "simulator", "WRITE", RAW)
    transactional = {g.principal.removeprefix("User:") for g in grants if g.resource == "transactional_id"}
    assert transactional == set(EXACTLY_ONCE)
    # Kafka Connect: sinks read the redacted transcript, never the raw one; a CRM source writes
    assert granted(grants, "connect", "READ", REDACTED) and not granted(grants, "connect", "READ", RAW)
    assert granted(grants, "connect", "WRITE", "callstream.crm.updates") and not granted(grants, "connect", "WRITE", REDACTED)


def test_every_service_is_a_principal_and_a_mapping_can_rename_it() -> None:
    assert {"simulator", "redactor", "archiver", "dashboard", "replay", "replay-privileged"} <= set(services(CATALOG))
    assert principal_for("redactor", {"redactor": "User:CN=redactor,O=acme"}) == "User:CN=redactor,O=acme"
    assert principal_for("redactor", {"redactor": "svc-redactor"}) == "User:svc-redactor"
    renamed = compile_grants(CATALOG, principals={"redactor": "svc-redactor"}, names={RAW: f"{RAW}.copy"})
    assert granted(renamed, "svc-redactor", "READ", f"{RAW}.copy") and not granted(renamed, "redactor", "READ", RAW)


def test_a_binding_round_trips_and_foreign_kinds_are_not_callstreams() -> None:
    grant = Grant("User:fraud", "group", "callstream-fraud", "prefixed", "READ")
    assert Grant.of(grant.binding()) == grant


def test_the_probe_matrix_allows_exactly_what_the_catalog_lists(pipeline, session_settings, session_cluster) -> None:
    result = verify_catalog(load_settings(None), CATALOG, names=pipeline.names)
    counts = result.counts()
    assert result.passed, [(p.principal, p.operation, p.topic, p.detail) for p in result.surprises]
    assert counts["probes"] == 2 * len(CATALOG.topics) * len(result.principals)
    listed = sum(len(t.producers) + len(t.consumers) for t in CATALOG.topics)
    assert counts["allowed_as_expected"] == listed and counts["refused_as_expected"] == counts["probes"] - listed
    by = {(p.principal, p.operation, p.topic): p for p in result.probes}
    assert by[(OBSERVER, "read", RAW)].allowed is False  # the dashboard can never read raw speech
    assert by[("sentiment", "read", RAW)].allowed is False and by[("sentiment", "read", REDACTED)].allowed


def test_a_wrong_password_is_refused(session_cluster, kafka_config) -> None:
    errors: list[KafkaError] = []
    producer = Producer(kafka_config | {"sasl.username": "redactor", "sasl.password": "not-its-password",
                                        "error_cb": errors.append, "log_level": "0"})
    producer.produce(REDACTED, b"x")
    deadline = time.monotonic() + 20
    while not errors and time.monotonic() < deadline:
        producer.poll(0.5)
    assert errors and errors[0].code() == KafkaError._AUTHENTICATION, errors


def test_a_missing_grant_is_named_with_its_topic_and_operation(pipeline, kafka_config, session_cluster) -> None:
    conf = session_cluster.client_config("sentiment")
    check_access(conf, "sentiment", reads=[pipeline[REDACTED]], writes=[pipeline["callstream.signals.sentiment"]])
    revoked = Grant("User:sentiment", "topic", pipeline[REDACTED], "literal", "READ")
    revoke(kafka_config, [revoked])
    with pytest.raises(KafkaOperationError) as refused:
        check_access(conf, "sentiment", reads=[pipeline[REDACTED]], writes=[pipeline["callstream.signals.sentiment"]])
    assert refused.value.message == f"principal sentiment is not authorized to READ on topic {pipeline[REDACTED]}"


def test_plan_apply_and_check_leave_foreign_bindings_alone(kafka_config, pipeline) -> None:
    admin = AdminClient(kafka_config)
    foreign = Grant("User:someone-else", "topic", pipeline[REDACTED], "literal", "READ")
    add(kafka_config, [foreign])
    desired = compile_grants(CATALOG, names=pipeline.names)
    principals = {g.principal for g in desired}
    assert plan(admin, desired, principals).missing == []  # the pipeline fixture applied them
    stale = Grant("User:redactor", "topic", pipeline["callstream.signals.fraud"], "literal", "READ")
    add(kafka_config, [stale])
    drift = plan(admin, desired, principals)
    assert stale in drift.stale and not drift.in_sync
    assert foreign in drift.undeclared and stale not in drift.undeclared  # a reader nobody declared, reported
    try:
        # the catalog applied to these copies only: every other grant of its principals is stale
        applied = grant_catalog(kafka_config, CATALOG, names=pipeline.names)
        assert stale in applied.stale
        after = plan(admin, desired, principals | {"User:someone-else"})
        assert after.missing == [] and after.stale == [foreign]  # apply never touched another principal's binding
    finally:  # the session's other tests need the catalog's own topics granted again
        grant_catalog(kafka_config, CATALOG, delete_stale=False)


def test_kafkas_own_console_consumer_connects_as_a_principal(pipeline, kafka_config, session_cluster, tmp_path) -> None:
    producer = Producer(kafka_config)
    producer.produce(pipeline["callstream.signals.fraud"], b'{"probe": 1}', key=b"k")
    producer.flush(10)
    files = write_client_properties(session_cluster.client_config("dashboard"), "dashboard", tmp_path)
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    java = files[1]
    libs = broker.kafka_libs()
    read = subprocess.run(
        ["java", "-cp", f"{libs}/*", "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server",
         session_cluster.bootstrap_servers, "--topic", pipeline["callstream.signals.fraud"], "--from-beginning",
         "--max-messages", "1", "--timeout-ms", "30000", "--consumer.config", str(java),
         "--group", "callstream-dashboard-console"], capture_output=True, text=True, timeout=120)
    assert '{"probe": 1}' in read.stdout, read.stderr[-2000:]
    refused = subprocess.run(
        ["java", "-cp", f"{libs}/*", "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server",
         session_cluster.bootstrap_servers, "--topic", pipeline[RAW], "--from-beginning", "--max-messages", "1",
         "--timeout-ms", "15000", "--consumer.config", str(java), "--group", "callstream-dashboard-console"],
        capture_output=True, text=True, timeout=120)
    assert "TopicAuthorizationException" in refused.stdout + refused.stderr


def test_a_worker_without_its_grant_stops_with_a_clear_error_and_the_others_keep_running(pipeline, workers,
                                                                                        kafka_config) -> None:
    revoked = Grant("User:sentiment", "topic", pipeline[REDACTED], "literal", "READ")
    revoke(kafka_config, [revoked])
    sentiment = workers("sentiment")
    redactor = workers("redactor")
    deadline = time.monotonic() + 60
    while sentiment.alive() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not sentiment.alive() and sentiment.returncode == 1
    assert (f"callstream: error: principal sentiment is not authorized to READ on topic {pipeline[REDACTED]} -- "
            "grant it:") in sentiment.log_path.read_text()
    now = int(time.time() * 1000)
    pipeline.produce(RAW, [TranscriptSegment(
        event_id="raw-1", contact_id="call-1", event_time_ms=now, produced_at_ms=now, producer="test",
        segment_id="seg-1", sequence=1, participant="customer", start_offset_ms=0, end_offset_ms=900,
        text="my card is 4111 1111 1111 1111", is_final=True)])
    redacted = pipeline.read_events(REDACTED, lambda ms: len(ms) >= 1, timeout_s=90)
    assert redactor.alive() and redacted and "4111" not in redacted[0].text


def test_undeclared_grants_are_those_reaching_catalog_topics_or_callstream_groups() -> None:
    topics = {"callstream.analytics.windows"}
    reaching = [("topic", "callstream.analytics.windows", "literal"), ("topic", "*", "literal"),
                ("topic", "callstream.analytics", "prefixed"), ("topic", "", "prefixed"),
                ("group", "callstream-bi", "prefixed"), ("group", "callstream-bi-1", "literal"),
                ("group", "call", "prefixed"), ("group", "*", "literal")]
    elsewhere = [("topic", "bi.reports", "literal"), ("topic", "bi.", "prefixed"), ("group", "bi-", "prefixed"),
                 ("transactional_id", "callstream-", "prefixed")]
    for resource, name, pattern in reaching:
        assert reaches_catalog(Grant("User:bi-tool", resource, name, pattern, "READ"), topics), (resource, name, pattern)
    for resource, name, pattern in elsewhere:
        assert not reaches_catalog(Grant("User:bi-tool", resource, name, pattern, "READ"), topics), (resource, name, pattern)


def test_transactional_ids_are_granted_to_exactly_the_exactly_once_processors() -> None:
    """An at-least-once processor never opens a transaction, so a transactional-id grant would
    be one it does not use."""
    from callstream.processors.registry import BUNDLES, load_processor, processor_names

    declared = {name for name in [*processor_names(), *BUNDLES] if load_processor(name).guarantee == "exactly-once"}
    assert set(EXACTLY_ONCE) == declared
