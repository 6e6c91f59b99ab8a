#!/usr/bin/python3
"""plot_sweep.py SWEEP.json OUT.png - draw a `simjoin sweep` result.

Three panels: clusters of 2+ and the largest cluster against the threshold;
pairwise precision, recall (over all labelled hashes; recall over the
compared hashes dotted when it differs) and F1 against the threshold when the
sweep had labels; the histogram of all pair distances on a log scale. Every
linkage of the sweep (`runs`) is drawn in its own colour; the F1-best
threshold of each is a vertical line and the largest-cluster jump a marker.
Uses Debian's python3-matplotlib (run with /usr/bin/python3).
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
           "tab:pink", "tab:gray"]


def main(src, png):
    s = json.load(open(src))
    runs = s.get("runs") or [{"linkage": s["linkage"], "rows": s["rows"],
                              "best_f1_threshold": s.get("best_f1_threshold"),
                              "largest_jump_threshold": s.get("largest_jump_threshold")}]
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.4))
    ax0b = ax[0].twinx()
    for k, run in enumerate(runs):
        col = COLOURS[k % len(COLOURS)]
        rows = run["rows"]
        t = [r["threshold"] for r in rows]
        name = run["linkage"]
        ax[0].plot(t, [r["clusters"] - r["singletons"] for r in rows], "o-", color=col, ms=3,
                   label=f"clusters of 2+ ({name})")
        ax0b.plot(t, [r["largest"] for r in rows], "^--", color=col, ms=3,
                  label=f"largest ({name})")
        jump = run.get("largest_jump_threshold")
        if jump is not None:
            y = next(r["largest"] for r in rows if r["threshold"] == jump)
            ax0b.plot([jump], [y], "X", color=col, ms=11)
            ax0b.annotate(f"jump T={jump:g}", (jump, y), textcoords="offset points",
                          xytext=(4, 6), fontsize=8, color=col)
        best = run.get("best_f1_threshold")
        if s["labels"]:
            ax[1].plot(t, [r["precision"] for r in rows], "o-", color=col, ms=3,
                       label=f"precision ({name})")
            ax[1].plot(t, [r["recall"] for r in rows], "s--", color=col, ms=3,
                       label=f"recall, all labelled ({name})")
            rc = [r.get("recall_compared") for r in rows]
            if any(a is not None and a != r["recall"] for a, r in zip(rc, rows)):
                ax[1].plot(t, rc, ":", color=col, label=f"recall, compared only ({name})")
            ax[1].plot(t, [r["f1"] for r in rows], "-", color=col, lw=2.5, alpha=0.5,
                       label=f"F1 ({name})")
        if best is not None:
            for a in ax:
                a.axvline(best, color=col, lw=1, ls="-.")
            ax[1].annotate(f"best F1 T={best:g}", (best, 0.9 - 0.07 * k), fontsize=8, color=col,
                           xytext=(3, 0), textcoords="offset points")
    ax[0].set_xlabel("threshold")
    ax[0].set_ylabel("clusters of 2+")
    ax0b.set_ylabel("largest cluster (hashes)")
    lines = ax[0].get_legend_handles_labels()[0] + ax0b.get_legend_handles_labels()[0]
    ax[0].legend(lines, [h.get_label() for h in lines], loc="center right", fontsize=7)
    ax[0].set_title("clusters")
    if s["labels"]:
        ax[1].set_ylim(-0.02, 1.02)
        ax[1].legend(fontsize=7, loc="lower right")
    else:
        ax[1].text(0.5, 0.5, "no labels", ha="center", va="center")
    ax[1].set_title("against ground truth")
    ax[1].set_xlabel("threshold")
    h = s["histogram"]
    lo, width = s.get("histogram_lo", 0), s.get("histogram_width", 1)
    ax[2].bar([lo + i * width for i in range(len(h))], [max(v, 0) for v in h], width=width)
    ax[2].set_yscale("log")
    ax[2].set_xlabel("distance")
    ax[2].set_ylabel("pairs")
    ax[2].set_title("pair distances")
    fig.tight_layout()
    fig.savefig(png, dpi=90, format="png")  # png may be a temporary name


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot_sweep.py SWEEP.json OUT.png")
    main(sys.argv[1], sys.argv[2])
