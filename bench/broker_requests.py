"""Benchmark: what the broker spends on the same message rate spread over more or fewer partitions.

librdkafka sends one partition per ProduceRequest (confluentinc/librdkafka#1700), so at a
contact center's rates (tens of messages a second per partition) nearly every message is a
request of its own, and the broker's CPU follows the request count rather than the bytes.
This produces one steady rate with the simulator's producer settings into topics of 6 (the
catalog's count), 3 and 1 partitions, read by four consumers with the platform's fetch
patterns (the live path's 5 ms, signals' 50 ms, the scorers' 100 ms, the archiver's 200 ms,
each holding fetches for 64 KiB), and measures the broker's CPU from /proc and the produce
requests from the producer's own statistics. The baseline, measured in the same run: the
idle broker, and the catalog's 6 partitions for the ratios. Rounds alternate the layouts.

    python bench/broker_requests.py [--rate 1500] [--partitions 6,3,1] [--window 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from harness import BenchCluster

from callstream.processors.runtime import fetch_config
from callstream.simulate.simulator import producer_settings

#: the platform's consumers by how long a fetch may wait (ms): frontline, signals, quality
#: and analytics (their ``batch_ms``), and the archiver's 200 ms
FETCH_WAITS_MS = (5, 50, 100, 200)
VALUE = b"x" * 450  # about a transcript segment's encoded size
SETTLE_S = 8.0


def _produce(conf: dict, topic: str, rate: float, stop: threading.Event, sent: list[int], requests: list[int]) -> None:
    """Produce ``rate`` messages a second until ``stop``; ``requests`` follows the ProduceRequests sent."""
    def on_stats(raw: str) -> None:
        brokers = json.loads(raw).get("brokers", {}).values()
        requests[0] = sum(b.get("req", {}).get("Produce", 0) for b in brokers)

    producer = Producer(producer_settings(conf) | {"statistics.interval.ms": 500, "stats_cb": on_stats})
    started = time.perf_counter()
    while not stop.is_set():
        producer.produce(topic, VALUE, f"contact-{sent[0] % 3000}".encode())
        producer.poll(0)
        sent[0] += 1
        if sent[0] % 10 == 0 and (ahead := sent[0] / rate - (time.perf_counter() - started)) > 0:
            time.sleep(ahead)
    producer.flush(10)


def _consume(conf: dict, topic: str, wait_ms: int, stop: threading.Event) -> None:
    consumer = Consumer(conf | fetch_config(wait_ms) | {"group.id": f"bench-broker-requests-{wait_ms}-{time.time_ns()}",
                                                        "auto.offset.reset": "latest", "enable.auto.commit": True})
    consumer.subscribe([topic])
    while not stop.is_set():
        consumer.poll(0.1)
    consumer.close()


def measure(bench: BenchCluster, topic: str | None, rate: float, window_s: float) -> dict:
    """Broker cores (and produce requests) over ``window_s`` with traffic into ``topic``, or idle."""
    stop, sent, requests = threading.Event(), [0], [0]
    threads = []
    if topic is not None:
        threads.append(threading.Thread(target=_produce, args=(dict(bench.conf), topic, rate, stop, sent, requests)))
        threads += [threading.Thread(target=_consume, args=(dict(bench.conf), topic, w, stop)) for w in FETCH_WAITS_MS]
    for thread in threads:
        thread.start()
    time.sleep(SETTLE_S)  # group joins, the first statistics
    before, sent_before, requests_before, started = bench.cpu_seconds(), sent[0], requests[0], time.monotonic()
    time.sleep(window_s)
    after, sent_after, requests_after, elapsed = bench.cpu_seconds(), sent[0], requests[0], time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join()
    node = next(name for name in after if name.startswith("broker"))
    messages = (sent_after - sent_before) / elapsed
    produce_requests = (requests_after - requests_before) / elapsed
    return {"broker_cores": (after[node] - before[node]) / elapsed, "msgs_per_s": messages,
            "produce_requests_per_s": produce_requests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=1500.0, help="messages a second (10,000 calls at 10x make ~2,800)")
    parser.add_argument("--partitions", default="6,3,1", help="partition counts to compare; the first is the ratios' baseline")
    parser.add_argument("--window", type=float, default=20.0, help="measured seconds per layout and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--insecure", action="store_true", help="a plaintext broker (no SASL, no ACLs)")
    args = parser.parse_args()
    try:
        layouts = [int(p) for p in args.partitions.split(",")]
    except ValueError:
        parser.error(f"--partitions takes comma-separated whole numbers, got {args.partitions!r}")
    if args.rate <= 0 or args.window <= 0 or args.rounds < 1 or min(layouts) < 1:
        parser.error("--rate and --window must be positive, --rounds and every partition count at least 1")
    runs: dict[str, list[dict]] = {"idle": [], **{str(p): [] for p in layouts}}
    with BenchCluster(insecure=args.insecure) as bench:
        admin = AdminClient(dict(bench.conf))
        topics = {p: f"bench.broker-requests.p{p}" for p in layouts}
        for future in admin.create_topics([NewTopic(t, p, 1) for p, t in topics.items()]).values():
            future.result()
        print(f"broker security: {bench.security}; warming the broker's JIT up first (not counted)")
        measure(bench, topics[layouts[0]], args.rate, args.window)
        for round_ in range(args.rounds):
            runs["idle"].append(measure(bench, None, args.rate, args.window))
            for p in layouts if round_ % 2 == 0 else reversed(layouts):
                runs[str(p)].append(measure(bench, topics[p], args.rate, args.window))
    idle = statistics.median(r["broker_cores"] for r in runs["idle"])
    figures: dict[str, dict] = {}
    for name, results in runs.items():
        cores = [r["broker_cores"] for r in results]
        msgs = statistics.median(r["msgs_per_s"] for r in results)
        reqs = statistics.median(r["produce_requests_per_s"] for r in results)
        figures[name] = {"broker_cores_median": round(statistics.median(cores), 3),
                         "broker_cores_min": round(min(cores), 3), "broker_cores_max": round(max(cores), 3),
                         "msgs_per_s": round(msgs), "produce_requests_per_s": round(reqs),
                         "msgs_per_request": round(msgs / reqs, 2) if reqs else None,
                         # what the traffic adds to the idle broker, per message
                         "broker_us_per_msg": round((statistics.median(cores) - idle) / msgs * 1e6, 1) if msgs else None}
    base = figures[str(layouts[0])]
    print(f"\n{args.rate:,.0f} msgs/s of {len(VALUE)} B, four consumers (fetch waits {FETCH_WAITS_MS} ms), "
          f"{args.rounds} rounds of {args.window:g} s\n")
    print(f"{'partitions':<12} {'msgs/s':>7} {'produce req/s':>14} {'msgs/req':>9} {'broker cores (min-max)':>24} "
          f"{'us/msg':>7} {'x 6-part.':>9}")
    for name, f in figures.items():
        ratio = f["broker_cores_median"] / base["broker_cores_median"]
        label = "idle (base)" if name == "idle" else name
        print(f"{label:<12} {f['msgs_per_s']:>7,} {f['produce_requests_per_s']:>14,} {f['msgs_per_request'] or 0:>9.2f} "
              f"{f['broker_cores_median']:>9.3f} ({f['broker_cores_min']:.3f}-{f['broker_cores_max']:.3f}) "
              f"{f['broker_us_per_msg'] or 0:>7.1f} {ratio:>9.2f}")
        f["vs_first_layout"] = round(ratio, 3)
    print(json.dumps({"bench": "broker_requests", "security": "plaintext" if args.insecure else "sasl",
                      "rate": args.rate, "window_s": args.window, "rounds": args.rounds,
                      "fetch_waits_ms": list(FETCH_WAITS_MS), "layouts": figures}))


if __name__ == "__main__":
    main()
