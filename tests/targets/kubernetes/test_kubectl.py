"""`KubernetesTarget.logs` through a fake `kubectl` on PATH (beside the fake `pulumi`): the argv it
is run with, its prefixed lines → `LogLine`, the chainlet filter, errors, and that closing a
followed stream stops kubectl."""

from __future__ import annotations

import json
import os
import pathlib
import sys
from typing import Any

import pytest

from infra_chains.cli.app import main
from infra_chains.components.settings import StackSettings
from infra_chains.errors import ChainsUsageError
from infra_chains.plan.names import chainlet_labels
from infra_chains.targets.kubernetes import KubernetesTarget
from infra_chains.targets.kubernetes.kubectl import (
    KUBECTL_ENV, KubectlError, KubectlNotFoundError, chainlet_of_pod,
)
from tests.targets.kubernetes.conftest import FakePulumi
from tests.targets.kubernetes.test_target import _plan, _push

FAKE_KUBECTL = """
import json, os, pathlib, sys, time
home = pathlib.Path(os.environ["FAKE_KUBECTL_DIR"])
(home / "argv.json").write_text(json.dumps(sys.argv[1:]))
(home / "pid").write_text(str(os.getpid()))
fail = home / "fail"
if fail.exists():
    print("some warning", file=sys.stderr)
    print(fail.read_text(), file=sys.stderr)
    sys.exit(1)
for line in (home / "lines").read_text().splitlines():
    print(line, flush=True)
if "--follow" in sys.argv:
    n = 0
    while True:
        n += 1
        print(f"[pod/{os.environ['FAKE_KUBECTL_POD']}/chainlet] tick {n}", flush=True)
        time.sleep(0.05)
"""

LABELS = chainlet_labels("text-pipeline", [s.name for s in _plan().chainlets])


def _pod(chainlet: str, suffix: str = "5d9c7b8f6-x2k4q") -> str:
    return f"{LABELS[chainlet]}-{suffix}"


class FakeKubectl:
    def __init__(self, home: pathlib.Path) -> None:
        self.home = home

    def argv(self) -> list[str]:
        return list(json.loads((self.home / "argv.json").read_text()))

    def pid(self) -> int:
        return int((self.home / "pid").read_text())

    def print_lines(self, lines: list[str]) -> None:
        (self.home / "lines").write_text("".join(f"{line}\n" for line in lines))

    def fail(self, message: str) -> None:
        (self.home / "fail").write_text(message)


@pytest.fixture
def fake_kubectl(fake_pulumi: FakePulumi, tmp_path: pathlib.Path,
                 monkeypatch: pytest.MonkeyPatch) -> FakeKubectl:
    home = tmp_path / "fake-kubectl"
    home.mkdir()
    executable = fake_pulumi.bin_dir / "kubectl"
    executable.write_text(f"#!{sys.executable}\n{FAKE_KUBECTL}")
    executable.chmod(0o755)
    monkeypatch.setenv("FAKE_KUBECTL_DIR", str(home))
    monkeypatch.setenv("FAKE_KUBECTL_POD", _pod("Summarizer"))
    monkeypatch.delenv(KUBECTL_ENV, raising=False)
    fake = FakeKubectl(home)
    fake.print_lines([
        f"[pod/{_pod('TextPipeline')}/chainlet] entry started",
        f"[pod/{_pod('Chunker', '7f6d5c4b3-abcde')}/chainlet] chunking [1/2]",
        f"[pod/{_pod('Chunker', '7f6d5c4b3-fghij')}/chainlet] ",
    ])
    return fake


@pytest.fixture
def target(fake_pulumi: FakePulumi) -> KubernetesTarget:
    target = KubernetesTarget("dev", settings=StackSettings(namespace="ml"), kube_context="kind-ml")
    _push(fake_pulumi, target)
    return target


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_reads_every_pod_of_the_chain_into_log_lines(
        fake_kubectl: FakeKubectl, target: KubernetesTarget) -> None:
    lines = list(KubernetesTarget("dev").logs("text-pipeline", lines=7))
    assert [(line.chainlet, line.text) for line in lines] == [
        ("TextPipeline", "entry started"), ("Chunker", "chunking [1/2]"), ("Chunker", "")]
    argv = fake_kubectl.argv()
    assert argv[0] == "logs" and "--prefix" in argv and "--follow" not in argv
    # the namespace and context the stack was deployed with, not this target's defaults
    assert _option(argv, "-n") == "ml" and _option(argv, "--context") == "kind-ml"
    assert _option(argv, "-l") == "app.kubernetes.io/part-of=text-pipeline"
    assert _option(argv, "--tail") == "7"
    assert int(_option(argv, "--max-log-requests")) > 5


