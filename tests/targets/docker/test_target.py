"""The docker target against a fake engine: change detection, secret files, GPU check, down."""

from __future__ import annotations

import logging
import pathlib
import socket
import stat

import pytest
from fake_engine import FakeEngine

import infra_chains as chains
from infra_chains.errors import ChainsUsageError, DeploymentError
from infra_chains.framework.loading import load_entrypoint
from infra_chains.targets.docker.engine import BaseImageMissingError, BuildFailedError, PortInUseError
from infra_chains.targets.docker.target import BUILD_NETWORK_ENV, DockerTarget

pytestmark = pytest.mark.servers  # the fake's containers are tiny HTTP servers on 127.0.0.1

CHAIN = '''
import infra_chains as chains


class Leaf(chains.ChainletBase):
    remote_config = chains.RemoteConfig(assets=chains.Assets(secret_keys=["tag_secret"]))

    def run_remote(self, x: int) -> int:
        return x + 1


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
        self._leaf = leaf

    def run_remote(self, x: int) -> int:
        return self._leaf.run_remote(x)
'''


def _push(target: DockerTarget, path: pathlib.Path, secret: str = "s3cret-value") -> chains.ChainService:
    service = chains.push(load_entrypoint(path), chain_name="fake", remote=target,
                          secrets={"tag_secret": secret})
    assert service is not None
    return service


@pytest.fixture
def chain_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "ws" / "fake_chain.py"
    path.parent.mkdir()
    path.write_text(CHAIN)
    return path


def test_push_builds_runs_and_reports_ready(fake_target: DockerTarget, fake_engine: FakeEngine,
                                             chain_file: pathlib.Path) -> None:
    seen: list[dict[str, str]] = []
    service = chains.push(load_entrypoint(chain_file), chain_name="fake", remote=fake_target,
                          secrets={"tag_secret": "s3cret-value"},
                          on_progress=lambda rows: seen.append({r.name: r.status for r in rows}))
    assert service is not None
    assert sorted(fake_engine.runs) == ["Entry", "Leaf"]
    assert len(fake_engine.built) == 2
    assert {"Entry": "ready", "Leaf": "ready"} == seen[-1]
    assert any("building" in row.values() for row in seen)
    status = fake_target.status("fake")
    assert status.ready and status.entrypoint == "Entry" and status.target == "docker"
    assert status.entrypoint_url == service.run_remote_url
    assert fake_target.chains() == ["fake"]
    assert fake_engine.networks({"infra-chains.chain": "fake"}) == ["infra-chains-fake"]


def test_repush_replaces_only_what_changed(fake_target: DockerTarget, fake_engine: FakeEngine,
                                           chain_file: pathlib.Path) -> None:
    first = _push(fake_target, chain_file)
    port = first.run_remote_url
    _push(fake_target, chain_file)
    assert sorted(fake_engine.runs) == ["Entry", "Leaf"]  # nothing changed: nothing started
    assert len(fake_engine.built) == 2  # tags exist: nothing rebuilt
    _push(fake_target, chain_file, secret="another-value")
    assert sorted(fake_engine.runs) == ["Entry", "Leaf", "Leaf"]  # only the secret's user
    assert len(fake_engine.built) == 2  # a secret is not part of an image
    chain_file.write_text(CHAIN.replace("return self._leaf.run_remote(x)", "return self._leaf.run_remote(x) * 2"))
    service = _push(fake_target, chain_file, secret="another-value")
    assert sorted(fake_engine.runs) == ["Entry", "Entry", "Leaf", "Leaf"]
    assert len(fake_engine.built) == 3
    assert service.run_remote_url == port  # the entrypoint's port is kept


def test_secret_files_are_private_and_only_mounted(tmp_path: pathlib.Path, fake_target: DockerTarget,
                                                   fake_engine: FakeEngine, chain_file: pathlib.Path) -> None:
    _push(fake_target, chain_file)
    leaf = next(s for s in fake_engine.specs.values() if s.labels["infra-chains.chainlet"] == "Leaf")
    [mount] = leaf.mounts
    run_dir = pathlib.Path(mount.source)
    secret = run_dir / "secrets" / "tag_secret"
    assert secret.read_text() == "s3cret-value"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert (run_dir / "chain-token").read_text()
    assert "s3cret-value" not in leaf.model_dump_json()  # labels, env, everything inspect shows
    _push(fake_target, chain_file, secret="rotated")
    assert not run_dir.exists()  # the old values are collected once no container uses them


def test_gpu_without_nvidia_runtime_is_a_clear_error(tmp_path: pathlib.Path, fake_target: DockerTarget,
                                                     fake_engine: FakeEngine) -> None:
    path = tmp_path / "gpu_chain.py"
    path.write_text(CHAIN.replace(
        'assets=chains.Assets(secret_keys=["tag_secret"])',
        'assets=chains.Assets(secret_keys=["tag_secret"]), compute=chains.Compute(gpu="T4")'))
    with pytest.raises(DeploymentError, match="Leaf .*GPU.*no NVIDIA runtime.*nvidia-ctk"):
        _push(fake_target, path)
    assert fake_engine.runs == [] and fake_engine.built == []


