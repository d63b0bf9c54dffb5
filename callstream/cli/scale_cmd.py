"""``callstream scale``: lag-driven scaling of processors' consumer groups, and the policy
options ``up --autoscale`` shares."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click
from pydantic import ValidationError

from callstream.cli import CliContext, pass_context
from callstream.contract.catalog import load_catalog
from callstream.errors import ConfigError
from callstream.local.processes import ProcessGroup
from callstream.processors.registry import BUNDLES, deployment, processor_names
from callstream.scaling.controller import ClusterScaler, ScalingController, scaled_processors
from callstream.scaling.host import HostCpu
from callstream.scaling.instances import CommandInstances, Instances, LocalInstances
from callstream.scaling.policy import ScalingPolicy
from callstream.settings import child_process_environment

_POLICY_OPTIONS = [
    ("--min-instances", "min_instances", click.IntRange(1, 64), "Instances each processor keeps at least."),
    ("--max-instances", "max_instances", click.IntRange(1, 64), "Instances each processor may grow to (never past its "
     "input partitions)."),
    ("--lag-bound-s", "lag_bound_s", click.FloatRange(min=0, min_open=True), "Scale out while a group is further "
     "behind than this (seconds) ..."),
    ("--out-after-s", "out_after_s", click.FloatRange(min=0), "... for this long."),
    ("--in-below-s", "in_below_s", click.FloatRange(min=0), "Scale in while a group is less behind than this ..."),
    ("--in-after-s", "in_after_s", click.FloatRange(min=0), "... for this long."),
    ("--cooldown-s", "cooldown_s", click.FloatRange(min=0), "No change to a group until this long after its last one."),
    ("--min-idle-cores", "min_idle_cores", click.FloatRange(min=0), "Scale out only while this host has this many idle "
     "cores (instances started here; not with --exec)."),
]


def scaling_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The scaling policy's options (defaults: ``ScalingPolicy``'s, shown in --help)."""
    defaults = ScalingPolicy()
    for flag, name, kind, text in reversed(_POLICY_OPTIONS):
        command = click.option(flag, name, type=kind, help=f"{text} [default: {getattr(defaults, name):g}]")(command)
    return command


def policy_from(options: dict[str, Any]) -> ScalingPolicy:
    given = {name: options[name] for _, name, _, _ in _POLICY_OPTIONS if options.get(name) is not None}
    try:
        return ScalingPolicy(**given)
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise ConfigError(f"invalid scaling policy: {problems}", "adjust the --*-instances / --*-s options") from None


@click.command()
@click.argument("processors", nargs=-1)
@scaling_options
@click.option("--exec", "command", help="Scale workers that run elsewhere: run this command for each change instead of "
              "starting workers here (see below).")
@click.option("--bundled", is_flag=True, help="With no PROCESSORS: the deployment `up --bundled` runs.")
@click.option("--warm-standby/--no-warm-standby", default=True, show_default=True, help="Keep each processor's next "
              "instance started and waiting, so a scale-out only joins (about 150 MB of memory per processor).")
@click.option("--interval-s", type=click.FloatRange(min=0.5), default=5.0, show_default=True, help="How often lag is read.")
@click.option("--duration", type=click.FloatRange(min=1), help="Stop after this many seconds (default: until Ctrl-C).")
@pass_context
def scale(ctx: CliContext, processors: tuple[str, ...], command: str | None, bundled: bool, warm_standby: bool,
          interval_s: float,
          duration: float | None, **policy_options: Any) -> None:
    """Keep each processor's consumer group as wide as its lag needs (default: every
    processor of the deployment).

    Without --exec the instances run here as worker processes, starting with
    --min-instances each. With --exec, callstream runs COMMAND for each change with
    CALLSTREAM_SCALE_ACTION (start|stop), CALLSTREAM_SCALE_PROCESSOR, CALLSTREAM_SCALE_GROUP
    and CALLSTREAM_SCALE_INSTANCE set; on stop it prints the group.instance.id of each
    worker it stopped (a callstream worker's is <group>-<host>-<instance>), which callstream
    then removes from the group so their partitions move at once.
    """
    policy = policy_from(policy_options)
    names = list(processors) or deployment(bundled)
    unknown = [n for n in names if n not in processor_names() and n not in BUNDLES]
    if unknown:
        raise ConfigError(f"unknown processor(s) {', '.join(unknown)}", "see `callstream run --list`")
    settings = ctx.settings
    processes = None
    instances: Instances
    if command:
        instances = CommandInstances(command)  # its workers already run: the minimum of each, assumed
    else:
        processes = ProcessGroup(settings.state_dir / "logs", child_process_environment(settings))
        instances = LocalInstances(processes, standby_dir=settings.state_dir / "standby" if warm_standby else None,
                                   standby_limits={n: policy.max_instances for n in names})
    # workers started here share this host's cores; workers elsewhere are not measured here
    controller = ScalingController(scaled_processors(names, load_catalog()), policy, instances, ctx.client_config(),
                                   host_idle_cores=HostCpu().idle_cores if processes is not None else None)
    if processes is not None:
        click.echo(f"started {', '.join(controller.start_initial())}; logs in {processes.log_dir}")
    scaler = ClusterScaler(controller, ctx.client_config(), interval_s)
    click.echo(f"scaling {', '.join(names)} between {policy.min_instances} and {policy.max_instances} instances: out when "
               f"more than {policy.lag_bound_s:g} s behind for {policy.out_after_s:g} s, in when under "
               f"{policy.in_below_s:g} s for {policy.in_after_s:g} s; Ctrl-C stops")
    deadline = time.monotonic() + duration if duration else None
    try:
        while deadline is None or time.monotonic() < deadline:
            for line in scaler.tick():
                click.echo(line)
            if processes is not None and isinstance(instances, LocalInstances):
                crashed = [c for c in processes.dead() if c.name not in instances.retired]
                if crashed:
                    raise ConfigError(f"{crashed[0].name} exited with code {crashed[0].returncode}",
                                      f"read {crashed[0].log_path}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("stopping ...")
    finally:
        scaler.close()
        if processes is not None:
            processes.stop_all()
    counts = ", ".join(f"{p} {n}" for p, n in controller.count.items())
    click.echo(f"stopped; {len(controller.events)} change(s); instances at the end: {counts}")
