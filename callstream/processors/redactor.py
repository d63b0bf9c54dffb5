"""The redactor: raw transcript segments in, redacted segments out, in real time.

The only reader of the restricted raw topic besides the archiver. Finals and partials
are both redacted; partials are marked provisional (their final may redact more). A
segment id seen before (speech-to-text feeds re-send) is dropped here, so every consumer
downstream sees each segment once.

The tail of each speaker's previous final is kept in the per-call state so a cue ("my card
number is") or a number split across two segments is still recognised. That state holds
raw text: its changelog topic (``changelog__callstream-redactor--*``) is as restricted as
the raw transcript topic.
"""

from __future__ import annotations

from collections.abc import Iterable

from callstream.contract.events import Envelope, RedactedSegment, TranscriptSegment
from callstream.detectors.redaction import PRECEDING_CHARS, redact_text
from callstream.processors.base import CallState, Processor, derive

#: segment ids remembered per call for duplicate detection (re-sends arrive close together)
SEEN_LIMIT = 256


class Redactor(Processor):
    name = "redactor"
    description = "PII/PCI redaction of transcript segments (typed and spoken), with character offsets"
    inputs = ("callstream.transcript.raw",)
    outputs = ("callstream.transcript.redacted",)
    guarantee = "at-least-once"
    commit_interval = 0.5
    batch_ms = 5  # on the live agent-assist path

    def process(self, event: Envelope, state: CallState) -> Iterable[Envelope]:
        if not isinstance(event, TranscriptSegment):
            return ()
        seen: list[str] = state.get("seen", [])
        if event.segment_id in seen:
            return ()
        seen.append(event.segment_id)
        state.set("seen", seen[-SEEN_LIMIT:])
        context_key = f"last_final:{event.participant}"
        text, spans = redact_text(event.text, preceding=state.get(context_key, ""), provisional=not event.is_final)
        if event.is_final:
            state.set(context_key, event.text[-PRECEDING_CHARS:])
        return (derive(
            RedactedSegment, event, self.name, "redacted",
            segment_id=event.segment_id, sequence=event.sequence, participant=event.participant,
            start_offset_ms=event.start_offset_ms, end_offset_ms=event.end_offset_ms, text=text,
            is_final=event.is_final, provisional=not event.is_final, redactions=spans,
            final_segment_id=event.final_segment_id, confidence=event.confidence, language=event.language,
        ),)
