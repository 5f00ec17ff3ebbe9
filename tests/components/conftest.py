"""Chains and stack settings the component tests render: every example under a dev-like and a
prod-like stack, and a small chain with a GPU chainlet."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

from infra_chains.components.settings import AutoscalingSettings, StackSettings

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.py"))
#: A secret value that must appear only in a Secret's stringData.
SENTINEL = "sentinel-secret-9c2e"

DEV = StackSettings(namespace="chains-dev", environment="dev", user_env={"LOG": "debug"})
PROD = StackSettings(
    namespace="chains-prod", environment="prod", registry="ghcr.io/acme", user_env={"LOG": "info"},
    exposure="ingress", ingress_host="chains.example.com", ingress_class="nginx",
    replicas={"Chunker": 3, "Greeter": 2, "Normalizer": 2},
    autoscaling={"TextPipeline": AutoscalingSettings(min_replicas=2, max_replicas=6),
                 "HelloWorld": AutoscalingSettings(min_replicas=2, max_replicas=4),
                 "BatchStats": AutoscalingSettings(min_replicas=1, max_replicas=3)},
)
STACKS = {"dev": DEV, "prod": PROD}

GPU_CHAIN = '''
import infra_chains as chains


class Embedder(chains.ChainletBase):
    remote_config = chains.RemoteConfig(
        compute=chains.Compute(cpu_count=4, memory="16Gi", gpu="A10G:2"),
        assets=chains.Assets(secret_keys=["hf_token"]),
    )

    def run_remote(self, text: str) -> list[float]:
        return [float(len(text))]


@chains.mark_entrypoint
class Search(chains.ChainletBase):
    remote_config = chains.RemoteConfig(compute=chains.Compute(cpu_count=1, memory="512Mi"))

    def __init__(self, embedder: Embedder = chains.depends(Embedder)) -> None:
        self._embedder = embedder

    def run_remote(self, query: str) -> list[float]:
        return self._embedder.run_remote(text=query)
'''


@pytest.fixture
def gpu_chain(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "gpu_search.py"
    path.write_text(textwrap.dedent(GPU_CHAIN))
    return path
