"""Benchmark: how much of a worker's cost is Quix Streams' loop around its step.

The headroom target puts the redactor within 3x of the bare consume->produce loop, and the
pipeline benchmark measures it at 14-22x. This one splits that gap, for the redactor or any
at-least-once processor or bundle (``--processor signals``). On one broker (secured as
`callstream kafka start` makes it), in rounds, each on fresh simulator events of the
processor's inputs (sealed as `callstream up` produces them, unless ``--no-encryption``;
redacted segments are the redactor's output of the simulator's raw ones), in event order:

- **bare loop**: confluent-kafka ``consume(1000)`` -> ``produce`` of the same bytes, a flush
  and an offset commit every second (a worker's checkpoint): what Kafka itself costs;
- **step alone**: the processor's whole per-message step (decode, open sealed fields for
  the redactor, the processor, its per-call state, encode; ``ProcessorStep``, as the worker
  runs it) over the same messages in memory, no Kafka;
- **batch loop**: the bare loop calling that step on each message, per-call state in a dict
  (what a worker without Quix would do, without keeping its state across a restart);
- **batch loop + changelog**: the batch loop writing each touched call's state to a compacted
  topic once per checkpoint, before the flush and the commit: the durable per-call state a
  worker must keep across a restart (reading it back on assignment is not timed);
- **message loop**: the batch loop calling the client as Quix Streams' loop does: one message
  a ``poll``, a ``poll(0)`` after each ``produce``, a Python delivery callback per message
  (Quix's records offsets in it). The batch loop against it is what the client's call
  pattern costs; it against the worker, Quix's own Python layers and its durable state;
- **Quix worker**: the processor's worker (`callstream run NAME`) draining the same events
  from its input topics, timed by its group's committed lag.

The loops read one topic holding every input event in order (the step dispatches by event
type), the worker its catalog topics. Each way is reported as msgs/s and as CPU per message
(the process's user + system time, librdkafka's threads included): CPU per message is the
steadier figure on a shared machine. Ratios are to the bare loop of the same round; the
table gives the median and range over rounds.

    python bench/processor_loop.py [--processor redactor] [--messages 40000] [--rounds 3] [--no-encryption]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import msgspec
from confluent_kafka.admin import AdminClient, NewTopic
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import BenchCluster, Drain, Record, backlog_simulation, bare_copy, consume_produce, produce_backlog  # noqa: E402

from callstream.contract.catalog import load_catalog  # noqa: E402
from callstream.contract.codec import encode_event  # noqa: E402
from callstream.contract.events import TranscriptSegment, event_type_of  # noqa: E402
from callstream.errors import ConfigError  # noqa: E402
from callstream.governance.protection import open_protection  # noqa: E402
from callstream.kafka.config import KEY_PARTITIONER  # noqa: E402
from callstream.kafka.topics import delete_topics  # noqa: E402
from callstream.processors.base import KeyedMemoryState, Processor  # noqa: E402
from callstream.processors.registry import BUNDLES, load_processor  # noqa: E402
from callstream.processors.runtime import ProcessorStep, fetch_config  # noqa: E402
from callstream.simulate.simulator import generate_events, topic_routes  # noqa: E402

WAYS = ("bare loop", "step alone", "batch loop", "batch loop + changelog", "message loop", "Quix worker")


def step_for(bench: BenchCluster, processor: Processor) -> ProcessorStep:
    """The processor's per-message step as its worker builds it (catalog, field protection)."""
    protection = open_protection(bench.settings, processor.name, force=True) if processor.reads_restricted else None
    return ProcessorStep(processor, load_catalog(), protection)


