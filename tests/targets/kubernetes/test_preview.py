"""The chain-aware preview as a pure function: new plans against a stack's previous outputs."""

from __future__ import annotations

import pathlib
import textwrap
from typing import Any

import pytest

from infra_chains.deploy import plan_chain
from infra_chains.framework.loading import load_entrypoint
from infra_chains.plan.models import ChainPlan, stable_hash
from infra_chains.plan.fingerprints import fingerprints_output, plan_fingerprints
from infra_chains.targets.kubernetes.preview import chain_preview

CHAIN = '''
import infra_chains as chains


class Leaf(chains.ChainletBase):
    remote_config = chains.RemoteConfig(
        docker_image=chains.DockerImage(pip_requirements=[{reqs!r}]),
        compute=chains.Compute(cpu_count={cpu}),
        assets=chains.Assets(secret_keys={secrets!r}),
    )

    def run_remote(self, {param}: str) -> str:
        return {body!r}


@chains.mark_entrypoint
class Root(chains.ChainletBase):
    def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
        self._leaf = leaf

    def run_remote(self, text: str) -> str:
        return self._leaf.run_remote(text)
'''

DEFAULTS: dict[str, Any] = {"reqs": "httpx", "cpu": 1, "secrets": [], "param": "text", "body": "a"}


def _plan(tmp_path: pathlib.Path, user_env: dict[str, str] | None = None, **changes: Any) -> ChainPlan:
    folder = tmp_path / f"chain{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    chain_file = folder / "chain.py"
    chain_file.write_text(textwrap.dedent(CHAIN.format(**{**DEFAULTS, **changes})))
    return plan_chain(load_entrypoint(chain_file), "preview-chain", user_env=user_env, environment="dev")


def _outputs(plan: ChainPlan, **overrides: Any) -> dict[str, Any]:
    return {
        "entrypoint_url": "http://x",
        "image_hashes": {s.name: s.image_hash for s in plan.chainlets},
        "deployment_hashes": {s.name: s.deployment_hash for s in plan.chainlets},
        "chainlet_fingerprints": fingerprints_output(plan_fingerprints(plan, **overrides)),
    }


def _actions(preview: Any) -> dict[str, str]:
    return {c.name: c.action for c in preview.chainlets}


def test_never_deployed_means_every_chainlet_is_new(tmp_path: pathlib.Path) -> None:
    for previous in (None, {}):
        preview = chain_preview(_plan(tmp_path), previous, stack="dev")
        assert _actions(preview) == {"Leaf": "new", "Root": "new"}
        assert not preview.deployed_before and preview.changed and preview.stack == "dev"


def test_same_plan_in_another_folder_is_unchanged(tmp_path: pathlib.Path) -> None:
    preview = chain_preview(_plan(tmp_path), _outputs(_plan(tmp_path)))
    assert _actions(preview) == {"Leaf": "unchanged", "Root": "unchanged"}
    assert not preview.changed and preview.deployed_before


def test_a_body_edit_rebuilds_that_chainlet_alone_naming_the_source(tmp_path: pathlib.Path) -> None:
    preview = chain_preview(_plan(tmp_path, body="b"), _outputs(_plan(tmp_path)))
    assert _actions(preview) == {"Leaf": "rebuild", "Root": "unchanged"}
    leaf = preview.chainlet("Leaf")
    assert leaf.image_changes == ["source"] and leaf.deployment_changes == []
    assert leaf.image_hash != leaf.previous_image_hash


def test_requirements_change_is_named(tmp_path: pathlib.Path) -> None:
    # Written in the chain file, they are its source too.
    leaf = chain_preview(_plan(tmp_path, reqs="numpy"), _outputs(_plan(tmp_path))).chainlet("Leaf")
    assert leaf.action == "rebuild" and leaf.image_changes == ["requirements", "source"]


def _with_image(plan: ChainPlan, name: str, **fields: Any) -> ChainPlan:
    specs = []
    for spec in plan.chainlets:
        if spec.name == name:
            image = spec.image.model_copy(update=fields)
            spec = spec.model_copy(update={"image": image, "image_hash": stable_hash(image)})
        specs.append(spec)
    return plan.model_copy(update={"chainlets": specs})


def test_base_image_and_runtime_changes_are_named(tmp_path: pathlib.Path) -> None:
    plan = _plan(tmp_path)
    base = chain_preview(_with_image(plan, "Leaf", base_image="python:3.12-slim"), _outputs(plan))
    assert base.chainlet("Leaf").image_changes == ["base_image"]
    assert base.chainlet("Leaf").reasons == ["base image"]
    runtime = chain_preview(_with_image(plan, "Root", template_version=999), _outputs(plan))
    assert runtime.chainlet("Root").action == "rebuild"
    assert runtime.chainlet("Root").image_changes == ["runtime"]


def test_an_interface_change_rebuilds_the_dependent_naming_the_dependency(tmp_path: pathlib.Path) -> None:
    preview = chain_preview(_plan(tmp_path, param="words"), _outputs(_plan(tmp_path)))
    root = preview.chainlet("Root")
    assert root.action == "rebuild" and root.dependency_changes == ["Leaf"]
    assert "interface of Leaf" in root.reasons


def _with_deployment(plan: ChainPlan, name: str, **fields: Any) -> ChainPlan:
    specs = []
    for spec in plan.chainlets:
        if spec.name == name:
            deployment = spec.deployment.model_copy(update=fields)
            spec = spec.model_copy(update={"deployment": deployment,
                                           "deployment_hash": stable_hash(deployment)})
        specs.append(spec)
    return plan.model_copy(update={"chainlets": specs})


