"""Key partitioning matches Kafka's Java client (test vectors from Kafka's UtilsTest)."""

from __future__ import annotations

import zlib

import pytest

from callstream.archive.partitioning import murmur2, partition_for_key
from callstream.errors import ConfigError


@pytest.mark.parametrize(("data", "expected"), [
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
])
def test_murmur2_matches_kafka(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


def test_partition_for_key_both_partitioners() -> None:
    assert partition_for_key("foobar", 6) == (-790332482 & 0x7FFFFFFF) % 6
    assert partition_for_key(b"foobar", 6, "consistent_random") == zlib.crc32(b"foobar") % 6
    with pytest.raises(ConfigError, match="unknown partitioner"):
        partition_for_key("k", 3, "sticky")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        partition_for_key("k", 0)
