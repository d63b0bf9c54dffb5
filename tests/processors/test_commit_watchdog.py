"""The commit watchdog: a commit past its deadline ends the worker; one within it does not."""

import threading
import time

from callstream.contract.catalog import load_catalog
from callstream.processors.registry import load_processor
from callstream.processors.runtime import IDLE_CONNECTION_CLOSE_MS, build_application
from callstream.processors.watchdog import CommitWatchdog


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
