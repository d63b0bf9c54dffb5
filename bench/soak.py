"""Benchmark: memory and lag of a long `callstream up`, process by process.

A platform that runs for weeks must not grow: a per-call cache that forgets nothing, a
buffer the archiver's paused collector (ADR 0013) never frees, a broker heap that climbs.
This starts `callstream up` (the local secured broker, every processor, the archiver, the
maintainer, the dashboard and the simulator) in a state directory of its own for
``--minutes``, and every ``--interval`` seconds samples each of its processes' resident
memory (VmRSS) and CPU time from /proc, and each processor group's lag from its committed
offsets.

Baseline, from the same run: each process's memory right after ``--warmup`` seconds (the
median of the first minute's samples after it), when its caches, JIT and state stores have
filled for the running traffic. The figures are each process's growth from that baseline
to the end, its least-squares slope over the samples after the warm-up (MB an hour) and
over their last third alone (a cache filling to its cap grows early and then levels off; a
leak keeps its slope to the end), and the lag's trend over the same span (messages a
minute: a pipeline that falls behind also grows its buffers, which is not a leak).

    python bench/soak.py [--minutes 30] [--rate 300] [--speedup 1] [--bundled]

Ctrl-C or SIGTERM ends the run early: `up` gets SIGTERM (as from a service manager) and
the figures cover what was sampled. The last line of output
is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import group_lag  # bench/harness.py (bench/ is this script's directory)
from rich.console import Console
from rich.table import Table

from callstream.local import broker
from callstream.local.broker import free_ports, local_client_config
from callstream.local.pids import interrupt_on_signals
from callstream.observe.lag import OffsetReader
from callstream.processors.registry import deployment, load_processor

PAGE_KB = os.sysconf("SC_PAGE_SIZE") / 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Process:
    """One process of the run, named from its command line, and its samples."""

    pid: int
    name: str
    #: (seconds since start, resident MB, CPU seconds)
    samples: list[tuple[float, float, float]] = field(default_factory=list)


def read_process(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, resident MB, CPU seconds) of ``pid``, or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return int(stat[1]), resident_pages * PAGE_KB / 1024, (int(stat[11]) + int(stat[12])) / CLOCK_TICKS


def _name(pid: int) -> str:
    """``broker``, the worker's processor (``redactor``), a module's last part, or the program."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return f"pid {pid}"
    if any("kafka.Kafka" in arg for arg in argv):
        return "broker"
    if "-m" in argv and argv.index("-m") + 1 < len(argv):
        module = argv[argv.index("-m") + 1]
        rest = [a for a in argv[argv.index("-m") + 2:] if a and not a.startswith("-")]
        if module.endswith("processors.worker") and rest:
            return rest[0]
        return " ".join([module.rsplit(".", 1)[-1], *rest[:1]])
    return Path(argv[0]).name + (f" {argv[1]}" if len(argv) > 1 and argv[1] else "")


