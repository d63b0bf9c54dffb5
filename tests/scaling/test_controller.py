"""The scaling loop with stand-in instances: what it starts, stops, removes and records."""

import sys

import pytest

from callstream.errors import ConfigError
from callstream.kafka.members import MemberRemoval
from callstream.scaling.controller import ScaledProcessor, ScalingController
from callstream.scaling.instances import CommandInstances
from callstream.scaling.policy import ScalingPolicy

POLICY = ScalingPolicy(lag_bound_s=5, out_after_s=4, in_below_s=1, in_after_s=10, cooldown_s=0, max_instances=2)


class RecordingInstances:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []

    def start(self, processor: str, group: str, index: int) -> str:
        self.calls.append(("start", processor, index))
        return f"{processor}-{index}"

    def stop(self, processor: str, group: str, index: int) -> list[str]:
        self.calls.append(("stop", processor, index))
        return [f"{group}-host-{index}"]


class RecordingRemover:
    def __init__(self) -> None:
        self.removed: list[tuple[str, list[str]]] = []

    def start(self) -> None:
        pass

    def remove(self, group: str, stop) -> MemberRemoval:  # noqa: ANN001
        ids = stop()
        self.removed.append((group, ids))
        return MemberRemoval(group, ids, [])

    def close(self) -> None:
        pass


def test_scale_out_and_in_with_the_left_member_removed_and_the_times_recorded() -> None:
    instances = RecordingInstances()
    remover = RecordingRemover()
    members = {"g-redactor": 1}


    controller = ScalingController(
        [ScaledProcessor("redactor", "g-redactor", {"raw": 6})], POLICY, instances, {}, clock=lambda: 0.0,
        remover=remover, group_members=members.get)
    assert controller.start_initial() == ["redactor-0"]
    for t in range(0, 5):  # 8 s behind from t=0: out at t=4
        controller.step({"redactor": 8.0}, now_s=float(t))
    assert instances.calls[-1] == ("start", "redactor", 1)
    out = controller.events[0]
    assert (out.lag_crossed_at_s, out.decision.at_s, out.settled_at_s) == (0.0, 4.0, None)
    members["g-redactor"] = 2  # the new member has joined and holds partitions
    controller.step({"redactor": 3.0}, now_s=6.0)
    assert out.to_json()["crossing_to_consuming_s"] == 6.0
    for t in range(7, 18):
        controller.step({"redactor": 0.1}, now_s=float(t))
    assert instances.calls[-1] == ("stop", "redactor", 1)
    assert remover.removed == [("g-redactor", ["g-redactor-host-1"])]
    report = controller.report()
    assert [e["direction"] for e in report["events"]] == ["out", "in"]
    assert report["events"][1]["removed_members"] == ["g-redactor-host-1"]
    assert report["instances"]["redactor"][0] == 1 and max(report["instances"]["redactor"]) == 2
    assert report["instances"]["redactor"][-1] == 1


def test_a_busy_host_holds_the_scale_out_and_the_report_says_so() -> None:
    instances = RecordingInstances()
    idle = [0.1] * 8 + [1.2]  # one reading a step
    controller = ScalingController(
        [ScaledProcessor("redactor", "g-redactor", {"raw": 6})], POLICY.model_copy(update={"min_idle_cores": 0.5}),
        instances, {}, clock=lambda: 0.0, remover=RecordingRemover(), group_members=lambda group: None,
        host_idle_cores=lambda: idle.pop(0))
    controller.start_initial()
    for t in range(0, 8):
        controller.step({"redactor": None if t == 6 else 8.0}, now_s=float(t))
    assert instances.calls == [("start", "redactor", 0)]  # due at t=4, held: 0.1 idle cores
    [hold] = controller.take_new_holds()
    assert controller.take_new_holds() == []
    # one hold from t=4 (t=6 went unanswered: it neither ended the hold nor counted)
    assert (hold.group, hold.since_s, hold.checks, hold.until_s) == ("g-redactor", 4.0, 3, None)
    controller.step({"redactor": 8.0}, now_s=8.0)  # 1.2 idle cores: out
    assert instances.calls[-1] == ("start", "redactor", 1)
    report = controller.report()
    assert report["holds"] == [{"processor_group": "g-redactor", "since_s": 4.0, "until_s": 8.0, "checks": 3,
                                "reason": hold.reason}]
    assert "0.10 idle cores" in hold.reason and [e["direction"] for e in report["events"]] == ["out"]


def test_an_unanswered_lag_changes_nothing() -> None:
    instances = RecordingInstances()
    controller = ScalingController([ScaledProcessor("assist", "g-assist", {"redacted": 6})], POLICY, instances, {},
                                   clock=lambda: 0.0, remover=RecordingRemover(), group_members=lambda g: None)
    for t in range(0, 30):
        controller.step({"assist": None}, now_s=float(t))
    assert instances.calls == [] and controller.events == []


def test_a_command_scales_workers_elsewhere_and_names_the_members_it_stopped(tmp_path) -> None:
    script = tmp_path / "orchestrator.py"
    log = tmp_path / "calls.log"
    script.write_text(
        "import os, sys\n"
        f"open({str(log)!r}, 'a').write(' '.join(os.environ[k] for k in ('CALLSTREAM_SCALE_ACTION', "
        "'CALLSTREAM_SCALE_PROCESSOR', 'CALLSTREAM_SCALE_GROUP', 'CALLSTREAM_SCALE_INSTANCE')) + '\\n')\n"
        "if os.environ['CALLSTREAM_SCALE_ACTION'] == 'stop':\n"
        "    print(os.environ['CALLSTREAM_SCALE_GROUP'] + '-worker-host-' + os.environ['CALLSTREAM_SCALE_INSTANCE'])\n")
    instances = CommandInstances(f"{sys.executable} {script}")
    assert "started by" in instances.start("assist", "g-assist", 1)
    assert instances.stop("assist", "g-assist", 1) == ["g-assist-worker-host-1"]
    assert log.read_text().splitlines() == ["start assist g-assist 1", "stop assist g-assist 1"]
    failing = CommandInstances(f"{sys.executable} -c 'import sys; sys.exit(4)'")
    with pytest.raises(ConfigError, match="failed to start assist instance 2 \\(exit 4\\)"):
        failing.start("assist", "g-assist", 2)
