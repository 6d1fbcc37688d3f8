#!/usr/bin/env python3
"""Plots loadgen CSVs (scripts/load-test.sh): p50/p99 latency and loss
against the number of calls, the 200 ms budget, and the refused publisher."""
import argparse
import csv
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return math.nan
    return value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("csv", nargs="+")
    parser.add_argument("--out", required=True)
    parser.add_argument("--title", default="framechain serve under load")
    parser.add_argument("--budget", type=float, default=200.0)
    args = parser.parse_args()

    fig, (lat, loss) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True,
                                    gridspec_kw={"height_ratios": [3, 1.3]})
    styles = ["o-", "s--"]
    refused_at = []
    for n, path in enumerate(args.csv):
        data = rows(path)
        ramp = [r for r in data if r["phase"] == "ramp"]
        label = f"run {n + 1}" if len(args.csv) > 1 else ""
        x = [int(r["publishers"]) for r in ramp]
        style = styles[n % len(styles)]
        lat.plot(x, [number(r["p50_ms"]) for r in ramp], style, color="tab:blue",
                 label=f"p50 {label}".strip())
        lat.plot(x, [number(r["p99_ms"]) for r in ramp], style, color="tab:red",
                 label=f"p99 {label}".strip())
        sent = [number(r["sent"]) for r in ramp]
        lost = [number(r["lost"]) for r in ramp]
        dropped = [number(r["server_dropped"]) for r in ramp]
        loss.plot(x, [100 * l / s if s else math.nan for l, s in zip(lost, sent)], style,
                  color="tab:purple", label=f"not received % {label}".strip())
        loss.plot(x, [100 * d / s if s else math.nan for d, s in zip(dropped, sent)], style,
                  color="tab:orange", label=f"server drops % {label}".strip())
        for r in data:
            if r["phase"] == "after-refusal":
                lat.plot([int(r["publishers"])], [number(r["p99_ms"])], "D", color="black",
                         label="p99 of running calls after the 503")
            if r["phase"] == "refused":
                refused_at.append((int(r["publishers"]), r["note"]))
    lat.axhline(args.budget, color="gray", linestyle=":", label=f"budget p99 {args.budget:.0f} ms")
    for x, note in refused_at:
        lat.axvline(x, color="black", linestyle="--", alpha=0.6)
        lat.annotate(f"publisher {x}: {note}", (x, args.budget * 1.05), rotation=90,
                     va="bottom", ha="right", fontsize=8)
    lat.set_ylabel("latency, ms (publisher send → viewer receive)")
    lat.set_title(args.title)
    lat.legend(fontsize=8, loc="upper left")
    lat.grid(alpha=0.3)
    loss.set_ylabel("% of sent")
    loss.set_xlabel("concurrent calls (publisher + viewer each, 1080p30 in)")
    loss.legend(fontsize=8, loc="upper left")
    loss.grid(alpha=0.3)
    loss.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
