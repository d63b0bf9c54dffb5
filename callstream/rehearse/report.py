"""A rehearsal's report directory: report.json (every figure and verdict), PNG plots and
report.html (the plots embedded, so the one file can be mailed or attached to a ticket).

Every plot shares the time axis (seconds since the traffic started), shades the traffic
phases and marks each fault: red for taking something down, green for bringing it back,
purple for a re-drive.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from PIL import Image  # noqa: E402  (matplotlib's own dependency)

from callstream.observe.client_metrics import CHECKPOINT_BUCKETS, REBALANCE_BUCKETS  # noqa: E402

_FAULT_COLORS = {"down": "#c62828", "up": "#2e7d32", "redrive": "#6a1b9a"}
_PHASE_COLORS = ("#f5f5f5", "#e3f2fd")
_SURGE_COLOR = "#ffe0b2"


def write(report_dir: Path, figures: dict[str, Any]) -> dict[str, Path]:
    """Write report.json, the PNGs and report.html into ``report_dir``; returns the paths."""
    report_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": report_dir / "report.json"}
    paths["json"].write_text(json.dumps(figures, indent=1, default=str))
    plots = [("rates", plot_rates), ("lag", plot_lag), ("latency", plot_latency)]
    if figures.get("autoscale"):
        plots.append(("scaling", plot_scaling))
    if any(v is not None for values in figures["series"].get("checkpoint_ms_per_s", {}).values() for v in values):
        plots.append(("checkpoints", plot_checkpoints))
    for name, draw in plots:
        paths[name] = report_dir / f"{name}.png"
        fig = draw(figures)
        save_small_png(fig, paths[name])
        plt.close(fig)
    paths["html"] = report_dir / "report.html"
    paths["html"].write_text(render_html(figures, {name: paths[name] for name, _ in plots}))
    return paths


# --- plots ----------------------------------------------------------------------------------

def save_small_png(fig, path: Path) -> None:  # noqa: ANN001 - a matplotlib Figure
    """A palette PNG: line plots need few colors, and reports end up in repositories."""
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=80, format="png")
    buffer.seek(0)
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def _fault_kind(action: str) -> str:
    if action == "redrive":
        return "redrive"
    return "up" if action.startswith("restart-") else "down"


def short_label(fault: dict[str, Any]) -> str:
    """``kill-broker node 1``, ``restart-processor redactor-0``: what fits beside a line."""
    details = fault.get("details") or {}
    if "node_id" in details:
        return f"{fault['action']} node {details['node_id']}"
    if fault["action"] == "redrive":
        return "re-drive"
    if "process" in details:
        return f"{fault['action']} {details['process']}"
    return fault["label"]


def _decorate(ax: Axes, figures: dict[str, Any], *, label_faults: bool = False) -> None:
    """Phases as shaded spans, faults as vertical lines (labelled on the top plot); a fault
    that took a while (a broker restart waits for the broker to rejoin) shades its span."""
    for i, phase in enumerate(figures["traffic"]["phases"]):
        color = _SURGE_COLOR if phase.get("surge") else _PHASE_COLORS[i % 2]
        ax.axvspan(phase["start_s"], phase["end_s"], color=color, alpha=0.6, lw=0, zorder=0)
        if label_faults:
            ax.text((phase["start_s"] + phase["end_s"]) / 2, 1.0, phase["name"], transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=8, color="#555555")
    for fault in figures["faults"]:
        at, done = fault.get("started_at_s"), fault.get("done_at_s")
        if at is None:
            continue
        color = _FAULT_COLORS[_fault_kind(fault["action"])]
        ax.axvline(at, color=color, lw=1.4, ls="--", zorder=3)
        if done is not None and done - at >= 2:
            ax.axvspan(at, done, color=color, alpha=0.12, lw=0, zorder=1)
        if label_faults:
            ax.text(at, 0.04, " " + short_label(fault), transform=ax.get_xaxis_transform(), rotation=90,
                    va="bottom", ha="right", fontsize=7, color=color, clip_on=True)
    ax.grid(True, alpha=0.3)
    ax.set_xlim(left=0)


def _fault_legend(figures: dict[str, Any]) -> list[Line2D]:
    """Legend entries for the kinds of fault this run had (none: no entries)."""
    kinds = {_fault_kind(f["action"]) for f in figures["faults"] if f.get("started_at_s") is not None}
    labels = (("down", "fault: down"), ("up", "fault: back up"), ("redrive", "re-drive"))
    return [Line2D([0], [0], color=_FAULT_COLORS[k], ls="--", label=label) for k, label in labels if k in kinds]


def _series(values: list[Any]) -> list[float]:
    return [float("nan") if v is None else v for v in values]


def plot_rates(figures: dict[str, Any]):  # noqa: ANN201 - a matplotlib Figure
    series = figures["series"]
    t = series["t"]
    groups = list(series["processed_per_s"])
    rows = 1 + len(groups)
    fig, axes = plt.subplots(rows, 1, figsize=(11, 2.1 * rows + 0.6), sharex=True, squeeze=False)
    top = axes[0][0]
    top.plot(t, _series(series["arrival_per_s"]), color="black", lw=1.2, label="acknowledged events/s (all topics)")
    top.set_ylabel("events/s")
    twin = top.twinx()
    twin.plot(t, series["producer_retries"], color="#ef6c00", lw=1, label="producer request retries (total)")
    twin.plot(t, series["producer_errors"], color="#c62828", lw=1, label="undelivered events (total)")
    twin.set_ylabel("count")
    twin.set_ylim(bottom=0, top=max(1, *series["producer_retries"], *series["producer_errors"]) * 1.1)
    _decorate(top, figures, label_faults=True)
    handles = top.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0] + _fault_legend(figures)
    top.legend(handles=handles, loc="upper left", fontsize=7, ncol=2)
    top.set_title(f"{figures['scenario']}: arrival vs processed rate", fontsize=11, pad=14)
    for row, group in enumerate(groups, start=1):
        ax = axes[row][0]
        ax.fill_between(t, _series(series["group_arrival_per_s"][group]), color="#90caf9", alpha=0.7, step="pre",
                        label="arrival into its input topics")
        ax.plot(t, _series(series["processed_per_s"][group]), color="#0d47a1", lw=1.2, label="processed (committed) msgs/s")
        ax.set_ylabel(f"{group}\nmsgs/s", fontsize=8)
        _decorate(ax, figures)
        if row == 1:
            ax.legend(loc="upper left", fontsize=7)
    axes[-1][0].set_xlabel("seconds since the traffic started")
    fig.tight_layout()
    return fig


def plot_lag(figures: dict[str, Any]):  # noqa: ANN201
    series = figures["series"]
    t = series["t"]
    fig, (messages, seconds) = plt.subplots(2, 1, figsize=(11, 6.2), sharex=True)
    for group, values in series["lag_messages"].items():
        drain = figures["groups"][group].get("drain_time_s")
        label = f"{group} (drain {drain:.0f} s)" if drain is not None else f"{group} (not drained)"
        messages.plot(t, _series(values), lw=1.3, label=label)
        seconds.plot(t, _series(series["lag_s"][group]), lw=1.3, label=group)
    messages.set_ylabel("lag (messages)")
    seconds.set_ylabel("lag (seconds)")
    seconds.axhline(figures["recovery_bounds"]["lag_s"], color="grey", lw=0.8, ls=":", label="recovered bound")
    _decorate(messages, figures, label_faults=True)
    _decorate(seconds, figures)
    messages.legend(handles=messages.get_legend_handles_labels()[0] + _fault_legend(figures), loc="upper right", fontsize=7, ncol=2)
    seconds.legend(loc="upper right", fontsize=7, ncol=3)
    messages.set_title(f"{figures['scenario']}: consumer lag per group", fontsize=11, pad=14)
    seconds.set_xlabel("seconds since the traffic started")
    fig.tight_layout()
    return fig


def plot_checkpoints(figures: dict[str, Any]):  # noqa: ANN201
    """Per processor, how much of each second its loops stood still for checkpoints: a
    broker slow to acknowledge shows here before the lag grows. A stop counts in the tick
    it ended in, so one long stop is one spike after it (a broker killed: every processor
    stood still ~10 s, until the controller fenced it, NOTES stop 58)."""
    series = figures["series"]
    t = series["t"]
    fig, ax = plt.subplots(1, 1, figsize=(11, 3.4))
    for processor, values in series["checkpoint_ms_per_s"].items():
        ax.plot(t, _series(values), lw=1.2, label=processor)
    ax.set_ylabel("stopped for checkpoints\n(ms per s, instances add up)", fontsize=8)
    ax.set_ylim(bottom=0)
    _decorate(ax, figures, label_faults=True)
    ax.legend(handles=ax.get_legend_handles_labels()[0] + _fault_legend(figures), loc="upper right", fontsize=7, ncol=3)
    ax.set_title(f"{figures['scenario']}: time the processors stood still to commit", fontsize=11, pad=14)
    ax.set_xlabel("seconds since the traffic started")
    fig.tight_layout()
    return fig


def plot_latency(figures: dict[str, Any]):  # noqa: ANN201
    series = figures["series"]
    t = series["t"]
    fig, ax = plt.subplots(figsize=(11, 5.0))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drew = False
    for i, stage in enumerate(series["latency_p99_ms"]):
        color = colors[i % len(colors)]
        p99 = _series(series["latency_p99_ms"][stage])
        if all(v != v for v in p99):  # all NaN: nothing measured
            continue
        ax.plot(t, p99, color=color, lw=1.3, label=f"{stage} p99")
        ax.plot(t, _series(series["latency_p50_ms"][stage]), color=color, lw=0.9, ls=":", label=f"{stage} p50")
        drew = True
    if drew:
        ax.set_yscale("log")
    ax.axhline(figures["recovery_bounds"]["latency_p99_ms"], color="grey", lw=0.8, ls=":")
    ax.set_ylabel("end-to-end latency (ms, log)")
    ax.set_xlabel("seconds since the traffic started")
    _decorate(ax, figures, label_faults=True)
    ax.legend(handles=ax.get_legend_handles_labels()[0] + _fault_legend(figures), loc="upper center",
              bbox_to_anchor=(0.5, -0.16), fontsize=7, ncol=6, frameon=False)
    ax.set_title(f"{figures['scenario']}: latency p50/p99 per stage (produced_at - source time)", fontsize=11, pad=14)
    fig.tight_layout()
    return fig


def plot_scaling(figures: dict[str, Any]):  # noqa: ANN201
    """Instances and lag of each autoscaled group over time; with a fixed-worker baseline
    of the same traffic, its lag dashed beside."""
    series, baseline = figures["series"], figures.get("baseline")
    t = series["t"]
    fig, (count, lag) = plt.subplots(2, 1, figsize=(11, 6.2), sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (group, instances) in enumerate(series["instances"].items()):
        color = colors[i % len(colors)]
        count.step(t, instances, where="post", color=color, lw=1.4, label=group)
        lag.plot(t, _series(series["lag_s"][group]), color=color, lw=1.3, label=f"{group} autoscaled")
        if baseline is not None and group in baseline["series"]["lag_s"]:
            lag.plot(baseline["series"]["t"], _series(baseline["series"]["lag_s"][group]), color=color, lw=1.0, ls="--",
                     label=f"{group} fixed ({baseline['instances'].get(group, '?')} instance(s))")
    policy = figures["autoscale"]["policy"]
    lag.axhline(policy["lag_bound_s"], color="#c62828", lw=0.8, ls=":", label=f"scale-out bound {policy['lag_bound_s']:g} s")
    count.set_ylabel("instances")
    count.set_ylim(0, max(policy["max_instances"], 1) + 0.5)
    lag.set_ylabel("lag (seconds)")
    lag.set_xlabel("seconds since the traffic started")
    _decorate(count, figures)
    _decorate(lag, figures)
    count.legend(loc="upper right", fontsize=7, ncol=3)
    lag.legend(loc="upper right", fontsize=7, ncol=2)
    count.set_title(f"{figures['scenario']}: instances and lag of the autoscaled groups", fontsize=11, pad=8)
    fig.tight_layout()
    return fig


# --- html -----------------------------------------------------------------------------------

def fmt_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {fmt_value(v)}" for k, v in value.items())
    return str(value)


def html_table(headers: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(fmt_value(c))}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(figures: dict[str, Any], pngs: dict[str, Path]) -> str:
    verdicts = figures.get("verdicts", [])
    passed = figures.get("passed", False)
    run = figures.get("run", {})
    traffic = figures["traffic"]
    delivery = figures["delivery"]
    images = "".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}">'
        f"<figcaption>{name}.png</figcaption></figure>" for name, path in pngs.items())
    verdict_table = html_table(["check", "verdict", "observed", "detail"],
                           [[v["check"], "PASS" if v["passed"] else "FAIL", v["observed"], v["detail"]] for v in verdicts],
                           ["pass" if v["passed"] else "fail" for v in verdicts])
    key = html_table(["figure", "value"], [
        ["started / finished (UTC)", f"{run.get('started_at')} / {run.get('finished_at')}"],
        ["cluster", run.get("cluster")],
        ["topics", run.get("topics")],
        ["events produced / acknowledged / undelivered", f"{fmt_value(traffic.get('produced'))} / {fmt_value(traffic.get('acked'))} / {fmt_value(traffic.get('failed'))}"],
        ["producer request retries / client errors", f"{fmt_value(traffic.get('retries'))} / {fmt_value(traffic.get('client_errors'))}"],
        ["calls started", traffic.get("calls")],
        ["traffic ended at (s) / why", f"{fmt_value(traffic.get('end_s'))} / {traffic.get('stopped_by')}"],
        ["acknowledged events lost", delivery.get("acknowledged_lost")],
        ["redacted segments missing / archive offsets missing", f"{fmt_value(delivery.get('redaction_missing_segments'))} / {fmt_value(delivery.get('archive_missing_offsets'))}"],
        ["quality scores missing / duplicated (exactly-once)", f"{fmt_value(delivery.get('quality_missing_contacts'))} / {fmt_value(delivery.get('exactly_once_duplicates'))}"],
        ["archive duplicate offsets", delivery.get("archive_duplicate_offsets")],
        ["unexpected process exits", len(figures.get("unexpected_exits", []))],
        ["dead letters", figures.get("observer", {}).get("dead_letters")],
        ["drained after the traffic", run.get("drained")],
    ])
    groups = html_table(["group", "peak lag (msgs)", "peak at (s)", "peak lag (s)", "drained at (s)", "drain time (s)", "final lag"],
                    [[g, d["peak_lag_messages"], d["peak_at_s"], d["peak_lag_s"], d["drained_at_s"], d["drain_time_s"],
                      d["final_lag_messages"]] for g, d in figures["groups"].items()])
    recovery = html_table(["fault", "at (s)", "recovery time (s)", "worst p99 (ms)", "worst lag (s)", "samples out of bounds"],
                      [[r["fault"], r["at_s"], r["recovery_time_s"], r["worst_p99_ms"], r["worst_lag_s"], r["out_of_bounds_samples"]]
                       for r in figures["recovery"]]) if figures["recovery"] else "<p>No fault took anything down in this run.</p>"
    bounds = figures["recovery_bounds"]
    faults = html_table(["planned (s)", "started (s)", "done (s)", "fault", "details", "error"],
                    [[f["planned_at_s"], f["started_at_s"], f["done_at_s"], f["label"], f["details"], f["error"]]
                     for f in figures["faults"]]) if figures["faults"] else "<p>No faults scheduled.</p>"
    phases = [p["name"] for p in traffic["phases"]] + ["drain"]
    stages = list(figures["latency"])
    latency = html_table(["stage", "run p50", "run p99"] + [f"{p} p99" for p in phases],
                     [[s, figures["latency"][s]["p50_ms"], figures["latency"][s]["p99_ms"]]
                      + [figures["latency_by_phase"].get(p, {}).get(s, {}).get("p99_ms") for p in phases] for s in stages])
    phase_table = html_table(["phase", "curve", "base calls/min", "speed-up", "from (s)", "to (s)"],
                         [[p["name"] + (" (surge)" if p["surge"] else ""), p["curve"], p["rate_per_min"], p["speedup"],
                           p["start_s"], p["end_s"]] for p in traffic["phases"]])
    scaling = (_scaling_html(figures) + _rebalances_html(figures) + _checkpoints_html(figures)
               + _broker_sessions_html(figures) + _host_html(figures))
    title = f"Rehearsal {figures['scenario']}: {'PASSED' if passed else 'FAILED'}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
h1 {{ font-size: 1.5em; }} h1 .pass {{ color: #2e7d32; }} h1 .fail {{ color: #c62828; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }}
th, td {{ border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f5f5f5; }} tr.pass td:nth-child(2) {{ color: #2e7d32; font-weight: bold; }}
tr.fail td:nth-child(2) {{ color: #c62828; font-weight: bold; }}
figure {{ margin: 1em 0; }} img {{ max-width: 100%; border: 1px solid #eee; }} figcaption {{ font-size: 0.8em; color: #777; }}
</style></head><body>
<h1>Rehearsal <code>{html.escape(figures['scenario'])}</code>: <span class="{'pass' if passed else 'fail'}">{'PASSED' if passed else 'FAILED'}</span></h1>
<p>{html.escape(figures.get('description', ''))}</p>
<h2>Verdicts</h2>{verdict_table}
<h2>Key figures</h2>{key}
<h2>Traffic phases</h2>{phase_table}
<h2>Consumer groups: lag and drain</h2>{groups}
<h2>Recovery after faults</h2>
<p>Recovered = every processor group's lag within {bounds['lag_s']:g} s and the p99 of {html.escape(', '.join(bounds['stages']) or 'no stage')}
within {bounds['latency_p99_ms']:g} ms, for at least {bounds['stable_samples']} samples and from then on until the next fault.</p>{recovery}
<h2>Faults</h2>{faults}{scaling}
<h2>Latency per stage (ms)</h2>{latency}
<h2>Plots</h2>{images}
<p>Every figure is in <a href="report.json">report.json</a>.</p>
</body></html>
"""


