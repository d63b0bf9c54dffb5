"""The ``callstream`` command line: a thin layer that parses options and calls the package.

Every foreseeable failure is a ``CallstreamError``, printed as one line (what was wrong,
then what to do) with exit code 1; usage mistakes exit 2 with click's message.
"""

from __future__ import annotations

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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


def _register() -> None:
    from callstream.cli import (
        acls_cmds,
        archive_cmds,
        governance_cmds,
        kafka_cmds,
        observe_cmds,
        rehearse_cmds,
        run_cmds,
        schemas_cmds,
        simulate_cmds,
        topics_cmds,
        up_cmd,
    )

    cli.add_command(kafka_cmds.kafka)
    cli.add_command(topics_cmds.topics)
    cli.add_command(acls_cmds.acls)
    cli.add_command(run_cmds.run)
    cli.add_command(simulate_cmds.simulate)
    cli.add_command(schemas_cmds.schemas)
    cli.add_command(up_cmd.up)
    cli.add_command(archive_cmds.archive)
    cli.add_command(archive_cmds.replay)
    cli.add_command(observe_cmds.status)
    cli.add_command(observe_cmds.dashboard)
    cli.add_command(rehearse_cmds.rehearse)
    cli.add_command(rehearse_cmds.scorecard)
    cli.add_command(governance_cmds.erase)
    cli.add_command(governance_cmds.audit)
    cli.add_command(governance_cmds.keys)


_register()


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
