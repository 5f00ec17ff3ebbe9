"""The asset fetcher: model weights and data files into a local cache, before ``__init__``.

Runs inside the chainlet (the serving runtime calls `fetch_all`) or before it (the Kubernetes
init container and docker run ``python -m infra_chains.fetch``). It ships in every chainlet
image, so it imports only the standard library, pydantic and httpx; boto3 and huggingface_hub
(the ``assets`` extra) are imported only when an item of that kind is fetched.
"""

from infra_chains.fetch.errors import AssetFetchError
from infra_chains.fetch.items import FetchItem, FetchKind
from infra_chains.fetch.runner import fetch_all

__all__ = ["AssetFetchError", "FetchItem", "FetchKind", "fetch_all"]
