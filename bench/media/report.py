"""The benchmark's outputs: a line per run, docs/benchmarks.md with a table and an SVG plot."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

COLOURS = {"ours": "#1f6feb", "janus": "#d1242f", "janus-1loop": "#bf8700"}
LABELS = {
    "ours": "ours (media_server)",
    "janus": "Janus VideoRoom, default threads",
    "janus-1loop": "Janus VideoRoom, event_loops = 1",
}
SWEEP_STOPS = {
    "failed": "the sweep stops: failed",
    "generator": "the sweep stops: not judged, the generator reached its limit",
    "generator-next": "the sweep stops: the next size would take the generator past its limit",
}
MARK_START = "<!-- bench:media:start -->"
MARK_END = "<!-- bench:media:end -->"


def janus_version() -> str | None:
    """Return the installed Janus version, as dpkg knows it."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "janus"], capture_output=True, text=True, timeout=5)
    except OSError:
        return None
    return out.stdout.strip() or None


def line(r: dict[str, Any]) -> str:
    """Return one run as a progress line."""
    if "error" in r:
        return f"FAILED: {r['error']}"
    return (
        f"{r['forwarded_pps']:>8.0f} pps  CPU {r['server_cpu_pct']:5.1f} %  "
        f"{_f(r['cpu_us_per_packet'])} µs/pkt  loss {100 * (r['loss'] or 0):.2f} %  "
        f"p50 {_f(r['delay_p50_ms'])} p99 {_f(r['delay_p99_ms'])} ms  "
        f"gen CPU {r['generator_cpu_pct']} %  other {r['other_cpu_pct']} %"
        + (f"  segmented {100 * r['segmented_share']:.0f} %" if r.get("segmented_share") is not None else "")
    )