def _section(title: str, prose: str, headers: list[str], rows: list[list[Any]], empty: str = "") -> str:
    """A report section: its heading, what it shows (HTML), and its table (or ``empty``)."""
    table = html_table(headers, rows) if rows or not empty else f"<p>{empty}</p>"
    return f"<h2>{title}</h2><p>{prose}</p>{table}"


def _at_most(bound: float | None, unit: str, last: str) -> str:
    """A histogram bucket bound as a table cell: ``<= bound``, or longer than the ``last`` bucket."""
    return f"longer than {last}" if bound is None else f"<= {bound:g}{unit}"


#: the phases of a consumer-group rebalance, in the order a member goes through them
REBALANCE_PHASES = ("revoke", "lost", "join", "assign", "recovery")


def _rebalances_html(figures: dict[str, Any]) -> str:
    """What the processors' consumer-group rebalances cost, phase by phase (each member's
    own timing; see ``callstream/processors/rebalance.py``)."""
    rebalances = figures.get("rebalances")
    if not rebalances:
        return ""
    rows = [[processor, phase, p["count"], p["mean_s"], p["total_s"],
             _at_most(p["all_within_s"], "", f"{REBALANCE_BUCKETS[-1]:g}")]
            for processor, phases in rebalances.items()
            for phase in REBALANCE_PHASES if (p := phases.get(phase))]
    return _section("Rebalances", "Each member times its rebalances: giving up its partitions (revoke, or lost "
                    "when the group moved on without it), waiting for the group's new plan (join), taking its new "
                    "partitions (assign) and restoring their state from the changelogs (recovery). A member "
                    "processes nothing from the start of its revoke to the end of its recovery.",
                    ["processor", "phase", "times", "mean (s)", "total (s)", "every one within (s)"], rows)


