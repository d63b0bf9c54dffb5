"""The private APIs callstream uses still exist, and an unsupported version is refused clearly."""

from __future__ import annotations

import importlib.metadata
import inspect

import pytest
from confluent_kafka import KafkaError
from packaging.requirements import Requirement
from packaging.version import Version

from callstream.dependencies import PRIVATE_API, require_supported, supported_range
from callstream.errors import DependencyError


@pytest.mark.parametrize("distribution", sorted(PRIVATE_API))
def test_private_api_users_declare_an_upper_bound_that_the_installed_version_meets(distribution):
    wanted = supported_range(distribution)
    assert "<" in wanted, f"{distribution} needs an upper bound in pyproject.toml"
    installed = Version(importlib.metadata.version(distribution))
    assert Requirement(f"{distribution}{wanted}").specifier.contains(installed)
    require_supported(distribution)  # does not raise


def test_an_unsupported_version_is_refused_naming_the_range(monkeypatch):
    real_version = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "99.0" if name == "pyiceberg" else real_version(name))
    with pytest.raises(DependencyError) as refused:
        require_supported("pyiceberg")
    assert "pyiceberg 99.0 is installed, but callstream supports pyiceberg<0.13,>=0.9" in refused.value.message
    assert "make setup" in (refused.value.hint or "")


def test_pyiceberg_still_splits_rows_by_partition():
    from pyiceberg.io import pyarrow as iceberg_arrow

    split = iceberg_arrow._determine_partitions  # noqa: SLF001 (the private API this test pins)
    assert list(inspect.signature(split).parameters) == ["spec", "schema", "arrow_table"]


@pytest.mark.parametrize("client", ["consumer", "producer"])
def test_quix_clients_still_chain_their_error_callback(client):
    from quixstreams.kafka import Consumer, Producer

    if client == "consumer":
        quix = Consumer(broker_address="127.0.0.1:9", consumer_group="g", auto_offset_reset="earliest")
    else:
        quix = Producer(broker_address="127.0.0.1:9")
    seen: list[int] = []
    quix._user_error_cb = lambda error: seen.append(error.code())  # noqa: SLF001 (what client_metrics chains onto)
    quix._error_cb(KafkaError(KafkaError._TRANSPORT))  # noqa: SLF001 (what librdkafka calls)
    assert seen == [KafkaError._TRANSPORT]



def test_quix_application_still_produces_through_its_own_producer():
    from quixstreams import Application
    from quixstreams.internal_producer import InternalProducer

    app = Application(broker_address="127.0.0.1:9", consumer_group="g", auto_create_topics=False)
    producer = app._producer  # noqa: SLF001 (what the runtime's non-windowed workers produce through)
    assert isinstance(producer, InternalProducer)
    assert {"topic", "key", "value", "headers", "timestamp"} <= set(inspect.signature(producer.produce).parameters)
