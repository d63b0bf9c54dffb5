"""The host's idle cores, from the kernel's CPU counters."""

from pathlib import Path

from callstream.scaling.host import HostCpu

# user nice system idle iowait irq softirq steal guest guest_nice
STAT = "cpu  {user} 0 {system} {idle} {iowait} 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"


def test_idle_cores_are_the_idle_share_of_the_time_between_readings(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text(STAT.format(user=1000, system=500, idle=3000, iowait=100))
    host = HostCpu(stat, cores=2)
    # 400 jiffies passed: 300 busy, 90 idle, 10 waiting for I/O -> a quarter of two cores idle
    stat.write_text(STAT.format(user=1200, system=600, idle=3090, iowait=110))
    assert host.idle_cores() == 0.5
    assert host.idle_cores() is None  # no time passed since


def test_an_unreadable_counter_gives_no_reading(tmp_path: Path) -> None:
    assert HostCpu(tmp_path / "missing", cores=2).idle_cores() is None
    garbage = tmp_path / "stat"
    garbage.write_text("intr 1 2 3\n")
    assert HostCpu(garbage, cores=2).idle_cores() is None


def test_this_hosts_reading_is_between_none_and_every_core() -> None:
    host = HostCpu()
    sum(i * i for i in range(300_000))  # let some time pass
    idle = host.idle_cores()
    if Path("/proc/stat").exists():
        assert idle is not None and 0.0 <= idle <= host.cores
