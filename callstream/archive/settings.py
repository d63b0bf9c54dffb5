"""Where the archive lives and how eagerly it is written: one validated settings object.

The default is an SQLite Iceberg catalog and a warehouse directory under the state dir
(``.callstream/archive/``); production points ``warehouse`` at ``s3://bucket/prefix`` of any
S3-compatible store and fills ``s3``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from callstream.errors import ConfigError

DEFAULT_NAMESPACE = "callstream"
DEFAULT_GROUP = "callstream-archiver"
#: rows compaction reads into memory, sorts and rewrites at once: its peak is ~1.8 GB
#: resident per million transcript rows (stop 50), so the default needs ~4 GB free
DEFAULT_MAX_ROWS_PER_REWRITE = 2_000_000


class S3Settings(BaseModel):
    """An S3-compatible endpoint for an ``s3://`` warehouse."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: str | None = Field(default=None, description="http(s)://host:port; empty means AWS")
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    region: str = "us-east-1"
    #: path-style addressing (http://host/bucket/key): what most self-hosted stores need
    path_style: bool = True

    def fileio_properties(self) -> dict[str, str]:
        """pyiceberg FileIO properties (secrets unwrapped only here, at the edge)."""
        props = {"s3.region": self.region, "s3.force-virtual-addressing": str(not self.path_style).lower()}
        if self.endpoint:
            props["s3.endpoint"] = self.endpoint
        if self.access_key_id:
            props["s3.access-key-id"] = self.access_key_id
        if self.secret_access_key:
            props["s3.secret-access-key"] = self.secret_access_key.get_secret_value()
        return props


class ArchiveSettings(BaseModel):
    """The archive's catalog, warehouse and flush thresholds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: a local directory or ``s3://bucket/prefix``
    warehouse: str
    #: SQLAlchemy URI of the Iceberg SQL catalog
    catalog_uri: str
    namespace: str = DEFAULT_NAMESPACE
    s3: S3Settings | None = None
    consumer_group: str = DEFAULT_GROUP
    #: flush a table's buffer when it holds this many rows ...
    flush_max_rows: int = Field(default=250_000, gt=0)
    #: ... or this many payload bytes ...
    flush_max_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    #: ... or when its oldest row waited this long; 20 s keeps archive freshness within 30 s
    flush_max_age_s: float = Field(default=20.0, gt=0)
    #: snapshots the archiver keeps per table: once a table holds twice this many, it
    #: expires the older ones (each commit copies the table's whole metadata, snapshots
    #: included, so a snapshot per flush kept forever made every commit slower; ADR 0014)
    snapshots_kept: int = Field(default=20, gt=0)
    #: seconds between rounds of retention and compaction beside the archiver (`up`, `archive maintain`)
    maintenance_every_s: float = Field(default=900.0, gt=0)
    #: messages per ``consume()`` call
    consume_batch: int = Field(default=5_000, gt=0)
    #: rows per Parquet row group: small enough that a contact id lookup skips most of a file
    row_group_rows: int = Field(default=32_768, gt=0)
    #: zstd level of files compaction rewrites (the archiver writes at zstd's fast default:
    #: its CPU is on the live path, compaction's is not); bench/archive.py has the trade-off
    compacted_zstd_level: int = Field(default=9, ge=1, le=22)
    #: rows of a day's partition compaction rewrites at once (see
    #: ``DEFAULT_MAX_ROWS_PER_REWRITE``); lower it on a small host: smaller runs make more
    #: files a day, and only a call that straddles two runs is split between files
    compaction_max_rows: int = Field(default=DEFAULT_MAX_ROWS_PER_REWRITE, gt=0)

    @model_validator(mode="after")
    def _s3_warehouse_needs_s3(self) -> ArchiveSettings:
        if self.is_s3 and self.s3 is None:
            raise ValueError(f"warehouse {self.warehouse} is on S3 but no s3 settings were given")
        return self

    @property
    def sqlite_catalog(self) -> Path | None:
        """The file of an SQLite catalog (``None`` for another kind of catalog)."""
        prefix = "sqlite:///"
        return Path(self.catalog_uri.removeprefix(prefix)) if self.catalog_uri.startswith(prefix) else None

    @property
    def catalog_created(self) -> bool:
        """False only for an SQLite catalog no archiver has created yet."""
        return self.sqlite_catalog is None or self.sqlite_catalog.exists()

    @property
    def is_s3(self) -> bool:
        return self.warehouse.startswith(("s3://", "s3a://"))

    def catalog_properties(self) -> dict[str, str]:
        """Properties for pyiceberg's ``SqlCatalog``."""
        warehouse = self.warehouse if self.is_s3 else Path(self.warehouse).resolve().as_uri()
        props = {"uri": self.catalog_uri, "warehouse": warehouse}
        if self.s3:
            props |= self.s3.fileio_properties()
        return props

    @classmethod
    def for_state_dir(cls, state_dir: Path, **overrides: Any) -> ArchiveSettings:
        """Defaults under ``<state_dir>/archive``: ``catalog.db`` and ``warehouse/``."""
        home = Path(state_dir).resolve() / "archive"
        values: dict[str, Any] = {
            "warehouse": str(home / "warehouse"),
            "catalog_uri": f"sqlite:///{home / 'catalog.db'}",
        }
        return build_archive_settings(values | {k: v for k, v in overrides.items() if v is not None})


def build_archive_settings(values: dict[str, Any]) -> ArchiveSettings:
    """Validate settings, turning pydantic's report into one ConfigError line."""
    try:
        return ArchiveSettings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid archive settings: {problems}", "fix the archive options or config file") from None