def _checkpoints_html(figures: dict[str, Any]) -> str:
    """How long each processor's loops stood still to commit, over the whole run (each
    instance's own timing; see ``callstream/processors/checkpoints.py``)."""
    stops = figures.get("checkpoints")
    if not stops:
        return ""
    last = f"{CHECKPOINT_BUCKETS[-1]:g} s"
    rows = [[processor, f"{c['count']:,}", c["mean_ms"], _at_most(c["p99_within_ms"], " ms", last),
             _at_most(c["all_within_s"], " s", last), c["total_s"]] for processor, c in stops.items()]
    return _section("Checkpoints", "Each worker commits about once a second: it hands its calls' state over, "
                    "waits for its outputs and changelogs to be acknowledged and commits its offsets (or its "
                    "transaction), reading nothing meanwhile. A slow broker shows here first: every event that "
                    "arrives during a stop waits for it.",
                    ["processor", "checkpoints", "mean (ms)", "p99", "every one", "stopped in all (s)"], rows)


def _host_html(figures: dict[str, Any]) -> str:
    """Each process's cores per phase, and how many of its threads waited for one: whether
    the run's figures are callstream's or its host's (``host_time``)."""
    host = figures.get("host")
    if host is None:
        return ""
    phases = list(host)
    names = sorted({n for p in host.values() for n in p["processes"]})

    def cell(f: dict[str, Any] | None) -> str:
        return "-" if f is None else f"{f['cores']:.2f} ({f['waiting']:.2f})"

    rows = [["host, busy cores", *[_fmt_cores(host[p]["host_busy_cores"]) for p in phases]]]
    rows += [[n, *[cell(host[p]["processes"].get(n)) for p in phases]] for n in names]
    return _section("Cores", "Cores each process used, phase by phase, and in brackets how many of its threads "
                    "were on average ready to run but waiting for a core. The first row is the whole host, "
                    "whoever used it. When the host is near all its cores and every process waits, the run's "
                    "lag and recovery measure the host as much as callstream: a niced worker catches up only "
                    "with what the live path leaves.", ["process", *phases], rows if names else [],
                    empty="Not measured here (Linux's per-thread schedstat is needed).")


