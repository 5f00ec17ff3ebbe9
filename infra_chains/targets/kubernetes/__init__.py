"""The Kubernetes target (Pulumi Automation API) and its chain-aware preview."""

from infra_chains.targets.kubernetes.command import (
    PULUMI_ENV,
    PulumiCli,
    PulumiCommandError,
    PulumiNotFoundError,
    find_pulumi,
)
from infra_chains.plan.fingerprints import ChainletFingerprint, plan_fingerprints
from infra_chains.targets.kubernetes.preview import ChainletChange, ChainPreview, chain_preview
from infra_chains.targets.kubernetes.target import KubernetesTarget

__all__ = [
    "PULUMI_ENV",
    "ChainPreview",
    "ChainletChange",
    "ChainletFingerprint",
    "KubernetesTarget",
    "PulumiCli",
    "PulumiCommandError",
    "PulumiNotFoundError",
    "chain_preview",
    "find_pulumi",
    "plan_fingerprints",
]