def test_one_chainlet_selects_its_pods(fake_kubectl: FakeKubectl, target: KubernetesTarget) -> None:
    fake_kubectl.print_lines([f"[pod/{_pod('Chunker')}/chainlet] only me"])
    lines = list(target.logs("text-pipeline", "Chunker", lines=0))
    assert [(line.chainlet, line.text) for line in lines] == [("Chunker", "only me")]
    argv = fake_kubectl.argv()
    assert set(_option(argv, "-l").split(",")) == {
        "app.kubernetes.io/part-of=text-pipeline", f"app.kubernetes.io/instance={LABELS['Chunker']}"}
    assert _option(argv, "--tail") == "0"


def test_an_unknown_chainlet_is_refused_naming_the_chainlets(
        fake_kubectl: FakeKubectl, target: KubernetesTarget) -> None:
    with pytest.raises(ChainsUsageError, match="has no chainlet 'Nope'.*Chunker"):
        target.logs("text-pipeline", "Nope")
    assert not (fake_kubectl.home / "argv.json").exists()


def test_follow_streams_and_closing_stops_kubectl(
        fake_kubectl: FakeKubectl, target: KubernetesTarget) -> None:
    stream = target.logs("text-pipeline", follow=True)
    seen = [next(stream) for _ in range(5)]
    assert "--follow" in fake_kubectl.argv()
    assert [line.chainlet for line in seen[3:]] == ["Summarizer", "Summarizer"]
    assert seen[3].text == "tick 1"
    pid = fake_kubectl.pid()
    stream.close()  # type: ignore[attr-defined]  # a generator
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped: no process left


def test_missing_kubectl_names_what_to_install(
        fake_pulumi: FakePulumi, target: KubernetesTarget, tmp_path: pathlib.Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KUBECTL_ENV, raising=False)
    monkeypatch.setenv("PATH", str(fake_pulumi.bin_dir))  # the fake pulumi, no kubectl
    with pytest.raises(KubectlNotFoundError, match=f"Install kubectl.*{KUBECTL_ENV}"):
        target.logs("text-pipeline")
    monkeypatch.setenv(KUBECTL_ENV, str(tmp_path / "no-such-kubectl"))
    with pytest.raises(KubectlNotFoundError, match="no-such-kubectl"):
        target.logs("text-pipeline")


def test_kubectl_failing_is_an_error_with_its_stderr(
        fake_kubectl: FakeKubectl, target: KubernetesTarget) -> None:
    fake_kubectl.fail('Error from server (NotFound): namespaces "ml" not found')
    with pytest.raises(KubectlError, match=r'(?s)exit code 1.*namespaces "ml" not found'):
        list(target.logs("text-pipeline"))


def test_a_chain_without_a_stack_is_an_error(fake_kubectl: FakeKubectl, fake_pulumi: FakePulumi) -> None:
    with pytest.raises(Exception, match="has no stack 'dev'"):
        KubernetesTarget("dev").logs("text-pipeline")


@pytest.mark.parametrize(("pod", "chainlet"), [
    ("chain-a-5d9c7b8f6-x2k4q", "A"),
    ("chain-a-b-5d9c7b8f6-x2k4q", "AB"),  # the longer label, though chain-a is its prefix
    ("chain-gone-5d9c7b8f6-x2k4q", "chain-gone"),  # no chainlet now: its Deployment's name
    # a long Deployment's pod: the prefix before the random suffix cut to 58 characters
    (("chain-" + "l" * 57)[:58] + "x2k4q", "Long"),
])
def test_a_pod_is_mapped_to_its_chainlet_by_its_deployment(pod: str, chainlet: str) -> None:
    labels: dict[str, Any] = {"A": "chain-a", "AB": "chain-a-b", "Long": "chain-" + "l" * 57}
    assert chainlet_of_pod(pod, labels) == chainlet


def test_cli_prints_the_lines(fake_kubectl: FakeKubectl, target: KubernetesTarget,
                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "text-pipeline", "--target", "kubernetes", "--stack", "dev"]) == 0
    out = capsys.readouterr().out
    assert "TextPipeline | entry started" in out and "Chunker | chunking [1/2]" in out
    assert main(["logs", "text-pipeline", "--target", "kubernetes", "--stack", "dev", "-c", "Nope"]) == 2
    assert "no chainlet 'Nope'" in capsys.readouterr().err