def input_records(bench: BenchCluster, processor: Processor, count: int, seed: int, seal) -> list[Record]:
    """The first ``count`` simulator events on ``processor``'s inputs, encoded, in event order,
    each with its catalog topic. Redacted segments are the redactor's output of the raw ones."""
    settings = backlog_simulation(seed)
    routes = topic_routes(settings)
    redactor = step_for(bench, load_processor("redactor")) if "callstream.transcript.redacted" in processor.inputs else None
    states = KeyedMemoryState()
    records: list[Record] = []
    for item in generate_events(settings):
        event = seal(item.event) if seal else item.event
        key = item.event.contact_id.encode()
        value, headers = encode_event(event, validate=False)
        topic = routes.get(event_type_of(item.event))
        if redactor is not None and isinstance(item.event, TranscriptSegment):
            outgoing = redactor(value, key, 0, headers, states.for_key(key))
            candidates = [(o.topic, o.key, o.value, list(o.headers)) for o in outgoing]
        else:
            candidates = [(topic, key, value, headers)] if topic else []
        records += [r for r in candidates if r[0] in processor.inputs]
        if len(records) >= count:
            return records[:count]
    return records


def step_alone(step: ProcessorStep, records: list[Record]) -> Drain:
    """The step over ``records`` in memory: no Kafka at all."""
    states = KeyedMemoryState()
    started, cpu_started = time.perf_counter(), time.process_time()
    for _, key, value, headers in records:
        step(value, key, 0, headers, states.for_key(key))
    return Drain(len(records), time.perf_counter() - started, time.process_time() - cpu_started)


