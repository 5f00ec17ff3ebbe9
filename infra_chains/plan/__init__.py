"""ChainGraph -> ChainPlan: per-chainlet image and deployment parts as pure, deterministic data."""

from infra_chains.plan.models import (
    ChainletSpec,
    ChainPlan,
    ComputeSpec,
    DependencySpec,
    DeploymentSpec,
    ImageSpec,
    RuntimeVersion,
    SourceDigests,
)
from infra_chains.plan.planner import default_chain_name, make_plan, validate_chain_name

__all__ = [
    "ChainPlan",
    "ChainletSpec",
    "ComputeSpec",
    "DependencySpec",
    "DeploymentSpec",
    "ImageSpec",
    "RuntimeVersion",
    "SourceDigests",
    "default_chain_name",
    "make_plan",
    "validate_chain_name",
]
