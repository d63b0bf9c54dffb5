"""Benchmark: the migration replicator against a bare copy loop between the same clusters.

Cluster A (one node) and cluster B (``--target-brokers`` nodes, replication 3 when it has
three) run on this machine. A topic of ``--records`` simulated-size records (``--partitions``
partitions) is written to A, then copied to B ``--rounds`` times, alternating:

* the bare loop: one consumer on A, one idempotent producer on B, no transactions, no
  offset map, nothing committed (the fastest correct-enough copy: what a plain mirror does);
* callstream's replicator: transactions on B with the offset map and its positions.

Each round copies into a fresh topic on B. Reported: records/s of each (median of rounds),
the ratio, and the spread of the ratios.

    python bench/migration.py [--records 200000] [--partitions 6] [--rounds 3] [--target-brokers 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from rich.console import Console
from rich.table import Table

from callstream.contract.catalog import load_catalog
from callstream.kafka.produce import produce_patiently
from callstream.local import broker
from callstream.migrate.links import Link, cluster_id_of
from callstream.migrate.plan import make_plan, prepare_target
from callstream.migrate.replicator import Replicator, unreplicated


def fill(conf: dict[str, str], topic: str, records: int, partitions: int) -> None:
    admin = AdminClient(conf)
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(60)
    producer = Producer(conf | {"linger.ms": "20", "compression.type": "lz4", "partitioner": "murmur2_random"})
    value = b"x" * 400  # about a transcript segment's size
    for i in range(records):
        produce_patiently(producer, topic, value, f"contact-{i % 5000}".encode(), [("event_type", b"transcript.segment")])
    producer.flush(120)


def bare_copy(source: dict[str, str], target: dict[str, str], source_topic: str, target_topic: str, records: int) -> float:
    """Seconds to copy ``records`` partition for partition without transactions."""
    consumer = Consumer(source | {"group.id": f"bench-{uuid.uuid4().hex[:6]}", "enable.auto.commit": "false",
                                  "enable.partition.eof": "false"})
    partitions = consumer.list_topics(source_topic, timeout=10).topics[source_topic].partitions
    consumer.assign([TopicPartition(source_topic, p, OFFSET_BEGINNING) for p in partitions])
    producer = Producer(target | {"linger.ms": "5", "compression.type": "lz4", "enable.idempotence": "true"})
    started, copied = time.perf_counter(), 0
    while copied < records:
        for m in consumer.consume(5000, 1.0):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError(m.error())
            produce_patiently(producer, target_topic, m.value(), m.key(), m.headers(), partition=m.partition())
            copied += 1
        producer.poll(0)
    producer.flush(120)
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed


def replicate(a: Link, b: Link, topic: str, records: int) -> float:
    prepare_target(make_plan(a, b, load_catalog(), [topic]), b)
    replicator = Replicator(a, b, [topic])
    started = time.perf_counter()
    try:
        while replicator.stats.copied < records:
            replicator.step()
        elapsed = time.perf_counter() - started
        if any(unreplicated(a, replicator.positions).values()):
            raise RuntimeError("the replicator reported done with records left")
    finally:
        replicator.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--target-brokers", type=int, default=3)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="callstream-bench-migration-") as tmp:
        work = Path(tmp)
        a_cluster, _ = broker.start(work / "a", 1, ports=broker.free_ports(2), timeout_s=120)
        b_cluster, _ = broker.start(work / "b", args.target_brokers, ports=broker.free_ports(2 * args.target_brokers), timeout_s=180)
        try:
            a_conf, b_conf = a_cluster.client_config(), b_cluster.client_config()
            console.print(f"A: 1 node, B: {args.target_brokers} nodes; writing {args.records:,} records to A")
            rows, ratios = [], []
            for n in range(args.rounds):
                topic = f"bench.copy.{n}.{uuid.uuid4().hex[:6]}"
                fill(a_conf, topic, args.records, args.partitions)
                bare_b = AdminClient(b_conf)
                bare_topic = f"{topic}.bare"
                bare_b.create_topics([NewTopic(bare_topic, num_partitions=args.partitions,
                                               replication_factor=min(3, args.target_brokers))])[bare_topic].result(60)
                bare_s = bare_copy(a_conf, b_conf, topic, bare_topic, args.records)
                a = Link("a", a_conf, cluster_id_of(a_conf, "a"))
                b = Link("b", b_conf, cluster_id_of(b_conf, "b"))
                replicator_s = replicate(a, b, topic, args.records)
                bare_rate, replicator_rate = args.records / bare_s, args.records / replicator_s
                ratios.append(replicator_rate / bare_rate)
                rows.append((bare_rate, replicator_rate))
                console.print(f"round {n + 1}: bare {bare_rate:,.0f}/s, replicator {replicator_rate:,.0f}/s, ratio {ratios[-1]:.2f}")
        finally:
            broker.stop(work / "b")
            broker.stop(work / "a")
    bare = statistics.median(r[0] for r in rows)
    replicated = statistics.median(r[1] for r in rows)
    table = Table(title=f"Copying {args.records:,} records A (1 node) -> B ({args.target_brokers} nodes), {args.rounds} rounds")
    for column in ("copy", "records/s (median)", "vs bare"):
        table.add_column(column)
    table.add_row("bare consume -> produce (baseline)", f"{bare:,.0f}", "1.00")
    table.add_row("callstream replicator (transactions, offset map)", f"{replicated:,.0f}",
                  f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
    console.print(table)
    print(json.dumps({"records": args.records, "partitions": args.partitions, "target_brokers": args.target_brokers,
                      "bare_per_s": round(bare), "replicator_per_s": round(replicated),
                      "ratio_median": round(statistics.median(ratios), 3), "ratio_min": round(min(ratios), 3),
                      "ratio_max": round(max(ratios), 3)}))


if __name__ == "__main__":
    main()
