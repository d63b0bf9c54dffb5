"""The dashboard in headless Chromium against a running pipeline: real workers on uuid
topics, simulated traffic, and one seeded call whose customer asks for a supervisor."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from pathlib import Path

import pytest
from playwright import sync_api as playwright  # locked in the dev extra: a missing browser stack fails

from callstream.contract.events import CallConnected, CallInitiated, CallQueued, TranscriptSegment
from callstream.simulate.simulator import SimulationSettings, run_simulation

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
OUTPUT = Path(__file__).parents[2] / "test-output"
SIMULATED = ("callstream.call.lifecycle", "callstream.transcript.raw", "callstream.agent.actions", "callstream.crm.updates")
PROCESSORS = ("redactor", "sentiment", "escalation", "assist", "fraud", "quality")
ARCHIVED = ("callstream.call.lifecycle", "callstream.transcript.redacted", "callstream.signals.sentiment",
            "callstream.signals.escalation", "callstream.supervisor.alerts")


def escalating_call(contact_id: str) -> tuple[list, list]:
    """(lifecycle events, raw segments) of a call whose customer gets angry and asks for a supervisor."""
    now = int(time.time() * 1000)
    common = {"contact_id": contact_id, "producer": "test", "produced_at_ms": now}
    lifecycle = [
        CallInitiated(event_id=f"{contact_id}-init", event_time_ms=now, caller_number="+15555550123",
                      dialed_number="+18005550000", **common),
        CallQueued(event_id=f"{contact_id}-queued", event_time_ms=now + 1, queue="billing", **common),
        CallConnected(event_id=f"{contact_id}-conn", event_time_ms=now + 2, agent_id="agent-seeded", queue="billing",
                      wait_ms=12_000, **common),
    ]
    lines = [("agent", "Thank you for calling, how can I help you today?"),
             ("customer", "My card 4111 1111 1111 1111 was charged twice and this is ridiculous."),
             ("customer", "I want to speak to your supervisor right now.")]
    raw = [TranscriptSegment(event_id=f"{contact_id}-raw-{i}", event_time_ms=now + 100 * i, segment_id=f"{contact_id}-s{i}",
                             sequence=i, participant=who, start_offset_ms=i * 3000, end_offset_ms=i * 3000 + 2500,
                             text=text, is_final=True, **common)
           for i, (who, text) in enumerate(lines, start=1)]
    return lifecycle, raw


def test_dashboard_live_in_chromium(worker_metrics_dir, pipeline, workers, dashboard, kafka_config, kafka_bootstrap,
                                    tmp_path) -> None:
    # worker_metrics_dir first: the workers write their metrics where it says only if it is
    # set before they start
    OUTPUT.mkdir(exist_ok=True)
    suffix = pipeline["callstream.deadletter"].rsplit(".", 1)[-1]
    for name in PROCESSORS:
        workers(name)
    archived = [arg for t in ARCHIVED for arg in ("--topic", pipeline[t])]
    workers.group.spawn("archiver", "callstream.archive.archiver", "--group", f"callstream-archiver-{suffix}",
                        "--flush-age-s", "3", *archived)
    groups = [f"callstream-{p}-{suffix}" for p in (*PROCESSORS, "archiver")]
    url = dashboard(groups, "--worker-metrics-dir", str(worker_metrics_dir))

    traffic = SimulationSettings(curve="steady", rate_per_min=40, duration_s=240, speedup=8, seed=11, drain=False,
                                 topic_overrides={t: pipeline[t] for t in SIMULATED})
    failures: list[BaseException] = []

    def simulate() -> None:
        try:
            run_simulation(traffic, kafka_config, progress=False)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    simulator = threading.Thread(target=simulate, name="simulator", daemon=True)
    simulator.start()
    contact = f"seeded-{uuid.uuid4().hex[:8]}"
    lifecycle, raw = escalating_call(contact)
    pipeline.produce("callstream.call.lifecycle", lifecycle)
    pipeline.produce("callstream.transcript.raw", raw)

    # a running pipeline: the processors have joined their groups and are emitting
    assert pipeline.read("callstream.signals.sentiment", lambda ms: len(ms) >= 1, timeout_s=120)

    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1300})
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            started = time.monotonic()
            page.goto(url)

            # charts fill with live data within seconds
            page.wait_for_function("""() => {
                const c = window.callstream && window.callstream.charts;
                const points = (chart) => chart.data.datasets.reduce((n, d) => n + d.data.length, 0);
                return c && window.callstream.state.points >= 3 && points(c.throughput) >= 6
                    && c.lag.data.datasets.length >= 1 && c.p99.data.datasets.length >= 1
                    && c.throughput.data.datasets[0].data.some((pt) => pt.y > 0);
            }""", timeout=30_000)
            filled_after_s = time.monotonic() - started
            stages = page.evaluate("window.callstream.charts.p99.data.datasets.map((d) => d.label)")
            assert "redactor" in stages
            # consumption, latency lines and archive freshness follow as the pipeline warms up
            page.wait_for_function("""() => {
                const c = window.callstream.charts;
                return c.throughput.data.datasets[1].data.some((pt) => pt.y > 0)
                    && c.p99.data.datasets.some((d) => d.data.length >= 3) && c.archive.data.labels.length >= 1;
            }""", timeout=45_000)
            # each processor's time: the redactor reads events and stops for checkpoints
            page.wait_for_function("""() => {
                const p = window.callstream.state.summary.processors.redactor;
                return p && p.events_per_s > 0 && p.checkpoints > 0;
            }""", timeout=30_000)
            row = page.locator("#processors tr", has_text="redactor")
            assert "ms/s" in row.inner_text() and "µs" in row.inner_text()
            assert "≤" in row.inner_text() and "NaN" not in row.inner_text()  # the checkpoint p99 cell's bound
            page.screenshot(path=str(OUTPUT / "dashboard-operations.png"), full_page=True)

            # an escalation alert appears for the seeded call
            page.click("#tab-supervisor")
            alert = page.locator(f'#alerts li[data-contact="{contact}"][data-kind="escalation"]')
            alert.wait_for(timeout=60_000)
            assert "Escalation on call" in alert.inner_text()
            page.wait_for_function("window.callstream.charts.queues.data.labels.length >= 1", timeout=30_000)
            page.screenshot(path=str(OUTPUT / "dashboard-supervisor.png"), full_page=True)

            # clicking it opens that call's timeline (through replay)
            alert.click()
            page.wait_for_function(f"document.getElementById('call-header').dataset.contact === '{contact}'",
                                   timeout=30_000)
            page.locator('#timeline li[data-type="escalation.opened"]').wait_for(timeout=10_000)
            timeline = page.inner_text("#timeline")
            assert "supervisor" in timeline and "[CARD_NUMBER]" in timeline and "4111" not in timeline
            types = page.eval_on_selector_all("#timeline li", "items => items.map((li) => li.dataset.type)")
            assert {"call.queued", "call.connected", "transcript.redacted", "signal.sentiment",
                    "escalation.opened", "alert.supervisor"} <= set(types)
            page.screenshot(path=str(OUTPUT / "dashboard-call.png"), full_page=True)
        finally:
            browser.close()
    simulator.join(timeout=120)
    assert not failures, failures
    assert errors == [], errors
    assert filled_after_s < 15
    print(f"charts filled {filled_after_s:.1f} s after the page opened")


def test_beyond_loopback_no_token_no_dashboard_and_no_transcript_without_its_permission(child_env, tmp_path) -> None:
    """Bound to every address, the dashboard asks for a login; the operations token opens
    the operations views but not the call drill-down, which shows what was said."""
    from support.http import wait_http

    from callstream.local.broker import free_ports
    from callstream.local.processes import ProcessGroup

    port = free_ports(1)[0]
    tokens = {"CALLSTREAM_DASHBOARD_OPERATIONS_TOKEN": "ops-" + uuid.uuid4().hex,
              "CALLSTREAM_DASHBOARD_TRANSCRIPTS_TOKEN": "calls-" + uuid.uuid4().hex}
    group = ProcessGroup(tmp_path / "logs", child_env(tmp_path / "state", **tokens))
    child = group.spawn("dashboard", "callstream.observe.dashboard", "--host", "0.0.0.0", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/login", child=child)
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(url)  # no token: the login page, nothing else
                assert page.url.endswith("/login") and page.locator("input[name=token]").count() == 1
                refused = page.evaluate("fetch('/api/calls/call-1').then(r => r.status)")
                assert refused == 401

                page.fill("input[name=token]", "not-a-token")
                page.click("button[type=submit]")
                page.wait_for_selector("text=That token is not valid.", timeout=15_000)  # the answer page loaded
                assert "That token is not valid." in page.inner_text("main")

                page.fill("input[name=token]", tokens["CALLSTREAM_DASHBOARD_OPERATIONS_TOKEN"])
                page.click("button[type=submit]")
                page.wait_for_url(f"{url}/")
                assert page.evaluate("fetch('/api/board').then(r => r.status)") == 200
                body = page.evaluate("fetch('/api/calls/call-1').then(async r => [r.status, await r.json()])")
                assert body[0] == 403 and "transcripts permission" in body[1]["error"]

                page.goto(f"{url}/login")
                page.fill("input[name=token]", tokens["CALLSTREAM_DASHBOARD_TRANSCRIPTS_TOKEN"])
                page.click("button[type=submit]")
                page.wait_for_url(f"{url}/")
                body = page.evaluate("fetch('/api/calls/call-1').then(async r => [r.status, await r.json()])")
                # allowed in; no such call (a 503 carries the lookup's error and hint: say them)
                assert body[0] == 404 and "no events for contact call-1" in body[1]["error"], body
            finally:
                browser.close()
    finally:
        group.stop_all()
    log = child.log_path.read_text()
    assert "sign-in required" in log and tokens["CALLSTREAM_DASHBOARD_OPERATIONS_TOKEN"] not in log

