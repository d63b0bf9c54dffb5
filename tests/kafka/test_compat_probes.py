"""The compat harness without a broker: every probe says what is at stake, and a probe that
meets an answer Apache Kafka never gives is reported as a fail, not a crash of the command."""

from __future__ import annotations

from callstream.kafka.compat import AT_STAKE, PROBES, CompatRun, ProbeFailed


def test_every_probe_names_what_callstream_relies_on_it_for() -> None:
    assert {name for _, name, _ in PROBES} == set(AT_STAKE)
    assert all(len(text) > 20 for text in AT_STAKE.values())


def test_an_unexpected_answer_is_a_fail_with_its_reason() -> None:
    run = CompatRun({"bootstrap.servers": "127.0.0.1:9"})  # the admin client connects lazily: never here

    def missing_config() -> tuple[str, dict]:
        return {}["max.message.bytes"]

    def differs() -> tuple[str, dict]:
        raise ProbeFailed("read_committed saw an aborted record")

    run.check("limits", "max message size", missing_config)
    run.check("transactions", "commit, abort, read_committed", differs)
    crashed, failed = run.probes
    assert (crashed.status, crashed.detail) == ("fail", "unexpected answer: KeyError: 'max.message.bytes'")
    assert (failed.status, failed.detail) == ("fail", "read_committed saw an aborted record")
    assert failed.to_dict()["at_stake"].startswith("the exactly-once outputs")
