"""Turn raw per-repeat results into medians with spread, markdown tables and ratios.

Pure functions over plain dicts, so the same code renders the table printed at the end of a run,
the README's table, and a re-render from a saved results JSON.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Col:
    key: str
    label: str
    fmt: str
    lower_is_better: bool
    summed: bool = False  # errors: a total over repeats says more than a median


COLUMNS = [
    Col("c1_p50_ms", "c=1 p50 ms", "{}", True),
    Col("c1_p99_ms", "c=1 p99 ms", "{}", True),
    Col("per_hop_ms", "per hop ms", "{}", True),
    Col("c32_rps", "c=32 req/s", "{:.0f}", False),
    Col("c32_errors", "c=32 errors", "{:.0f}", True, summed=True),
    Col("c128_rps", "c=128 req/s", "{:.0f}", False),
    Col("c128_errors", "c=128 errors", "{:.0f}", True, summed=True),
    Col("array_binary_ms", "1 MiB binary ms", "{}", True),
    Col("array_json_ms", "1 MiB JSON ms", "{}", True),
    Col("cold_start_s", "cold start s", "{:.2f}", True),
    Col("rss_mb", "RSS MB", "{:.0f}", True),
    Col("rss_loaded_mb", "RSS after load MB", "{:.0f}", True),
]
_RATIO = Col("ratio", "ratio", "{}", True)
RATIO_KEYS = ["c1_p50_ms", "c32_rps", "c128_rps", "array_binary_ms", "array_json_ms", "cold_start_s", "rss_mb"]


def summarize(runs: list[dict[str, Any]], unavailable: dict[str, str]) -> dict[str, dict[str, Any]]:
    """system -> {"stats": {key: {median,min,max,n,total}}, "missing": {key: reason}, "reason": str|None}."""
    out: dict[str, dict[str, Any]] = {name: {"stats": {}, "missing": {}, "reason": why}
                                      for name, why in unavailable.items()}
    for run in runs:
        entry = out.setdefault(run["system"], {"stats": {}, "missing": {}, "reason": None})
        if run.get("error"):
            entry.setdefault("errors", []).append(run["error"])
        values = dict(run.get("values", {}))
        if "c1_p50_ms" in values:
            values["per_hop_ms"] = values["c1_p50_ms"] / 3
        for key, val in values.items():
            entry.setdefault("_samples", {}).setdefault(key, []).append(val)
        for key, why in run.get("unavailable", {}).items():
            entry["missing"].setdefault(key, why)
            entry.setdefault("missing_count", {}).setdefault(key, 0)
            entry["missing_count"][key] += 1
    for entry in out.values():
        for key, xs in entry.pop("_samples", {}).items():
            entry["stats"][key] = {"median": statistics.median(xs), "min": min(xs), "max": max(xs),
                                   "n": len(xs), "total": sum(xs)}
        if not entry["stats"] and entry["reason"] is None and entry.get("errors"):
            entry["reason"] = entry["errors"][-1]
    return out


def _fmt(col: Col, value: float) -> str:
    """A fixed format, or "{}": about three significant digits, readable from µs to seconds."""
    if col.fmt != "{}":
        return col.fmt.format(value)
    for bound, spec in ((100, ".0f"), (10, ".1f"), (0.1, ".2f")):
        if abs(value) >= bound:
            return format(value, spec)
    return format(value, ".3f")


def _cell(col: Col, stats: dict[str, dict[str, float]], missing: str | None) -> str:
    stat = stats.get(col.key)
    if stat is None:
        return "n/a" if missing else "–"
    if col.summed:
        sent = stats.get(col.key.replace("_errors", "_attempts"), {}).get("total")
        share = f" ({100 * stat['total'] / sent:.0f} %)" if sent and stat["total"] else ""
        return _fmt(col, stat["total"]) + share
    text = _fmt(col, stat["median"])
    if stat["n"] > 1 and _fmt(col, stat["min"]) != _fmt(col, stat["max"]):
        text += f" ({_fmt(col, stat['min'])}–{_fmt(col, stat['max'])})"
    return text


def markdown_table(summary: dict[str, dict[str, Any]], order: list[str]) -> str:
    """Medians with (min–max) over repeats; errors are totals over repeats."""
    lines = ["| system | " + " | ".join(c.label for c in COLUMNS) + " |",
             "|---|" + "---|" * len(COLUMNS)]
    notes: list[str] = []
    for name in order:
        entry = summary.get(name)
        if entry is None:
            continue
        if entry["reason"] and not entry["stats"]:
            lines.append(f"| {name} | not available: {_one_line(entry['reason'])} |" + " |" * (len(COLUMNS) - 1))
            continue
        cells = [_cell(c, entry["stats"], entry["missing"].get(_missing_key(c.key))) for c in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        for key, why in entry["missing"].items():
            if key in entry["stats"]:
                runs = entry["stats"][key]["n"] + entry["missing_count"][key]
                notes.append(f"- {name} / {key}: failed in {entry['missing_count'][key]} of {runs} repeats "
                             f"(value shown is from the others): {_one_line(why)}")
            else:
                notes.append(f"- {name} / {key}: not available: {_one_line(why)}")
        for err in entry.get("errors", []):
            notes.append(f"- {name}: a repeat failed: {_one_line(err)}")
    return "\n".join(lines + ([""] + notes if notes else []))


def ratio_table(summary: dict[str, dict[str, Any]], order: list[str], ref: str) -> str | None:
    """Each system's median divided by `ref`'s (so >1 means larger: worse for ms/s/MB, better for req/s)."""
    base = summary.get(ref, {}).get("stats", {})
    if not base:
        return None
    labels = {c.key: c.label for c in COLUMNS}
    lines = [f"| ÷ {ref} | " + " | ".join(labels[k] for k in RATIO_KEYS) + " |",
             "|---|" + "---|" * len(RATIO_KEYS)]
    for name in order:
        stats = summary.get(name, {}).get("stats", {})
        if name == ref or not stats:
            continue
        cells = []
        for key in RATIO_KEYS:
            a, b = stats.get(key), base.get(key)
            cells.append(f"{_fmt(_RATIO, a['median'] / b['median'])}×" if a and b and b["median"] else "–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _missing_key(key: str) -> str:
    """Map a column to the key under which its phase reports being unavailable."""
    for prefix in ("c1_", "c32_", "c128_"):
        if key.startswith(prefix):
            return prefix[:-1]
    return "c1" if key == "per_hop_ms" else key


def _one_line(text: str, limit: int = 220) -> str:
    flat = " ".join(str(text).split()).replace("|", "/")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
