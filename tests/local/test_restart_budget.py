"""A supervisor's restart budget: a child asking for restarts too often is taken for a crash."""

from callstream.local.processes import RestartBudget


def test_restarts_within_the_budget_are_allowed_and_the_next_one_in_the_window_is_not() -> None:
    budget = RestartBudget(restarts=3, window_s=60.0)
    assert [budget.allows("quality-0", now=t) for t in (0.0, 10.0, 20.0)] == [True, True, True]
    assert not budget.allows("quality-0", now=30.0)  # a fourth within 60 s: stop as for a crash
    assert budget.allows("analytics-0", now=30.0)  # each child has its own count


def test_old_restarts_leave_the_window() -> None:
    budget = RestartBudget(restarts=2, window_s=60.0)
    assert budget.allows("quality-0", now=0.0) and budget.allows("quality-0", now=50.0)
    assert not budget.allows("quality-0", now=59.0)
    assert budget.allows("quality-0", now=61.0)  # the one at 0 s has left the window
    assert not budget.allows("quality-0", now=62.0)  # 50 and 61 are still in it
