"""Bar chart of a run's summary (medians, min–max whiskers). Runs in bench/.venvs/tools.

usage: python plot.py SUMMARY.json OUT.png
"""
from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = [
    ("c1_p50_ms", "c=1 p50 latency (ms, log)", True),
    ("c32_rps", "c=32 throughput (ok req/s, log)", True),
    ("c128_rps", "c=128 throughput (ok req/s, log)", True),
    ("array_binary_ms", "1 MiB array, binary (ms, log)", True),
    ("array_json_ms", "1 MiB array, JSON list (ms, log)", True),
    ("cold_start_s", "cold start (s)", False),
    ("rss_mb", "resident memory (MB)", False),
]


def main(summary_path: str, out_path: str) -> None:
    doc = json.loads(open(summary_path).read())
    summary, order = doc["summary"], doc["order"]
    fig, axes = plt.subplots(2, 4, figsize=(18, 8))
    for ax, (key, title, log) in zip(axes.flat, PANELS):
        names, med, lo, hi = [], [], [], []
        for name in order:
            stat = summary.get(name, {}).get("stats", {}).get(key)
            if stat:
                names.append(name)
                med.append(stat["median"])
                lo.append(stat["median"] - stat["min"])
                hi.append(stat["max"] - stat["median"])
        ax.bar(names, med, yerr=[lo, hi], capsize=4, color="#4477aa")
        for i, v in enumerate(med):
            ax.annotate(f"{v:.3g}", (i, v), ha="center", va="bottom", fontsize=8)
        ax.set_title(title, fontsize=10)
        if log and med:
            ax.set_yscale("log")
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    axes.flat[-1].axis("off")
    fig.suptitle(f"infra_chains bench — 3-step chain, medians over {doc.get('repeats', '?')} repeat(s), min–max whiskers")
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
