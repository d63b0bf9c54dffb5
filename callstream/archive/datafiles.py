"""How the archive writes its Parquet files: the archiver's, and compaction's with per-column
encodings.

pyiceberg's writer takes a table's codec, level and dictionary limit, and nothing per
column, and writes every column of the table's schema. Files are written here instead,
with the same field ids and statistics pyiceberg computes, holding only the columns the
rows have (the archiver's files have no ``body``: 71 empty columns made a flush of 200
rows cost 58 ms of CPU instead of 37), and for cold files (compaction):

- integers delta-encoded (``DELTA_BINARY_PACKED``): offsets, times and sequence numbers of
  one call's events, sorted together, differ by little;
- identifiers (``key`` and every ``*_id`` string) front-coded (``DELTA_BYTE_ARRAY``): a call's
  event ids share everything but their last characters;
- dictionaries for the rest, where they fit in 64 KiB (ADR 0009).

ADR 0012 has the bytes each choice saved. Every engine callstream is tested with reads these
encodings: pyarrow, DuckDB, and Spark through Iceberg 1.12's reader.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.io import FileIO, OutputFile
from pyiceberg.io.pyarrow import (
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
    schema_to_pyarrow,
)
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.partitioning import PartitionFieldValue, PartitionKey, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.locations import load_location_provider
from pyiceberg.table.metadata import TableMetadata

from callstream.archive.tables import DICTIONARY_LIMIT
from callstream.dependencies import require_supported

require_supported("pyiceberg")
from pyiceberg.io.pyarrow import _determine_partitions  # noqa: E402, I001


def _leaves(schema: pa.Schema) -> list[tuple[str, pa.DataType]]:
    """Every Parquet column path (``body.text``) with its type."""
    found = []
    for field in schema:
        if pa.types.is_struct(field.type):
            found += [(f"{field.name}.{child.name}", child.type) for child in field.type]
        elif not pa.types.is_nested(field.type):
            found.append((field.name, field.type))
    return found


def column_encodings(schema: pa.Schema) -> dict[str, str]:
    """The encoding of each column that does better than a dictionary (see the module doc)."""
    encodings = {}
    for path, kind in _leaves(schema):
        name = path.rsplit(".", 1)[-1]
        if pa.types.is_integer(kind):
            encodings[path] = "DELTA_BINARY_PACKED"
        elif (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind)
              or pa.types.is_large_binary(kind)) and (name == "key" or name.endswith("_id")):
            encodings[path] = "DELTA_BYTE_ARRAY"
    return encodings


def _conform(rows: pa.Table, target: pa.Schema) -> pa.Table:
    """``rows`` in the file schema: its column and struct-field order, types and field ids.
    Chunk by chunk: the writer takes chunked columns, and a one-piece copy of each would
    only hold the rows twice."""
    columns = []
    for field in target:
        column = rows[field.name]
        if pa.types.is_struct(field.type):
            column = pa.chunked_array([_conform_struct(chunk, field.type) for chunk in column.chunks], field.type)
        columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=target)


def _conform_struct(chunk: pa.StructArray, kind: pa.StructType) -> pa.StructArray:
    if chunk.offset:  # a slice: Arrow rebuilds a struct with a null mask only from offset 0
        chunk = pa.concat_arrays([chunk])
    children = [chunk.field(child.name).cast(child.type) for child in kind]
    return pa.StructArray.from_arrays(children, fields=list(kind), mask=chunk.is_null())


def write_data_files(metadata: TableMetadata, rows: pa.Table | Iterable[pa.Table], io: FileIO, *,
                     write_uuid: uuid.UUID, counter: itertools.count, zstd_level: int | None = None,
                     cold: bool = False) -> list[DataFile]:
    """Write ``rows`` as one data file per partition, holding the columns ``rows`` has (a
    column a file lacks reads as null in every engine); the files are not committed (the
    caller adds them to its snapshot). ``cold``: the encodings above (compaction); otherwise
    dictionaries only, as the archiver always wrote. ``zstd_level`` None is zstd's default.

    ``rows`` may come as a stream of tables with one schema (compaction's sorted slices):
    each is written as it comes and can be freed after, a partition's file staying open
    until the stream ends, so a rewrite holds one slice of its output, not all of it."""
    pieces = iter([rows] if isinstance(rows, pa.Table) else rows)
    first = next(pieces, None)
    if first is None:
        return []
    schema = metadata.schema()
    table_schema = schema_to_pyarrow(schema, include_field_ids=True)
    file_schema = pa.schema([table_schema.field(name) for name in table_schema.names if name in first.column_names])
    encodings = column_encodings(file_schema) if cold else {}
    dictionary = [path for path, _ in _leaves(file_schema) if path not in encodings]
    dictionary_limit = int(metadata.properties.get(*DICTIONARY_LIMIT))
    row_group_rows = _row_group_rows(metadata)
    locations = load_location_provider(table_location=metadata.location, table_properties=metadata.properties)
    files: dict[str, _OpenFile] = {}  # by partition path, in the order first written
    with contextlib.ExitStack() as streams:
        for piece in itertools.chain([first], pieces):
            for partition_key, part in _partitions(metadata.spec(), schema, piece):
                file = files.get(partition_key.to_path())
                if file is None:
                    name = f"00000-{next(counter)}-{write_uuid}.parquet"
                    path = locations.new_data_location(data_file_name=name, partition_key=partition_key)
                    output = io.new_output(path)
                    stream = streams.enter_context(output.create(overwrite=True))
                    writer = pq.ParquetWriter(stream, schema=file_schema, compression="zstd",
                                              compression_level=zstd_level, use_dictionary=dictionary,
                                              column_encoding=encodings or None,
                                              dictionary_pagesize_limit=dictionary_limit)
                    file = files[partition_key.to_path()] = _OpenFile(path, output, writer, partition_key)
                file.writer.write_table(_conform(part, file_schema), row_group_size=row_group_rows)
        for file in files.values():
            file.writer.close()
    return [_data_file(metadata, file) for file in files.values()]


@dataclass(frozen=True)
class _OpenFile:
    path: str
    output: OutputFile
    writer: pq.ParquetWriter
    partition_key: PartitionKey


def _data_file(metadata: TableMetadata, file: _OpenFile) -> DataFile:
    """A written file's manifest entry, with the statistics pyiceberg computes for its own."""
    schema = metadata.schema()
    statistics = data_file_statistics_from_parquet_metadata(
        parquet_metadata=file.writer.writer.metadata,
        stats_columns=compute_statistics_plan(schema, metadata.properties),
        parquet_column_mapping=parquet_path_to_id_mapping(schema),
    )
    return DataFile.from_args(
        content=DataFileContent.DATA, file_path=file.path, file_format=FileFormat.PARQUET,
        partition=file.partition_key.partition, file_size_in_bytes=len(file.output),
        sort_order_id=None, spec_id=metadata.default_spec_id, equality_ids=None, key_metadata=None,
        **statistics.to_serialized_dict(),
    )


def _partitions(spec: PartitionSpec, schema: Schema, rows: pa.Table) -> Iterator[tuple[PartitionKey, pa.Table]]:
    """``rows`` split by partition, as pyiceberg splits them; by slices when one partition
    field's rows come in one run each (the archiver sorts them so; compaction rewrites one
    partition at a time). pyiceberg filters the whole table once per partition: 0.7 us per
    row of an archiver flush whose calls spanned three days."""
    if len(spec.fields) == 1 and rows.num_rows:
        field = spec.fields[0]
        column = schema.find_column_name(field.source_id)
        if column in rows.column_names:
            values = field.transform.pyarrow_transform(schema.find_field(field.source_id).field_type)(
                rows[column].combine_chunks())
            if values.null_count == 0:
                starts = [0, *(np.flatnonzero(pc.not_equal(values[1:], values[:-1]).to_numpy(zero_copy_only=False)) + 1)]
                keys = [values[int(start)].as_py() for start in starts]
                if len(set(keys)) == len(keys):
                    ends = [*starts[1:], rows.num_rows]
                    for key, start, end in zip(keys, starts, ends, strict=True):
                        yield (PartitionKey(field_values=[PartitionFieldValue(field=field, value=key)], partition_spec=spec,
                                            schema=schema), rows.slice(int(start), int(end - start)))
                    return
    for partition in _determine_partitions(spec=spec, schema=schema, arrow_table=rows):
        yield partition.partition_key, partition.arrow_table_partition


def _row_group_rows(metadata: TableMetadata) -> int:
    value: Any = metadata.properties.get("write.parquet.row-group-limit")
    return int(value) if value else 1 << 20
