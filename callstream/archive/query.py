"""DuckDB over the archive: every table as a view named like the table, for ad-hoc SQL.

Views read the current snapshot's Parquet files directly (the archive writes no delete
files, so those files are the table). A local warehouse is read with DuckDB's own Parquet
reader; an ``s3://`` warehouse through a pyarrow dataset on the S3 endpoint (DuckDB's S3
extension is a network download this project cannot rely on). Each view adds
``payload_json``: the payload as text for rows that decoded as events.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
from pyarrow import fs as pafs

from callstream.archive.settings import ArchiveSettings
from callstream.archive.tables import ARROW_SCHEMA, Archive, data_files, table_name
from callstream.errors import ArchiveError

_EXTRA_COLUMNS = "CASE WHEN event_type IS NOT NULL THEN decode(payload) END AS payload_json"


def s3_filesystem(settings: ArchiveSettings) -> pafs.S3FileSystem:
    s3 = settings.s3
    if s3 is None:
        raise ArchiveError(f"warehouse {settings.warehouse} needs S3 settings", "pass the S3 endpoint and keys")
    scheme = "http" if (s3.endpoint or "").startswith("http://") else "https"
    return pafs.S3FileSystem(
        access_key=s3.access_key_id,
        secret_key=s3.secret_access_key.get_secret_value() if s3.secret_access_key else None,
        region=s3.region,
        endpoint_override=s3.endpoint,
        scheme=scheme,
        force_virtual_addressing=not s3.path_style,
    )


def local_path(uri: str) -> str:
    return uri.removeprefix("file://")


def parquet_source(settings: ArchiveSettings, files: list[str], con: duckdb.DuckDBPyConnection, name: str) -> str:
    """A FROM-clause source for ``files`` (registering an Arrow object on ``con`` if needed)."""
    if not files:
        con.register(name, pa.Table.from_batches([], schema=ARROW_SCHEMA))
        return name
    if settings.is_s3:
        keys = [f.split("://", 1)[1] for f in files]
        con.register(name, pads.dataset(keys, schema=ARROW_SCHEMA, format="parquet",
                                        filesystem=s3_filesystem(settings)))
        return name
    quoted = ", ".join("'" + local_path(f).replace("'", "''") + "'" for f in files)
    return f"read_parquet([{quoted}])"


def connect(archive: Archive, topics: Iterable[str] | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per archive table (``callstream_call_lifecycle`` ...)."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    wanted = set(topics) if topics is not None else None
    for topic, table in archive.tables():
        if wanted is not None and topic not in wanted:
            continue
        view = table_name(topic)
        source = parquet_source(archive.settings, data_files(table), con, f"{view}__files")
        con.execute(f'CREATE VIEW "{view}" AS SELECT *, {_EXTRA_COLUMNS} FROM {source}')
    return con


def query(archive: Archive, sql: str) -> pa.Table:
    """Run ``sql`` over the archive views and return the result as Arrow."""
    con = connect(archive)
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        views = ", ".join(table_name(t) for t in archive.topics()) or "none yet"
        raise ArchiveError(f"the archive query failed: {str(exc).splitlines()[0]}",
                           f"tables are views named like the table: {views}") from None
    finally:
        con.close()
