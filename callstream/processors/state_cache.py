"""Per-call state kept between messages, written to Quix's state once per checkpoint.

Every message of a stateful worker read its call's values through Quix's state (the
transaction's caches or RocksDB, the TTL stamp, JSON) and wrote them back the same way.
ADR 0016 measured Quix's layers and per-message state at 29-46% of a worker's CPU. This
cache keeps, for each call this worker wrote, the serialised values it wrote: a read is a
dict lookup and one JSON decode (a fresh copy every message, as Quix's read gives, so an
in-place change a processor does not ``set`` is dropped as before). A call changed by
several messages within one checkpoint is handed to Quix once, as the checkpoint is about
to commit: the changelog, and for exactly-once processors the transaction, carry the same
values at the same checkpoint as before.

It answers only for values it knows the expiry of and steps aside otherwise:
- values this worker wrote (expiring at the writing message's timestamp + the TTL); a call
  only read from the store is read from the store again next message;
- a value whose expiry is not past the newest event time this worker has seen is dropped
  and Quix answers (Quix expires a value against its partition's newest event time, never
  newer than this worker's);
- any rebalance (partitions revoked, lost or assigned) hands Quix what is pending first and
  then empties it: partitions move, and a partition handed back is restored from its
  changelog, which is where Quix reads it.

Quix's TTL layer indexes every value by its expiry stamp, and a write first finds the old
stamp to drop its index entry: with the key in neither its transaction's cache nor ours, a
RocksDB read of the whole stored value. At real time nearly every call is handed over once
per checkpoint, so that read was ~45% of each hand-over, in the frontline's one-second stop
(NOTES.md, stop 57). The cache remembers the stamp Quix gave each call's last hand-over and
tells Quix's write (``_StampHint``); a call it has not handed over since its partition was
assigned is read as before. The remembered stamp is the one Quix holds: a call's values are
written by this worker alone, through this cache, which forgets them at every rebalance
(``tests/processors/test_state_cache.py`` checks the index on a real store).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson

from callstream.bounded import forget_oldest
from callstream.dependencies import require_supported

Callback = Any  # a Quix rebalance callback: (consumer, partitions) -> None

#: calls whose values a worker keeps (twice the 10,000 live calls of the headroom target;
#: ~1 KB each for the signals bundle): one past it reads Quix again, nothing is lost
CACHED_CALLS = 20_000


class _StampHint:
    """What one hand-over tells Quix's TTL write, and what it learns from it."""

    #: the expiry stamp of the value Quix holds for the key being written (None: unknown)
    held: int | None = None
    #: the stamp Quix gave the write (None: Quix did not stamp it, e.g. before expiry is on)
    given: int | None = None


_STAMP = _StampHint()


def _tell_quix_old_stamps() -> None:
    """Let Quix's TTL write take the old stamp from ``_STAMP`` instead of reading RocksDB
    (``RocksDBPartitionTransaction._delete_stale_index_entry``, private: the version is
    pinned, and a test runs it on a real store). Process-wide and idempotent; a write
    without a hint goes through Quix's own code."""
    require_supported("quixstreams")
    from quixstreams.state.metadata import TTL_INDEX_CF_NAME, Marker
    from quixstreams.state.rocksdb.transaction import RocksDBPartitionTransaction
    from quixstreams.state.rocksdb.ttl_codec import SENTINEL_NEVER, encode_index_key

    quix_own = RocksDBPartitionTransaction._delete_stale_index_entry  # noqa: SLF001
    if getattr(quix_own, "takes_hints", False):
        return

    def delete_stale_index_entry(tx: Any, key_serialized: bytes, prefix: bytes, new_stamp: int) -> None:
        held, _STAMP.held = _STAMP.held, None
        _STAMP.given = new_stamp
        in_transaction = tx._update_cache.get(key=key_serialized, prefix=prefix, cf_name="default")  # noqa: SLF001
        if held is None or in_transaction is not Marker.UNDEFINED:
            quix_own(tx, key_serialized, prefix, new_stamp)  # Quix knows, or must read it
        elif held not in (SENTINEL_NEVER, new_stamp):
            tx._update_cache.delete(  # noqa: SLF001
                key=encode_index_key(held, key_serialized), prefix=b"", cf_name=TTL_INDEX_CF_NAME)

    delete_stale_index_entry.takes_hints = True  # type: ignore[attr-defined]
    RocksDBPartitionTransaction._delete_stale_index_entry = delete_stale_index_entry  # type: ignore[method-assign,assignment]  # noqa: SLF001


