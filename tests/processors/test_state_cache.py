"""Per-call state read back from what the worker wrote, without Quix's read path."""
# ruff: noqa: SLF001 - the cache wraps Quix's private rebalance callbacks; the fake application has the same names

from __future__ import annotations

import inspect
import types
from datetime import timedelta
from typing import Any

import orjson
from quixstreams import Application
from quixstreams.state.base.state import TransactionState
from support.calls import CallBuilder

from callstream.processors.escalation import EscalationDetector
from callstream.processors.runtime import CallStateValue
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


def _write(cache: CallStateCache, store: QuixStore, key: bytes, ts: int, value: Any) -> None:
    call = _message(cache, store, key, ts)
    call.set("x", value)
    call.save()


def test_a_call_is_read_from_quix_once_and_every_change_is_written_at_once():
    store, cache, detector = QuixStore(), CallStateCache(CallStateValue.KEY, TTL), EscalationDetector()
    call_events = CallBuilder("call-1")
    events = [call_events.connected(), call_events.customer("this is ridiculous, I want a manager now"),
              call_events.sentiment(-0.9), call_events.customer("I am furious")]
    for n, event in enumerate(events):
        call = _message(cache, store, b"call-1", 1_000 + n)
        list(detector.process(event, call))
        sets_before = store.ops.count(("set", b"call-1"))
        call.save()
        # a change is Quix's as soon as its message is done: at most one write, in it
        assert store.ops.count(("set", b"call-1")) - sets_before <= 1
    assert [op for op, _ in store.ops].count("get") == 1  # the first message's read only
    in_quix = orjson.loads(store.values[(b"call-1", CallStateValue.KEY)])
    assert _message(cache, store, b"call-1", 2_000).get("escalation") == in_quix["escalation"] is not None


def test_every_message_gets_a_fresh_copy_so_an_unsaved_change_is_dropped():
    store, cache = QuixStore(), CallStateCache(CallStateValue.KEY, TTL)
    _write(cache, store, b"c", 1_000, ["s1"])
    second = _message(cache, store, b"c", 1_001)
    second.get("x").append("s2")  # changed in place and never set: not the call's state
    second.save()
    assert _message(cache, store, b"c", 1_002).get("x") == ["s1"]


def test_a_call_left_empty_is_deleted_at_once_and_reads_empty_without_quix():
    store, cache = QuixStore(), CallStateCache(CallStateValue.KEY, TTL)
    store.values[(b"c", CallStateValue.KEY)] = orjson.dumps({"x": 1})
    call = _message(cache, store, b"c", 1_000)
    call.delete("x")
    call.save()
    assert store.ops == [("get", b"c"), ("delete", b"c")] and (b"c", CallStateValue.KEY) not in store.values
    assert _message(cache, store, b"c", 1_001).get("x") is None and len(store.ops) == 2


def test_a_value_near_its_expiry_is_left_to_quix():
    store, cache = QuixStore(), CallStateCache(CallStateValue.KEY, TTL)
    _write(cache, store, b"c", 1_000, 1)
    # another call's message carries the worker's event time to the first one's expiry
    _message(cache, store, b"other", 1_000 + TTL_MS).get("x")
    store.ops.clear()
    _message(cache, store, b"c", 1_000 + TTL_MS).get("x")
    assert store.ops == [("get", b"c")]  # Quix decides whether it expired


def test_past_the_limit_the_oldest_calls_are_read_from_quix_again():
    store, cache = QuixStore(), CallStateCache(CallStateValue.KEY, TTL, limit=10)
    keys = [f"call-{n}".encode() for n in range(12)]
    for n, key in enumerate(keys):
        _write(cache, store, key, 1_000 + n, n)  # the 11th forgets the two oldest, down to 9
    store.ops.clear()
    assert [_message(cache, store, k, 1_012).get("x") for k in keys] == list(range(12))
    assert store.ops == [("get", keys[0]), ("get", keys[1])]


def test_a_rebalance_empties_it():
    store, cache = QuixStore(), CallStateCache(CallStateValue.KEY, TTL)
    called: list[str] = []

    def quix_callback(name: str):
        return lambda consumer, partitions: called.append(name)

    app = types.SimpleNamespace(**{name: quix_callback(name) for name in ("_on_revoke", "_on_lost", "_on_assign")})
    cache.hook(app)
    for name in ("_on_revoke", "_on_lost", "_on_assign"):
        _write(cache, store, b"c", 1_000, 1)
        getattr(app, name)(None, ["raw-0"])
        store.ops.clear()
        assert _message(cache, store, b"c", 1_001).get("x") == 1 and store.ops == [("get", b"c")]
    assert called == ["_on_revoke", "_on_lost", "_on_assign"]


def test_the_quix_interfaces_the_cache_uses_exist():
    # catches a Quix release that renames the rebalance callbacks or drops set_bytes' ttl
    for name in ("_on_revoke", "_on_lost", "_on_assign"):
        assert callable(getattr(Application, name))
    assert "ttl" in inspect.signature(TransactionState.set_bytes).parameters
