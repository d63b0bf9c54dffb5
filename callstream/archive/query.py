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
_TOP_LEVEL_SQL = {"schema_version": "INTEGER", "event_id": "VARCHAR", "contact_id": "VARCHAR",
                  "event_time_ms": "BIGINT", "producer": "VARCHAR", "caused_by": "VARCHAR"}
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


def rebuild_inputs(con: duckdb.DuckDBPyConnection, sources: dict[str, bool], *,
                   envelopes: bool = False) -> dict[str, str]:
    """Per source, the select list ``payloads`` needs (``PAYLOAD_COLUMNS``), the same types in
    each for a UNION. ``sources`` says which hold bodies at all: the others give their
    payloads as they are, and NULL envelope columns unless ``envelopes``. ``body`` carries
    only the fields of the event types the sources hold: a re-drive sorts every column it
    reads, and most fields belong to other topics' events."""
    kinds: dict[str, str] = {}
    present: dict[str, set[str]] = {}
    for source, bodied in sources.items():
        if not bodied:
            continue
        types = [row[0] for row in con.execute(f"SELECT DISTINCT event_type FROM {source}").fetchall()]
        kinds |= {name: kind for tag in types if tag in LAYOUTS for name, kind in LAYOUTS[tag].fields
                  if name not in TOP_LEVEL}
        found = con.sql(f"SELECT body FROM {source} LIMIT 0").to_arrow_table().schema.field("body").type
        present[source] = set(found.names) if pa.types.is_struct(found) else set()
    struct = "STRUCT(" + ", ".join(f'"{n}" {_SQL_TYPES[kinds[n]]}' for n in sorted(kinds)) + ")" if kinds else "INTEGER"

    def field(source: str, name: str) -> str:
        value = f'body."{name}"' if name in present[source] else "NULL"
        return f'"{name}" := CAST({value} AS {_SQL_TYPES[kinds[name]]})'

    def inputs(source: str) -> str:
        if source not in present or not kinds:
            envelope = (["event_type", *TOP_LEVEL] if envelopes else
                        ["NULL::VARCHAR AS event_type", *(f"NULL::{_TOP_LEVEL_SQL[c]} AS {c}" for c in TOP_LEVEL)])
            return ", ".join([*envelope, "payload", f"NULL::{struct} AS body"])
        body = f"struct_pack({', '.join(field(source, n) for n in sorted(kinds))})"
        return f"event_type, {', '.join(TOP_LEVEL)}, payload, CASE WHEN body IS NULL THEN NULL ELSE {body} END AS body"
    return {source: inputs(source) for source in sources}


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
