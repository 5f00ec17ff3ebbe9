"""The GPU map: defaults for every GPU `Compute` knows, stack overrides, unknown GPUs refused."""

from __future__ import annotations

import pytest

from infra_chains.components.gpu import DEFAULT_GPU_NODE_SELECTORS, gpu_scheduling
from infra_chains.errors import ChainsUsageError
from infra_chains.remote_config import KNOWN_GPUS


def test_every_known_gpu_has_a_default_selector_and_toleration() -> None:
    assert set(KNOWN_GPUS) <= set(DEFAULT_GPU_NODE_SELECTORS)
    for gpu in ("A10G", "A100", "H100", "L4", "T4"):
        scheduling = gpu_scheduling(gpu, chainlet="X")
        assert scheduling.node_selector and scheduling.tolerations


def test_a_cpu_chainlet_has_no_scheduling_constraints() -> None:
    scheduling = gpu_scheduling(None, chainlet="X")
    assert scheduling.node_selector == {} and scheduling.tolerations == []


def test_stack_overrides_replace_an_entry_and_add_gpus() -> None:
    scheduling = gpu_scheduling(
        "L4", chainlet="X", node_selectors={"L4": {"cloud.google.com/gke-accelerator": "nvidia-l4"}},
        tolerations={"L4": [{"key": "gpu", "operator": "Equal", "value": "l4", "effect": "NoSchedule"}]},
    )
    assert scheduling.node_selector == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert [t.model_dump() for t in scheduling.tolerations] == [
        {"key": "gpu", "operator": "Equal", "value": "l4", "effect": "NoSchedule"}]
    added = gpu_scheduling("MI300X", chainlet="X", node_selectors={"MI300X": {"gpu": "mi300x"}})
    assert added.node_selector == {"gpu": "mi300x"} and added.tolerations == []


def test_an_unknown_gpu_names_the_chainlet_and_the_fix() -> None:
    with pytest.raises(ChainsUsageError, match=r"Chainlet 'Llm' asks for GPU 'MI300X'.*gpu_node_selectors"):
        gpu_scheduling("MI300X", chainlet="Llm")
