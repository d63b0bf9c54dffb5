"""The audit log detects every kind of tampering and names the entry."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from support.racing import race

from callstream.governance.audit import AuditLog, read_head


@pytest.fixture
def log(tmp_path):
    audit = AuditLog(tmp_path / "audit")
    for i in range(6):
        audit.append("replay.raw", "replay-privileged", {"n": i})
    return audit


def lines(log: AuditLog) -> list[str]:
    return log.log_path.read_text().splitlines(keepends=True)


def rewrite(log: AuditLog, new_lines: list[str]) -> None:
    log.log_path.write_text("".join(new_lines))


def test_a_clean_log_verifies_and_its_files_are_owner_only(log):
    result = log.verify()
    assert result.ok and result.entries == 6 and result.signed_size == 6, result.problems
    for path in (log.log_path, log.heads_path, log.key_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_edited_entry_is_named(log):
    body = lines(log)
    body[3] = body[3].replace('"n":3', '"n":30')
    rewrite(log, body)
    assert log.verify().problems == ["entry 3 was edited: the chain no longer matches the head signed at size 4"]


def test_a_removed_entry_is_named(log):
    body = lines(log)
    del body[2]
    rewrite(log, body)
    problems = log.verify().problems
    assert problems[0] == "entry 2 was removed (line 3 holds entry 3)"


def test_reordered_entries_are_named(log):
    body = lines(log)
    body[1], body[2] = body[2], body[1]
    rewrite(log, body)
    assert log.verify().problems[0] == "entries were reordered: line 2 holds entry 2, expected entry 1"


def test_an_entry_appended_out_of_band_is_named(log):
    from callstream.governance.audit import GENESIS, Entry, chain, entry_body

    root = GENESIS
    for line in lines(log):
        root = chain(root, line.rstrip("\n").encode())
    forged = Entry(seq=6, time_ms=1, kind="erasure", actor="intruder", detail={})
    # the chain is extended correctly: only the missing signature can tell
    with log.log_path.open("ab") as handle:
        handle.write(entry_body(forged) + b"\n")
    assert chain(root, entry_body(forged))
    assert log.verify().problems == ["entries 6..6 are not covered by a signed head: appended out of band"]


def test_a_truncated_tail_is_named(log):
    rewrite(log, lines(log)[:4])
    assert log.verify().problems == ["the log ends after 4 entries but a signed head covers 6: entries 4..5 were cut off"]


def test_a_truncation_that_also_drops_heads_is_caught_by_a_head_kept_elsewhere(log, tmp_path):
    kept = tmp_path / "head-kept-by-compliance.json"
    kept.write_text(log.heads_path.read_text().splitlines()[-1])
    rewrite(log, lines(log)[:4])
    log.heads_path.write_text("".join(log.heads_path.read_text().splitlines(keepends=True)[:4]))
    assert log.verify().ok  # the local files alone now agree with each other
    assert "cut off" in log.verify(read_head(kept)).problems[0]


def test_a_forged_head_is_named(log):
    heads = log.heads_path.read_text().splitlines()
    head = json.loads(heads[-1])
    head["size"] = 5
    heads[-1] = json.dumps(head)
    log.heads_path.write_text("\n".join(heads) + "\n")
    assert "invalid signature" in log.verify().problems[0]


def test_entries_name_subjects_by_digest_only(tmp_path):
    from callstream.governance.keystore import subject_digest

    audit = AuditLog(tmp_path / "audit")
    audit.append("erasure", "admin", {"customer": subject_digest("customer", "cust-42")})
    assert "cust-42" not in audit.log_path.read_text() and audit.verify().ok


def _signing_key_after_appending(directory: str) -> str:
    audit = AuditLog(Path(directory))
    audit.append("keys.unwrap", "redactor", {"keys": 1})
    audit.public_key()  # a verifier right after this append must find the public half
    return audit.key_path.read_bytes().hex()


def test_processes_auditing_together_on_a_new_state_dir_share_one_signing_key(tmp_path):
    for round_ in range(60):
        directory = tmp_path / f"r{round_}"
        # the race: a key read half written, or a signed entry before the public half exists
        got = race(_signing_key_after_appending, str(directory))
        assert len(set(got)) == 1 and len(got[0]) == 64, got  # one Ed25519 key, every racer read it whole
        result = AuditLog(directory).verify()
        assert result.ok and result.entries == 6, result.problems  # every racer's entry, signed by that key


def test_a_signing_key_left_without_its_public_half_gets_it_back(tmp_path):
    # a process stopped between creating the signing key and writing its public half
    audit = AuditLog(tmp_path / "audit")
    audit.append("keys.rotate", "admin", {})
    audit.public_key_path.unlink()
    AuditLog(tmp_path / "audit").append("keys.rotate", "admin", {})
    result = AuditLog(tmp_path / "audit").verify()
    assert result.ok and result.entries == 2, result.problems