def _tree(root: int, state_dir: Path) -> set[int]:
    """``root``'s descendants, and processes started in its state directory (the broker runs
    detached, in a session of its own)."""
    parents: dict[int, int] = {}
    in_state_dir: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        read = read_process(pid)
        if read is None:
            continue
        parents[pid] = read[0]
        try:
            if str(state_dir) in (entry / "cmdline").read_bytes().decode(errors="replace"):
                in_state_dir.add(pid)
        except OSError:
            continue
    found = {root} | in_state_dir
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value), per hour."""
    if len(points) < 3:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return 3600 * sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread if spread else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30, help="how long `up` runs")
    parser.add_argument("--warmup", type=float, default=300, help="seconds before the memory baseline")
    parser.add_argument("--interval", type=float, default=20, help="seconds between samples")
    parser.add_argument("--rate", type=float, default=300, help="calls a minute (`up --rate`)")
    parser.add_argument("--speedup", type=float, default=1.0)
    parser.add_argument("--curve", default="steady", help="`up --curve` (steady: the same load all along)")
    parser.add_argument("--bundled", action="store_true", help="run the bundles (`up --bundled`)")
    args = parser.parse_args()
    if args.minutes * 60 < args.warmup + 3 * args.interval:
        parser.error(f"--minutes {args.minutes} leaves no samples after a {args.warmup:.0f} s warm-up; "
                     "run longer or lower --warmup")
    interrupt_on_signals()  # SIGTERM, and SIGINT in a background job, end the run through `finally`
    console = Console()
    state_dir = Path(tempfile.mkdtemp(prefix="callstream-bench-soak-"))
    duration_s = args.minutes * 60
    command = [sys.executable, "-m", "callstream", "up", "--duration", str(duration_s), "--rate", str(args.rate),
               "--speedup", str(args.speedup), "--curve", args.curve, "--dashboard-port", str(free_ports(1)[0])]
    if args.bundled:
        command.append("--bundled")
    environment = os.environ | {"CALLSTREAM_STATE_DIR": str(state_dir)}
    log_path = state_dir / "up.log"
    processes: dict[int, Process] = {}
    #: (seconds since start, messages behind per processor group)
    lags: list[tuple[float, dict[str, int]]] = []
    groups = {name: load_processor(name) for name in deployment(bundled=args.bundled)}
    reader: OffsetReader | None = None
    with log_path.open("w") as log:
        up = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
        started = time.monotonic()
        try:
            console.print(f"`callstream up` (pid {up.pid}) for {args.minutes:g} min at {args.rate:g} calls/min; "
                          f"a sample every {args.interval:g} s; log {log_path}")
            while up.poll() is None and time.monotonic() - started < duration_s + 120:  # bounded
                now = time.monotonic() - started
                for pid in _tree(up.pid, state_dir):
                    read = read_process(pid)
                    if read is None:
                        continue
                    process = processes.get(pid)
                    if process is None:
                        process = processes[pid] = Process(pid, "up" if pid == up.pid else _name(pid))
                    process.samples.append((now, read[1], read[2]))
                if reader is None and (conf := local_client_config(state_dir)) is not None:
                    reader = OffsetReader(conf, timeout_s=20)
                if reader is not None and now > 60:
                    lags.append((now, _lags(reader, groups)))
                console.print(f"  {now:6.0f} s  {len(processes)} processes, "
                              f"{sum(p.samples[-1][1] for p in processes.values() if p.samples[-1][0] == now):,.0f} MB resident; "
                              f"lag {sum(lags[-1][1].values()) if lags else '-'}")
                time.sleep(args.interval)
        except KeyboardInterrupt:
            console.print("interrupted: stopping `up` and reporting what was sampled")
        finally:
            if up.poll() is None:
                up.send_signal(signal.SIGTERM)
            try:
                up.wait(timeout=120)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()
            if reader is not None:
                reader.close()
            # `up` leaves its Kafka running (`callstream kafka stop` is a user's choice): this
            # run started it, so it stops it by PID before the state dir goes
            broker.stop(state_dir)
    figures = soak_figures(processes, lags, args, up.returncode, time.monotonic() - started)
    _print(console, figures)
    shutil.rmtree(state_dir, ignore_errors=True)
    print(json.dumps(figures), flush=True)


def _lags(reader: OffsetReader, groups: dict) -> dict[str, int]:
    return {name: group_lag(reader, processor.consumer_group, list(processor.inputs)) for name, processor in groups.items()}


def soak_figures(processes: dict[int, Process], lags: list[tuple[float, dict[str, int]]], args: argparse.Namespace,
                 returncode: int | None, ran_s: float) -> dict:
    by_process = {}
    for process in sorted(processes.values(), key=lambda p: p.name):
        # up to `up`'s own stop: its shutdown's samples are processes leaving (0 MB once gone)
        after = [s for s in process.samples if args.warmup <= s[0] <= args.minutes * 60 and s[1] > 0]
        if len(after) < 3:
            continue  # a short-lived helper (a `kafka-storage format`, a compaction round)
        baseline = statistics.median(s[1] for s in after if s[0] < args.warmup + 60)
        name = process.name if process.name not in by_process else f"{process.name} (pid {process.pid})"
        span_s = after[-1][0] - after[0][0]
        late = [(t, mb) for t, mb, _ in after if t >= after[-1][0] - span_s / 3]
        by_process[name] = {
            "baseline_mb": round(baseline, 1),
            "end_mb": round(after[-1][1], 1),
            "max_mb": round(max(s[1] for s in after), 1),
            "growth_mb": round(after[-1][1] - baseline, 1),
            "slope_mb_per_h": round(slope_per_hour([(s[0], s[1]) for s in after]), 1),
            "late_slope_mb_per_h": round(slope_per_hour(late), 1),
            "cores": round((after[-1][2] - after[0][2]) / span_s, 3) if span_s else None,
        }
    measured = [(t, lag) for t, lag in lags if args.warmup <= t <= args.minutes * 60]
    lag_trend = {name: round(slope_per_hour([(t, lag[name]) for t, lag in measured]) / 60, 1)
                 for name in (measured[0][1] if measured else {})}
    return {
        "minutes": args.minutes,
        "ran_s": round(ran_s),
        "rate_calls_per_min": args.rate,
        "speedup": args.speedup,
        "bundled": args.bundled,
        "warmup_s": args.warmup,
        "up_returncode": returncode,
        "processes": by_process,
        "total_growth_mb": round(sum(p["growth_mb"] for p in by_process.values()), 1),
        "total_slope_mb_per_h": round(sum(p["slope_mb_per_h"] for p in by_process.values()), 1),
        "total_late_slope_mb_per_h": round(sum(p["late_slope_mb_per_h"] for p in by_process.values()), 1),
        "lag_end": measured[-1][1] if measured else None,
        "lag_trend_per_min": lag_trend,
    }


def _print(console: Console, figures: dict) -> None:
    table = Table(title=f"soak: `callstream up` {figures['ran_s'] / 60:.1f} min at {figures['rate_calls_per_min']:g} calls/min, "
                        f"memory after a {figures['warmup_s']:.0f} s warm-up (baseline) to the end")
    for column in ("process", "baseline MB", "end MB", "max MB", "growth MB", "slope MB/h", "last third MB/h", "cores"):
        table.add_column(column, justify="left" if column == "process" else "right")
    for name, p in figures["processes"].items():
        table.add_row(name, f"{p['baseline_mb']:,.1f}", f"{p['end_mb']:,.1f}", f"{p['max_mb']:,.1f}",
                      f"{p['growth_mb']:+,.1f}", f"{p['slope_mb_per_h']:+,.1f}", f"{p['late_slope_mb_per_h']:+,.1f}",
                      str(p["cores"]))
    table.add_row("all", "", "", "", f"{figures['total_growth_mb']:+,.1f}", f"{figures['total_slope_mb_per_h']:+,.1f}",
                  f"{figures['total_late_slope_mb_per_h']:+,.1f}", "")
    console.print(table)
    console.print(f"lag at the end (messages): {figures['lag_end']}; trend after the warm-up (messages a minute): "
                  f"{figures['lag_trend_per_min']}; `up` exited {figures['up_returncode']}")


if __name__ == "__main__":
    main()
