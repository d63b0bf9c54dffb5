"""The collector helpers: passes paused inside, restored after, paced passes still free cycles."""

from __future__ import annotations

import gc
import weakref

from callstream.collector import PacedCollection, collector_paused


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only a collector pass frees it


def test_paused_block_restores_the_collector_as_it_was() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block leaves the outer pause alone
    assert gc.isenabled()


def test_paced_collection_frees_cycles_only_when_due() -> None:
    with PacedCollection(every_s=60.0) as collection:
        assert not gc.isenabled()
        node = _Node()
        alive = weakref.ref(node)
        del node
        start = collection.last_pass
        assert not collection.tick(start + 59.0)
        assert alive() is not None  # a cycle waits for the pass
        assert collection.tick(start + 60.0)
        assert alive() is None
        assert not collection.tick(start + 61.0)  # the next one a minute later
    assert gc.isenabled()
