"""Start-to-ready of a chainlet with 200 MB of weights, cold and warm asset cache (local target).

    .venv/bin/python bench/assets.py [--size-mb 200] [--repeats 3]

A file of ``--size-mb`` MB is served by ``python -m http.server`` on 127.0.0.1; a one-chainlet
chain declares it as an ``ExternalDataItem`` and reads it whole in ``__init__``. Per repeat, with
the chain down each time: a **cold** push (empty asset cache: download, verify, link, then
``__init__``), a **warm** push (the cache holds the file: nothing is downloaded), and a push of
the same chainlet **without assets** (the floor: process start, imports, probes). Each time is
``infra-chains push`` from start to return (it returns once the chainlet answers /readyz).
Prints a markdown table of medians and ranges. Loopback only; always tears down.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "infra_chains.cli.app"]

CHAIN = '''
import os
import pathlib

import infra_chains as chains

ASSETS = chains.Assets(external_data=[
    chains.ExternalDataItem(url=os.environ["BENCH_WEIGHTS_URL"], local_data_path="weights.bin"),
]) if os.environ.get("BENCH_WEIGHTS_URL") else chains.Assets()


@chains.mark_entrypoint
class Weights(chains.ChainletBase):
    remote_config = chains.RemoteConfig(assets=ASSETS)

    def __init__(self, context: chains.DeploymentContext = chains.depends_context()) -> None:
        self.size = 0
        if context.data_dir is not None and (pathlib.Path(context.data_dir) / "weights.bin").exists():
            with open(pathlib.Path(context.data_dir) / "weights.bin", "rb") as f:
                while chunk := f.read(1 << 20):  # "load" the weights: read every byte
                    self.size += len(chunk)

    def run_remote(self) -> int:
        return self.size
'''


def _push(chain: pathlib.Path, name: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run([*CLI, "push", str(chain), "--name", name], env=env,
                            capture_output=True, text=True, timeout=600)
    took = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"push failed ({result.returncode}):\n{result.stderr}")
    return took


def _down(name: str, env: dict[str, str]) -> None:
    subprocess.run([*CLI, "down", name], env=env, capture_output=True, timeout=120, check=False)


def _row(label: str, values: list[float]) -> str:
    return (f"| {label} | {statistics.median(values):.2f} | {min(values):.2f}–{max(values):.2f} "
            f"| {len(values)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-assets-") as tmp:
        root = pathlib.Path(tmp)
        files, cache = root / "files", root / "cache"
        files.mkdir()
        chunk = os.urandom(1 << 20)
        with open(files / "weights.bin", "wb") as out:
            for _ in range(args.size_mb):
                out.write(chunk)
        chain = root / "ws" / "weights_bench.py"
        chain.parent.mkdir()
        chain.write_text(CHAIN)
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(files)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (...)"
            port = int(line.split(" port ")[1].split()[0])
            base = {**os.environ, "INFRA_CHAINS_HOME": str(root / "home"), "INFRA_CHAINS_CACHE_DIR": str(cache)}
            with_assets = {**base, "BENCH_WEIGHTS_URL": f"http://127.0.0.1:{port}/weights.bin"}
            cold: list[float] = []
            warm: list[float] = []
            floor: list[float] = []
            for _ in range(args.repeats):
                subprocess.run(["rm", "-rf", str(cache)], check=True)
                for times, env, name in ((cold, with_assets, "bench-cold"), (warm, with_assets, "bench-warm"),
                                         (floor, base, "bench-floor")):
                    try:
                        times.append(_push(chain, name, env))
                    finally:
                        _down(name, env)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"\nstart to ready, one chainlet reading {args.size_mb} MB of weights in __init__ "
          f"(`infra-chains push`, local target, s)\n")
    print("| case | median | range | n |")
    print("|---|---|---|---|")
    print(_row(f"cold cache (download {args.size_mb} MB)", cold))
    print(_row("warm cache (nothing downloaded)", warm))
    print(_row("no assets (floor)", floor))


if __name__ == "__main__":
    main()
