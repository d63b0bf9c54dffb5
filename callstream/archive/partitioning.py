"""Which partition a key lands in, so replay reads only the Kafka tail that can hold a call.

``murmur2_random`` is the Java client's partitioner (and librdkafka's option of that name);
``consistent_random`` is librdkafka's default (CRC32). Producers that should interoperate
with Java clients and with replay set ``partitioner=murmur2_random``.
"""

from __future__ import annotations

import zlib
from typing import Literal

from callstream.errors import ConfigError

Partitioner = Literal["murmur2_random", "murmur2", "consistent_random", "consistent"]

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (``org.apache.kafka.common.utils.Utils.murmur2``) as a signed int."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    for i in range(0, length - length % 4, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & ~3
    extra = length % 4
    if extra == 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_key(key: bytes | str, partitions: int, partitioner: Partitioner = "murmur2_random") -> int:
    """The partition a non-null ``key`` is produced to among ``partitions``."""
    if partitions <= 0:
        raise ConfigError(f"a topic has at least one partition, not {partitions}")
    data = key.encode() if isinstance(key, str) else key
    if partitioner in ("murmur2_random", "murmur2"):
        return (murmur2(data) & 0x7FFFFFFF) % partitions
    if partitioner in ("consistent_random", "consistent"):
        return zlib.crc32(data) % partitions
    raise ConfigError(f"unknown partitioner {partitioner!r}",
                      "use murmur2_random (Java-compatible) or consistent_random (librdkafka default)")
