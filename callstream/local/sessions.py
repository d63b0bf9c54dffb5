"""Broker sessions as a local cluster's controller decided them, read from the nodes' logs.

KRaft fences a broker whose heartbeats stop for ``broker.session.timeout.ms``: its leaders
move and its clients stall until then. A dead broker has to be fenced; a live one fenced
because its heartbeats were late (a saturated host, a broker still loading its logs after a
restart) loses its leaders for nothing. The local brokers log both decisions (``LOG4J2``
in ``callstream.local.broker``), so a rehearsal can say which of the two it saw.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

FENCED = "fenced"
UNFENCED = "unfenced"

_LINE = re.compile(
    r"^\[(?P<at>[^\]]+)\] INFO \[QuorumController id=(?P<controller>\d+)\] "
    r"(?:Fencing broker (?P<fenced>\d+) at epoch \d+ because its session has timed out"
    r"|The request from broker (?P<unfenced>\d+) to unfence has been granted)")


@dataclass(frozen=True)
class SessionChange:
    at_ms: int  # wall clock, ms since the epoch
    broker: int
    change: str  # FENCED or UNFENCED
    controller: int


def _epoch_ms(stamp: str) -> int:
    # "2026-12-07T01:33:03,637+00:00" (the layout's ISO 8601 with offset); a stamp without
    # an offset is the JVM's local time, which is this host's
    moment = datetime.fromisoformat(stamp.replace(",", ".").replace(" ", "T"))
    return round(moment.timestamp() * 1000)


def parse(lines: Iterable[str]) -> list[SessionChange]:
    changes = []
    for line in lines:
        found = _LINE.match(line)
        if found is None:
            continue
        fenced = found["fenced"]
        changes.append(SessionChange(at_ms=_epoch_ms(found["at"]), broker=int(fenced or found["unfenced"]),
                                     change=FENCED if fenced else UNFENCED, controller=int(found["controller"])))
    return changes


def session_changes(logs: Iterable[Path]) -> list[SessionChange]:
    """Every fencing and unfencing in ``logs`` (each node's ``broker.log``), in time order.
    Only the active controller decides, so each change is logged once across the nodes."""
    changes = []
    for log in logs:
        if log.exists():
            with log.open(encoding="utf-8", errors="replace") as lines:
                changes += parse(lines)
    return sorted(changes, key=lambda c: (c.at_ms, c.broker))
