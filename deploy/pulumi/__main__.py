"""The repo's Pulumi program (``Pulumi.yaml``'s ``main``): the chain and its settings come from
the selected stack's config in ``stacks/``; see `infra_chains.components.program`."""

from infra_chains.components.program import program_from_config

program_from_config()
