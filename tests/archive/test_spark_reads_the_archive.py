"""Apache Spark reads callstream's archive in place, through Iceberg's JDBC catalog on the same
SQLite catalog (`callstream archive spark-conf`): the same tables, the same row counts and
the same call timeline as callstream's own reader."""

from __future__ import annotations

import pyarrow.compute as pc
import pytest

from callstream.archive.archiver import archive_topics
from callstream.archive.engines import spark_conf, spark_jars
from callstream.archive.maintenance import compact
from callstream.archive.replay import ReplayScope, call_timeline
from callstream.archive.tables import Archive

from .conftest import new_producer, now_ms, produce_events, queued, segment, transferred_call

pytestmark = pytest.mark.slow


@pytest.fixture
def spark(archive_settings):
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[1]").appName("callstream-archive-test")
    builder = builder.config("spark.jars", ",".join(str(j) for j in spark_jars(archive_settings)))
    for key, value in {**spark_conf(archive_settings), "spark.ui.enabled": "false",
                       "spark.sql.shuffle.partitions": "1"}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    from pyspark import SparkContext

    # the JVM pyspark launched would outlive the session in this process: stop it by its process
    gateway = SparkContext._gateway  # noqa: SLF001
    if gateway is not None:
        gateway.shutdown()
        gateway.proc.terminate()
        gateway.proc.wait(30)
        SparkContext._gateway = SparkContext._jvm = None  # noqa: SLF001


def test_spark_sees_the_same_tables_rows_and_call_timeline(kafka_config, make_topics, archive_settings, unique_name,
                                                           spark) -> None:
    lifecycle, raw, redacted = make_topics("lifecycle", "raw", "redacted", partitions=3)
    settings = archive_settings.model_copy(update={"consumer_group": unique_name("archiver")})
    t0 = now_ms() - 60_000
    a_events, b_events = transferred_call("call-A", "call-B", t0)
    producer = new_producer(kafka_config)
    produce_events(producer, lifecycle, a_events + b_events)
    produce_events(producer, raw, [segment("call-A", 0, t0 + 5, "my card is 4111 1111 1111 1111")])
    produce_events(producer, redacted, queued("call-A", 3, t0 + 6))
    for noise in range(20):
        produce_events(producer, lifecycle, queued(f"noise-{noise}", 4, t0))
    assert producer.flush(30) == 0
    assert archive_topics(settings, kafka_config, [lifecycle, raw, redacted], idle_exit_s=1.5, max_seconds=60).archived > 0

    archive = Archive.open(settings)
    ours = {".".join(table.name()): table.scan().to_arrow().num_rows for _, table in archive.tables()}
    namespace = settings.namespace
    listed = {f"{namespace}.{row.tableName}" for row in spark.sql(f"SHOW TABLES IN callstream.{namespace}").collect()}
    assert listed == set(ours) and len(ours) == 3
    theirs = {name: spark.sql(f"SELECT count(*) AS n FROM callstream.{name}").collect()[0].n for name in ours}
    assert theirs == ours and sum(ours.values()) == len(a_events) + len(b_events) + 1 + 3 + 80

    scope = ReplayScope(topics=(lifecycle, raw, redacted), restricted=frozenset({raw}))
    timeline = call_timeline(archive, "call-A", scope=scope, include_raw=True, include_linked=False)
    expected = sorted((e.event_time_ms, e.topic, e.partition, e.offset) for e in timeline.events)
    union = " UNION ALL ".join(f"SELECT event_time_ms, kafka_topic, kafka_partition, kafka_offset FROM callstream.{name} "
                               "WHERE contact_id = 'call-A'" for name in ours)
    rows = spark.sql(f"{union} ORDER BY event_time_ms, kafka_topic, kafka_partition, kafka_offset").collect()
    assert [tuple(r) for r in rows] == expected and len(expected) == len(a_events) + 1 + 3

    # Compacted files: bodies as typed columns, delta-encoded integers, front-coded ids.
    for noise in range(20, 30):  # a second archiver run: small files for compaction to merge
        produce_events(producer, lifecycle, queued(f"noise-{noise}", 4, t0))
    assert producer.flush(30) == 0
    assert archive_topics(settings, kafka_config, [lifecycle], idle_exit_s=1.5, max_seconds=60).archived == 40
    compact(archive)
    table = archive.table(lifecycle)
    assert table.scan(selected_fields=("payload",)).to_arrow()["payload"].null_count == ours[name_of(table)] + 40
    spark.sql(f"REFRESH TABLE callstream.{name_of(table)}")
    queued_rows = spark.sql(f"SELECT event_id, kafka_offset, body.queue, body.queue_depth FROM "
                            f"callstream.{name_of(table)} WHERE event_type = 'call.queued'").collect()
    expected_rows = table.scan(selected_fields=("event_id", "kafka_offset", "event_type", "body")).to_arrow()
    expected_rows = expected_rows.filter(pc.equal(expected_rows["event_type"], "call.queued"))
    assert sorted((r.event_id, r.kafka_offset, r.queue, r.queue_depth) for r in queued_rows) == sorted(
        (e, o, b["queue"], b["queue_depth"]) for e, o, b in zip(*(expected_rows[c].to_pylist() for c in
                                                                   ("event_id", "kafka_offset", "body")), strict=True))
    assert len(queued_rows) == 120 and {r.queue for r in queued_rows} == {"billing"}


def name_of(table) -> str:
    return ".".join(table.name())
