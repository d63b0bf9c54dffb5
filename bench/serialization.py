"""Encode/decode throughput of the event codec for a typical transcript segment.

Baseline, measured in the same run: the stdlib ``json`` module on a plain dict -- the
untyped, unvalidated code a processor would otherwise write (``json.dumps`` of a ready
dict; ``json.loads`` to a dict). The codec does more work (type/version headers,
constraint checks, a typed frozen Struct out), so the ratio is a floor.

Run: ``python bench/serialization.py [--n 100000] [--repeats 5]``. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import msgspec
from rich.console import Console
from rich.table import Table

from callstream.contract.codec import EVENT_TYPE_HEADER, decode_as, decode_event, encode_event
from callstream.contract.events import TranscriptSegment


def typical_segment() -> TranscriptSegment:
    """A final customer segment as the speech gateway emits it (~0.5 KB of JSON)."""
    return TranscriptSegment(
        event_id="0b6f2a6e-1c1f-4b1c-9d55-0f4c0d3c9a11",
        contact_id="c-20261125-000184",
        event_time_ms=1_764_060_012_345,
        produced_at_ms=1_764_060_012_401,
        producer="speech-gateway",
        segment_id="c-20261125-000184/s-0012",
        sequence=12,
        participant="customer",
        start_offset_ms=48_200,
        end_offset_ms=52_950,
        text="yes the card ending four one one one was charged twice and I would like the second charge refunded",
        is_final=True,
        confidence=0.91,
    )


def header_dispatch_decoder() -> Callable[[bytes, list], object]:
    """The alternative decode_event does not use: pick a per-type decoder by header."""
    decoders = {b"transcript.segment": msgspec.json.Decoder(TranscriptSegment)}

    def decode(value: bytes, headers: list) -> object:
        for key, tag in headers:
            if key == EVENT_TYPE_HEADER:
                return decoders[tag].decode(value)
        raise KeyError(EVENT_TYPE_HEADER)

    return decode


def rate(fn: Callable[[], object], n: int, repeats: int) -> float:
    """Messages per second: the median of ``repeats`` timed runs of ``n`` calls."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append(n / (time.perf_counter() - start))
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="calls per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure (median reported)")
    args = parser.parse_args()

    event = typical_segment()
    value, headers = encode_event(event)
    as_dict = msgspec.structs.asdict(event)
    as_dict["event_type"] = "transcript.segment"
    stdlib_value = json.dumps(as_dict).encode()
    assert decode_event(value, headers) == event and json.loads(stdlib_value) == json.loads(value)

    by_header = header_dispatch_decoder()
    assert by_header(value, headers) == event
    n, r = args.n, args.repeats
    figures = {
        "encode_stdlib_json": rate(lambda: json.dumps(as_dict).encode(), n, r),
        "encode_event": rate(lambda: encode_event(event), n, r),
        "encode_event_novalidate": rate(lambda: encode_event(event, validate=False), n, r),
        "decode_stdlib_json": rate(lambda: json.loads(value), n, r),
        "decode_event": rate(lambda: decode_event(value, headers), n, r),
        "decode_by_header_alternative": rate(lambda: by_header(value, headers), n, r),
        "decode_as": rate(lambda: decode_as(value, TranscriptSegment, headers), n, r),
    }
    encode_base, decode_base = figures["encode_stdlib_json"], figures["decode_stdlib_json"]
    ratios = {
        "encode_event": figures["encode_event"] / encode_base,
        "encode_event_novalidate": figures["encode_event_novalidate"] / encode_base,
        "decode_event": figures["decode_event"] / decode_base,
        "decode_by_header_alternative": figures["decode_by_header_alternative"] / decode_base,
        "decode_as": figures["decode_as"] / decode_base,
    }

    table = Table(title=f"callstream codec, one transcript.segment of {len(value)} bytes "
                        f"(median of {r} x {n:,} calls, one core)")
    table.add_column("operation")
    table.add_column("msgs/s", justify="right")
    table.add_column("us/msg", justify="right")
    table.add_column("vs stdlib json", justify="right")
    rows = [
        ("encode: stdlib json.dumps(dict)  [baseline]", "encode_stdlib_json", None),
        ("encode_event (validated, + headers)", "encode_event", "encode_event"),
        ("encode_event(validate=False)", "encode_event_novalidate", "encode_event_novalidate"),
        ("decode: stdlib json.loads -> dict  [baseline]", "decode_stdlib_json", None),
        ("decode_event (tag dispatch in msgspec)", "decode_event", "decode_event"),
        ("  alternative: decoder picked by header", "decode_by_header_alternative", "decode_by_header_alternative"),
        ("decode_as(TranscriptSegment)", "decode_as", "decode_as"),
    ]
    for label, key, ratio_key in rows:
        ratio = f"{ratios[ratio_key]:.2f}x" if ratio_key else "1.00x"
        table.add_row(label, f"{figures[key]:,.0f}", f"{1e6 / figures[key]:.2f}", ratio)
    Console().print(table)

    print(json.dumps({
        "bench": "serialization",
        "event_type": "transcript.segment",
        "value_bytes": len(value),
        "n": n,
        "repeats": r,
        "python": platform.python_version(),
        "msgspec": msgspec.__version__,
        "msgs_per_s": {k: round(v) for k, v in figures.items()},
        "ratio_vs_stdlib": {k: round(v, 2) for k, v in ratios.items()},
    }))


if __name__ == "__main__":
    main()
