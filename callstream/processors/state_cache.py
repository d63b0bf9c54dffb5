"""Per-call state read back from what the worker wrote, without Quix's read path.

Every message of a stateful worker read its call's values through Quix's state (the
transaction's caches or RocksDB, the TTL stamp, JSON) and wrote them back the same way.
ADR 0016 measured Quix's layers and per-message state at 29-46% of a worker's CPU. This
cache keeps, for each call this worker wrote, the JSON it wrote: the next message reads it
back with one decode (a fresh copy, as Quix's read gives, so an in-place change a processor
does not ``set`` is dropped as before) instead of Quix's read. Every write still goes to
Quix at once, in the message that made it (as bytes, so Quix does not encode it again): the
changelog, the checkpoint and for exactly-once processors the transaction are as before.
(Holding writes back until the checkpoint saved more CPU in a drain but stalled the live
path once a second in a burst: ADR 0016's addendum.)

It answers only for values it knows the expiry of, and steps aside otherwise:
- values this worker wrote (expiring at the writing message's timestamp + the TTL); a call
  only read from the store is read from the store again next message;
- a value whose expiry is not past the newest event time this worker has seen is dropped
  and Quix answers (Quix expires a value against its partition's newest event time, never
  newer than this worker's);
- any rebalance (partitions revoked, lost or assigned) empties it: partitions move, and a
  partition handed back is restored from its changelog, which is where Quix reads it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson

Callback = Any  # a Quix rebalance callback: (consumer, partitions) -> None

#: calls whose values a worker keeps (twice the 10,000 live calls of the headroom target;
#: ~1 KB each for the signals bundle): past it the oldest are read from Quix again
CACHED_CALLS = 20_000


class CallStateCache:
    """The serialised values of the calls this worker wrote, read back without Quix."""

    def __init__(self, key: str, ttl: timedelta, limit: int = CACHED_CALLS) -> None:
        #: the Quix state key every call's values live under
        self.key = key
        self.ttl = ttl
        self._ttl_ms = int(ttl.total_seconds() * 1000)
        self._limit = limit
        #: message key -> (serialised values, or None for none, expiry in event-time ms)
        self._written: dict[Any, tuple[bytes | None, int]] = {}
        self._newest_ms = 0

    def load(self, message_key: Any, state: Any, timestamp_ms: int) -> dict[str, Any]:
        """The call's values: a fresh copy of what this worker wrote last, or Quix's."""
        self._newest_ms = max(self._newest_ms, timestamp_ms)
        written = self._written.get(message_key)
        if written is not None:
            blob, expires_ms = written
            if expires_ms > self._newest_ms:
                return orjson.loads(blob) if blob is not None else {}
            del self._written[message_key]
        return state.get(self.key) or {}

    def save(self, message_key: Any, state: Any, timestamp_ms: int, values: dict[str, Any]) -> None:
        """Write the call's changed values to Quix (delete them when none are left) and keep them."""
        blob = orjson.dumps(values) if values else None
        if blob is None:
            state.delete(self.key)
        else:
            state.set_bytes(self.key, blob, ttl=self.ttl)
        self._written.pop(message_key, None)  # re-inserted last: the dict's order is recency
        self._written[message_key] = (blob, timestamp_ms + self._ttl_ms)
        if len(self._written) > self._limit:
            self._forget_oldest()

    def clear(self) -> None:
        self._written.clear()

    def _forget_oldest(self) -> None:
        """Drop the least recently written calls down to 90% of the limit: a tenth at a
        time, so a worker past the limit does not do it on every write."""
        for message_key in list(self._written)[:len(self._written) - int(self._limit * 0.9)]:
            del self._written[message_key]

    def hook(self, app: Any) -> None:
        """Empty on every rebalance of ``app`` (its rebalance callbacks, Quix internals the
        rebalance timer wraps too). Before ``app.run()``."""
        app._on_revoke = self._emptying(app._on_revoke)  # noqa: SLF001
        app._on_lost = self._emptying(app._on_lost)  # noqa: SLF001
        app._on_assign = self._emptying(app._on_assign)  # noqa: SLF001

    def _emptying(self, callback: Callback) -> Callback:
        def emptied(consumer: Any, partitions: list[Any]) -> None:
            try:
                callback(consumer, partitions)
            finally:
                self.clear()
        return emptied
