"""ChainGraph -> ChainPlan: per-chainlet specs as pure, deterministic data."""

from infra_chains.plan.models import (
    BuildSpec,
    ChainletSpec,
    ChainPlan,
    ComputeSpec,
    DependencySpec,
)
from infra_chains.plan.planner import default_chain_name, make_plan, validate_chain_name

__all__ = [
    "BuildSpec",
    "ChainPlan",
    "ChainletSpec",
    "ComputeSpec",
    "DependencySpec",
    "default_chain_name",
    "make_plan",
    "validate_chain_name",
]
