"""The inline Pulumi program the Kubernetes target runs: the same components and stack outputs
as the repo's program (`infra_chains.components.program`), from a plan already made by `push`.

Secret values reach the program from this process's memory (a closure), wrapped with
`pulumi.Output.secret`: never a command line (the Automation API's ``set_config(...,
secret=True)`` would put them on the CLI's argv, visible in ``ps``), never a file. The engine
receives them over its local connection as secrets and stores them encrypted.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Mapping

from infra_chains.components.settings import StackSettings
from infra_chains.plan.models import ChainPlan

#: Outputs this target adds to the program's own (`infra_chains.components.program.OUTPUT_NAMES`).
ENTRYPOINT_OUTPUT = "entrypoint"


def chain_program(
    plan: ChainPlan,
    settings: StackSettings,
    secret_values: Mapping[str, str],
    context_root: pathlib.Path,
) -> Callable[[], None]:
    """The program deploying ``plan`` with ``settings``."""
    values = dict(secret_values)

    def program() -> None:
        import pulumi

        from infra_chains.components import program as chain_programs
        secrets = {key: pulumi.Output.secret(value) for key, value in values.items()}
        chain_programs.create_chain(plan, settings, secrets, context_root)
        pulumi.export(ENTRYPOINT_OUTPUT, plan.entrypoint)

    return program
