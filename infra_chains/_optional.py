"""Dependencies that only some users need live in extras (``infra-chains[kubernetes]``); code that
needs one imports it through `require`, so a missing extra is a sentence naming the install
command, not a bare ``ModuleNotFoundError`` from deep inside a target."""

from __future__ import annotations

import importlib
import types

from infra_chains.errors import ChainsUsageError


class MissingExtraError(ChainsUsageError):
    """A feature needs a package from an extra that is not installed."""

    def __init__(self, module: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the Python module {module!r}, which is not installed. Install "
            f"infra_chains with that extra: pip install 'infra-chains[{extra}]' (from a clone: "
            f"pip install -c constraints.txt -e '.[{extra}]')."
        )
        self.module = module
        self.extra = extra


def require(module: str, *, extra: str, purpose: str | None = None) -> types.ModuleType:
    """Import ``module``, which the extra ``extra`` installs; `MissingExtraError` if it is absent.

    A module that is installed but fails to import (its own dependency missing) raises as it is:
    that is a broken install, not a missing extra.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module or module.startswith(f"{exc.name}."):  # it, or a parent package
            raise MissingExtraError(module, extra, purpose or f"The {extra!r} extra") from None
        raise
