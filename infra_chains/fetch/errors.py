"""The one error the fetcher raises, and why it carries two parts.

```
ChainsError                (infra_chains.errors)
└── AssetFetchError        an asset could not be fetched or verified; `item` names it, `detail`
                           says what the source answered (HTTP status, S3 error code, hub error)
                           and how to fix it
```

The serving runtime turns this into a readiness failure and the init container into its exit
message, so ``str()`` must make sense on its own: ``asset <name>: <detail>``.
"""

from __future__ import annotations

from infra_chains.errors import ChainsError

__all__ = ["AssetFetchError"]


class AssetFetchError(ChainsError):
    """An asset could not be fetched or verified.

    Args:
        item: The item's human label (`FetchItem.name`), e.g. ``"ModelRepo 'org/m'"``.
        detail: What went wrong, with the source's own words (status, error code) and the fix.
    """

    def __init__(self, item: str, detail: str) -> None:
        super().__init__(f"asset {item}: {detail}")
        self.item = item
        self.detail = detail

    def __reduce__(self) -> tuple[type[AssetFetchError], tuple[str, str]]:
        # Exceptions pickle by ``args``; ours has two constructor arguments, not the message.
        return (type(self), (self.item, self.detail))
