"""`callstream status` answers from the running dashboard's observer when this deployment has
one: no sampling, no Kafka round trips, a second or so."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec

from callstream.observe.dashboard.access import endpoint_path, record_endpoint, running_endpoint
from callstream.observe.snapshot import ClusterHealth, Snapshot
from callstream.observe.status import status_document


def serve_snapshot(snapshot: Snapshot, token: str) -> ThreadingHTTPServer:
    body = json.dumps(status_document(snapshot, []), default=str).encode()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            seen.append(self.headers.get("Authorization", ""))
            if self.path != "/api/snapshot" or self.headers.get("Authorization") != f"Bearer {token}":
                self.send_response(401)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.seen = seen  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_status_reads_the_running_dashboards_latest_sample(tmp_path) -> None:
    state = tmp_path / "state"
    (state / "dashboard").mkdir(parents=True)
    (state / "dashboard" / "tokens.json").write_text(json.dumps({"operations": "op-token", "transcripts": "tr"}))
    snapshot = Snapshot(sampled_at_ms=time.time_ns() // 1_000_000 - 1500, window_seconds=60,
                        cluster=ClusterHealth(reachable=True, brokers_up=3, brokers_expected=3, controller_id=2))
    server = serve_snapshot(snapshot, "op-token")
    try:
        record_endpoint(state, "127.0.0.1", server.server_address[1])
        assert running_endpoint(state) == f"http://127.0.0.1:{server.server_address[1]}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSTREAM_")}
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "callstream", "--state-dir", str(state), "status", "--json"],
                              env=env | {"CALLSTREAM_CONFIG": os.devnull}, capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
    # no cluster is configured and no broker runs here: the answer can only be the dashboard's
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert msgspec.convert(document["snapshot"], Snapshot).cluster.brokers_up == 3
    age = re.search(r"from the running dashboard's observer at \S+, sampled (\d+\.\d) s", done.stderr)
    assert age and 1.5 <= float(age.group(1)) < 1.5 + elapsed + 1  # the sample's age, not a new sample
    assert server.seen == ["Bearer op-token"]  # type: ignore[attr-defined]
    assert elapsed < 5.0  # the interpreter's start included; measured 1.3 s on a running `up`


def test_a_dead_dashboard_is_not_asked(tmp_path) -> None:
    record_endpoint(tmp_path, "0.0.0.0", 8765)  # noqa: S104
    recorded = json.loads(endpoint_path(tmp_path).read_text())
    assert recorded["url"] == "http://127.0.0.1:8765"
    recorded["pid"] = 2**22 + 17  # no such process
    endpoint_path(tmp_path).write_text(json.dumps(recorded))
    assert running_endpoint(tmp_path) is None
