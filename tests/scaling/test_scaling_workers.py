"""Scaling real redactor workers on the test broker: a second instance joins and consumes,
and when it is removed its static membership goes with it, so the remaining instance
holds every partition within about a second instead of after the 45 s session timeout
(its heartbeat hears of the rebalance within ``HEARTBEAT_INTERVAL_MS``: 0.26 s measured, 3.06 s
at librdkafka's default 3 s interval)."""

import time

from confluent_kafka.admin import AdminClient

from callstream.kafka.config import static_member_id
from callstream.observe.client_metrics import REBALANCE_SECONDS, read_worker_metrics
from callstream.processors.registry import load_processor
from callstream.processors.runtime import HEARTBEAT_INTERVAL_MS
from callstream.scaling.controller import ScaledProcessor, ScalingController, StableMembers
from callstream.scaling.instances import LocalInstances
from callstream.scaling.policy import ScalingPolicy

SESSION_TIMEOUT_S = 45.0  # librdkafka's default, which the workers keep


def test_scale_out_then_in_hands_partitions_over_at_once(worker_metrics_dir, workers, pipeline, kafka_config, eventually, tmp_path, request) -> None:
    raw = pipeline["callstream.transcript.raw"]
    group = f"callstream-redactor-{pipeline['callstream.deadletter'].rsplit('.', 1)[-1]}"
    instances = LocalInstances(
        workers.group, name_of=lambda p, i: f"{p}-{i}",
        worker_args=lambda p, g, i: [p, "--instance", str(i), "--group", g, "--topic-map", pipeline.topic_map],
        standby_dir=tmp_path / "standby", standby_limits={"redactor": 2})
    policy = ScalingPolicy(lag_bound_s=5, out_after_s=0, in_below_s=1, in_after_s=0, cooldown_s=0, max_instances=2)
    controller = ScalingController([ScaledProcessor("redactor", group, {raw: 6})], policy, instances, kafka_config)
    request.addfinalizer(controller.close)  # its admin tool (a JVM)
    controller.start_initial()
    assert instances.standbys == ["redactor-1"]  # started, waiting to be released
    members = StableMembers(kafka_config)
    assert eventually(lambda: members(group) == 1, timeout_s=60), "the first instance never held the partitions"

    [out] = controller.step({"redactor": 9.0})
    assert out.error is None and out.started and "redactor-1" in out.started and "warm standby, released" in out.started
    assert eventually(lambda: controller.step({"redactor": 3.0}) == [] and out.settled_at_s is not None, timeout_s=60), \
        "the second instance never joined and held partitions"

    [scale_in] = controller.step({"redactor": 0.0})
    stopped = time.monotonic()
    assert scale_in.error is None
    assert scale_in.removed_members == [static_member_id(group, "1")]
    assert eventually(lambda: members(group) == 1, timeout_s=SESSION_TIMEOUT_S / 3), \
        "the stopped instance kept its partitions: its static membership was not removed"
    handover_s = time.monotonic() - stopped
    admin = AdminClient(kafka_config)  # kept: a client destroyed at once never answers its futures
    described = admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
    [remaining] = described.members
    assert remaining.group_instance_id == static_member_id(group, "0")
    inputs = {pipeline[t] for t in load_processor("redactor").inputs}
    held = {(tp.topic, tp.partition) for tp in remaining.assignment.topic_partitions}
    assert {(t, p) for t in inputs for p in range(6)} <= held  # (Quix assigns its changelog's partitions beside them)
    assert handover_s < 4 * HEARTBEAT_INTERVAL_MS / 1000, f"the remaining instance took {handover_s:.1f} s to hold them"
    assert workers.group.children["redactor-0"].alive()
    # the stopped instance's process is gone; a fresh standby waits in its place, outside the group
    assert instances.standbys == ["redactor-1"] and workers.group.children["redactor-1"].alive()
    assert members(group) == 1
    # each instance timed its rebalances' phases, in the metrics the observer collects
    phases = {sample.labels["phase"]: sample.value for family in read_worker_metrics(worker_metrics_dir)
              if family.name == REBALANCE_SECONDS for sample in family.samples
              if sample.name.endswith("_count") and sample.labels["processor"] == "redactor"}
    assert phases.get("revoke", 0) >= 2 and phases.get("join", 0) >= 2, phases  # scale-out and scale-in
    assert phases.get("assign", 0) >= 3, phases  # first start, then both rebalances
