"""The Kubernetes target: a chain is a Pulumi stack (one per environment) deployed with the
Automation API, an inline program over the same components as the repo's program.

Each chain is a Pulumi project named after it, in a workspace directory under the state root
(``<state root>/kubernetes/<chain>/``: ``Pulumi.yaml`` and each stack's config file); the state
itself lives in the Pulumi backend the user is logged in to (or ``backend_url``). ``push`` =
select or create the stack, set its config from the settings, the chain-aware preview from its
last outputs, ``pulumi up`` streaming engine events as progress, a `ChainService` from the new
outputs. ``down`` = ``pulumi destroy``.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from infra_chains._optional import require
from infra_chains.chain_service import ChainService
from infra_chains.components import pod
from infra_chains.components.settings import CONFIG_NAMESPACE, StackSettings
from infra_chains.errors import DeploymentError
from infra_chains.plan.models import ChainPlan
from infra_chains.plan.names import chainlet_labels, validate_chain_name, validate_environment_name
from infra_chains.targets.base import ChainStatus, LogLine, ProgressCallback, Target, select_log_sources
from infra_chains.targets.kubernetes import kubectl
from infra_chains.targets.kubernetes.command import PulumiCli
from infra_chains.targets.kubernetes.config import stack_config
from infra_chains.targets.kubernetes.preview import ChainPreview, chain_preview, with_engine_steps
from infra_chains.targets.kubernetes.program import chain_program
from infra_chains.targets.kubernetes.progress import EngineSteps, ProgressTracker
from infra_chains.targets.kubernetes.service import KubernetesChainService, status_from_outputs
from infra_chains.targets.local.state import state_root

if TYPE_CHECKING:
    from pulumi import automation as auto


class KubernetesTarget(Target):
    """Deploys chains to Kubernetes through Pulumi stacks.

    Args:
        stack: The stack (environment), e.g. ``"dev"``; chainlets see it as their environment
            unless the plan names another.
        settings: The stack's `StackSettings` (namespace, registry, replicas, exposure, …).
        pulumi: The ``pulumi`` executable (or a directory holding it); default
            ``$INFRA_CHAINS_PULUMI``, then PATH, then ``~/.pulumi/bin``. Checked at once.
        work_root: Where each chain's workspace directory goes (default
            ``<state root>/kubernetes``).
        backend_url: The Pulumi backend (e.g. ``file:///srv/pulumi-state``, ``s3://…``);
            default: the one ``pulumi login`` chose.
        secrets_provider: For new stacks (e.g. ``passphrase``, ``awskms://…``).
        kube_context: The kubeconfig context to deploy to (default: the current one).
        env: More environment for the engine (e.g. ``PULUMI_CONFIG_PASSPHRASE_FILE``).
    """

    name = "kubernetes"

    def __init__(
        self,
        stack: str = "dev",
        *,
        settings: StackSettings | None = None,
        pulumi: str | os.PathLike[str] | None = None,
        work_root: pathlib.Path | None = None,
        backend_url: str | None = None,
        secrets_provider: str | None = None,
        kube_context: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.stack = validate_environment_name(stack)
        self.settings = settings or StackSettings()
        self.cli = PulumiCli(pulumi)  # fails now, with what to install, when there is none
        self.work_root = work_root or state_root() / "kubernetes"
        self.secrets_provider = secrets_provider
        self.kube_context = kube_context
        self.env = dict(env or {})
        if backend_url is not None:
            self.env["PULUMI_BACKEND_URL"] = backend_url

    # -- stacks -------------------------------------------------------------------------------

    def _work_dir(self, chain_name: str) -> pathlib.Path:
        return self.work_root / validate_chain_name(chain_name)

    def _stack(self, chain_name: str, *, program: Any = None, create: bool) -> auto.Stack | None:
        require("pulumi.automation", extra="kubernetes", purpose="The Kubernetes target")
        from infra_chains.targets.kubernetes.workspace import open_stack

        return open_stack(
            self.cli, project=chain_name, stack=self.stack, work_dir=self._work_dir(chain_name),
            program=program, env=self.env, secrets_provider=self.secrets_provider, create=create,
        )

    def _marker(self, chain_name: str) -> pathlib.Path:
        """Says this machine deployed the chain to this stack (`chains`); the state is Pulumi's."""
        return self._work_dir(chain_name) / f".deployed-{self.stack}"

    def _existing(self, chain_name: str) -> auto.Stack:
        stack = self._stack(chain_name, create=False)
        if stack is None:
            raise DeploymentError(
                f"Chain {chain_name!r} has no stack {self.stack!r} (workspace "
                f"{self._work_dir(chain_name)}); push it to that stack first."
            )
        return stack

    def _settings_for(self, plan: ChainPlan) -> StackSettings:
        """The settings deployed: the plan's user_env and environment win (they are its hashes')."""
        return self.settings.model_copy(update={
            "user_env": dict(plan.user_env), "environment": plan.environment or self.stack})

    def _prepare(self, plan: ChainPlan, secrets: Mapping[str, str]) -> tuple[auto.Stack, StackSettings]:
        settings = self._settings_for(plan)
        context_root = self._work_dir(plan.chain_name) / "contexts" / self.stack
        program = chain_program(plan, settings, secrets, context_root)
        stack = self._stack(plan.chain_name, program=program, create=True)
        assert stack is not None  # create=True always gives one
        config = stack_config(settings, chain_name=plan.chain_name, kube_context=self.kube_context)
        from pulumi import automation as auto

        stack.set_all_config({key: auto.ConfigValue(value) for key, value in config.items()})
        return stack, settings

    @staticmethod
    def _plain(outputs: Mapping[str, Any]) -> dict[str, Any]:
        return {key: getattr(value, "value", value) for key, value in outputs.items()}

    def _preview_of(self, plan: ChainPlan, settings: StackSettings, outputs: Mapping[str, Any],
                    resource_changes: Mapping[str, int] | None = None) -> ChainPreview:
        autoscaling = {name: a.model_dump() for name, a in settings.autoscaling.items()}
        return chain_preview(plan, outputs, stack=self.stack, replicas=settings.replicas,
                             autoscaling=autoscaling, resource_changes=resource_changes)

    # -- Target -------------------------------------------------------------------------------

    def preview(self, plan: ChainPlan, secrets: Mapping[str, str]) -> ChainPreview:
        """What pushing ``plan`` would do, per chainlet (from the stack's last outputs), with
        Pulumi's change summary (``pulumi preview``). Changes nothing but the stack's config."""
        stack, settings = self._prepare(plan, secrets)
        outputs = self._plain(stack.outputs())
        steps = EngineSteps(plan)
        result = stack.preview(on_event=steps.on_event)
        changes = {str(op.value if hasattr(op, "value") else op): int(n)
                   for op, n in (result.change_summary or {}).items()}
        return with_engine_steps(self._preview_of(plan, settings, outputs, changes), steps.kinds)

    def deploy(
        self,
        plan: ChainPlan,
        secrets: Mapping[str, str],
        *,
        ready_timeout_sec: float = 60.0,
        on_progress: ProgressCallback | None = None,
    ) -> ChainService:
        """``pulumi up`` of ``plan``. Readiness is the engine's: it waits for each Deployment up
        to the stack's ``startup_timeout_sec`` (model loads), so ``ready_timeout_sec`` is unused."""
        del ready_timeout_sec
        stack, settings = self._prepare(plan, secrets)
        before = self._preview_of(plan, settings, self._plain(stack.outputs()))
        changed = [c.name for c in before.chainlets if c.action != "unchanged"]
        tracker = ProgressTracker(plan, changed, on_progress)
        if on_progress is not None:
            on_progress(tracker.rows)
        result = stack.up(on_event=tracker.on_event)
        self._marker(plan.chain_name).touch()
        service = KubernetesChainService.from_outputs(plan.chain_name, self.stack, self._plain(result.outputs))
        tracker.finish(service.chainlet_urls)
        return service

    def service(self, chain_name: str) -> ChainService:
        outputs = self._plain(self._existing(chain_name).outputs())
        return KubernetesChainService.from_outputs(chain_name, self.stack, outputs)

    def status(self, chain_name: str) -> ChainStatus:
        stack = self._existing(chain_name)
        outputs = self._plain(stack.outputs())
        history = stack.history(page_size=1)
        last = history[0].result if history else None
        return status_from_outputs(chain_name, self.stack, outputs, last)

    def logs(self, chain_name: str, chainlet: str | None = None, *, follow: bool = False,
             lines: int = 50) -> Iterator[LogLine]:
        """The pods' logs through ``kubectl logs`` (`kubectl.py`), in the namespace and kubeconfig
        context the stack was deployed with; the chainlets are the stack outputs' (as `status`)."""
        stack = self._existing(chain_name)
        outputs = self._plain(stack.outputs())
        names = {str(name) for key in ("chainlet_urls", "image_hashes")
                 if isinstance(outputs.get(key), Mapping) for name in outputs[key]}
        labels = select_log_sources(chain_name, chainlet_labels(chain_name, sorted(names)), chainlet, lines)
        executable = kubectl.find_kubectl()
        config = {key: value.value for key, value in stack.get_all_config().items() if not value.secret}
        selector = {"app.kubernetes.io/part-of": chain_name}
        if chainlet is not None:
            selector = pod.selector_labels(chain_name, labels[chainlet])
        args = kubectl.logs_args(
            namespace=config.get(f"{CONFIG_NAMESPACE}:namespace", self.settings.namespace),
            selector=selector, lines=lines, follow=follow,
            context=self.kube_context or config.get("kubernetes:context"),
        )
        return kubectl.stream_logs(executable, args, labels)

    def down(self, chain_name: str) -> bool:
        """``pulumi destroy`` of the chain's stack (its config and history are kept)."""
        stack = self._stack(chain_name, create=False)
        if stack is None:
            return False
        had_outputs = bool(stack.outputs())
        stack.destroy()
        self._marker(chain_name).unlink(missing_ok=True)
        return had_outputs

    def chains(self) -> list[str]:
        """Chains deployed to this stack from this machine (and not taken down since)."""
        if not self.work_root.is_dir():
            return []
        return sorted(path.name for path in self.work_root.iterdir()
                      if (path / f".deployed-{self.stack}").is_file())
