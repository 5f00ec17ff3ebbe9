"""How long the Kubernetes target's offline steps take (PERF.md: render ≤ 3 s, preview ≤ 1 s).

    .venv/bin/python bench/k8s.py [--chainlets 20] [--repeats 5]

Generates a chain of N chainlets in a temp dir (each calls the previous one; one has a GPU and
one a secret) and measures, per repeat:
- **plan**: loading and planning it (`plan_chain`);
- **preview**: the chain-aware preview without a CLI (`chain_preview`) of a plan with one body
  edited against the outputs of the unedited one, alone and with the planning it needs;
- **render**: `infra_chains.testing.render` under Pulumi mocks (no CLI, no cluster): the first
  call in the process (imports pulumi and the providers' SDKs) and the following ones.
Prints a markdown table of medians and ranges; writes bench/results/k8s-latest.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra_chains.deploy import plan_chain  # noqa: E402
from infra_chains.framework.loading import load_entrypoint  # noqa: E402
from infra_chains.plan.models import ChainPlan  # noqa: E402
from infra_chains.plan.fingerprints import fingerprints_output, plan_fingerprints  # noqa: E402
from infra_chains.targets.kubernetes.preview import chain_preview  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def chain_source(n: int, edited: int | None = None) -> str:
    """A chain of ``n`` chainlets, ``C{i}`` calling ``C{i-1}``; ``C{n-1}`` is the entrypoint."""
    parts = ["import infra_chains as chains\n"]
    for i in range(n):
        config = ""
        if i == 1:
            config = "    remote_config = chains.RemoteConfig(compute=chains.Compute(gpu='A10G'))\n"
        elif i == 2:
            config = ("    remote_config = chains.RemoteConfig("
                      "assets=chains.Assets(secret_keys=['bench_token']))\n")
        mark = "@chains.mark_entrypoint\n" if i == n - 1 else ""
        suffix = "!" if i == edited else ""
        if i == 0:
            body = f"        return text + {suffix!r}\n"
            init = ""
        else:
            body = f"        return self._prev.run_remote(text) + {suffix!r}\n"
            init = (f"    def __init__(self, prev: C{i - 1} = chains.depends(C{i - 1})) -> None:\n"
                    "        self._prev = prev\n\n")
        parts.append(f"\n{mark}class C{i}(chains.ChainletBase):\n{config}{init}"
                     f"    def run_remote(self, text: str) -> str:\n{body}")
    return "".join(parts)


def _write(folder: pathlib.Path, name: str, source: str) -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def _outputs(plan: ChainPlan) -> dict[str, Any]:
    return {
        "entrypoint_url": "http://bench",
        "image_hashes": {s.name: s.image_hash for s in plan.chainlets},
        "deployment_hashes": {s.name: s.deployment_hash for s in plan.chainlets},
        "chainlet_fingerprints": fingerprints_output(plan_fingerprints(plan)),
    }


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chainlets", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.chainlets
    timings: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-k8s-") as tmp:
        root = pathlib.Path(tmp)
        base = plan_chain(load_entrypoint(_write(root / "before", "bench_chain", chain_source(n))),
                          "bench-k8s", environment="dev")
        previous = _outputs(base)
        for repeat in range(args.repeats):
            edited_file = _write(root / f"after{repeat}", "bench_chain", chain_source(n, edited=n // 2))
            seconds, plan = _timed(lambda: plan_chain(load_entrypoint(edited_file), "bench-k8s", environment="dev"))
            timings.setdefault("plan", []).append(seconds)
            seconds, preview = _timed(lambda: chain_preview(plan, previous, stack="dev"))
            timings.setdefault("preview (pure)", []).append(seconds)
            timings.setdefault("plan + preview", []).append(timings["plan"][-1] + seconds)
            actions = {c.name: c.action for c in preview.chainlets}
            if actions[f"C{n // 2}"] != "rebuild" or list(actions.values()).count("unchanged") != n - 1:
                raise SystemExit(f"unexpected preview: {actions}")
        try:
            from infra_chains.testing import render
        except ImportError as exc:
            print(f"render skipped: {exc}", file=sys.stderr)
        else:
            chain_file = root / "before" / "bench_chain.py"
            for repeat in range(args.repeats + 1):
                seconds, rendered = _timed(lambda: render(chain_file, stack="dev",
                                                         secrets={"bench_token": "x"}))
                timings.setdefault("render (first)" if repeat == 0 else "render", []).append(seconds)
    rows = []
    for name, values in timings.items():
        rows.append({"step": name, "median_s": statistics.median(values), "min_s": min(values),
                     "max_s": max(values), "n": len(values)})
    lines = [f"chain of {n} chainlets, {args.repeats} repeats", "",
             "| step | median | range |", "|---|---|---|"]
    lines += [f"| {r['step']} | {r['median_s']:.3f} s | {r['min_s']:.3f}–{r['max_s']:.3f} s |" for r in rows]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "k8s-latest.json").write_text(json.dumps({"chainlets": n, "rows": rows}, indent=2))
    (RESULTS / "k8s-latest.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
