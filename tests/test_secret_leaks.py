"""A pushed chain never shows a secret value: not in a log, a status, a state file, an error or a
process's environment. The value may exist in one place only: its secret file (mode 0600).

The chainlet below does what careless user code does around a secret (logs its context, prints
its secrets, raises and returns their repr); the framework's renderings must keep the value out.
"""

from __future__ import annotations

import json
import pathlib
import textwrap

import pytest

import infra_chains as chains
from infra_chains.cli.app import main
from infra_chains.framework.loading import load_entrypoint

pytestmark = pytest.mark.servers

SENTINEL = "SENTINEL-7f3a9c-do-not-print"
SENTINEL_BYTES = SENTINEL.encode()

CHAIN = '''
import logging

import infra_chains as chains

logger = logging.getLogger(__name__)


class Keeper(chains.ChainletBase):
    remote_config = chains.RemoteConfig(assets=chains.Assets(secret_keys=["leak_probe"]))

    def __init__(self, context: chains.DeploymentContext = chains.depends_context()) -> None:
        self._context = context
        self._length = len(context.secrets["leak_probe"])
        logger.info("started with context %s and secrets %r", context, context.secrets)
        print("context:", context, context.model_dump_json(), flush=True)

    def run_remote(self, action: str) -> str:
        logger.info("run_remote(%s) with %s", action, self._context.secrets)
        if action == "raise":
            raise ValueError(f"failed; the context was {self._context!r}")
        if action == "missing":
            return self._context.secrets["not_declared"]
        return f"length {self._length}, context {self._context}"


@chains.mark_entrypoint
class Front(chains.ChainletBase):
    def __init__(self, keeper: Keeper = chains.depends(Keeper)) -> None:
        self._keeper = keeper

    def run_remote(self, action: str) -> str:
        return self._keeper.run_remote(action=action)
'''


def files_holding(root: pathlib.Path, needle: bytes) -> list[pathlib.Path]:
    return [p for p in sorted(root.rglob("*")) if p.is_file() and needle in p.read_bytes()]


def process_texts(pid: int) -> dict[str, bytes]:
    proc = pathlib.Path("/proc") / str(pid)
    return {name: (proc / name).read_bytes() for name in ("environ", "cmdline")}


@pytest.mark.parametrize("given_as", ["argument", "environment"])
def test_a_secret_appears_only_in_its_secret_file(
    given_as: str, tmp_path: pathlib.Path, state_root: pathlib.Path,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chain_file = tmp_path / "src" / "leaky_chain.py"
    chain_file.parent.mkdir()
    chain_file.write_text(textwrap.dedent(CHAIN))
    if given_as == "environment":  # the README's way: the pushing shell's environment variable
        monkeypatch.setenv("LEAK_PROBE", SENTINEL)
        service = chains.push(load_entrypoint(chain_file), chain_name="leaks")
    else:
        service = chains.push(
            load_entrypoint(chain_file), chain_name="leaks", secrets={"leak_probe": SENTINEL}
        )
    assert service is not None

    seen: dict[str, str] = {}
    answer = service.run_remote({"action": "echo"})
    assert answer.startswith(f"length {len(SENTINEL)}, ")  # the chainlet did read the value
    seen["answer"] = answer
    for action in ("raise", "missing"):
        with pytest.raises(Exception) as info:  # noqa: PT011 - the type is the remote's
            service.run_remote({"action": action})
        seen[f"error of {action!r}"] = f"{info.value!r}\n{info.value}"
    assert "'leak_probe'" in seen["error of 'missing'"]  # names the known secrets, not values
    seen["get_info"] = repr(service.get_info()) + json.dumps(
        [c.model_dump(mode="json") for c in service.get_info()]
    )

    capsys.readouterr()
    assert main(["status", "leaks", "--json"]) == 0
    status_json = capsys.readouterr().out
    seen["status --json"] = status_json
    assert main(["logs", "leaks", "--chainlet", "Keeper"]) == 0
    logs = capsys.readouterr()
    seen["logs"] = logs.out + logs.err
    assert "started with context" in seen["logs"]  # the log really holds the rendered context
    seen["caplog"] = caplog.text

    status = json.loads(status_json)
    pids = [c["pid"] for c in status["chainlets"]] + [status["supervisor_pid"]]
    assert None not in pids
    for pid in pids:
        for what, text in process_texts(pid).items():
            seen[f"/proc/{pid}/{what}"] = text.decode(errors="replace")

    leaked = {where: text for where, text in seen.items() if SENTINEL in text}
    assert leaked == {}
    holding = files_holding(tmp_path, SENTINEL_BYTES)
    keeper_secrets = state_root / "chains" / "leaks" / "secrets" / "Keeper"
    assert holding, "the secret file itself was not found"
    for path in holding:  # the secret file (a target may keep one per pushed version)
        assert path.is_relative_to(keeper_secrets) and path.name == "leak_probe", path
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