def batch_loop(bench: BenchCluster, step: ProcessorStep, source: str, records: list[Record], per_message: bool = False,
               changelog: str | None = None) -> Drain:
    """The bare loop with the step in it, the worker's fetch and linger settings (``per_message``:
    calling the client as Quix Streams' loop does). With a ``changelog`` topic, every call
    whose state the step touched is written there once per checkpoint, before the flush and
    the offset commit (the durable state a worker must keep, at a checkpoint's cost instead
    of a message's)."""
    states = KeyedMemoryState()
    touched: set[bytes] = set()
    processor = step.processor

    def handle(message) -> list[tuple]:
        key = message.key()
        touched.add(key)
        return [(o.topic, o.key, o.value, o.headers)
                for o in step(message.value(), key, 0, message.headers(), states.for_key(key))]

    def write_state(producer) -> None:
        for key in touched:
            producer.produce(changelog, msgspec.json.encode(states.for_key(key).data), key=key)
        touched.clear()

    produce_backlog(bench.conf, [(source, *r[1:]) for r in records])
    return consume_produce(bench.conf, source, len(records), handle,
                           {"linger.ms": max(2, processor.batch_ms // 4), **KEY_PARTITIONER}, fetch_config(processor.batch_ms),
                           per_message=per_message, before_checkpoint=write_state if changelog else None)


def run_round(bench: BenchCluster, step: ProcessorStep, records: list[Record], first: bool) -> dict[str, Drain]:
    topics = [f"bench.loop.{name}.{time.time_ns()}" for name in ("bare", "copy", "batch", "durable", "message", "state")]
    admin = AdminClient(bench.conf)  # keep a reference: a collected client cancels its futures
    compacted = {"cleanup.policy": "compact"}
    for future in admin.create_topics([NewTopic(t, 6, 1, config=compacted if t == topics[-1] else {})
                                       for t in topics]).values():
        future.result(30)
    try:
        return {"bare loop": bare_copy(bench.conf, topics[0], topics[1], [r[1:] for r in records]),
                "step alone": step_alone(step, records),
                "batch loop": batch_loop(bench, step, topics[2], records),
                "batch loop + changelog": batch_loop(bench, step, topics[3], records, changelog=topics[5]),
                "message loop": batch_loop(bench, step, topics[4], records, per_message=True),
                "Quix worker": bench.worker_drain(step.processor.name, records, start=first)}
    finally:
        delete_topics(bench.conf, topics)


def summary(rounds: list[dict[str, Drain]]) -> dict[str, dict[str, float]]:
    """Per way: median msgs/s and CPU per message, and CPU per message against the bare loop
    of the same round (median, min, max)."""
    out = {}
    for way in WAYS:
        ratios = [r[way].cpu_us_per_message / r["bare loop"].cpu_us_per_message for r in rounds]
        out[way] = {"msgs_per_s": round(statistics.median(r[way].msgs_per_s for r in rounds), 1),
                    "cpu_us_per_message": round(statistics.median(r[way].cpu_us_per_message for r in rounds), 1),
                    "cpu_vs_bare": round(statistics.median(ratios), 2),
                    "cpu_vs_bare_min": round(min(ratios), 2), "cpu_vs_bare_max": round(max(ratios), 2)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processor", default="redactor", help="an at-least-once processor or bundle")
    parser.add_argument("--messages", type=int, default=40_000, help="input events per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-encryption", action="store_true", help="plaintext events (the simulator seals by default)")
    parser.add_argument("--insecure", action="store_true", help="a plaintext broker without ACLs")
    args = parser.parse_args()
    if args.messages < 5_000 or args.rounds < 1:
        parser.error("--messages takes at least 5000 (the worker is timed by lag samples 0.25 s apart) and --rounds at least 1")
    try:
        processor = load_processor(args.processor)
    except ConfigError as exc:  # an unknown name: the error names the ones that exist
        parser.error(str(exc))
    if processor.guarantee != "at-least-once":
        parser.error(f"--processor {args.processor} is {processor.guarantee}; the loops here run no transactions, so "
                     f"name an at-least-once processor or bundle ({', '.join(sorted(BUNDLES))}, redactor, sentiment, ...)")
    console = Console()
    rounds = []
    with BenchCluster(insecure=args.insecure) as bench:
        step = step_for(bench, processor)
        seal = None if args.no_encryption else bench.producer_seal()
        for n in range(args.rounds):
            records = input_records(bench, processor, args.messages, args.seed + n, seal)
            rounds.append(run_round(bench, step, records, first=n == 0))
            console.print(f"round {n + 1}: " + ", ".join(
                f"{way} {d.msgs_per_s:,.0f} msgs/s {d.cpu_us_per_message:.1f} us" for way, d in rounds[-1].items()))
        security = bench.security
    figures = summary(rounds)
    table = Table(title=f"{args.processor}'s loop ({args.rounds} rounds of {args.messages:,} input events, "
                        f"{'plaintext' if args.no_encryption else 'sealed'}, broker {security})")
    for column in ("way", "msgs/s (median)", "CPU us/message (median)", "CPU x bare loop (median, range)"):
        table.add_column(column, justify="left" if column == "way" else "right")
    for way, f in figures.items():
        table.add_row(way, f"{f['msgs_per_s']:,.0f}", f"{f['cpu_us_per_message']:.1f}",
                      f"{f['cpu_vs_bare']:.2f} ({f['cpu_vs_bare_min']:.2f}-{f['cpu_vs_bare_max']:.2f})")
    console.print(table)
    quix, durable = figures["Quix worker"]["cpu_us_per_message"], figures["batch loop + changelog"]["cpu_us_per_message"]
    console.print(f"{args.processor} costs {figures['Quix worker']['cpu_vs_bare']:.1f}x the bare loop in Quix Streams' loop and "
                  f"{figures['batch loop + changelog']['cpu_vs_bare']:.1f}x in a batch loop with a changelog "
                  f"({1 - durable / quix:.0%} less CPU a message); its step alone is {figures['step alone']['cpu_vs_bare']:.1f}x")
    print(json.dumps({"bench": "processor_loop", "processor": args.processor, "messages_per_round": args.messages,
                      "rounds": args.rounds, "encryption": not args.no_encryption, "broker_security": security,
                      "ways": figures, "durable_batch_loop_saving": round(1 - durable / quix, 3),
                      "redactor_target_vs_bare": 3.0}))


if __name__ == "__main__":
    main()
