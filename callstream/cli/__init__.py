"""The ``callstream`` command line: a thin layer that parses options and calls the package.

Every foreseeable failure is a ``CallstreamError``, printed as one line (what was wrong,
then what to do) with exit code 1; usage mistakes exit 2 with click's message.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from callstream import __version__
from callstream.entry import INTERRUPTED_EXIT_CODE, error_line
from callstream.errors import CallstreamError
from callstream.settings import Settings, client_config, load_settings

if TYPE_CHECKING:
    from callstream.governance.protection import ProducerSeal
    from callstream.local.service import LocalService


@dataclass
class CliContext:
    """Global options, turned into validated settings only when a command needs them."""

    config_file: Path | None = None
    flags: dict = field(default_factory=dict)
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_file, **self.flags)
        return self._settings

    def client_config(self, principal: str = "admin") -> dict[str, str]:
        """Connection settings as ``principal`` (see ``callstream.settings.client_config``)."""
        return client_config(self.settings, principal)

    def producer_seal(self, actor: str) -> ProducerSeal | None:
        """How ``actor`` seals restricted fields, or None when encryption is off."""
        from callstream.governance.protection import ProducerSeal, open_protection

        protection = open_protection(self.settings, actor)
        return ProducerSeal(protection) if protection else None


pass_context = click.make_pass_decorator(CliContext)


def stop_command(service: type[LocalService], help_text: str) -> click.Command:
    """The ``stop`` subcommand of a local service's command group: stop it by its PID."""

    @click.command(name="stop", help=help_text)
    @pass_context
    def stop(ctx: CliContext) -> None:
        pid = service(ctx.settings.state_dir).stop()
        click.echo(f"{service.what} stopped (pid {pid})" if pid else f"{service.what} was not running")

    return stop

#: command -> "module:attribute" under callstream.cli, in the order `--help` lists them.
#: Imported when the command runs: `callstream status` must not pay for pyiceberg and Quix.
COMMANDS = {
    "up": "up_cmd:up",
    "kafka": "kafka_cmds:kafka",
    "topics": "topics_cmds:topics",
    "acls": "acls_cmds:acls",
    "run": "run_cmds:run",
    "scale": "scale_cmd:scale",
    "simulate": "simulate_cmds:simulate",
    "schemas": "schemas_cmds:schemas",
    "archive": "archive_cmds:archive",
    "replay": "archive_cmds:replay",
    "status": "observe_cmds:status",
    "dashboard": "observe_cmds:dashboard",
    "rehearse": "rehearse_cmds:rehearse",
    "scorecard": "rehearse_cmds:scorecard",
    "erase": "governance_cmds:erase",
    "audit": "governance_cmds:audit",
    "keys": "governance_cmds:keys",
    "compat": "compat_cmds:compat",
    "migrate": "migrate_cmds:migrate",
    "connect": "connect_cmds:connect",
    "registry": "registry_cmds:registry",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click's lazy-loading pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *sorted(set(super().list_commands(ctx)) - set(COMMANDS))]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(f"callstream.cli.{module_name}"), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"callstream.cli.{module_name}.{attribute} is not a click command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="callstream")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), help="YAML config file (sections kafka:, archive:, dashboard:); default ./callstream.yaml if present.")
@click.option("--bootstrap-servers", help="Kafka bootstrap servers; default: the local broker from `callstream kafka start`.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), help="Where local state lives (broker data, archive, reports). Default .callstream")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None, bootstrap_servers: str | None, state_dir: Path | None) -> None:
    """callstream: Kafka-native call-center intelligence.

    Settings come from flags, CALLSTREAM_* environment variables, then the config file.
    """
    ctx.obj = CliContext(config_file, {"bootstrap_servers": bootstrap_servers, "state_dir": state_dir})




def main(argv: list[str] | None = None) -> int:
    try:
        result = cli.main(args=argv, prog_name="callstream", standalone_mode=False)
    except CallstreamError as exc:
        click.echo(error_line(exc), err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("callstream: interrupted", err=True)
        return INTERRUPTED_EXIT_CODE
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("callstream: interrupted", err=True)
        return INTERRUPTED_EXIT_CODE
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
