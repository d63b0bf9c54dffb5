"""The rehearsal lab: scenarios, fault injection, reports and the readiness scorecard."""
