"""The target's inline program under Pulumi mocks (no CLI): the same components as the repo's
program, secrets given as secret inputs, the fingerprints exported."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

pytest.importorskip("pulumi")

from infra_chains.components.settings import StackSettings  # noqa: E402
from infra_chains.deploy import plan_chain  # noqa: E402
from infra_chains.framework.loading import load_entrypoint  # noqa: E402
from infra_chains.targets.kubernetes.program import chain_program  # noqa: E402

EXAMPLE = pathlib.Path(__file__).parents[3] / "examples" / "text_pipeline.py"


def test_the_inline_program_creates_the_chain_and_exports_fingerprints(tmp_path: pathlib.Path) -> None:
    import pulumi

    from infra_chains import testing

    plan = plan_chain(load_entrypoint(EXAMPLE), "text-pipeline", environment="dev")
    program = chain_program(plan, StackSettings(environment="dev", build_images=False),
                            {"pipeline_token": "sentinel-value"}, tmp_path / "contexts")
    exported: dict[str, Any] = {}
    real_export = pulumi.export

    def recording_export(name: str, value: Any) -> None:
        exported[name] = value
        real_export(name, value)

    # render's mocks (ids and provider-computed values filled); the program is ours, not render's.
    mocks_class, monitor_class = testing._mock_classes()
    monitor = monitor_class(mocks_class())
    pulumi.export = recording_export
    try:
        testing._run(program, monitor, "dev")
    finally:
        pulumi.export = real_export
    assert monitor.records  # the components registered their resources
    assert set(exported["chainlet_fingerprints"]) == {"Chunker", "Summarizer", "TextPipeline"}
    assert exported["entrypoint"] == "TextPipeline"
    assert {"entrypoint_url", "chainlet_urls", "image_hashes", "deployment_hashes"} <= set(exported)
