"""Pulumi components that deploy a chain to Kubernetes (the ``kubernetes`` extra).

Shipped inside the package so a user's own Pulumi program can ``import infra_chains.components``
after ``pip install 'infra-chains[kubernetes]'``; the repo's root ``Pulumi.yaml`` runs
`infra_chains.components.program` over the stack config in ``stacks/``.
"""
