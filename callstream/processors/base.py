"""What every processor is: typed events in, derived events out, per-call state between.

A processor's logic is a pure ``process(event, state)`` method, so it is unit-tested with
a ``MemoryState`` and run in production by ``callstream.processors.runtime`` on Quix
Streams, where ``state`` is the per-key (per contact id) RocksDB store that survives a
restart through its changelog topic.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, TypeVar

import msgspec

from callstream.contract.events import CallDisposition, Envelope

if TYPE_CHECKING:
    from callstream.governance.encryption import StateSeal

Guarantee = Literal["at-least-once", "exactly-once"]
E = TypeVar("E", bound=Envelope)
R = TypeVar("R", bound=msgspec.Struct)

#: the key of the tombstone that replaces an ended call's record
_TOMBSTONE = "ended"


class CallState(Protocol):
    """Per-key state: Quix's ``State`` satisfies it, and so does ``MemoryState``."""

    def get(self, key: Any, default: Any = None) -> Any: ...
    def set(self, key: Any, value: Any) -> None: ...
    def delete(self, key: Any) -> None: ...
    def exists(self, key: Any) -> bool: ...


class MemoryState:
    """A dict-backed ``CallState`` for tests and benchmarks (one contact's state)."""

    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}

    def get(self, key: Any, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: Any, value: Any) -> None:
        self.data[key] = value

    def delete(self, key: Any) -> None:
        self.data.pop(key, None)

    def exists(self, key: Any) -> bool:
        return key in self.data


class KeyedMemoryState:
    """One ``MemoryState`` per contact id: drives a processor over a mixed stream in tests."""

    def __init__(self) -> None:
        self.by_key: dict[str, MemoryState] = {}

    def for_key(self, key: str) -> MemoryState:
        return self.by_key.setdefault(key, MemoryState())


@dataclass(frozen=True)
class WindowSpec:
    """Tumbling windows over a processor's outputs, re-keyed by ``key`` (a Quix
    ``group_by`` + ``tumbling_window(...).reduce(...)``): how per-call results become
    per-queue or per-agent aggregates. ``result`` turns an accumulator into the event."""

    window_ms: int
    key: Callable[[Any], str]
    initializer: Callable[[Any], dict]
    reducer: Callable[[dict, Any], dict]
    result: Callable[[dict, int, int], Envelope]
    unit_type: type
    grace_ms: int = 0


