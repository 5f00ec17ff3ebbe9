"""Named GPUs -> where their pods may run: a node selector and the tolerations GPU nodes need.

The defaults follow what the common node pools label and taint: the NVIDIA GPU Feature Discovery
label ``nvidia.com/gpu.product`` (set by the GPU Operator, on EKS, AKS and bare metal) and the
``nvidia.com/gpu`` taint most GPU pools carry. A stack overrides any entry (or adds a GPU) with
`StackSettings.gpu_node_selectors` / `gpu_tolerations`: e.g. GKE labels nodes
``cloud.google.com/gke-accelerator: nvidia-l4``. An override replaces that GPU's entry whole.

The GPU *count* is not scheduling data: it is the container's ``nvidia.com/gpu`` limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pydantic

from infra_chains.errors import ChainsUsageError

#: The node label the NVIDIA GPU Feature Discovery sets to the GPU's product name.
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
#: The taint GPU node pools commonly carry, so only pods asking for a GPU land there.
GPU_TAINT_KEY = "nvidia.com/gpu"


class Toleration(pydantic.BaseModel):
    """One Kubernetes toleration (the fields a stack file may set)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    key: str
    operator: str = "Exists"
    value: str | None = None
    effect: str | None = "NoSchedule"


#: Every GPU `Compute` knows (`remote_config.KNOWN_GPUS`) -> GPU Feature Discovery's product name.
_PRODUCTS: dict[str, str] = {
    "T4": "Tesla-T4",
    "L4": "NVIDIA-L4",
    "A10G": "NVIDIA-A10G",
    "V100": "Tesla-V100-SXM2-16GB",
    "A100": "NVIDIA-A100-SXM4-80GB",
    "A100_40GB": "NVIDIA-A100-SXM4-40GB",
    "A100_80GB": "NVIDIA-A100-SXM4-80GB",
    "L40S": "NVIDIA-L40S",
    "H100": "NVIDIA-H100-80GB-HBM3",
    "H100_40GB": "NVIDIA-H100-PCIe",
    "H200": "NVIDIA-H200",
    "B200": "NVIDIA-B200",
}

#: GPU name (as in `Compute(gpu=...)`) -> node selector. Documented in docs/architecture.md.
DEFAULT_GPU_NODE_SELECTORS: dict[str, dict[str, str]] = {
    gpu: {GPU_PRODUCT_LABEL: product} for gpu, product in _PRODUCTS.items()
}
#: GPU name -> tolerations; every default GPU tolerates the common GPU taint.
DEFAULT_GPU_TOLERATIONS: dict[str, list[Toleration]] = {
    gpu: [Toleration(key=GPU_TAINT_KEY)] for gpu in _PRODUCTS
}


class GpuScheduling(pydantic.BaseModel):
    """Where a chainlet's pods may run."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    node_selector: dict[str, str] = pydantic.Field(default_factory=dict)
    tolerations: list[Toleration] = pydantic.Field(default_factory=list)


def gpu_scheduling(
    gpu: str | None,
    *,
    chainlet: str,
    node_selectors: Mapping[str, Mapping[str, str]] | None = None,
    tolerations: Mapping[str, Sequence[Mapping[str, str]]] | None = None,
) -> GpuScheduling:
    """The scheduling of a chainlet asking for ``gpu``: the stack's override, else the default.

    A GPU neither map knows is an error naming the chainlet and how to add the GPU: scheduling a
    GPU pod anywhere would leave it pending on a node without that GPU, or on no GPU at all.
    """
    if gpu is None:
        return GpuScheduling()
    selectors = {**DEFAULT_GPU_NODE_SELECTORS, **(node_selectors or {})}
    all_tolerations = {
        **DEFAULT_GPU_TOLERATIONS,
        **{name: [Toleration.model_validate(t) for t in items] for name, items in (tolerations or {}).items()},
    }
    key = _lookup(gpu, selectors) or _lookup(gpu, all_tolerations)
    if key is None:
        known = ", ".join(sorted(selectors))
        raise ChainsUsageError(
            f"Chainlet {chainlet!r} asks for GPU {gpu!r}, which has no node selector: known GPUs "
            f"are {known}. Add it to the stack's settings (gpu_node_selectors: {{{gpu!r}: "
            "{<node label>: <value>}}) or use one of those names in Compute(gpu=...)."
        )
    return GpuScheduling(
        node_selector=dict(selectors.get(key, {})), tolerations=list(all_tolerations.get(key, []))
    )


def _lookup(gpu: str, table: Mapping[str, object]) -> str | None:
    """The key of ``table`` naming ``gpu``, ignoring case (``a10g`` is ``A10G``)."""
    if gpu in table:
        return gpu
    return next((key for key in table if key.lower() == gpu.lower()), None)
