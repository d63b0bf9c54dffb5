"""``callstream simulate``: a contact center's traffic into Kafka, with ground truth."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from callstream.cli import CliContext, pass_context
from callstream.simulate.simulator import SimulationSettings, run_simulation, summary_table


@click.command()
@click.option("--curve", default="steady", show_default=True, help="steady | daily | campaign | outage | a CSV file (time_s,calls_per_minute).")
@click.option("--rate", "rate_per_min", type=float, help="Base arrival rate in calls per minute (default 30).")
@click.option("--concurrency", type=float, help="Base calls in progress instead of a rate.")
@click.option("--duration", "duration_s", type=float, default=600, show_default=True, help="Simulated seconds of arrivals.")
@click.option("--speedup", type=float, default=1.0, show_default=True, help="Simulated seconds per wall second.")
@click.option("--max-speed", is_flag=True, help="Produce as fast as possible (benchmarks).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--start-time", "start_time_ms", type=int, help="Epoch ms of the simulated start (fix it to reproduce events exactly).")
@click.option("--ground-truth", "ground_truth_path", type=click.Path(dir_okay=False, path_type=Path), help="Write per-call ground truth (JSONL) here.")
@click.option("--no-drain", is_flag=True, help="Stop at --duration instead of letting calls finish.")
@click.option("--warm-start", "warm_start_s", type=click.FloatRange(min=0), default=0, show_default=True,
              help="Start with calls already in progress: those that arrived this many simulated seconds before the start.")
@click.option("--warm-release", "warm_release_s", type=click.FloatRange(min=0), default=0, show_default=True,
              help="Send the warm start's past events over this many wall seconds, in order, instead of at once.")
@pass_context
def simulate(ctx: CliContext, no_drain: bool, **options) -> None:
    """Produce realistic calls (lifecycle, transcripts with PII, agent actions, CRM updates)."""
    settings = SimulationSettings(drain=not no_drain, **options)
    console = Console()
    seal = ctx.producer_seal("simulator")
    try:
        summary = run_simulation(settings, ctx.client_config("simulator"), console=console, seal=seal)
    finally:
        if seal is not None:
            seal.flush()
    console.print(summary_table(summary))
    # the full hash: compare two runs with the same seed and --start-time
    console.print(f"content hash {summary.content_hash}")
