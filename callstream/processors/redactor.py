"""The redactor: raw transcript segments in, redacted segments out, in real time.

The only reader of the restricted raw topic besides the archiver. Finals and partials
are both redacted; partials are marked provisional (their final may redact more). A
segment id seen before (speech-to-text feeds re-send) is dropped here, so every consumer
downstream sees each segment once.

The tail of each speaker's previous final is kept in the per-call state so a cue ("my card
number is") or a number split across two segments is still recognised. That tail is raw
text, so it is sealed with the contact's data key (``state_seal``) before it enters the
state store and its changelog topic: erasing the customer makes it unreadable there too.
"""

from __future__ import annotations

from collections.abc import Iterable

from callstream.contract.events import Envelope, RedactedSegment, TranscriptSegment
from callstream.detectors.redaction import PRECEDING_CHARS, redact_text
from callstream.governance.encryption import SealError
from callstream.governance.keystore import KeyShredded
from callstream.processors.base import CallState, Processor, derive
from callstream.processors.ordering import remember

#: segment ids remembered per call for duplicate detection (re-sends arrive close together)
SEEN_LIMIT = 256


class Redactor(Processor):
    name = "redactor"
    description = "PII/PCI redaction of transcript segments (typed and spoken), with character offsets"
    inputs = ("callstream.transcript.raw",)
    outputs = ("callstream.transcript.redacted",)
    guarantee = "at-least-once"
    batch_ms = 5  # on the live agent-assist path
    reads_restricted = True

    def process(self, event: Envelope, state: CallState) -> Iterable[Envelope]:
        if not isinstance(event, TranscriptSegment):
            return ()
        seen: list[str] = state.get("seen", [])
        if not remember(seen, event.segment_id, event.contact_id, SEEN_LIMIT):
            return ()
        state.set("seen", seen)
        context_key = f"last_final:{event.participant}"
        preceding = self._open_context(event.contact_id, context_key, state.get(context_key, ""))
        text, spans = redact_text(event.text, preceding=preceding, provisional=not event.is_final)
        if event.is_final:
            self._keep_context(event.contact_id, context_key, event.text[-PRECEDING_CHARS:], state)
        return (derive(
            RedactedSegment, event, self.name, "redacted",
            segment_id=event.segment_id, sequence=event.sequence, participant=event.participant,
            start_offset_ms=event.start_offset_ms, end_offset_ms=event.end_offset_ms, text=text,
            is_final=event.is_final, provisional=not event.is_final, redactions=spans,
            final_segment_id=event.final_segment_id, confidence=event.confidence, language=event.language,
        ),)

    def _keep_context(self, contact_id: str, name: str, tail: str, state: CallState) -> None:
        if self.state_seal is not None:
            try:
                tail = self.state_seal.seal(contact_id, name, tail)
            except KeyShredded:
                state.delete(name)  # an erased contact keeps no context
                return
        state.set(name, tail)

    def _open_context(self, contact_id: str, name: str, stored: str) -> str:
        if not stored or self.state_seal is None:
            return stored
        try:
            return self.state_seal.open(contact_id, name, stored)
        except (KeyShredded, SealError):
            return ""  # erased or unreadable context: redact this segment on its own