def _fmt_cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _broker_sessions_html(figures: dict[str, Any]) -> str:
    """The controller's fencings and unfencings on the run's own cluster, each beside
    whether its broker's process was down at the time."""
    sessions = figures.get("broker_sessions")
    if sessions is None:
        return ""
    rows = [[c["at_s"], c["broker"], c["change"], "down (a fault)" if c["broker_down"] else "running"] for c in sessions]
    running = figures["metrics"].get("running_brokers_fenced")
    return _section("Broker sessions", "The controller fences a broker whose heartbeats stop for its session "
                    "timeout; every leader it held moves, and clients of those partitions wait until then. A dead "
                    f"broker has to be fenced. Brokers fenced while running (late heartbeats): <b>{running}</b>.",
                    ["at (s)", "broker", "change", "its process"], rows,
                    empty="No broker was fenced or unfenced during the run.")


def _scaling_html(figures: dict[str, Any]) -> str:
    """The autoscaler's changes and, with a baseline, the same traffic on fixed workers."""
    scaling = figures.get("autoscale")
    if not scaling:
        return ""
    policy = scaling["policy"]
    events = html_table(
        ["group", "change", "decided at (s)", "reason", "lag crossed the bound at (s)", "settled at (s)",
         "crossing to consuming (s)", "removed members", "error"],
        [[e["processor_group"], f"{e['from']} -> {e['to']}", e["at_s"], e["reason"], e["lag_crossed_at_s"],
          e["settled_at_s"], e["crossing_to_consuming_s"], ", ".join(e["removed_members"]), e["error"]]
         for e in scaling["events"]]) if scaling["events"] else "<p>The autoscaler made no change.</p>"
    text = (f"<h2>Autoscaling</h2><p>Out when a group is more than {policy['lag_bound_s']:g} s behind for "
            f"{policy['out_after_s']:g} s, in when under {policy['in_below_s']:g} s for {policy['in_after_s']:g} s; "
            f"{policy['min_instances']}-{policy['max_instances']} instances, {policy['cooldown_s']:g} s between changes. "
            + (f"Out only while the host has {policy['min_idle_cores']:g} idle cores. " if policy.get("min_idle_cores") else "")
            + "Settled = the group stable with the new number of members, each holding partitions.</p>" + events)
    if scaling.get("holds"):
        text += "<h3>Scale-outs held for want of CPU</h3>" + html_table(
            ["group", "held from (s)", "until (s)", "lag readings", "first reason"],
            [[h["processor_group"], h["since_s"], h["until_s"], h["checks"], h["reason"]] for h in scaling["holds"]])
    baseline = figures.get("baseline")
    if baseline is None:
        return text
    rows = []
    for group in figures["series"]["instances"]:
        fixed, scaled = baseline["groups"].get(group, {}), figures["groups"].get(group, {})
        for label, key in (("peak lag (msgs)", "peak_lag_messages"), ("peak lag (s)", "peak_lag_s"),
                           ("drain time (s)", "drain_time_s")):
            rows.append([group, label, fixed.get(key), scaled.get(key)])
    for phase, by_stage in figures["latency_by_phase"].items():
        if "assist" in by_stage:
            rows.append(["assist", f"p99 in {phase} (ms)", baseline["latency_by_phase"].get(phase, {}).get("assist", {}).get("p99_ms"),
                         by_stage["assist"]["p99_ms"]])
    link = html.escape(baseline["report"])
    return text + (f"<h3>Against fixed workers</h3><p>The same scenario and traffic with fixed workers, run just before "
                   f"(<a href=\"{link}\">{link}</a>, {'passed' if baseline['passed'] else 'failed'}).</p>"
                   + html_table(["group", "figure", "fixed workers", "autoscaled"], rows))
