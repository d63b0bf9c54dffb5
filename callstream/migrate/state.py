"""Where a migration stands, kept in ``<state dir>/migration/state.json``.

The exactness lives in Kafka (the offset map and the replicator's positions, committed in
its transactions on the target); this file records only what the operator did: which two
clusters, where the clients are, the phase, and the switches' reports.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from callstream.errors import MigrationError

Phase = Literal["replicating", "cut-over", "rolled-back", "finished"]


def migration_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "migration"


@dataclass
class MigrationState:
    source: str
    target: str
    #: where the platform's clients are now
    active: str
    phase: Phase = "replicating"
    #: the replicated topics; empty means the platform's (the catalog's and the state topics)
    topics: list[str] = field(default_factory=list)
    #: the switches' report files, oldest first
    switches: list[str] = field(default_factory=list)

    @property
    def standby(self) -> str:
        """The cluster the clients are not on (the one replication currently feeds)."""
        return self.target if self.active == self.source else self.source

    def save(self, state_dir: Path) -> None:
        path = migration_dir(state_dir) / "state.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, state_dir: Path) -> MigrationState:
        path = migration_dir(state_dir) / "state.json"
        if not path.exists():
            raise MigrationError(f"no migration has started in {state_dir}", "run `callstream migrate start --to CLUSTER` first")
        return cls(**json.loads(path.read_text()))

    @classmethod
    def load_if_any(cls, state_dir: Path) -> MigrationState | None:
        return cls.load(state_dir) if (migration_dir(state_dir) / "state.json").exists() else None
