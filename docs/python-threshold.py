# %% [markdown]
# # Choosing a PDQ threshold from Python
# A notebook-style script (cells marked `# %%`; Jupyter and VS Code run them
# as cells): make a labelled set, join it once at a loose threshold, score
# every threshold with `simjoin.sweep`, and plot precision, recall and F1.
# Run: `python docs/python-threshold.py` in a venv with `pip install ./python matplotlib`.

# %%
import numpy as np
import simjoin

rng = np.random.default_rng(2026)
n_series, copies, width = 400, 5, 32          # 400 "images", 5 edited copies each
originals = rng.integers(0, 256, (n_series, width), dtype=np.uint8)
for s in range(1, n_series, 2):  # look-alikes: every second series is 45 bits from the one before
    bits = np.unpackbits(originals[s - 1])
    bits[rng.choice(256, 45, replace=False)] ^= 1
    originals[s] = np.packbits(bits)
rows, labels = [], []
for s, base in enumerate(originals):
    bits = np.unpackbits(base)
    for _ in range(copies):
        noisy = bits.copy()
        noisy[rng.choice(256, rng.integers(5, 40), replace=False)] ^= 1  # 5..39 bits of edit
        rows.append(np.packbits(noisy))
        labels.append(s)
rows, labels = np.array(rows), np.array(labels)

# %% one join at the loosest threshold of interest, then every threshold from it
a, b, d = simjoin.join(rows, threshold=80, kind="pdq")
table = simjoin.sweep(a, b, d, n=len(rows), thresholds=range(0, 81, 4), labels=labels)
best = int(np.nanargmax(table["f1"]))
print(f"{len(a)} pairs at T <= 80; best F1 {table['f1'][best]:.3f} at T = {table['threshold'][best]:g}")

# %% plot
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 3.5))
for col in ["precision", "recall", "f1"]:
    ax.plot(table["threshold"], table[col], marker=".", label=col)
ax.axvline(table["threshold"][best], color="grey", linestyle="--", label="best F1")
ax.set_xlabel("PDQ distance threshold T")
ax.set_ylabel("pairwise score")
ax.legend(loc="lower left")
fig.tight_layout()
fig.savefig("python-threshold.png", dpi=100)
