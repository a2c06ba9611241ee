#!/usr/bin/env python3
"""SVG charts of a benchmark run on two systems. Standard library only, so the runner needs
nothing installed.

TPC-C, from the driver's --series CSV and --json files: New-Orders per minute over time and
response-time percentiles per transaction type.

    sysbench/chart.py --out docs/benchmarks --prefix tpcc \\
        ReefDB=reef.csv,reef.json MariaDB=maria.csv,maria.json

sysbench, from the output of `sysbench ... --report-interval=1 run`: transactions per second
and 95th-percentile latency over time.

    sysbench/chart.py --sysbench --out docs/benchmarks --prefix oltp_read_write \\
        ReefDB=reef.log MariaDB=maria.log
"""
import argparse
import csv
import json
import math
import os
import re
from xml.sax.saxutils import escape

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
W, H, L, R, T, B = 760, 360, 70, 20, 40, 50


def svg(title, body, legend):
    items = "".join(
        f'<rect x="{L + 10 + i * 140}" y="{T - 22}" width="12" height="12" fill="{c}"/>'
        f'<text x="{L + 26 + i * 140}" y="{T - 12}" font-size="12">{escape(n)}</text>'
        for i, (n, c) in enumerate(legend)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'font-family="sans-serif"><rect width="{W}" height="{H}" fill="white"/>'
        f'<text x="{W / 2}" y="18" font-size="14" text-anchor="middle">{escape(title)}</text>'
        f"{items}{body}</svg>\n"
    )


def axes(ymax, xlabel, ylabel, xticks, yticks=None):
    """Axes with gridlines at `yticks` ((value, y) pairs), or five even ones up to ymax."""
    out = [f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>']
    if yticks is None:
        yticks = [(ymax * i / 4, H - B - (H - B - T) * i / 4) for i in range(5)]
    for v, y in yticks:
        label = f"{v:,.0f}" if v >= 10 else f"{v:g}"
        out.append(f'<line x1="{L}" y1="{y}" x2="{W - R}" y2="{y}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{y + 4}" font-size="11" text-anchor="end">{label}</text>')
    for x, label in xticks:
        out.append(f'<text x="{x}" y="{H - B + 16}" font-size="11" text-anchor="middle">{escape(label)}</text>')
    out.append(f'<text x="{W / 2}" y="{H - 10}" font-size="12" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text x="16" y="{H / 2}" font-size="12" text-anchor="middle" '
               f'transform="rotate(-90 16 {H / 2})">{escape(ylabel)}</text>')
    return "".join(out)


def line_chart(title, xlabel, ylabel, series):
    """One polyline per (name, values), x = seconds from 1."""
    n = max([len(v) for _, v in series] + [1])
    ymax = max([max(v, default=0) for _, v in series] + [1e-9]) * 1.1
    px = lambda i: L + (W - L - R) * i / max(n - 1, 1)
    py = lambda v: H - B - (H - B - T) * v / ymax
    body = axes(ymax, xlabel, ylabel, [(px(i), str(i + 1)) for i in range(0, n, max(1, n // 10))])
    for (name, vals), c in zip(series, COLORS):
        pts = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(vals))
        body += f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="1.5"/>'
    return svg(title, body, [(name, c) for (name, _), c in zip(series, COLORS)])


def throughput(systems):
    """New-Orders per minute, each second's count times 60, smoothed over 5 s."""
    series = []
    for name, (csv_path, _) in systems:
        with open(csv_path) as f:
            rows = list(csv.DictReader(f))
        per_s = [int(r["New-Order"]) * 60 for r in rows]
        smooth = [sum(per_s[max(0, i - 4): i + 1]) / len(per_s[max(0, i - 4): i + 1]) for i in range(len(per_s))]
        series.append((name, smooth))
    return line_chart("TPC-C throughput over time", "seconds into the measured run",
                      "New-Orders per minute (5 s mean)", series)


INTERVAL = re.compile(r"^\[ *(\d+)s \].*? tps: ([0-9.]+).*?lat \(ms,95%\): ([0-9.]+)")


def sysbench_series(log):
    """(tps per second, p95 ms per second) from sysbench's interval reports."""
    tps, p95 = [], []
    with open(log) as f:
        for line in f:
            m = INTERVAL.match(line)
            if m:
                tps.append(float(m.group(2)))
                p95.append(float(m.group(3)))
    return tps, p95


def latency(systems):
    """p50 / p90 / p99 per transaction type, grouped bars per system."""
    data = []
    for name, (_, json_path) in systems:
        with open(json_path) as f:
            data.append((name, json.load(f)["transactions"]))
    kinds = [t["name"] for t in data[0][1]]
    # A log scale: sub-millisecond reads and second-long reports on one chart.
    top = max([t["p99_ms"] for _, ts in data for t in ts] + [1])
    lo_exp, hi_exp = -1, max(0, math.ceil(math.log10(top)))
    span = hi_exp - lo_exp
    py = lambda v: H - B - (H - B - T) * (math.log10(max(v, 10 ** lo_exp)) - lo_exp) / span
    group = (W - L - R) / len(kinds)
    bar = group / (len(data) * 3 + 1)
    body = axes(10 ** hi_exp, "transaction (bars: p50, p90, p99 per system)",
                "response time, ms (log scale)",
                [(L + group * (k + 0.5), kind) for k, kind in enumerate(kinds)],
                [(10.0 ** e, py(10.0 ** e)) for e in range(lo_exp, hi_exp + 1)])
    for k in range(len(kinds)):
        for s, ((_, ts), c) in enumerate(zip(data, COLORS)):
            for p, (key, opacity) in enumerate([("p50_ms", 1.0), ("p90_ms", 0.65), ("p99_ms", 0.35)]):
                x = L + group * k + bar * (0.5 + s * 3 + p)
                v = ts[k][key]
                body += (f'<rect x="{x:.1f}" y="{py(v):.1f}" width="{bar * 0.9:.1f}" '
                         f'height="{H - B - py(v):.1f}" fill="{c}" fill-opacity="{opacity}">'
                         f"<title>{escape(ts[k]['name'])} {key[:-3]}: {v:.1f} ms</title></rect>")
    return svg("TPC-C response times", body, [(n, c) for (n, _), c in zip(data, COLORS)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--prefix", default="tpcc")
    ap.add_argument("--sysbench", action="store_true", help="inputs are sysbench run logs")
    ap.add_argument("systems", nargs="+", help="NAME=series.csv,result.json (or NAME=sysbench.log)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.sysbench:
        data = [(s.split("=", 1)[0], sysbench_series(s.split("=", 1)[1])) for s in a.systems]
        charts = [
            ("throughput", line_chart(f"{a.prefix}: throughput over time", "seconds",
                                      "transactions per second", [(n, d[0]) for n, d in data])),
            ("latency", line_chart(f"{a.prefix}: 95th percentile latency over time", "seconds",
                                   "ms", [(n, d[1]) for n, d in data])),
        ]
        for kind, text in charts:
            path = os.path.join(a.out, f"{a.prefix}-{kind}.svg")
            with open(path, "w") as f:
                f.write(text)
            print(f"== wrote {path}")
        return
    systems = []
    for s in a.systems:
        name, files = s.split("=", 1)
        csv_path, json_path = files.split(",")
        systems.append((name, (csv_path, json_path)))
    for kind, draw in [("throughput", throughput), ("latency", latency)]:
        path = os.path.join(a.out, f"{a.prefix}-{kind}.svg")
        with open(path, "w") as f:
            f.write(draw(systems))
        print(f"== wrote {path}")


if __name__ == "__main__":
    main()
