"""The commit watchdog: a commit past its deadline ends the worker; one within it does not; a transient
failure of a commit asks for a restart."""

import threading
import time

import pytest
from confluent_kafka import KafkaError, KafkaException

from callstream.contract.catalog import load_catalog
from callstream.processors.registry import load_processor
from callstream.processors.runtime import IDLE_CONNECTION_CLOSE_MS, build_application
from callstream.processors.watchdog import RESTART_EXIT, CommitWatchdog, restart_on_transient_failure


def test_a_commit_past_the_deadline_is_reported_once_and_a_quick_one_is_not() -> None:
    stuck = threading.Event()
    watchdog = CommitWatchdog("quality", deadline_s=0.2, on_stuck=stuck.set)
    assert watchdog.guard(lambda: "committed")() == "committed"
    time.sleep(0.5)
    assert not stuck.is_set()  # a commit that returned is not watched any more
    release = threading.Event()
    threading.Thread(target=watchdog.guard(lambda: release.wait(5)), daemon=True).start()
    assert stuck.wait(3), "a commit blocked past its deadline went unnoticed"
    release.set()


def test_exactly_once_workers_guard_the_quix_commit(kafka_config, pipeline, tmp_path) -> None:
    # catches a Quix release that moves its checkpoint commit out from under the watchdog
    options = {"topic_names": pipeline.names, "group": f"watchdog-{tmp_path.name}"}
    quality = build_application(load_processor("quality"), kafka_config, load_catalog(), tmp_path / "q", **options)
    commit = quality.app._processing_context.commit_checkpoint  # noqa: SLF001 - the Quix internal guarded
    assert commit.__qualname__.endswith("guard.<locals>.guarded")
    # and its producer closes idle connections, which re-runs a coordinator lookup stuck on a dead broker
    assert quality.app._config.producer_extra_config["connections.max.idle.ms"] == IDLE_CONNECTION_CLOSE_MS  # noqa: SLF001
    assist = build_application(load_processor("assist"), kafka_config, load_catalog(), tmp_path / "a", **options)
    assert "guarded" not in assist.app._processing_context.commit_checkpoint.__qualname__  # noqa: SLF001
    assert "connections.max.idle.ms" not in assist.app._config.producer_extra_config  # noqa: SLF001


def _failing(error: KafkaError):  # noqa: ANN202
    def run() -> None:
        raise KafkaException(error)
    return run


def test_a_transaction_a_leader_change_made_abortable_asks_for_a_restart() -> None:
    # what quality's commit raised after a broker kill (rehearse broker-failure, 2026-12-07)
    skipped = KafkaError(KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, "skipped sequence numbers", txn_requires_abort=True)
    with pytest.raises(SystemExit) as ended:
        restart_on_transient_failure(_failing(skipped), "quality")
    assert ended.value.code == RESTART_EXIT
    with pytest.raises(SystemExit) as ended:
        restart_on_transient_failure(_failing(KafkaError(KafkaError._TIMED_OUT, "coordinator", retriable=True)), "quality")  # noqa: SLF001
    assert ended.value.code == RESTART_EXIT
    restart_on_transient_failure(lambda: None, "quality")  # a worker stopped on purpose ends as it did


@pytest.mark.parametrize("error", [
    KafkaError(KafkaError._FENCED, "another instance took over", fatal=True, txn_requires_abort=True),  # noqa: SLF001
    KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "no grant"),
])
def test_fatal_errors_and_refusals_stay_errors(error: KafkaError) -> None:
    # a restart cannot get past them: it would only loop
    with pytest.raises(KafkaException):
        restart_on_transient_failure(_failing(error), "quality")
