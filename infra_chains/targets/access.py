"""Who may call a deployed chain's chainlets: the per-chain token and the allowed Host names.

A target generates one token per chain, keeps it for the chain's lifetime (chainlets that a
re-push does not restart and new ones must agree on it) and names its file in every contract:
the stubs send it, and every chainlet but the entrypoint refuses a call without it
(`serving.app`). Image targets put the same file in their secret store; the local target keeps it
next to the chainlets' secret directories.
"""

from __future__ import annotations

import pathlib
import secrets

from infra_chains.serving.contract import RuntimeContract
from infra_chains.targets.secrets import read_or_create_private

#: File name of the chain token, beside the per-chainlet secret directories (chainlet names are
#: identifiers, so no chainlet's directory can have this name).
CHAIN_TOKEN_FILE = "chain-token"


def ensure_chain_token(secrets_root: pathlib.Path) -> pathlib.Path:
    """The chain token file under ``secrets_root``, made (0600, 256 random bits) if missing."""
    path = secrets_root / CHAIN_TOKEN_FILE
    read_or_create_private(path, lambda: secrets.token_urlsafe(32).encode())
    return path


def loopback_hosts(port: int) -> list[str]:
    """Host header values of a chainlet listening on loopback ``port``."""
    return [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"]


def with_chain_access(contract: RuntimeContract, *, entrypoint: bool, token_file: pathlib.Path,
                      allowed_hosts: list[str] | None) -> RuntimeContract:
    """``contract`` with the chain's access rules: token file, entrypoint flag, Host names."""
    return contract.model_copy(update={
        "entrypoint": entrypoint, "chain_token_file": token_file, "allowed_hosts": allowed_hosts,
    })
