"""The audit log shipped to a topic: resumable without duplicates, verifiable on its own,
and the pin that catches a local cut which also removed the newest heads."""

from __future__ import annotations

from callstream.governance import shipping
from callstream.governance.audit import AuditLog


def test_shipping_resumes_and_the_copy_catches_a_local_cut(kafka_config, create_topic, unique_name, tmp_path):
    topic = create_topic(unique_name("audit"), partitions=1)
    log = AuditLog(tmp_path / "audit")
    for i in range(5):
        log.append("replay.raw", "replay-privileged", {"n": i})
    assert shipping.ship(log, kafka_config, topic) == (5, 5)
    assert shipping.ship(log, kafka_config, topic) == (0, 0)  # nothing twice
    log.append_many([("keys.unwrap", "redactor", {"keys": 3}), ("erasure", "admin", {"contacts": 1})])
    assert shipping.ship(log, kafka_config, topic) == (2, 1)
    copy = shipping.verify_records(log, kafka_config, topic)
    assert copy.ok and copy.entries == 7 and copy.signed_size == 7
    # another host's log in the same topic is read back on its own
    other = AuditLog(tmp_path / "other-host")
    other.append("acls.apply", "admin", {"added": 1})
    assert shipping.ship(other, kafka_config, topic) == (1, 1)
    assert shipping.verify_records(log, kafka_config, topic).entries == 7
    assert shipping.verify_records(other, kafka_config, topic).ok

    # someone with this host's files cuts the last two entries and the heads that covered them
    lines = log.log_path.read_text().splitlines(keepends=True)
    log.log_path.write_text("".join(lines[:5]))
    heads = log.heads_path.read_text().splitlines(keepends=True)
    log.heads_path.write_text("".join(heads[:5]))
    (tmp_path / "audit" / "tip.json").unlink()
    assert log.verify().ok  # the local files agree with each other
    pinned = shipping.trusted_head(log, kafka_config, topic)
    assert pinned is not None and pinned.size == 7
    assert log.verify(pinned).problems == [
        "the log ends after 5 entries but a signed head covers 7: entries 5..6 were cut off"]


def test_a_kept_shipper_resumes_from_the_topic_and_sees_another_shippers_records(kafka_config, create_topic,
                                                                                 unique_name, tmp_path):
    # `up` keeps one AuditTopic for its whole run; `callstream audit ship` may run beside it
    topic = create_topic(unique_name("audit"), partitions=1)
    log = AuditLog(tmp_path / "audit")
    kept = shipping.AuditTopic(kafka_config, shipping.SHIPPER, topic)
    try:
        for round_ in range(3):
            log.append("keys.unwrap", "redactor", {"round": round_})
            assert shipping.ship_to(log, kept) == (1, 1)
            assert shipping.ship_to(log, kept) == (0, 0)
        log.append("erasure", "admin", {"contacts": 1})
        assert shipping.ship(log, kafka_config, topic) == (1, 1)  # a one-off shipper beside the kept one
        assert shipping.ship_to(log, kept) == (0, 0)  # the kept one reads the topic again, not its memory
    finally:
        kept.close()
    copy = shipping.verify_records(log, kafka_config, topic)
    assert copy.ok and copy.entries == 4 and copy.signed_size == 4


def test_a_failed_ship_leaves_nothing_queued_to_land_after_the_next_one():
    # no broker listens: what a ship produced stays queued until its flush gives up
    audit_topic = shipping.AuditTopic({"bootstrap.servers": "127.0.0.1:9", "message.timeout.ms": "60000"},
                                      shipping.SHIPPER, "callstream.governance.audit")
    stuck = audit_topic.producer()
    stuck.produce(audit_topic.topic, b"entry", key=b"log/entry/0")
    assert len(stuck) >= 1
    audit_topic.drop_producer()
    assert len(stuck) == 0  # purged: it cannot be delivered after the next ship reads the topic's end
    assert audit_topic.producer() is not stuck
    audit_topic.close()
