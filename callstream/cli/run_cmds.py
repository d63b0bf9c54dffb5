"""``callstream run PROCESSOR``: one processor against the configured cluster."""

from __future__ import annotations

import time
from pathlib import Path

import click

from callstream.cli import CliContext, pass_context
from callstream.errors import ConfigError
from callstream.local.processes import ProcessGroup
from callstream.processors.registry import BUNDLED, BUNDLES, available, load_processor, processor_names
from callstream.processors.worker import run_processor
from callstream.settings import child_process_environment


@click.command()
@click.argument("processor", required=False)
@click.option("--instances", type=click.IntRange(1, 64), default=1, show_default=True, help="Consumer-group members to run on this host.")
@click.option("--list", "list_only", is_flag=True, help="List the processors and exit.")
@click.option("--catalog", "catalog_path", type=click.Path(dir_okay=False, path_type=Path), help="Catalog file.")
@pass_context
def run(ctx: CliContext, processor: str | None, instances: int, list_only: bool, catalog_path: Path | None) -> None:
    """Run PROCESSOR (each instance a member of its consumer group) until Ctrl-C.

    Spread a processor over hosts by running this on each of them.
    """
    if list_only:
        loaded = available()
        for name in processor_names():
            p = loaded.get(name)
            if p is None:
                click.echo(f"{name:<11} (not available in this build)")
                continue
            click.echo(f"{name:<11} {p.guarantee:<14} {', '.join(p.inputs)} -> {', '.join(p.outputs)}\n{'':<11} {p.description}")
        for name, members in BUNDLES.items():
            how = "`callstream up --bundled`" if name in BUNDLED else f"`callstream run {name}`"
            click.echo(f"{name:<11} bundle: {', '.join(members)} in one consumer ({how})")
        return
    if not processor:
        raise ConfigError("name a processor to run", f"one of {', '.join(processor_names())}; see `callstream run --list`")
    spec = load_processor(processor)
    settings = ctx.settings
    if instances == 1:
        bootstrap = ctx.client_config(spec.name)["bootstrap.servers"]
        click.echo(f"running {processor} ({spec.guarantee}) as group {spec.consumer_group} on {bootstrap}; Ctrl-C stops")
        run_processor(settings, spec, catalog=catalog_path)
        return
    env = child_process_environment(settings)
    group = ProcessGroup(settings.state_dir / "logs", env)
    extra = ["--catalog", str(catalog_path)] if catalog_path else []
    for i in range(instances):
        group.spawn(f"{processor}-{i}", "callstream.processors.worker", processor, "--instance", str(i), *extra)
    click.echo(f"running {instances} instances of {processor} (pids {', '.join(str(c.pid) for c in group.children.values())}); logs in {group.log_dir}; Ctrl-C stops")
    try:
        while not group.dead():
            time.sleep(0.5)
        dead = group.dead()[0]
        raise ConfigError(f"{dead.name} exited with code {dead.returncode}", f"read {dead.log_path}")
    finally:
        group.stop_all()
