"""A chainlet that loads its model's files in ``__init__``: they are fetched before it runs.

    infra-chains push examples/weights_chain.py

`chains.Assets` declares the files; every target fetches them into a cache before ``__init__``
(local: the per-user cache, shared by all chains; docker: a volume per chain; Kubernetes: an init
container), and the chainlet is not ready until they are there (docs/assets.md). Here one small
file, a model config, lands at ``context.data_dir / "model/config.json"``. Set
``WEIGHTS_CHAIN_URL`` (when pushing) to fetch it from elsewhere, e.g. a local server.
"""

import json
import os
import pathlib

import infra_chains as chains

#: The config of GPT-2 on the Hugging Face hub (665 bytes), pinned to a commit.
DEFAULT_URL = (
    "https://huggingface.co/openai-community/gpt2/resolve/"
    "607a30d783dfa663caf39e06633721c8d4cfcd7e/config.json"
)
CONFIG_URL = os.environ.get("WEIGHTS_CHAIN_URL", DEFAULT_URL)


@chains.mark_entrypoint
class DescribeModel(chains.ChainletBase):
    """Reads the model config from its assets once, then answers from memory."""

    remote_config = chains.RemoteConfig(
        assets=chains.Assets(
            external_data=[
                chains.ExternalDataItem(url=CONFIG_URL, local_data_path="model/config.json"),
            ],
        ),
    )

    def __init__(self, context: chains.DeploymentContext = chains.depends_context()) -> None:
        if context.data_dir is None:
            raise RuntimeError("no data_dir: deploy this chain (`infra-chains push`) to fetch its assets")
        path = pathlib.Path(context.data_dir) / "model" / "config.json"
        self._config = json.loads(path.read_text())

    def run_remote(self, text: str) -> str:
        model = self._config.get("model_type", "model")
        width = self._config.get("n_embd", "?")
        return f"{model} ({width}-dim) would read {len(text.split())} words"
