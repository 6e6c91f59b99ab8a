#!/usr/bin/python3
"""plot_sweep.py SWEEP.json OUT.png - draw a `simjoin sweep` result.

Three panels: clusters and the largest cluster against the threshold; pairwise
precision, recall and F1 (and B-cubed, ARI) against the threshold when the
sweep had labels; the histogram of all pair distances on a log scale.
Uses Debian's python3-matplotlib (run with /usr/bin/python3).
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, png):
    s = json.load(open(src))
    rows = s["rows"]
    t = [r["threshold"] for r in rows]
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    ax[0].plot(t, [r["clusters"] for r in rows], "o-", label="clusters")
    ax[0].plot(t, [r["clusters"] - r["singletons"] for r in rows], "s-", label="clusters of 2+")
    ax[0].set_xlabel("threshold (bits)")
    ax[0].set_ylabel("clusters")
    ax0b = ax[0].twinx()
    ax0b.plot(t, [r["largest"] for r in rows], "^--", color="tab:red", label="largest cluster")
    ax0b.set_ylabel("largest cluster (hashes)", color="tab:red")
    lines = ax[0].get_legend_handles_labels()[0] + ax0b.get_legend_handles_labels()[0]
    ax[0].legend(lines, [h.get_label() for h in lines], loc="center right", fontsize=8)
    ax[0].set_title(f"clusters ({s['linkage']})")
    if s["labels"]:
        for key, style in (("precision", "o-"), ("recall", "s-"), ("f1", "^-"),
                           ("b3_precision", ":"), ("b3_recall", ":"), ("ari", "--")):
            ax[1].plot(t, [r[key] for r in rows], style, label=key)
        ax[1].set_ylim(-0.02, 1.02)
        ax[1].legend(fontsize=8)
        ax[1].set_title("against ground truth")
    else:
        ax[1].text(0.5, 0.5, "no labels", ha="center", va="center")
        ax[1].set_title("against ground truth")
    ax[1].set_xlabel("threshold (bits)")
    h = s["histogram"]
    ax[2].bar(range(len(h)), [max(v, 0) for v in h], width=1.0)
    ax[2].set_yscale("log")
    ax[2].set_xlabel("distance (bits)")
    ax[2].set_ylabel("pairs")
    ax[2].set_title("pair distances")
    for x in (t[0], t[-1]):
        ax[2].axvline(x, color="gray", lw=0.5)
    fig.tight_layout()
    fig.savefig(png, dpi=90, format="png")  # png may be a temporary name


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot_sweep.py SWEEP.json OUT.png")
    main(sys.argv[1], sys.argv[2])
