"""Per-call state kept between messages and handed to Quix once per checkpoint."""
# ruff: noqa: SLF001 - the cache wraps Quix's private callbacks and commit; the fakes have the same names

from __future__ import annotations

import inspect
import types
from datetime import timedelta
from typing import Any

import orjson
from quixstreams.checkpointing import Checkpoint
from support.calls import CallBuilder

from callstream.contract.catalog import load_catalog
from callstream.processors.escalation import EscalationDetector
from callstream.processors.registry import load_processor
from callstream.processors.runtime import CallStateValue, build_application
from callstream.processors.state_cache import CallStateCache

TTL = timedelta(hours=6)
TTL_MS = int(TTL.total_seconds() * 1000)


class QuixStore:
    """Quix's state store as the cache uses it: one ``State`` per message key, JSON values."""

    def __init__(self) -> None:
        self.values: dict[tuple[Any, str], bytes] = {}
        self.ops: list[tuple[str, Any]] = []

    def state(self, message_key: Any) -> QuixState:
        return QuixState(self, message_key)


class QuixState:
    def __init__(self, store: QuixStore, message_key: Any) -> None:
        self.store, self.message_key = store, message_key

    def get(self, key: str, default: Any = None) -> Any:
        self.store.ops.append(("get", self.message_key))
        blob = self.store.values.get((self.message_key, key))
        return default if blob is None else orjson.loads(blob)

    def set_bytes(self, key: str, value: bytes, ttl: timedelta | None = None) -> None:
        assert ttl == TTL
        self.store.ops.append(("set", self.message_key))
        self.store.values[(self.message_key, key)] = value

    def delete(self, key: str) -> None:
        self.store.ops.append(("delete", self.message_key))
        self.store.values.pop((self.message_key, key), None)


def _message(cache: CallStateCache, store: QuixStore, key: bytes, ts: int) -> CallStateValue:
    return CallStateValue(store.state(key), TTL, cache, key, ts)


def test_a_call_is_read_from_quix_once_and_written_to_it_once_per_checkpoint():
    store, cache, detector = QuixStore(), CallStateCache(CallStateValue.KEY, TTL), EscalationDetector()
    call_events = CallBuilder("call-1")
    events = [call_events.connected(), call_events.customer("this is ridiculous, I want a manager now"),
              call_events.sentiment(-0.9), call_events.customer("I am furious")]
    for n, event in enumerate(events):
        call = _message(cache, store, b"call-1", 1_000 + n)
        list(detector.process(event, call))
        call.save()
    assert store.ops == [("get", b"call-1")]  # the first message's read; nothing written yet
    cache.write_back()
    assert store.ops[1:] == [("set", b"call-1")]
    # Quix holds what a write per message would have left: the last message's values
    reread = CallStateValue(store.state(b"call-1"), TTL)
    assert reread.get("escalation") == _message(cache, store, b"call-1", 2_000).get("escalation") is not None
    cache.write_back()
    assert store.ops.count(("set", b"call-1")) == 1  # nothing changed since: nothing handed over


def test_every_message_gets_a_fresh_copy_so_an_unsaved_change_is_dropped():
    store, cache = QuixStore(), CallStateCache(CallStateValue.KEY, TTL)
    first = _message(cache, store, b"c", 1_000)
    first.set("seen", ["s1"])
    first.save()
    second = _message(cache, store, b"c", 1_001)
    second.get("seen").append("s2")  # changed in place and never set: not the call's state
    second.save()
    assert _message(cache, store, b"c", 1_002).get("seen") == ["s1"]


def test_a_call_left_empty_is_deleted_at_the_checkpoint_and_reads_empty_before_it():
    store, cache = QuixStore(), CallStateCache(CallStateValue.KEY, TTL)
    store.values[(b"c", CallStateValue.KEY)] = orjson.dumps({"x": 1})
    call = _message(cache, store, b"c", 1_000)
    call.delete("x")
    call.save()
    assert _message(cache, store, b"c", 1_001).get("x") is None
    assert store.ops == [("get", b"c")]
    cache.write_back()
    assert store.ops[-1] == ("delete", b"c") and (b"c", CallStateValue.KEY) not in store.values