def test_down_leaves_nothing(tmp_path: pathlib.Path, fake_target: DockerTarget, fake_engine: FakeEngine,
                             chain_file: pathlib.Path) -> None:
    _push(fake_target, chain_file)
    assert fake_target.down("fake") is True
    assert fake_engine.containers({}) == [] and fake_engine.networks({}) == []
    assert not (tmp_path / "state" / "docker" / "fake").exists()
    assert fake_target.down("fake") is False
    with pytest.raises(ChainsUsageError, match="No chain named 'fake'"):
        fake_target.status("fake")


def test_builds_use_the_network_from_the_environment_unless_one_is_given(
    tmp_path: pathlib.Path, fake_engine: FakeEngine, chain_file: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(BUILD_NETWORK_ENV, raising=False)
    _push(DockerTarget(tmp_path / "a", engine=fake_engine), chain_file)
    assert [network for _, network, _ in fake_engine.builds] == [None, None]  # the engine's default
    fake_engine.images = {"python:3.11-slim": "sha256:base"}  # build again
    monkeypatch.setenv(BUILD_NETWORK_ENV, "host")
    target = DockerTarget(tmp_path / "b", engine=fake_engine,
                          build_args={"PIP_INDEX_URL": "https://idx.example.com/simple"})
    _push(target, chain_file)
    assert [(network, args) for _, network, args in fake_engine.builds[2:]] == [
        ("host", {"PIP_INDEX_URL": "https://idx.example.com/simple"})] * 2
    fake_engine.images = {"python:3.11-slim": "sha256:base"}
    _push(DockerTarget(tmp_path / "c", engine=fake_engine, build_network="proxy-net"), chain_file)
    assert [network for _, network, _ in fake_engine.builds[4:]] == ["proxy-net"] * 2


def test_a_failed_build_names_the_chainlet_and_a_first_push_leaves_nothing(
    tmp_path: pathlib.Path, fake_target: DockerTarget, fake_engine: FakeEngine,
    chain_file: pathlib.Path,
) -> None:
    fake_engine.build_failures["fake-leaf"] = "Building image ... failed at Step 9/20 : RUN pip install"
    rows: list[dict[str, str]] = []
    with pytest.raises(BuildFailedError, match="^Chainlet 'Leaf' of chain 'fake': Building .* Step 9/20"):
        chains.push(load_entrypoint(chain_file), chain_name="fake", remote=fake_target,
                    secrets={"tag_secret": "v"},
                    on_progress=lambda chainlets: rows.append({r.name: r.status for r in chainlets}))
    assert rows[-1]["Leaf"] == "failed"
    assert fake_engine.runs == [] and fake_engine.networks({}) == []
    assert not (tmp_path / "state" / "docker" / "fake").exists()


def test_a_missing_base_image_names_the_chainlet(
    tmp_path: pathlib.Path, fake_target: DockerTarget, fake_engine: FakeEngine,
) -> None:
    path = tmp_path / "custom_chain.py"
    path.write_text(CHAIN.replace(
        'assets=chains.Assets(secret_keys=["tag_secret"])',
        'assets=chains.Assets(secret_keys=["tag_secret"]), docker_image=chains.DockerImage('
        'base_image=chains.CustomImage(image="acme/missing:1", python_executable_path="/usr/bin/python3"))'))
    with pytest.raises(BaseImageMissingError, match="^Chainlet 'Leaf' of chain 'fake': Base image 'acme/missing:1'"):
        _push(fake_target, path)
    assert fake_engine.built == [] and fake_engine.runs == []


def test_an_entrypoint_port_taken_by_another_program_is_a_clear_error(
    fake_target: DockerTarget, fake_engine: FakeEngine, chain_file: pathlib.Path,
) -> None:
    port = int(_push(fake_target, chain_file).run_remote_url.split(":")[2].split("/")[0])
    entry = next(c for c in fake_engine.containers({}) if c.labels["infra-chains.chainlet"] == "Entry")
    fake_engine.remove(entry.id)  # gone behind the target's back; its port is kept for the chain
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(PortInUseError, match=f"127.0.0.1:{port} of chain 'fake' is in use.*Stop that program"):
            _push(fake_target, chain_file)


def test_replicas_get_one_container_and_a_warning_saying_so(
    tmp_path: pathlib.Path, fake_target: DockerTarget, fake_engine: FakeEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "replicas_chain.py"
    path.write_text(CHAIN.replace(
        'assets=chains.Assets(secret_keys=["tag_secret"])',
        'assets=chains.Assets(secret_keys=["tag_secret"]), replicas=3'))
    with caplog.at_level(logging.WARNING, logger="infra_chains.targets.base"):
        _push(fake_target, path)
    assert sorted(fake_engine.runs) == ["Entry", "Leaf"]
    assert [r.getMessage() for r in caplog.records] == [
        "Chainlet Leaf of chain fake asks for 3 replicas; the docker target runs one container per "
        "chainlet (the kubernetes target runs replicas)."]
