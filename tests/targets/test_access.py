"""Who may call a deployed chain: the per-chain token and Host names, through the local target."""

from __future__ import annotations

import json
import pathlib
import stat

import httpx
import pytest

import infra_chains as chains
from infra_chains.cli.app import main
from infra_chains.framework.loading import load_entrypoint
from infra_chains.targets.access import CHAIN_TOKEN_FILE, ensure_chain_token, loopback_hosts
from infra_chains.targets.local import LocalTarget

from .test_local_target import write


def test_chain_token_is_made_once_0600_and_kept(tmp_path: pathlib.Path) -> None:
    path = ensure_chain_token(tmp_path / "secrets")
    assert path.name == CHAIN_TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text()
    assert len(token) >= 40 and token.isascii()
    assert ensure_chain_token(tmp_path / "secrets").read_text() == token  # kept across pushes
    assert ensure_chain_token(tmp_path / "other").read_text() != token


def test_loopback_hosts() -> None:
    assert loopback_hosts(8000) == ["127.0.0.1:8000", "localhost:8000", "[::1]:8000"]


@pytest.mark.servers
def test_pushed_chain_takes_calls_only_through_its_entrypoint(
    tmp_path: pathlib.Path, state_root: pathlib.Path, local_target: LocalTarget,
    capsys: pytest.CaptureFixture[str],
) -> None:
    entry = load_entrypoint(write(tmp_path, "access_chain"))
    service = chains.push(entry, chain_name="access", secrets={"tag_secret": "abcdef"})
    assert service is not None
    # The chain's own paths still work: ChainService and the CLI send JSON to the entrypoint.
    assert service.run_remote({"text": "hi"}) == "HI! [abc] v1"
    assert main(["run", "access", "--data", '{"text": "yo"}']) == 0
    assert json.loads(capsys.readouterr().out) == "YO! [abc] v1"

    ports = {c.name: c.port for c in local_target.service("access").state().chainlets}
    urls = {name: f"http://127.0.0.1:{port}/run_remote" for name, port in ports.items()}
    leaf = httpx.post(urls["Leaf"], json={"text": "x"})
    assert leaf.status_code == 401, leaf.text
    assert "only from its chain" in leaf.json()["error"]["exception_message"]
    # A browser's form post, and a page that rebound its own name to 127.0.0.1.
    form = httpx.post(urls["Entry"], content=b"text=x",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    rebound = httpx.post(urls["Entry"], json={"text": "x"},
                         headers={"Host": f"evil.example:{ports['Entry']}"})
    assert rebound.status_code == 400

    token_file = state_root / "chains" / "access" / "secrets" / CHAIN_TOKEN_FILE
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text()
    assert httpx.post(urls["Leaf"], json={"text": "x"},
                      headers={"X-Infra-Chains-Token": token}).status_code == 200
    for log in (state_root / "chains" / "access" / "logs").iterdir():
        assert token not in log.read_text()
