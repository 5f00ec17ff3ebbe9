"""Per-system virtual environments under bench/.venvs/<name>/, created on first use and cached.

Peers are never dependencies of infra_chains: each lives in its own venv, installed here with pip.
A marker file records the requirement list, so changing it reinstalls and an unchanged one is reused.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

BENCH = Path(__file__).resolve().parent.parent
VENVS = BENCH / ".venvs"


class InstallError(RuntimeError):
    """A venv could not be created or its packages installed (message says why, with the log path)."""


def ensure(name: str, requirements: Sequence[str], log: Callable[[str], None] = print,
           timeout_s: float = 1800) -> Path:
    """Return the python of bench/.venvs/<name>, creating it and installing `requirements` if needed."""
    root = VENVS / name
    python = root / "bin" / "python"
    marker = root / ".bench-requirements"
    want = "\n".join(requirements) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == want:
        return python
    VENVS.mkdir(parents=True, exist_ok=True)
    install_log = VENVS / f"{name}.install.log"
    log(f"[venv] installing {' '.join(requirements)} into {root} (log: {install_log})")
    with open(install_log, "w") as out:
        steps = [
            [sys.executable, "-m", "venv", str(root)],
            [str(python), "-m", "pip", "install", "--upgrade", "pip"],
            [str(python), "-m", "pip", "install", *requirements],
        ]
        if python.exists():
            steps = steps[1:]
        for argv in steps:
            out.write(f"$ {' '.join(argv)}\n")
            out.flush()
            try:
                rc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s).returncode
            except subprocess.TimeoutExpired:
                rc = -1
            if rc != 0:
                raise InstallError(f"`{' '.join(argv[2:5])} ...` failed (rc={rc}); see {install_log}: {_tail(install_log)}")
    marker.write_text(want)
    return python


def _tail(path: Path, n: int = 1) -> str:
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip() and "WARNING: Location" not in ln]
    return " | ".join(lines[-n:])[:300]