class CallStateCache:
    """The serialised values of the calls this worker wrote, and those not yet handed to Quix."""

    def __init__(self, key: str, ttl: timedelta, limit: int = CACHED_CALLS) -> None:
        #: the Quix state key every call's values live under
        self.key = key
        self.ttl = ttl
        self._ttl_ms = int(ttl.total_seconds() * 1000)
        self._limit = limit
        #: message key -> (serialised values, or None for none, expiry in event-time ms, the
        #: TTL stamp of the value Quix holds from this cache's last hand-over, or None)
        self._written: dict[Any, tuple[bytes | None, int, int | None]] = {}
        #: message key -> the Quix state of its latest message in this checkpoint
        self._pending: dict[Any, Any] = {}
        self._newest_ms = 0

    def load(self, message_key: Any, state: Any, timestamp_ms: int) -> dict[str, Any]:
        """The call's values: a fresh copy of what this worker wrote last, or Quix's."""
        self._newest_ms = max(self._newest_ms, timestamp_ms)
        written = self._written.get(message_key)
        if written is not None:
            blob, expires_ms, _ = written
            if expires_ms > self._newest_ms:
                return orjson.loads(blob) if blob is not None else {}
            if message_key in self._pending:  # Quix gets the write it would have had, and decides
                self._hand_over(message_key, self._pending.pop(message_key))
            del self._written[message_key]
        return state.get(self.key) or {}

    def save(self, message_key: Any, state: Any, timestamp_ms: int, values: dict[str, Any]) -> None:
        """The call's values changed in this message (none left: ``values`` is empty)."""
        previous = self._written.pop(message_key, None)  # re-inserted last: the dict's order is recency
        held = previous[2] if previous is not None else None
        self._written[message_key] = (orjson.dumps(values) if values else None, timestamp_ms + self._ttl_ms, held)
        self._pending[message_key] = state
        # the least recently written calls that are already Quix's go, a tenth at a time
        forget_oldest(self._written, self._limit, spare=self._pending)

    def write_back(self) -> None:
        """Hand every call changed since the last checkpoint to its message's Quix state."""
        for message_key, state in self._pending.items():
            self._hand_over(message_key, state)
        self._pending.clear()

    def _hand_over(self, message_key: Any, state: Any) -> None:
        blob, expires_ms, held = self._written[message_key]
        given = None
        if blob is None:
            state.delete(self.key)
        else:
            _STAMP.held, _STAMP.given = held, None
            try:
                state.set_bytes(self.key, blob, ttl=self.ttl)
            finally:
                given, _STAMP.held, _STAMP.given = _STAMP.given, None, None
        self._written[message_key] = (blob, expires_ms, given)

    def clear(self) -> None:
        """Forget everything (a rebalance): what was not handed to Quix is dropped with it."""
        self._written.clear()
        self._pending.clear()

    def hook(self, app: Any) -> None:
        """Write back before each checkpoint commit of ``app`` and empty on every rebalance
        (Quix internals: the processing context's ``commit_checkpoint`` and its checkpoint's
        ``expired``, the application's rebalance callbacks; pinned by
        ``tests/processors/test_state_cache.py``). Before ``app.run()``."""
        _tell_quix_old_stamps()
        context = app._processing_context  # noqa: SLF001
        commit = context.commit_checkpoint

        def committing(force: bool = False, revoking: bool = False) -> None:
            # Decided once: Quix asks its checkpoint's clock again, and a checkpoint that
            # expired between the two questions would commit without the writes handed over
            if force or context.checkpoint.expired():
                self.write_back()
                commit(force=True, revoking=revoking)

        context.commit_checkpoint = committing
        app._on_revoke = self._emptying(app._on_revoke)  # noqa: SLF001
        app._on_lost = self._emptying(app._on_lost)  # noqa: SLF001
        app._on_assign = self._emptying(app._on_assign)  # noqa: SLF001

    def _emptying(self, callback: Callback) -> Callback:
        def emptied(consumer: Any, partitions: list[Any]) -> None:
            # Quix's transactions then hold every write, as when each message wrote its own:
            # a revoke commits them, a loss drops them, as before
            self.write_back()
            try:
                callback(consumer, partitions)
            finally:
                self.clear()
        return emptied