def test_a_value_near_its_expiry_is_left_to_quix():
    store, cache = QuixStore(), CallStateCache(CallStateValue.KEY, TTL)
    _write(cache, store, b"c", 1_000, 1)
    cache.write_back()
    # another call's message carries the worker's event time to the first one's expiry
    _message(cache, store, b"other", 1_000 + TTL_MS).get("x")
    store.ops.clear()
    _message(cache, store, b"c", 1_000 + TTL_MS).get("x")
    assert store.ops == [("get", b"c")]  # Quix decides whether it expired


def test_only_calls_already_handed_to_quix_are_forgotten_past_the_limit():
    store, cache = QuixStore(), CallStateCache(CallStateValue.KEY, TTL, limit=10)
    keys = [f"call-{n}".encode() for n in range(12)]
    for n, key in enumerate(keys[:10]):
        _write(cache, store, key, 1_000 + n, n)
    cache.write_back()
    _write(cache, store, keys[10], 1_010, 10)  # past the limit: the two oldest go, down to 9
    _write(cache, store, keys[11], 1_011, 11)
    store.ops.clear()
    assert [_message(cache, store, k, 1_012).get("x") for k in keys] == list(range(12))
    assert store.ops == [("get", keys[0]), ("get", keys[1])]
    cache.write_back()  # the new calls were never forgotten before they reached Quix
    assert store.values[(keys[11], CallStateValue.KEY)] == orjson.dumps({"x": 11})


def test_a_pending_write_past_its_expiry_goes_to_quix_before_quix_is_read():
    store, cache = QuixStore(), CallStateCache(CallStateValue.KEY, TTL)
    _write(cache, store, b"c", 1_000, 1)
    _message(cache, store, b"other", 1_000 + TTL_MS).get("x")  # event time reaches its expiry
    store.ops.clear()
    _message(cache, store, b"c", 1_000 + TTL_MS).get("x")
    assert store.ops == [("set", b"c"), ("get", b"c")]  # handed over, then Quix answers
    cache.write_back()
    assert store.ops.count(("set", b"c")) == 1


def _hooked(cache: CallStateCache, expired, rebalance=None) -> tuple[types.SimpleNamespace, list[tuple[bool, bool]]]:
    """An application as far as the cache hooks it, and the commits Quix was asked for."""
    committed: list[tuple[bool, bool]] = []
    context = types.SimpleNamespace(checkpoint=types.SimpleNamespace(expired=expired),
                                    commit_checkpoint=lambda force=False, revoking=False: committed.append((force, revoking)))
    app = types.SimpleNamespace(_processing_context=context, _on_revoke=rebalance, _on_lost=rebalance, _on_assign=rebalance)
    cache.hook(app)
    return app, committed


def _write(cache: CallStateCache, store: QuixStore, key: bytes, ts: int, value: Any) -> None:
    call = _message(cache, store, key, ts)
    call.set("x", value)
    call.save()


def test_a_rebalance_hands_pending_writes_to_quix_first_then_forgets_everything():
    store, cache = QuixStore(), CallStateCache(CallStateValue.KEY, TTL)
    seen_by_callback: list[dict] = []
    app, committed = _hooked(cache, lambda: False, lambda consumer, partitions: seen_by_callback.append(dict(store.values)))
    _write(cache, store, b"c", 1_000, 1)
    app._processing_context.commit_checkpoint()  # not due: nothing handed over, and Quix is not asked again
    assert committed == [] and store.values == {}
    app._on_revoke(None, ["raw-0"])
    assert seen_by_callback == [{(b"c", CallStateValue.KEY): orjson.dumps({"x": 1})}]
    store.ops.clear()
    assert _message(cache, store, b"c", 1_001).get("x") == 1 and store.ops == [("get", b"c")]
    _write(cache, store, b"c", 1_002, 2)
    app._processing_context.commit_checkpoint(force=True)  # a forced commit (shutdown) hands it over first
    assert committed[-1] == (True, False) and store.values[(b"c", CallStateValue.KEY)] == orjson.dumps({"x": 2})


