"""Redactor, sentiment and assist processors as pure functions over per-call state."""

import msgspec

from callstream.contract.events import AssistPrompt, RedactedSegment, SentimentScored, TranscriptSegment
from callstream.processors.assist import AgentAssist
from callstream.processors.base import MemoryState
from callstream.processors.ordering import seen_form
from callstream.processors.redactor import Redactor
from callstream.processors.sentiment import SentimentScorer


def raw(i: int, text: str, final: bool = True, participant: str = "customer") -> TranscriptSegment:
    return TranscriptSegment(
        event_id=f"raw-{i}", contact_id="call-1", event_time_ms=1000 + i, produced_at_ms=2000 + i, producer="test",
        segment_id=f"seg-{i}", sequence=i, participant=participant, start_offset_ms=i, end_offset_ms=i + 1, text=text, is_final=final,
    )


def redacted(i: int, text: str, participant: str = "customer", final: bool = True) -> RedactedSegment:
    return RedactedSegment(
        event_id=f"red-{i}", contact_id="call-1", event_time_ms=1000 + i, produced_at_ms=2000 + i, producer="test",
        source_time_ms=500 + i, segment_id=f"seg-{i}", sequence=i, participant=participant, start_offset_ms=i,
        end_offset_ms=i + 1, text=text, is_final=final, provisional=not final,
    )


def test_redactor_redacts_links_lineage_and_drops_resent_segments() -> None:
    state, redactor = MemoryState(), Redactor()
    [out] = redactor.process(raw(1, "my card is 4111 1111 1111 1111", final=False), state)
    assert out.text == "my card is [CARD_NUMBER]" and out.provisional
    assert (out.event_id, out.caused_by, out.source_time_ms, out.event_time_ms) == ("raw-1/redacted", "raw-1", 2001, 1001)
    assert out.redactions[0].entity_type == "CARD_NUMBER" and (out.redactions[0].start, out.redactions[0].end) == (11, 30)
    assert list(redactor.process(raw(1, "my card is 4111 1111 1111 1111", final=False), state)) == []


def test_the_redactor_remembers_prefixed_segment_ids_short_and_older_full_ones_still_match() -> None:
    state, redactor = MemoryState(), Redactor()
    prefixed = msgspec.structs.replace(raw(1, "hello there"), segment_id="call-1:s1")
    assert list(redactor.process(prefixed, state)) and state.data["seen"] == [seen_form("call-1:s1", "call-1")]
    assert seen_form("call-1:s1", "call-1") == "\x1f:s1" and seen_form("other:s1", "call-1") == "other:s1"
    assert list(redactor.process(prefixed, state)) == []  # the re-send is dropped
    # an id without the prefix is its own segment, even when it spells the short form's tail
    assert list(redactor.process(msgspec.structs.replace(prefixed, segment_id=":s1"), state))
    # state written before the short form (full ids) still recognises its segments
    older = MemoryState()
    older.data["seen"] = ["call-1:s2"]
    assert list(redactor.process(msgspec.structs.replace(prefixed, segment_id="call-1:s2"), older)) == []


def test_sentiment_rolls_per_speaker_and_ignores_partials() -> None:
    state, scorer = MemoryState(), SentimentScorer()
    assert list(scorer.process(redacted(0, "this is awful", final=False), state)) == []
    [happy] = scorer.process(redacted(1, "thank you so much, that is wonderful"), state)
    [agent] = scorer.process(redacted(2, "this is terrible news, sorry", participant="agent"), state)
    [angry] = scorer.process(redacted(3, "this is terrible, I am furious and angry"), state)
    assert isinstance(happy, SentimentScored) and happy.score > 0.5
    assert agent.rolling_score < 0  # the agent's score does not move the customer's
    assert angry.score < -0.5 and happy.rolling_score > angry.rolling_score > angry.score  # smoothed, falling
    assert angry.source_time_ms == 503  # the chain's origin time is carried for end-to-end latency


def test_assist_prompts_on_intent_change_only() -> None:
    state, assist = MemoryState(), AgentAssist()
    assert list(assist.process(redacted(0, "I want to cancel", participant="agent"), state)) == []
    [first] = assist.process(redacted(1, "I want to cancel my account, I'm switching providers"), state)
    assert isinstance(first, AssistPrompt) and first.intent == "cancellation" and first.next_best_action
    assert first.segment_id == "seg-1"
    assert list(assist.process(redacted(2, "yes cancel it please"), state)) == []
    later = list(assist.process(redacted(3, "also there's a charge on my bill I don't recognize, I was double charged"), state))
    later += list(assist.process(redacted(4, "the bill charge is wrong, please refund the overcharge"), state))
    assert [p.intent for p in later][-1] == "billing_dispute"
