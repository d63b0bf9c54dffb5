"""The migration rehearsal's report when a switch was refused: the run goes on to its report,
which names the refusal and fails the switch, instead of ending with no report at all."""

from __future__ import annotations

import json
from pathlib import Path

from callstream.rehearse import migration_report

RECORDED = Path(__file__).resolve().parents[2] / "docs" / "rehearsals" / "migration" / "report.json"
REFUSAL = "replication from 'a' to 'b' is 57797 records behind <most on callstream.transcript.redacted/3>"


def test_a_refused_switch_is_named_in_the_report_with_its_reason(tmp_path: Path):
    data = json.loads(RECORDED.read_text())
    refused = data["switches"][-1]
    refused.update(error=REFUSAL, verified=False, write_pause_s=None, receipts_equal=0, receipts=0, stages=[])
    data["passed"] = False
    paths = migration_report.write(tmp_path, data)
    page = paths["html"].read_text()
    assert "FAILED" in page
    assert "refused: replication from &#x27;a&#x27; to &#x27;b&#x27; is 57797 records behind &lt;most on" in page
    assert page.count("refused:") == 1  # the switches that went through say nothing of the kind
    assert paths["latency"].stat().st_size > 0 and paths["rate"].stat().st_size > 0
