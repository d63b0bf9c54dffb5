"""Several processors in one consumer: one fetch, one decode and one checkpoint per message.

A deployment choice beside one process per processor. Each processor on its own pays
Quix's per-message cost (poll, dispatch, produce, checkpoint), a decode of the envelope
and its own fetches and offset commits at the broker; five rule processors reading the
same redacted transcript paid that five times. A bundle reads the union of its members'
inputs in one consumer group (``callstream-<bundle>``), decodes each message once and hands
it to every member that reads its topic. Each member keeps its own per-call state, under
its name inside the bundle's store, and fails alone: a member that raises dead-letters
the message for itself while the others' outputs go out.

**Handed over in-process.** When one member produces a topic another member reads (the
redactor's redacted segments for assist, sentiment's scores for churn), the event goes to
its readers within the same step, as well as to Kafka for everyone else: no second poll,
decode, state read or checkpoint for it, and no hop on the live path (a raw segment's
assist prompt leaves with the step that redacted it). The bundle does not read those
topics back. Reading them back cost more than it saved: Quix reads a
stream of several topics in timestamp order and waits for every partition that has data it
has not fetched yet, so each output the bundle wrote held its own next input until it was
fetched again (ADR 0010: assist p99 1.8 s at 5,000 calls, against 0.2 s without the bundle).
So the bundle must be the only live producer of such a topic in its deployment, and a
re-drive into one reaches the other readers, not the bundle's members (the replay runbook
re-drives into a separate topic for a separate group anyway); switch deployments on a
drained pipeline (below).

What a bundle may hold: processors of the same delivery guarantee, without windows (a
windowed processor re-keys its stream). A member that reads restricted fields (the
redactor) makes the bundle's process hold the field keys: only the members that read the
restricted topic ever see its plaintext; the others see what the redactor produced. The
bundle is its own principal in the catalog, with exactly the reads and writes of its
members (a test holds the two together).

Switching a deployment between bundled and separate starts the other groups from their
committed offsets, or from the earliest record for a group that never ran: do it on a
drained pipeline, or rewind (``callstream replay rewind``) the new groups first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from callstream.contract.events import Envelope
from callstream.errors import ConfigError
from callstream.processors.base import CallState, Processor


class NamespacedState:
    """A member's view of the bundle's per-call state: its keys under ``<member>:``."""

    __slots__ = ("_prefix", "_state")

    def __init__(self, state: CallState, member: str) -> None:
        self._state = state
        self._prefix = f"{member}:"

    def get(self, key: Any, default: Any = None) -> Any:
        return self._state.get(self._prefix + key, default)

    def set(self, key: Any, value: Any) -> None:
        self._state.set(self._prefix + key, value)

    def delete(self, key: Any) -> None:
        self._state.delete(self._prefix + key)

    def exists(self, key: Any) -> bool:
        return self._state.exists(self._prefix + key)


class ProcessorBundle(Processor):
    """``members`` run as one processor named ``name`` (see the module's docstring)."""

    def __init__(self, name: str, members: Sequence[Processor]) -> None:
        if len(members) < 2:
            raise ConfigError(f"bundle {name} needs at least two processors, got {len(members)}")
        for member in members:
            if member.windowing is not None or isinstance(member, ProcessorBundle):
                raise ConfigError(f"processor {member.name} cannot run in bundle {name}",
                                  "bundles hold processors without windows")
        guarantees = {m.guarantee for m in members}
        if len(guarantees) > 1:
            raise ConfigError(f"bundle {name} mixes delivery guarantees ({', '.join(sorted(guarantees))})",
                              "bundle processors of one guarantee")
        self.members = tuple(members)
        self._readers: dict[str, tuple[Processor, ...]] = {}
        for member in members:
            for topic in member.inputs:
                self._readers[topic] = (*self._readers.get(topic, ()), member)
        #: topics a member produces and another reads: handed over in the step
        self.handed_over = frozenset(t for m in members for t in m.outputs if t in self._readers)
        _refuse_cycles(name, members)
        # the instance's settings are its members' tightest (the ClassVars of a single processor)
        self.__dict__.update(
            name=name,
            description="bundle of " + ", ".join(m.name for m in members),
            inputs=tuple(t for t in self._readers if t not in self.handed_over),
            outputs=tuple(dict.fromkeys(t for m in members for t in m.outputs)),
            guarantee=guarantees.pop(),
            commit_interval=min(m.commit_interval for m in members),
            batch_ms=min(m.batch_ms for m in members),
            stateful=any(m.stateful for m in members),
            reads_restricted=any(m.reads_restricted for m in members),
            state_ttl=max((m.state_ttl for m in members), default=timedelta(hours=6)),
            niceness=min(m.niceness for m in members),
        )

    def readers(self, topic: str, state: CallState, stateless: CallState) -> list[tuple[Processor, CallState]]:
        """The members that read ``topic`` (a catalog name), each with its own view of the state."""
        return [(m, NamespacedState(state, m.name) if m.stateful else stateless) for m in self._readers.get(topic, ())]

    def restricted_readers(self) -> tuple[Processor, ...]:
        """The members that read restricted fields (and keep sealed state of them)."""
        return tuple(m for m in self.members if m.reads_restricted)

    def process(self, event: Envelope, state: CallState) -> Iterable[Envelope]:
        raise TypeError(f"bundle {self.name} is dispatched per member by the runtime (ProcessorStep)")


def _refuse_cycles(name: str, members: Sequence[Processor]) -> None:
    """A member whose outputs come back to it through the others would hand an event round
    forever within one step."""
    feeds = {m.name: {r.name for r in members if set(m.outputs) & set(r.inputs)} for m in members}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in feeds[start] - seen:
            if nxt == target or reaches(nxt, target, seen | {nxt}):
                return True
        return False

    for member in members:
        if reaches(member.name, member.name, set()):
            raise ConfigError(f"bundle {name}: {member.name}'s outputs come back to it through its members",
                              "bundle processors whose topics form no cycle")