class Processor:
    """Base class: subclasses set the class attributes and implement ``process``.

    ``inputs`` and ``outputs`` are catalog topic names; ``guarantee`` is the delivery promise
    of the outputs: ``exactly-once`` runs in Kafka transactions (for exact counts),
    ``at-least-once`` commits often for low latency and derives event ids deterministically
    from the source event, so a re-processed input yields the same ids and downstream
    consumers drop the repeat.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]]
    outputs: ClassVar[tuple[str, ...]]
    guarantee: ClassVar[Guarantee] = "at-least-once"
    stateful: ClassVar[bool] = True
    #: seconds between commits (and transactions, for exactly-once). An at-least-once
    #: processor's outputs leave as they are made, whatever this is: it bounds what a crash
    #: re-processes (repeats keep their ids) and how often each changed call's state goes to
    #: the changelog. At 0.2 s the signals bundle wrote 2.2 MB/s of changelog at 5,000 calls,
    #: more than the events it read (ADR 0010).
    commit_interval: ClassVar[float] = 1.0
    #: when set, outputs are folded into tumbling windows before they are produced
    windowing: ClassVar[WindowSpec | None] = None
    #: how long this processor's consumer may wait to fill a fetch (and a quarter of it,
    #: its producer to fill a batch): the delay it may add per hop, traded for fewer
    #: requests to the brokers. At 5,000 calls nine processors fetching whatever had just
    #: arrived cost the broker more CPU than the processors' own work. The live
    #: agent-assist path uses a few milliseconds.
    batch_ms: ClassVar[int] = 100
    #: the worker's CPU niceness (``callstream.priority``): when the machine is busy, a processor off the
    #: live agent-assist path yields the CPU to the ones on it, so its results wait a little
    #: instead of an agent's prompt (ADR 0010); the total work done is the same
    niceness: ClassVar[int] = 0
    #: a call's state is forgotten this long (in Kafka record time) after its last write:
    #: processors that never see a call's end (redactor, assist) and calls whose end or
    #: disposition never arrives would otherwise keep state, and changelog records, forever
    state_ttl: ClassVar[timedelta] = timedelta(hours=6)
    #: reads restricted fields in plaintext: the runtime opens sealed fields before
    #: ``process`` and hands it ``state_seal`` for what it keeps of them
    reads_restricted: ClassVar[bool] = False
    state_seal: StateSeal | None = None
    #: event types on its inputs that can never change its state or outputs. Run alone, its
    #: worker drops them by their first bytes, before Quix opens the call's state and before
    #: they are decoded (so one of them malformed is dead-lettered by the processors that
    #: read it, not by this one), uncounted (``runtime.read_filter``); in a bundle, the step
    #: skips them for this member. Heartbeats are ~29% of all events (70% of the lifecycle
    #: topic); reading and converting a call's state for each one cost QA and analytics more
    #: than the events they use (stop 34, NOTES.md).
    ignores: ClassVar[tuple[type[Envelope], ...]] = ()

    @property
    def consumer_group(self) -> str:
        return f"callstream-{self.name}"

    def process(self, event: Envelope, state: CallState) -> Iterable[Envelope]:
        raise NotImplementedError


class CallRecord(Generic[R]):
    """A rule processor's record of one call in its state, under ``key``, and the tombstone
    that replaces it when the call ends: events that still arrive for an ended call are
    ignored (not the start of a new record) until its disposition forgets the call.

    The record is a typed msgspec Struct (``record_type``, built with its defaults for a
    new call), so a misspelt field fails the type check instead of reading ``None``; it is
    stored as plain builtins, the JSON Quix keeps in RocksDB and the changelog. ``gate``,
    when given, is the call's ``SequenceGate``, cleared with the record."""

    def __init__(self, key: str, record_type: type[R], gate: Any = None) -> None:
        self.key = key
        self.record_type = record_type
        self.gate = gate

    def load(self, event: Envelope, state: CallState) -> R | None:
        """The stored record (a new one for a new call), or ``None`` when the call has
        ended and ``event`` is to be ignored."""
        stored = state.get(self.key)
        if stored is None:
            return self.record_type()
        if stored.get(_TOMBSTONE):
            if isinstance(event, CallDisposition):
                state.delete(self.key)
                self._clear_gate(state)
            return None
        return msgspec.convert(stored, self.record_type)

    def save(self, state: CallState, call: R) -> None:
        state.set(self.key, msgspec.to_builtins(call))

    def end(self, state: CallState) -> None:
        """The call ended: keep only the tombstone until its disposition."""
        self._clear_gate(state)
        state.set(self.key, {_TOMBSTONE: True})

    def _clear_gate(self, state: CallState) -> None:
        if self.gate is not None:
            self.gate.clear(state)


def now_ms() -> int:
    return int(time.time() * 1000)


def derive(cls: type[E], source: Envelope, producer: str, suffix: str, **fields: Any) -> E:
    """A derived event with lineage: its id is ``<source id>/<suffix>`` (deterministic, so a
    re-processed input produces the same id), ``caused_by`` the source id, event time the
    source's, and ``source_time_ms`` the produce time of the first event in the chain."""
    return cls(
        event_id=f"{source.event_id}/{suffix}",
        contact_id=fields.pop("contact_id", source.contact_id),
        event_time_ms=source.event_time_ms,
        produced_at_ms=now_ms(),
        producer=producer,
        caused_by=source.event_id,
        source_time_ms=source.source_time_ms if source.source_time_ms is not None else source.produced_at_ms,
        **fields,
    )