def test_a_checkpoint_found_due_is_committed_with_the_writes_even_if_quix_would_ask_its_clock_again():
    # Quix re-reads its checkpoint's clock: asked a moment later it may answer differently
    # (a worker crashed on a revoke before: a checkpoint had expired between the two
    # questions and committed without the handed-over writes)
    store, cache = QuixStore(), CallStateCache(CallStateValue.KEY, TTL)
    answers = iter([True])
    app, committed = _hooked(cache, lambda: next(answers))
    _write(cache, store, b"c", 1_000, 1)
    app._processing_context.commit_checkpoint()
    assert committed == [(True, False)] and store.values == {(b"c", CallStateValue.KEY): orjson.dumps({"x": 1})}


class RocksDBStore:
    """A real Quix RocksDB store partition, one transaction per checkpoint, counting the
    RocksDB reads of stored values."""

    def __init__(self, path: str) -> None:
        from quixstreams.state.rocksdb.partition import RocksDBStorePartition

        self.partition = RocksDBStorePartition(path)
        self.reads = 0
        read = self.partition.get

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.reads += 1
            return read(*args, **kwargs)

        self.partition.get = counted  # type: ignore[method-assign]

    def checkpoint(self, cache: CallStateCache, calls: dict[bytes, int], ts: int) -> int:
        """Write ``calls`` (key -> value) through the cache, hand them over, commit; the reads."""
        transaction = self.partition.begin()
        for key, value in calls.items():
            cache.save(key, transaction.as_state(prefix=key, timestamp=ts), ts, {"x": value})
        self.reads = 0
        cache.write_back()
        transaction.prepare()
        transaction.flush()
        return self.reads

    def index(self) -> list[tuple[int, bytes]]:
        """The TTL index: (expiry stamp, stored key) for every entry."""
        from quixstreams.state.metadata import TTL_INDEX_CF_NAME
        from quixstreams.state.rocksdb.ttl_codec import decode_index_key

        return sorted(decode_index_key(k) for k, _ in self.partition.iter_items(b"", cf_name=TTL_INDEX_CF_NAME))


def test_a_hand_over_tells_quix_the_old_expiry_stamp_instead_of_quix_reading_it(tmp_path) -> None:
    from quixstreams.state.rocksdb.ttl_codec import decode_ttl_value

    store, cache = RocksDBStore(str(tmp_path)), CallStateCache(CallStateValue.KEY, TTL)
    app, _ = _hooked(cache, lambda: False, lambda consumer, partitions: None)  # installs the hint in Quix's TTL write
    calls = [b"c1", b"c2"]
    reads = [store.checkpoint(cache, dict.fromkeys(calls, n), 1_000 * (n + 1)) for n in range(4)]
    # the first checkpoint turns Quix's expiry on (no stamp to replace yet); the second
    # replaces stamps the cache did not see Quix give, so Quix reads them; then none
    assert reads == [0, 2, 0, 0]
    stored_key = {call: f'{call.decode()}|"{CallStateValue.KEY}"'.encode() for call in calls}
    # one index entry per call, at its latest stamp, as Quix's own reads leave it
    assert store.index() == [(4_000 + TTL_MS, stored_key[call]) for call in calls]
    stamp, value = decode_ttl_value(store.partition.get(stored_key[b"c1"]))
    assert (stamp, value) == (4_000 + TTL_MS, orjson.dumps({"x": 3}))
    app._on_assign(None, [])  # a rebalance: the cache forgets, Quix reads again
    assert store.checkpoint(cache, {b"c1": 9}, 5_000) == 1
    assert store.index() == [(4_000 + TTL_MS, stored_key[b"c2"]), (5_000 + TTL_MS, stored_key[b"c1"])]


def test_built_workers_keep_call_state_through_the_cache(kafka_config, pipeline, tmp_path) -> None:
    # catches a Quix release that renames the commit or the checkpoint's expiry the cache uses
    options = {"topic_names": pipeline.names, "group": f"state-cache-{tmp_path.name}"}
    built = build_application(load_processor("escalation"), kafka_config, load_catalog(), tmp_path / "e", **options)
    timed = built.app._processing_context.commit_checkpoint  # the checkpoint timer, around the cache
    assert timed.__qualname__.startswith("time_checkpoints."), timed.__qualname__
    commit = inspect.getclosurevars(timed).nonlocals["commit"]
    assert commit.__qualname__.startswith("CallStateCache."), commit.__qualname__
    assert callable(Checkpoint.expired)
