"""Credentials for a source: a file in the chainlet's secrets directory, nothing else.

The environment (``AWS_*``, ``HF_TOKEN``) and a user's config files (``~/.aws``, the hub's token
file) are deliberately never read: a chainlet gets exactly the secrets it declared, the same on a
laptop as in a cluster, and a stray variable on a developer's machine cannot make a test pass that
would fail in production.
"""

from __future__ import annotations

import pathlib

from infra_chains.fetch._failure import Failure


def read_secret(secrets_dir: pathlib.Path | None, name: str) -> str:
    """The value of secret ``name`` (surrounding whitespace stripped); `Failure` if absent."""
    if secrets_dir is None:
        raise Failure(
            f"it needs the secret {name!r}, but the chainlet has no secrets directory; declare the "
            "secret in the chainlet's Assets(secret_keys=[...]) and give it a value in the target",
            transient=False,
        )
    path = secrets_dir / name
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise Failure(
            f"the secret {name!r} is not in {secrets_dir} (no file {path.name}); declare it in the "
            "chainlet's Assets(secret_keys=[...]) and give it a value in the target",
            transient=False,
        ) from None
    except OSError as exc:
        raise Failure(f"cannot read the secret {name!r} from {path}: {exc}", transient=False) from None
    if not value:
        raise Failure(f"the secret {name!r} ({path}) is empty", transient=False)
    return value
