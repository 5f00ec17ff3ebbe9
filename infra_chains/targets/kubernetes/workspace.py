"""The Automation API's `LocalWorkspace`, run through our `PulumiCli`.

`LocalWorkspace` takes a ``pulumi_command``; `_AutomationCommand` is one whose ``run`` is
`PulumiCli.run`, so every command the Automation API issues (stack selection, config, up, outputs,
history) goes through the one command object, and tests see them all in the fake's recording.
It does not call ``PulumiCommand.__init__``, which would run ``pulumi version`` by itself (and
raise a bare ``FileNotFoundError`` without a CLI): `PulumiCli` has already found and asked it.

Only the Kubernetes target imports this module, after checking the ``kubernetes`` extra.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping
from typing import Any

from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult as _AutoResult
from pulumi.automation._cmd import OnOutput
from semver import VersionInfo

from infra_chains.targets.kubernetes.command import PulumiCli


class _AutomationCommand(auto.PulumiCommand):
    """The Automation API's command interface over a `PulumiCli`."""

    def __init__(self, cli: PulumiCli) -> None:  # no super().__init__(): see the module docstring
        self.command = str(cli.executable)
        self._cli = cli
        try:
            self.version = VersionInfo.parse(cli.version())
        except ValueError:  # a development build: the Automation API then assumes an old one
            self.version = None

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: OnOutput | None = None,
        on_error: OnOutput | None = None,
    ) -> _AutoResult:
        result = self._cli.run(args, cwd=cwd, env=additional_env, on_stdout=on_output,
                               on_stderr=on_error)
        return _AutoResult(stdout=result.stdout, stderr=result.stderr, code=result.code)


def open_stack(
    cli: PulumiCli,
    *,
    project: str,
    stack: str,
    work_dir: pathlib.Path,
    program: Any = None,
    env: Mapping[str, str] | None = None,
    secrets_provider: str | None = None,
    create: bool = True,
) -> auto.Stack | None:
    """Stack ``stack`` of project ``project``, selected, or created when ``create`` (else None
    when it does not exist). Existence is read from ``pulumi stack ls --json`` (structured), not
    from an error message."""
    work_dir.mkdir(parents=True, exist_ok=True)
    workspace = auto.LocalWorkspace(
        work_dir=os.fspath(work_dir),
        program=program,
        env_vars=dict(env or {}),
        secrets_provider=secrets_provider,
        project_settings=auto.ProjectSettings(name=project, runtime="python"),
        pulumi_command=_AutomationCommand(cli),
    )
    existing = {summary.name.rsplit("/", 1)[-1] for summary in workspace.list_stacks()}
    if stack in existing:
        return auto.Stack.select(stack, workspace)
    if not create:
        return None
    return auto.Stack.create(stack, workspace)
