"""DuckDB over the archive: every table as a view named like the table, for ad-hoc SQL.

Views read the current snapshot's Parquet files directly (the archive writes no delete
files, so those files are the table). A local warehouse is read with DuckDB's own Parquet
reader; an ``s3://`` warehouse through a pyarrow dataset on the S3 endpoint (DuckDB's S3
extension is a network download this project cannot rely on). Each view adds
``payload_json``: the event as JSON text, from its payload or, for rows compaction stored
as typed columns, from ``body``.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
from pyarrow import fs as pafs

from callstream.archive.body import BODY_FIELDS, LAYOUTS, TOP_LEVEL, Layout
from callstream.archive.settings import ArchiveSettings
from callstream.archive.tables import STORED_SCHEMA, Archive, data_files, table_name
from callstream.errors import ArchiveError

_SQL_TYPES = {"string": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "json": "VARCHAR"}
#: ``body``'s type in DuckDB, for files written before compaction filled it
_BODY_SQL = "STRUCT(" + ", ".join(f'"{name}" {_SQL_TYPES[kind]}' for name, kind in BODY_FIELDS.items()) + ")"


def _body_json(layout: Layout) -> str:
    """SQL giving a compacted row's event as JSON: the same fields and values as its
    payload, not always the same bytes (replay and re-drive rebuild those exactly)."""
    def value(name: str, kind: str) -> str:
        column = name if name in TOP_LEVEL else f'body."{name}"'
        return f"json({column})" if kind == "json" else column
    pairs = ", ".join(f"'{name}', {value(name, kind)}" for name, kind in layout.fields)
    return f"WHEN '{layout.tag}' THEN json_object('event_type', event_type, {pairs})::VARCHAR"


_EXTRA_COLUMNS = ("CASE WHEN event_type IS NULL THEN NULL WHEN payload IS NOT NULL THEN decode(payload) "
                  "ELSE CASE event_type " + " ".join(_body_json(layout) for layout in LAYOUTS.values())
                  + " END END AS payload_json")


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
        con.register(name, pa.Table.from_batches([], schema=STORED_SCHEMA))
        return name
    if settings.is_s3:
        keys = [f.split("://", 1)[1] for f in files]
        con.register(name, pads.dataset(keys, schema=STORED_SCHEMA, format="parquet",
                                        filesystem=s3_filesystem(settings)))
        return name
    quoted = ", ".join("'" + local_path(f).replace("'", "''") + "'" for f in files)
    # Files from before compaction filled ``body`` lack it: every source gets the column.
    source = f"read_parquet([{quoted}], union_by_name = true)"
    columns = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    return source if "body" in columns else f"(SELECT *, NULL::{_BODY_SQL} AS body FROM {source})"


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
