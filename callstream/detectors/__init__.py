"""The detectors the processors use, pure functions of text and scores: PII/PCI redaction
rules, sentiment scoring and the language cues of intent, escalation and retention."""
