"""`kafka start --tls`: the pipeline runs over SASL_SSL, verified against the local CA."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

from callstream.contract.catalog import load_catalog
from callstream.contract.codec import decode_event, encode_event
from callstream.contract.events import TranscriptSegment
from callstream.governance.acls import grant_catalog
from callstream.kafka import topics as topic_admin
from callstream.local import broker
from callstream.local.processes import ProcessGroup
from callstream.settings import child_process_environment, load_settings

pytestmark = pytest.mark.slow
RAW, REDACTED = "callstream.transcript.raw", "callstream.transcript.redacted"


def test_a_worker_redacts_over_tls_and_plaintext_is_refused(kafka_installation, tmp_path: Path) -> None:
    state = tmp_path / "state"
    cluster, _ = broker.start(state, 1, ports=broker.free_ports(2), timeout_s=120, tls=True)
    group = ProcessGroup(tmp_path / "logs", child_process_environment(load_settings(None, state_dir=state)))
    try:
        admin_conf = cluster.client_config()
        assert admin_conf["security.protocol"] == "SASL_SSL" and admin_conf["ssl.ca.location"].endswith("ca.pem")
        catalog = load_catalog()
        topic_admin.apply(admin_conf, catalog, catalog.environment("single-broker"))
        grant_catalog(admin_conf, catalog, state_dir=state)
        group.spawn("redactor", "callstream.processors.worker", "redactor")

        now = int(time.time() * 1000)
        segment = TranscriptSegment(event_id="raw-1", contact_id="call-1", event_time_ms=now, produced_at_ms=now,
                                    producer="test", segment_id="seg-1", sequence=1, participant="customer",
                                    start_offset_ms=0, end_offset_ms=900, text="my card is 4111 1111 1111 1111",
                                    is_final=True)
        producer = Producer(cluster.client_config("simulator"))
        value, headers = encode_event(segment)
        producer.produce(RAW, value, key=b"call-1", headers=headers)
        assert producer.flush(30) == 0

        consumer = Consumer(cluster.client_config("dashboard") | {"group.id": "callstream-dashboard-tls-test",
                                                                  "auto.offset.reset": "earliest"})
        consumer.subscribe([REDACTED])
        redacted, deadline = [], time.monotonic() + 120
        try:
            while not redacted and time.monotonic() < deadline:
                assert not group.dead(), [c.log_path.read_text()[-2000:] for c in group.dead()]
                message = consumer.poll(0.5)
                if message is not None and message.error() is None:
                    redacted.append(decode_event(message.value(), message.headers()))
        finally:
            consumer.close()
        assert redacted and "4111" not in redacted[0].text and "[CARD_NUMBER]" in redacted[0].text

        errors: list[KafkaError] = []
        plaintext = AdminClient(cluster.client_config() | {"security.protocol": "SASL_PLAINTEXT", "error_cb": errors.append,
                                                           "socket.timeout.ms": "3000", "log_level": "0"})
        with pytest.raises(Exception):  # noqa: B017 - any refusal: the TLS listener speaks no plaintext
            plaintext.list_topics(timeout=5)
    finally:
        group.stop_all()
        broker.stop(state)
