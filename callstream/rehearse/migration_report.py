"""The migration rehearsal's report: report.json, two plots and report.html.

The plots share the time axis (seconds since the traffic started) and shade each switch
(cutover blue, rollback orange): the assist path's latency per prompt, and the rate of
acknowledged events with the active cluster under it.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.axes import Axes  # noqa: E402

from callstream.rehearse.report import fmt_value, html_table, save_small_png  # noqa: E402

_SWITCH_COLORS = {"cutover": "#bbdefb", "rollback": "#ffe0b2", "cutover again": "#bbdefb"}


def _shade(ax: Axes, data: dict[str, Any]) -> None:
    for s in data["switches"]:
        ax.axvspan(s["start_s"], s["end_s"], color=_SWITCH_COLORS.get(s["label"], "#eeeeee"), alpha=0.8, lw=0)
        ax.annotate(s["label"], (s["start_s"], 1.0), xycoords=("data", "axes fraction"), fontsize=8,
                    va="bottom", rotation=0)
    ax.set_xlabel("seconds since the traffic started")
    ax.grid(alpha=0.3)


def plot_latency(data: dict[str, Any]):  # noqa: ANN201 - a matplotlib Figure
    fig, ax = plt.subplots(figsize=(10, 3.6))
    latency = data["assist_latency"]
    ax.scatter(latency["t"], [v / 1000.0 for v in latency["ms"]], s=2, color="#1565c0")
    ax.set_yscale("log")
    ax.set_ylabel("assist prompt latency (s)")
    _shade(ax, data)
    fig.tight_layout()
    return fig


def plot_rate(data: dict[str, Any]):  # noqa: ANN201
    fig, ax = plt.subplots(figsize=(10, 3.0))
    samples = data["samples"]
    t = [s["t"] for s in samples]
    rate = [0.0] + [(b["acked"] - a["acked"]) / max(b["t"] - a["t"], 1e-6) for a, b in zip(samples, samples[1:], strict=False)]
    ax.plot(t, rate, color="#2e7d32", lw=1)
    for s in samples:
        if s["active"] == "b":
            ax.axvline(s["t"], ymin=0, ymax=0.03, color="#6a1b9a", lw=2)
    ax.set_ylabel("acknowledged events/s\n(purple tick: on B)")
    _shade(ax, data)
    fig.tight_layout()
    return fig


def write(report_dir: Path, data: dict[str, Any]) -> dict[str, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": report_dir / "report.json"}
    paths["json"].write_text(json.dumps(data, indent=1, default=str))
    for name, draw in (("latency", plot_latency), ("rate", plot_rate)):
        paths[name] = report_dir / f"{name}.png"
        fig = draw(data)
        save_small_png(fig, paths[name])
        plt.close(fig)
    paths["html"] = report_dir / "report.html"
    paths["html"].write_text(render_html(data, {n: paths[n] for n in ("latency", "rate")}))
    return paths


def _story(data: dict[str, Any]) -> str:
    if data["replicator"] == "callstream":
        return ("The platform ran on A, was cut over to B under traffic, rolled back to A under traffic, and cut over "
                "to B again, replicated by callstream's replicator.")
    return (f"The baseline: {html.escape(data['replicator'])} replicated A to B (topic names kept, group offsets "
            "synced from its checkpoints) and the platform was cut over to B once under traffic. It was not rolled "
            "back: with topic names kept MirrorMaker 2 cannot tell the records it copied from new ones, so B -> A "
            "replication would loop.")


def render_html(data: dict[str, Any], pngs: dict[str, Path]) -> str:
    passed = data["passed"]
    verdicts = html_table(["check", "verdict", "observed", "bound"],
                          [[v["check"], "PASS" if v["passed"] else "FAIL", v["observed"], v["bound"]] for v in data["verdicts"]],
                          ["pass" if v["passed"] else "fail" for v in data["verdicts"]])
    switches = html_table(
        ["switch", "from (s)", "took (s)", "producers held (s)", "assist p99 before (ms)", "assist p99 / max in window (ms)",
         "receipts equal", "verified"],
        [[s["label"], s["start_s"], s["seconds"], s["write_pause_s"], s["assist_p99_before_ms"],
          f"{fmt_value(s['assist_p99_ms'])} / {fmt_value(s['assist_max_ms'])}", f"{s['receipts_equal']}/{s['receipts']}",
          s["verified"]] for s in data["switches"]])
    stages = "".join(
        f"<h3>{html.escape(s['label'])}</h3>"
        + (f'<p class="refused">refused: {html.escape(s["error"])}</p>' if s.get("error") else "")
        + html_table(["stage", "seconds", "detail"], [[g["name"], g["seconds"], g["detail"]] for g in s["stages"]])
        for s in data["switches"])
    metrics = html_table(["figure", "value"], [[k, v] for k, v in data["metrics"].items()])
    images = "".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}">'
        f"<figcaption>{name}.png</figcaption></figure>" for name, path in pngs.items())
    run = data["run"]
    title = f"Rehearsal migration ({data['replicator']}): {'PASSED' if passed else 'FAILED'}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }}
th, td {{ border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f5f5f5; }} tr.pass td:nth-child(2) {{ color: #2e7d32; font-weight: bold; }}
tr.fail td:nth-child(2), p.refused {{ color: #c62828; font-weight: bold; }}
img {{ max-width: 100%; border: 1px solid #eee; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Cluster A ({run['clusters']['a']['brokers']} node) and cluster B ({run['clusters']['b']['brokers']} nodes), Apache Kafka
{html.escape(str(run['kafka']))}, {html.escape(run['started_at'])} to {html.escape(run['finished_at'])}. {_story(data)}
B was then read from the beginning and checked against the producer's acknowledgements and the archive.</p>
<h2>Verdicts</h2>{verdicts}
<h2>Switches</h2>{switches}
{stages}
<h2>Figures</h2>{metrics}
<h2>Plots</h2>{images}
<p>Every figure is in <a href="report.json">report.json</a>.</p>
</body></html>
"""
