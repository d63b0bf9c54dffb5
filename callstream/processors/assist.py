"""Agent assist: the customer's intent from their recent finals, and the next best action
with a knowledge snippet for the agent. This is the latency-critical path: stateless
apart from a few recent texts per call, at-least-once, committing often."""

from __future__ import annotations

from collections.abc import Iterable

from callstream.contract.events import AssistPrompt, Envelope, RedactedSegment
from callstream.detectors.language import assist_for, detect_intent
from callstream.processors.base import CallState, Processor, derive

#: customer finals the intent is read from (recent speech outweighs the call's opening)
RECENT_FINALS = 3
#: a prompt is re-sent when the intent changes or its confidence moves by this much
CONFIDENCE_STEP = 0.15


class AgentAssist(Processor):
    name = "assist"
    description = "Intent detection on recent customer finals -> next-best-action prompt with a knowledge snippet"
    inputs = ("callstream.transcript.redacted",)
    outputs = ("callstream.assist.prompts",)
    guarantee = "at-least-once"
    batch_ms = 5  # on the live agent-assist path

    def process(self, event: Envelope, state: CallState) -> Iterable[Envelope]:
        if not isinstance(event, RedactedSegment) or not event.is_final or event.participant != "customer":
            return ()
        recent: list[str] = state.get("recent", [])
        recent = [*recent, event.text][-RECENT_FINALS:]
        state.set("recent", recent)
        intent, confidence = detect_intent(recent)
        last = state.get("prompted")
        if last and last[0] == intent and abs(last[1] - confidence) < CONFIDENCE_STEP:
            return ()
        state.set("prompted", [intent, confidence])
        card = assist_for(intent)
        return (derive(
            AssistPrompt, event, self.name, "assist",
            intent=intent, confidence=max(0.0, min(1.0, confidence)), next_best_action=card.next_best_action,
            knowledge_title=card.knowledge_title, knowledge_snippet=card.knowledge_snippet, segment_id=event.segment_id,
        ),)