def test_settings_in_the_chain_file_are_source(tmp_path: pathlib.Path) -> None:
    leaf = chain_preview(_plan(tmp_path, cpu=2), _outputs(_plan(tmp_path))).chainlet("Leaf")
    assert leaf.action == "rebuild" and leaf.image_changes == ["source"]
    assert leaf.deployment_changes == ["compute"]


def test_deployment_changes_restart_only(tmp_path: pathlib.Path) -> None:
    plan = _plan(tmp_path)
    old = _outputs(plan)
    leaf = plan.chainlet("Leaf")
    compute = leaf.deployment.compute.model_copy(update={"cpu_count": 4})
    restart = chain_preview(_with_deployment(plan, "Leaf", compute=compute), old).chainlet("Leaf")
    assert restart.action == "restart" and restart.deployment_changes == ["compute"]
    assets = leaf.deployment.assets.model_copy(update={"secret_keys": ["hf_token"]})
    secrets = chain_preview(_with_deployment(plan, "Leaf", assets=assets), old).chainlet("Leaf")
    assert secrets.action == "restart" and secrets.deployment_changes == ["secrets"]
    config = chain_preview(_with_deployment(plan, "Leaf", user_config={"k": 1}), old).chainlet("Leaf")
    assert config.action == "restart" and config.reasons == ["user_config"]
    env = chain_preview(_plan(tmp_path, user_env={"mode": "prod"}), old)
    assert {c.name: c.deployment_changes for c in env.chainlets} == {"Leaf": ["user_env"], "Root": ["user_env"]}
    assert _actions(env) == {"Leaf": "restart", "Root": "restart"}


def test_stack_replicas_and_autoscaling_restart(tmp_path: pathlib.Path) -> None:
    plan = _plan(tmp_path)
    preview = chain_preview(plan, _outputs(plan), replicas={"Leaf": 3},
                            autoscaling={"Root": {"min_replicas": 1, "max_replicas": 4}})
    assert preview.chainlet("Leaf").deployment_changes == ["replicas"]
    assert preview.chainlet("Root").deployment_changes == ["autoscaling"]
    same = chain_preview(plan, _outputs(plan, replicas={"Leaf": 3}), replicas={"Leaf": 3})
    assert not same.changed


def test_removed_chainlets_are_listed(tmp_path: pathlib.Path) -> None:
    plan = _plan(tmp_path)
    outputs = _outputs(plan)
    outputs["image_hashes"]["Gone"] = "f" * 64
    preview = chain_preview(plan, outputs)
    assert preview.chainlet("Gone").action == "removed"


def test_hashes_without_fingerprints_give_the_action_not_the_reason(tmp_path: pathlib.Path) -> None:
    old = _outputs(_plan(tmp_path))
    del old["chainlet_fingerprints"]
    preview = chain_preview(_plan(tmp_path, body="b", cpu=2), old)
    leaf = preview.chainlet("Leaf")
    assert leaf.action == "rebuild" and not leaf.detail_known and leaf.image_changes == []
    assert preview.chainlet("Root").action == "unchanged"
    restart = chain_preview(_plan(tmp_path, user_env={"a": "b"}), old).chainlet("Leaf")
    assert restart.action == "restart" and not restart.detail_known


def test_fingerprints_from_another_version_are_ignored(tmp_path: pathlib.Path) -> None:
    plan = _plan(tmp_path)
    outputs = _outputs(plan)
    outputs["chainlet_fingerprints"]["Leaf"] = {"unexpected": True}
    assert _actions(chain_preview(plan, outputs)) == {"Leaf": "unchanged", "Root": "unchanged"}


def test_resource_changes_are_kept(tmp_path: pathlib.Path) -> None:
    plan = _plan(tmp_path)
    preview = chain_preview(plan, None, resource_changes={"create": 7})
    assert preview.resource_changes == {"create": 7}
    assert preview.model_dump(mode="json")["chainlets"][0]["action"] == "new"


@pytest.mark.parametrize("key", ["image", "deployment"])
def test_fingerprints_are_stable_and_small(tmp_path: pathlib.Path, key: str) -> None:
    one, two = (plan_fingerprints(_plan(tmp_path)) for _ in range(2))
    assert one == two
    assert all(len(v) == 16 for fp in one.values() for v in getattr(fp, key).values())


def test_pulumis_steps_on_an_unchanged_chainlet_are_a_restart_named_by_kind(tmp_path: pathlib.Path) -> None:
    """A rotated secret value or a stack setting outside the plan's hashes (namespace, GPU map)
    changes pods the hashes call unchanged: Pulumi's per-object plan says so."""
    from infra_chains.targets.kubernetes.preview import with_engine_steps

    plan = _plan(tmp_path, secrets=["token"])
    hashed = chain_preview(plan, _outputs(plan))
    assert _actions(hashed) == {"Leaf": "unchanged", "Root": "unchanged"}
    folded = with_engine_steps(hashed, {"Leaf": ["Secret", "Deployment"], "Root": ["Service"]})
    assert _actions(folded) == {"Leaf": "restart", "Root": "unchanged"}  # a Service leaves pods be
    assert folded.chainlet("Leaf").reasons == ["Deployment (Pulumi's diff)", "secret values (Pulumi's diff)"]
    assert folded.chainlet("Root").reasons == ["Service (Pulumi's diff)"]
    # A change the hashes explain keeps its action and reasons.
    edited = chain_preview(_plan(tmp_path, secrets=["token"], body="b"), _outputs(plan))
    kept = with_engine_steps(edited, {"Leaf": ["Image", "Deployment"]}).chainlet("Leaf")
    assert kept.action == "rebuild" and kept.reasons == ["source"]
