"""Where a scaling decision takes effect: worker processes on this host, or a command of
the user's that scales workers running elsewhere (an orchestrator, a service manager).

Both answer the same two requests: start instance ``index`` of a processor, and stop it,
returning the ``group.instance.id``s that left (the controller then removes them from
the group, so their partitions move at once instead of after the session timeout).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from callstream.errors import ConfigError
from callstream.kafka.config import static_member_id
from callstream.local.processes import Child, ProcessGroup, wait_for_args


class Instances(Protocol):
    def start(self, processor: str, group: str, index: int) -> str:
        """Start instance ``index``; returns what to tell the operator (its PID, ...)."""
        ...

    def stop(self, processor: str, group: str, index: int) -> list[str]:
        """Stop instance ``index`` and wait until it has; returns the ``group.instance.id``s that left."""
        ...


def worker_name(processor: str, index: int) -> str:
    """The child name of a processor instance under `up` and `scale`: the first keeps the
    processor's own name (so logs and `up`'s output read as before)."""
    return processor if index == 0 else f"{processor}-{index}"


class LocalInstances:
    """Worker processes in a ``ProcessGroup`` (``python -m callstream.processors.worker``);
    call from the thread that lives as long as the workers (see ``ProcessGroup``).

    With ``standby_dir``, the next instance of each processor waits as a warm standby: a
    worker that has done its imports, access check and set-up and joins its group only
    when released (``--wait-for``). A scale-out then costs a join and a state restore, not
    a Python start-up on a machine that is busy with the surge."""

    def __init__(self, processes: ProcessGroup, *, name_of: Callable[[str, int], str] = worker_name,
                 worker_args: Callable[[str, str, int], list[str]] | None = None,
                 standby_dir: Path | None = None, standby_limits: Mapping[str, int] | None = None) -> None:
        self.processes = processes
        self.name_of = name_of
        self.worker_args = worker_args or (lambda processor, group, index: [processor, "--instance", str(index)])
        self.standby_dir = standby_dir
        #: processor -> its maximum instances: only these get standbys, up to that index
        self.standby_limits = dict(standby_limits or {})
        #: child names stopped on purpose (a supervisor must not count them as crashes)
        self.retired: set[str] = set()
        #: child name -> the file that releases its warm standby
        self._release: dict[str, Path] = {}

    def start(self, processor: str, group: str, index: int) -> str:
        name = self.name_of(processor, index)
        self.retired.discard(name)
        release = self._release.pop(name, None)
        child = self.processes.children.get(name)
        if release is not None and child is not None and child.alive():
            release.touch()
            how = "a warm standby, released"
        elif child is not None:
            child, how = self.processes.restart(name), "restarted"  # the same instance id, so the same state dir
        else:
            child, how = self.spawn(processor, group, index), "started"
        self._prepare(processor, group, index + 1)
        return f"{name} (pid {child.pid}, {how})"

    def stop(self, processor: str, group: str, index: int) -> list[str]:
        name = self.name_of(processor, index)
        self.retired.add(name)
        self.processes.kill(name, signal.SIGTERM)  # it commits what it processed, then exits
        self._prepare(processor, group, index)  # the next scale-out finds this instance warm again
        return [static_member_id(group, str(index))]

    def _prepare(self, processor: str, group: str, index: int) -> None:
        """Start instance ``index`` as a warm standby, unless there is no standby dir, the
        processor has no limit or ``index`` is past it, or the instance already runs or waits."""
        name = self.name_of(processor, index)
        child = self.processes.children.get(name)
        if (self.standby_dir is None or index >= self.standby_limits.get(processor, 0)
                or (child is not None and child.alive())):
            return
        self.standby_dir.mkdir(parents=True, exist_ok=True)
        release = self.standby_dir / f"{name}.go"
        release.unlink(missing_ok=True)
        self.spawn(processor, group, index, wait_for=release)
        self._release[name] = release

    def spawn(self, processor: str, group: str, index: int, *, wait_for: Path | None = None) -> Child:
        """Instance ``index`` as a new process; with ``wait_for``, a warm standby that joins
        its group once that file exists."""
        return self.processes.spawn(self.name_of(processor, index), "callstream.processors.worker",
                                    *self.worker_args(processor, group, index), *wait_for_args(wait_for))

    @property
    def standbys(self) -> list[str]:
        """Child names waiting as warm standbys."""
        return sorted(self._release)


class CommandInstances:
    """Runs ``command`` for every change, with CALLSTREAM_SCALE_ACTION (start or stop),
    CALLSTREAM_SCALE_PROCESSOR, CALLSTREAM_SCALE_GROUP and CALLSTREAM_SCALE_INSTANCE (the
    index) in its environment. On stop it prints the ``group.instance.id`` of each worker it
    stopped, one per line (a callstream worker's is ``<group>-<host>-<instance>``)."""

    def __init__(self, command: str, timeout_s: float = 300.0) -> None:
        self.argv = shlex.split(command)
        if not self.argv:
            raise ConfigError("the scaling command is empty", "pass --exec 'PROGRAM ARGS...'")
        self.timeout_s = timeout_s

    def _run(self, action: str, processor: str, group: str, index: int) -> str:
        env = os.environ | {"CALLSTREAM_SCALE_ACTION": action, "CALLSTREAM_SCALE_PROCESSOR": processor,
                            "CALLSTREAM_SCALE_GROUP": group, "CALLSTREAM_SCALE_INSTANCE": str(index)}
        try:
            done = subprocess.run(self.argv, env=env, capture_output=True, text=True, timeout=self.timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigError(f"the scaling command {self.argv[0]} could not {action} {processor} instance {index}: {exc}",
                              "check --exec") from None
        if done.returncode != 0:
            raise ConfigError(f"the scaling command {self.argv[0]} failed to {action} {processor} instance {index} "
                              f"(exit {done.returncode}): {done.stderr.strip()[-300:]}", "check --exec")
        return done.stdout

    def start(self, processor: str, group: str, index: int) -> str:
        self._run("start", processor, group, index)
        return f"{processor} instance {index} (started by {self.argv[0]})"

    def stop(self, processor: str, group: str, index: int) -> list[str]:
        return [line.strip() for line in self._run("stop", processor, group, index).splitlines() if line.strip()]
