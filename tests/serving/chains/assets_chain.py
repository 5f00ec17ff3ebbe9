"""A chainlet that reads its assets in ``__init__`` (tests/serving/test_assets_runtime.py)."""

import os
import pathlib

import infra_chains as chains


class ReadsAssets(chains.ChainletBase):
    def __init__(self, context: chains.DeploymentContext = chains.depends_context()) -> None:
        assert context.data_dir is not None
        data = pathlib.Path(context.data_dir)
        mount = pathlib.Path(context.user_env["mount"])
        self._seen = {
            "data": (data / "w" / "weights.bin").read_text(),
            "shipped": (data / "shipped.txt").read_text(),
            "mounted": (mount / "model.bin").read_text(),
            "model_cache": os.environ.get("INFRA_CHAINS_MODEL_CACHE_DIR", ""),
        }

    def run_remote(self) -> dict[str, str]:
        return self._seen
