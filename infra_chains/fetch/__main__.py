"""``python -m infra_chains.fetch --items ITEMS.json --cache-root DIR [--secrets-dir DIR]``.

What the Kubernetes init container and a docker chainlet run before the server: exit 0 when every
item is present (one ``<name> -> <path>`` line each on stdout), 1 with the `AssetFetchError`
message on stderr, 2 for bad usage (an unreadable or invalid items file).
"""

from __future__ import annotations

import sys

from infra_chains.fetch.cli import main

sys.exit(main())
