"""The per-call sequence gate: a call's final transcript segments, once each, in order.

Speech-to-text feeds re-send segments and deliver them out of order (two channels, retries,
a partition rebalance). Processors that reason about the order of what was said (was the
identity verified *before* the address change? did the agent ask *before* the hold?) pass
every transcript segment through a ``SequenceGate``, which keeps a small amount of
JSON-serializable state in the processor's per-call store and:

* admits finals only (a partial is superseded by its final; rules read finals), but lets a
  partial fill its place in the sequence, since partials and finals share one numbering;
* drops a duplicate: a segment id it has already admitted or buffered;
* admits a final whose ``sequence`` is the next expected one, then any buffered successors;
* buffers a final that arrives early (a gap before it), at most ``max_buffer`` of them and
  for at most ``max_wait_ms`` of event time; past either bound it stops waiting, skips the
  gap and admits the buffered segments in order;
* lets a *late* final through, flagged ``late=True``: one whose sequence is below the next
  expected (its gap was skipped, or the call was already flushed). Dropping it would lose
  what was said (a late "let me speak to your supervisor" still matters); each processor
  decides what a late segment may still change;
* on ``flush`` (the call ended) admits everything buffered, in order, and from then on
  admits every new final as late, while still dropping duplicates, until ``clear``.

Sequence numbers are per contact and count every segment the speech-to-text emits, partial
or final, from ``first_sequence`` (1 in the simulator); a feed that numbers only its finals
works the same way.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from callstream.contract.events import EVENT_TYPES, RedactedSegment, TranscriptSegment
from callstream.processors.base import CallState

Segment = RedactedSegment | TranscriptSegment

#: segment ids remembered per call; re-sends arrive close to the original
SEEN_LIMIT = 512
#: marks a remembered id kept without its call's contact id in front (see ``seen_form``)
_IN_CALL = "\x1f"


def seen_form(segment_id: str, contact_id: str) -> str:
    """How a segment id is remembered in its call's state: without the contact id when it
    starts with it (speech gateways commonly name segments ``<contact id>:<n>``).

    Seen ids are read and written with every segment and go to the changelog with the
    call's state at every commit: full ids made the redactor's list ~9 KB per call and each
    gate's up to 20 KB (ADR 0010). The marker keeps a short form from matching another id.
    State written with full ids still matches them (``remember``) until it expires."""
    if contact_id and segment_id.startswith(contact_id):
        return _IN_CALL + segment_id[len(contact_id):]
    return segment_id


def remember(seen: list[str], segment_id: str, contact_id: str, limit: int) -> bool:
    """Add a segment to its call's ``seen`` list, which keeps the newest ``limit`` ids: False
    (and nothing added) when it is there already, in either form (a re-send)."""
    remembered = seen_form(segment_id, contact_id)
    if remembered in seen or segment_id in seen:  # the second: state from before the short form
        return False
    seen.append(remembered)
    del seen[:-limit]
    return True


class Admitted(NamedTuple):
    """A final segment let through the gate; ``late`` when it came after its successors."""

    segment: Segment
    late: bool = False


class SequenceGate:
    """Orders one call's final segments; all its state lives under ``state[key]``."""

    def __init__(
        self,
        key: str = "sequence_gate",
        *,
        first_sequence: int = 1,
        max_buffer: int = 16,
        max_wait_ms: int = 5_000,
    ) -> None:
        if max_buffer < 1:
            raise ValueError(f"max_buffer must be at least 1, got {max_buffer}")
        self.key = key
        self.first_sequence = first_sequence
        self.max_buffer = max_buffer
        self.max_wait_ms = max_wait_ms

    # --- state -------------------------------------------------------------------------

    def _load(self, state: CallState) -> dict[str, Any]:
        gate = state.get(self.key)
        if gate is None:
            gate = {"next": self.first_sequence, "buffer": [], "seen": [], "flushed": False}
        return gate

    def _save(self, state: CallState, gate: dict[str, Any]) -> None:
        state.set(self.key, gate)

    def clear(self, state: CallState) -> None:
        """Forget the call: the processor is done with it."""
        state.delete(self.key)

    def buffered(self, state: CallState) -> int:
        """How many early segments wait for a gap to fill."""
        return len(self._load(state)["buffer"])

    # --- the gate ------------------------------------------------------------------------

    def admit(self, segment: Segment, state: CallState) -> list[Admitted]:
        """Offer one segment; returns the finals now admitted, in order (maybe none)."""
        gate = self._load(state)
        if not segment.is_final:
            return self._fill(gate, segment, state)
        seen: list[str] = gate["seen"]
        if not remember(seen, segment.segment_id, segment.contact_id, SEEN_LIMIT):
            return []

        if gate["flushed"] or segment.sequence < gate["next"]:
            self._save(state, gate)
            return [Admitted(segment, late=True)]

        out: list[Admitted] = []
        if segment.sequence == gate["next"]:
            out.append(Admitted(segment))
            gate["next"] = segment.sequence + 1
        else:
            buffer: list[list[Any]] = gate["buffer"]
            buffer.append([segment.sequence, segment.event_time_ms, _to_state(segment)])
            buffer.sort(key=lambda item: item[0])
        out.extend(self._drain(gate, newest_ms=segment.event_time_ms))
        self._save(state, gate)
        return out

    def _fill(self, gate: dict[str, Any], partial: Segment, state: CallState) -> list[Admitted]:
        # A partial holds its number in the sequence: a placeholder with no event.
        if gate["flushed"] or partial.sequence < gate["next"]:
            return []
        buffer: list[list[Any]] = gate["buffer"]
        if partial.sequence == gate["next"]:
            gate["next"] += 1
        elif any(item[0] == partial.sequence for item in buffer):
            return []
        else:
            buffer.append([partial.sequence, partial.event_time_ms, None])
            buffer.sort(key=lambda item: item[0])
        out = self._drain(gate, newest_ms=partial.event_time_ms)
        self._save(state, gate)
        return out

    def expire(self, state: CallState, now_ms: int) -> list[Admitted]:
        """Stop waiting for gaps older than ``max_wait_ms`` at event time ``now_ms``
        (call it on a call's other events, e.g. heartbeats, so a gap that never fills
        does not hold segments back until the call ends)."""
        gate = state.get(self.key)
        if not gate or not gate["buffer"]:
            return []
        out = self._drain(gate, newest_ms=now_ms)
        self._save(state, gate)
        return out

    def flush(self, state: CallState) -> list[Admitted]:
        """The call ended: admit everything buffered, in order; later finals are late."""
        gate = self._load(state)
        out = [Admitted(_from_state(item[2])) for item in gate["buffer"] if item[2] is not None]
        if gate["buffer"]:
            gate["next"] = gate["buffer"][-1][0] + 1
        gate["buffer"] = []
        gate["flushed"] = True
        self._save(state, gate)
        return out

    def _drain(self, gate: dict[str, Any], newest_ms: int) -> list[Admitted]:
        buffer: list[list[Any]] = gate["buffer"]
        out: list[Admitted] = []
        while buffer:
            sequence, event_ms, stored = buffer[0]
            waited_too_long = newest_ms - event_ms > self.max_wait_ms
            if sequence == gate["next"] or len(buffer) > self.max_buffer or waited_too_long:
                buffer.pop(0)
                # A skipped gap: the segments in it are late if they ever come.
                if stored is not None:
                    out.append(Admitted(_from_state(stored)))
                gate["next"] = sequence + 1
            elif sequence < gate["next"]:
                buffer.pop(0)  # same number as one already admitted: a re-numbered re-send
                if stored is not None:
                    out.append(Admitted(_from_state(stored), late=True))
            else:
                break
        return out


def _to_state(segment: Segment) -> dict[str, Any]:
    # Quix keeps state as JSON in RocksDB: store the event as plain builtins with its tag.
    return msgspec.to_builtins(segment)


def _from_state(stored: dict[str, Any]) -> Segment:
    segment = msgspec.convert(stored, EVENT_TYPES[stored["event_type"]])
    if not isinstance(segment, RedactedSegment | TranscriptSegment):
        raise TypeError(f"the sequence gate's state holds a {stored['event_type']} event, not a segment")
    return segment