def _f(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _ok(r: dict[str, Any]) -> bool:
    return "error" not in r


def held(r: dict[str, Any]) -> bool:
    """Return whether a run held its load: set up, <1 % loss, p99 < 50 ms, no stream missing."""
    return _ok(r) and (r["loss"] or 0) < 0.01 and (r["delay_p99_ms"] or 1e9) < 50 and not r["missing_streams"]


def largest_discussion(results: dict[str, Any], sfu: str) -> tuple[int | None, str]:
    """Return the largest sweep discussion a forwarder held, and that figure in words.

    The words say when the climb stopped at the generator's limit rather than the forwarder's
    ("≥"), and when even the smallest size failed ("<").
    """
    sweep = [r for r in results["runs"] if r["sfu"] == sfu and r.get("kind") == "discussion-sweep"]
    if not sweep:
        return None, "–"
    # a run that took the generator to its limit is not judged: the generator may have sent late
    sizes = [r["subscribers"] for r in sweep if held(r) and r.get("sweep_stop") != "generator"]
    generator = any(r.get("sweep_stop", "").startswith("generator") for r in sweep)
    if not sizes:
        smallest = min(int(r["scenario"].rsplit("-", 1)[1]) for r in sweep)
        return None, "– (generator's limit)" if generator else f"< {smallest}"
    best = max(sizes)
    return best, f"≥ {best} (generator's limit)" if generator else str(best)


def headline(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Return per-forwarder figures from the largest lecture each forwarded under 1 % loss.

    A forwarder that drops most packets is not doing the work it is charged for, so an
    overloaded run would make its CPU per packet meaningless; fall back to the largest run only
    when none stayed under 1 %. A forwarder with no lecture (a partial run) keeps its discussion
    figures.
    """
    rows = []
    for sfu in LABELS:
        mine = [r for r in results["runs"] if r["sfu"] == sfu]
        if not mine:
            continue
        lectures = [r for r in mine if _ok(r) and r["kind"] == "lecture" and "load_point" not in r]
        clean = [r for r in lectures if (r["loss"] or 0) < 0.01] or lectures
        big: dict[str, Any] = max(clean, key=lambda r: r["subscribers"]) if clean else {}
        held_sizes = [r["subscribers"] for r in lectures if held(r)]
        disc = [r for r in mine if _ok(r) and r["kind"] == "discussion"]
        largest, largest_text = largest_discussion(results, sfu)
        rows.append(
            {
                "sfu": sfu,
                "at": big.get("subscribers"),
                "pps_per_core": big.get("pps_per_core_estimate"),
                "us_per_packet": big.get("cpu_us_per_packet"),
                "cpu_pct_per_subscriber": big.get("cpu_pct_per_subscriber"),
                "loss": big.get("loss"),
                "rss_kb_per_subscriber": big.get("rss_kb_per_subscriber"),
                "largest_lecture_held": max(held_sizes) if held_sizes else None,
                "discussion_us_per_packet": disc[0]["cpu_us_per_packet"] if disc else None,
                "largest_discussion_held": largest,
                "largest_discussion_text": largest_text,
            }
        )
    return rows


def summary(results: dict[str, Any]) -> str:
    """Return the headline figures and the generator's headroom as text."""
    out = [
        "",
        "forwarder            µs/pkt  pkt/s per core  CPU %/subscriber  RSS KB/subscriber  largest discussion",
    ]
    for h in headline(results):
        out.append(
            f"{h['sfu']:18} {_f(h['us_per_packet']):>8} {h['pps_per_core'] or 0:>15,} "
            f"{_f(h['cpu_pct_per_subscriber'], 3):>17} {_f(h['rss_kb_per_subscriber'], 0):>18}  "
            f"{h['largest_discussion_text']}"
        )
    ceiling = generator_ceiling(results)
    if ceiling:
        # the load generator's own cost, on the same scale as the forwarders'
        out.append(
            f"{'generator (echo)':18} {_f(ceiling['generator_us_per_packet']):>8} "
            f"{ceiling['generator_pps_per_core']:>15,}   (received and decrypted, {ceiling['receive_path']} path)"
        )
    out.append(headroom(results))
    return "\n".join(out)


def echo_line(e: dict[str, Any]) -> str:
    """Return one echo run (the generator with no forwarder in between) as text."""
    if "error" in e:
        return f"{e['rate']:,.0f} pkt/s could not be set up: {e['error']}"
    stats = e.get("echo_sender_stats") or {}
    refused = "".join(
        f" ({stats[k]:,} {what})"
        for k, what in (("failed", "refused by its sockets"), ("late", "skipped by a late sender"))
        if stats.get(k)
    )
    return (
        f"{e['rate']:,.0f} pkt/s offered over {e.get('streams', '?')} subscribers, {e['sent_pps']:,.0f} sent{refused}, "
        f"{e['received_pps']:,.0f} received ({100 * e['loss']:.2f} % loss, {e['receive_buffer_drops']:,} "
        f"dropped by full socket buffers), generator CPU {e['generator_cpu_pct']} % = "
        f"{_f(e['generator_us_per_packet'])} µs per received packet ({e['receive_path']} receive path, "
        f"{e['echo_sender']} echo sender at {e.get('echo_server_cpu_pct')} % CPU, other load {e.get('other_cpu_pct')} %)"
    )


def generator_ceiling(results: dict[str, Any]) -> dict[str, Any] | None:
    """Return the echo run that measured the generator's cost per packet under the most load."""
    measured = [e for e in results["echo"] if e.get("generator_pps_per_core")]
    return max(measured, key=lambda e: e["generator_cpu_pct"]) if measured else None


def headroom(results: dict[str, Any]) -> str:
    """Return the load generator's loopback ceiling against the highest forwarded rate."""
    top = results["highest_forwarded_pps"]
    passing = [e for e in results["echo"] if "error" not in e and e["loss"] <= 0.01]
    ceiling = generator_ceiling(results)
    per_core = (
        f"; generator ceiling about {ceiling['generator_pps_per_core']:,} pkt/s per generator core "
        f"(1 / {_f(ceiling['generator_us_per_packet'])} µs of its CPU per received packet in the busiest echo, "
        f"{ceiling['receive_path']} receive path; {len(results['machine']['generator_cores'])} generator core(s))"
        if ceiling
        else ""
    )
    if not passing:
        first = results["echo"][0] if results["echo"] else None
        what = echo_line(first) if first else "no echo run"
        return (
            f"generator headroom NOT shown against {top:,.0f} pkt/s highest forwarded: {what}: "
            f"the generator may have been the bottleneck{per_core}"
        )
    best = max(e["received_pps"] for e in passing)
    ratio = best / top if top else 0.0
    verdict = "enough" if ratio >= 2 else "NOT enough: the generator may be the bottleneck"
    return (
        f"generator headroom: {best:,.0f} pkt/s received with no forwarder in between (<1 % loss) vs "
        f"{top:,.0f} pkt/s highest forwarded: x{ratio:.1f}, {verdict}{per_core}"
    )


def svg(results: dict[str, Any]) -> str:
    """Return a plot of forwarder CPU against lecture subscribers, one line per forwarder."""
    series: dict[str, list[tuple[int, float]]] = {}
    for r in results["runs"]:
        if _ok(r) and r["kind"] == "lecture":
            series.setdefault(r["sfu"], []).append((r["subscribers"], r["server_cpu_pct"]))
    w, h, left, bottom, top, right = 640, 360, 60, 50, 20, 200
    xmax = max((x for s in series.values() for x, _ in s), default=1)
    ymax = max((y for s in series.values() for _, y in s), default=1)
    ymax = max(10, ((int(ymax) // 10) + 1) * 10)

    def px(x: float) -> float:
        return left + (w - left - right) * x / xmax

    def py(y: float) -> float:
        return h - bottom - (h - bottom - top) * y / ymax

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
    ]
    for i in range(6):
        y = ymax * i / 5
        parts.append(f'<line x1="{left}" x2="{w - right}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.0f}</text>')
    ticks = sorted({x for s in series.values() for x, _ in s})
    for x in ticks:
        parts.append(f'<text x="{px(x):.1f}" y="{h - bottom + 16}" text-anchor="middle">{x}</text>')
    parts.append(f'<line x1="{left}" x2="{w - right}" y1="{h - bottom}" y2="{h - bottom}" stroke="#333"/>')
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{h - bottom}" stroke="#333"/>')
    parts.append(
        f'<text x="{(left + w - right) / 2}" y="{h - 12}" text-anchor="middle">students receiving the lecture</text>'
    )
    parts.append(
        f'<text transform="translate(16 {(top + h - bottom) / 2}) rotate(-90)" '
        'text-anchor="middle">forwarder CPU, % of one core</text>'
    )
    for k, (sfu, points) in enumerate(series.items()):
        points.sort()
        colour = COLOURS.get(sfu, "#333")
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in points:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        ly = top + 10 + 18 * k
        parts.append(
            f'<line x1="{w - right + 10}" x2="{w - right + 30}" y1="{ly}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(f'<text x="{w - right + 35}" y="{ly + 4}" font-size="11">{sfu}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def table(results: dict[str, Any]) -> str:
    """Return every run as a Markdown table."""
    rows = [
        "| forwarder | scenario | subscribers | forwarded pkt/s | forwarder CPU % | µs CPU/pkt "
        "| CPU %/subscriber | loss % | delay p50 / p99 ms | RSS KB/subscriber | generator CPU % | other load CPU % |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results["runs"]:
        if not _ok(r):
            rows.append(f"| {r['sfu']} | {_scenario_name(r)} | failed: {r['error']} ||||||||||")
            continue
        name = _scenario_name(r)
        rows.append(
            f"| {r['sfu']} | {name} | {r['subscribers']} | {r['forwarded_pps']:,.0f} | "
            f"{r['server_cpu_pct']} | {_f(r['cpu_us_per_packet'])} | {_f(r['cpu_pct_per_subscriber'], 3)} | "
            f"{100 * (r['loss'] or 0):.2f}{' (' + str(r['missing_streams']) + ' streams missing)' if r['missing_streams'] else ''} | "
            f"{_f(r['delay_p50_ms'])} / {_f(r['delay_p99_ms'])} | {_f(r['rss_kb_per_subscriber'], 0)} | "
            f"{r['generator_cpu_pct']} | {r['other_cpu_pct']} |"
        )
    return "\n".join(rows)


def _scenario_name(r: dict[str, Any]) -> str:
    """Return a run's scenario as the table names it: its load point, what it subscribed, why it stopped."""
    notes = []
    if "load_point" in r:
        notes.append(f"{r['load_point']:.0%} of saturation")
    if r.get("subscription"):
        notes.append(r["subscription"])
    notes += [SWEEP_STOPS[r["sweep_stop"]]] if r.get("sweep_stop") else []
    return r["scenario"] + (f" ({'; '.join(notes)})" if notes else "")


def comparison(results: dict[str, Any]) -> str:
    """Return the headline figures of each forwarder and their ratio to ours."""
    heads = {h["sfu"]: h for h in headline(results)}
    ours = heads.get("ours")
    rows = [
        "| figure | "
        + " | ".join(LABELS[s] for s in heads)
        + " | "
        + " | ".join(f"{s} / ours" for s in heads if s != "ours")
        + " |",
        "|---|" + "--:|" * (2 * len(heads) - 1),
    ]
    figures = [
        ("pps_per_core", "forwarded pkt/s per core (1 / CPU per packet, same run)", 0),
        ("us_per_packet", "µs of forwarder CPU per forwarded packet, largest lecture under 1 % loss", 2),
        ("discussion_us_per_packet", "µs of forwarder CPU per forwarded packet, discussion", 2),
        ("cpu_pct_per_subscriber", "CPU % of a core per student, largest lecture under 1 % loss", 3),
        ("rss_kb_per_subscriber", "RSS KB per student, largest lecture under 1 % loss", 0),
        ("largest_lecture_held", "largest lecture held (<1 % loss, p99 < 50 ms)", 0),
        (
            "largest_discussion_held",
            "largest discussion held (<1 % loss, p99 < 50 ms; Janus subscribing to every microphone)",
            0,
        ),
    ]
    for key, label, digits in figures:
        if key == "largest_discussion_held":
            cells = [h["largest_discussion_text"] for h in heads.values()]
            ratios = [_bound_ratio(h, ours) for s, h in heads.items() if s != "ours"]
        else:
            cells = [_f(h[key], digits) if h[key] is not None else "–" for h in heads.values()]
            ratios = []
            for s, h in heads.items():
                if s == "ours":
                    continue
                a, b = h[key], ours[key] if ours else None
                ratios.append(f"{a / b:.2f}" if a and b else "–")
        if all(c == "–" for c in cells):
            continue  # a partial run: no forwarder has this figure
        rows.append(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    return "\n".join(rows)


def _bound_ratio(h: dict[str, Any], ours: dict[str, Any] | None) -> str:
    """Return a forwarder's largest discussion over ours, as a bound where either is one.

    Ours stopped at the generator's limit ("≥ b") makes the ratio at most a / b; a forwarder that
    failed its smallest size ("< s") makes it less than s / b.
    """
    b = ours["largest_discussion_held"] if ours else None
    if not b or ours is None:
        return "–"
    a, text = h["largest_discussion_held"], h["largest_discussion_text"]
    if not a:
        return f"< {int(text[2:]) / b:.2f}" if text.startswith("< ") else "–"
    return ("≤ " if ours["largest_discussion_text"].startswith("≥") else "") + f"{a / b:.2f}"


def write(results: dict[str, Any], doc: Path) -> None:
    """Write the plot next to docs/benchmarks.md and the media section into it."""
    plot = doc.parent / "benchmarks-media-cpu.svg"
    plot.write_text(svg(results))
    m = results["machine"]
    section = "\n".join(
        [
            MARK_START,
            f"Measured {results['date']} by `bench/run{' --full' if results['mode'] == 'full' else ''}` "
            f"({results['mode']} mode, {results['window_s']:.0f} s steady window per run) on "
            f"{m['cpus']} CPUs ({m['cpu_model']}), Linux {m['kernel']}, Python {m['python']}, "
            f"Janus {m['janus']}. Forwarder under test pinned to CPU {m['forwarder_cores']}, "
            f"load generator ({m['generator_workers']} worker process(es)) to CPU {m['generator_cores']}.",
            "",
            f"![forwarder CPU against students]({plot.name})",
            "",
            comparison(results),
            "",
            table(results),
            "",
            headroom(results) + ".",
            "",
            "Echo runs (generator alone): " + "; ".join(echo_line(e) for e in results["echo"]) + ".",
            MARK_END,
        ]
    )
    text = doc.read_text() if doc.exists() else ""
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        text = head + section + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip() + ("\n\n" if text else "") + section + "\n"
    doc.write_text(text)
