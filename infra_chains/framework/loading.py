"""Import a chain file and find its entrypoint, as `push` and the CLI do."""

from __future__ import annotations

import hashlib
import importlib
import pathlib
import re
import sys
import traceback
import types

from infra_chains.errors import ChainsUsageError
from infra_chains.framework.chainlet import (
    ChainletBase,
    chainlets_in_module,
    is_entrypoint,
)

#: Workspace modules a `load_entrypoint` imported, with their file and its digest then: a later
#: load imports again those whose file changed, so a push after an edit, in the same process,
#: plans the edited classes (their signatures decide which dependents restart).
_imported: dict[str, tuple[pathlib.Path, bytes]] = {}

#: How a Python caller names the entrypoint of a file that marks none (`load_entrypoint`'s
#: argument, the stack setting of the same name); the CLI names its option instead.
ENTRYPOINT_HINT = "pass its class name as `entrypoint`"

#: One part of a module path: importable by file name (``-`` is fine, ``.`` and spaces are not).
MODULE_PART_RE = re.compile(r"^[\w-]+$")


def workspace_of(chain_file: pathlib.Path) -> pathlib.Path:
    """The chain's workspace: the chain file's directory, or, when that directory is a package
    (has an ``__init__.py``), the first ancestor that is not; ``pkg.module`` imports then work
    the same in every target."""
    directory = chain_file.resolve().parent
    while (directory / "__init__.py").exists() and directory.parent != directory:
        directory = directory.parent
    return directory


def module_name(chain_file: pathlib.Path, workspace: pathlib.Path) -> str:
    """The dotted module name of ``chain_file`` inside ``workspace``.

    Chain files are named as files, not modules (truss-chains imports them by path), so a part
    may hold a ``-`` (``my-chain.py`` is module ``my-chain``): ``importlib.import_module`` finds it
    by file name from the workspace, here and in every deployed runtime alike. A ``.`` or a space
    in a name cannot round-trip through a dotted path, so such names are refused with the fix.
    """
    resolved = chain_file.resolve()
    relative = resolved.relative_to(workspace).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    for part in parts:
        if not MODULE_PART_RE.match(part):
            raise ChainsUsageError(
                f"Chain file {resolved}: {part!r} (in {relative.as_posix()}) cannot be part of a "
                "module path; use letters, digits, '_' and '-' only (e.g. rename it to "
                f"{_suggest(part)!r})."
            )
    return ".".join(parts)


def _suggest(part: str) -> str:
    return re.sub(r"[^\w-]+", "_", part).strip("_") or "chain"


class NoEntrypointError(ChainsUsageError):
    """A chain file with several chainlets marks none as its entrypoint.

    ``chainlets`` are the file's chainlet class names. The message tells a Python caller to pass
    ``entrypoint``; the CLI swaps in its option with `with_hint`.
    """

    def __init__(self, path: pathlib.Path, chainlets: list[str], hint: str = ENTRYPOINT_HINT) -> None:
        self.path = path
        self.chainlets = list(chainlets)
        super().__init__(
            f"{path} marks no entrypoint. Decorate one chainlet with @chains.mark_entrypoint, or "
            f"{hint} (chainlets there: {', '.join(self.chainlets) or 'none'})."
        )

    def with_hint(self, hint: str) -> NoEntrypointError:
        """The same error, naming the caller's own way to choose the entrypoint (a CLI option)."""
        return NoEntrypointError(self.path, self.chainlets, hint)


def load_entrypoint(chain_file: pathlib.Path | str, entrypoint: str | None = None) -> type[ChainletBase]:
    """Import ``chain_file`` under its workspace module name and return the entrypoint class.

    The file is imported as ``module`` (not ``__main__``), with its workspace on ``sys.path``, so
    its chainlets get the same import path here as in a deployed runtime.
    """
    path = pathlib.Path(chain_file)
    if not path.is_file() or path.suffix != ".py":
        raise ChainsUsageError(f"Chain file {chain_file} does not exist or is not a .py file.")
    path = path.resolve()
    workspace = workspace_of(path)
    name = module_name(path, workspace)
    # The workspace goes first, and a same-named module from another workspace is forgotten,
    # so two chain files called `chain.py` in different directories load as themselves.
    if str(workspace) in sys.path:
        sys.path.remove(str(workspace))
    sys.path.insert(0, str(workspace))
    _forget_edited_modules()
    before = set(sys.modules)
    loaded = sys.modules.get(name)
    if loaded is not None and pathlib.Path(getattr(loaded, "__file__", "") or "").resolve() != path:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
        importlib.invalidate_caches()
    try:
        module = importlib.import_module(name)
    except ChainsUsageError:
        raise
    except Exception as exc:
        raise ChainsUsageError(
            f"Importing chain file {_where(exc, path)} failed: {type(exc).__name__}: {exc}"
        ) from exc
    if pathlib.Path(getattr(module, "__file__", "") or "").resolve() != path:
        raise ChainsUsageError(
            f"Importing {path} as module {name!r} found another module at {module.__file__}; "
            "rename the chain file so it does not shadow an installed module."
        )
    _remember_imported((set(sys.modules) - before) | {name}, workspace)
    # Only this file's classes: a file of the same module name imported before (another
    # directory's `chain.py`) may have left its own chainlets registered under that name.
    chainlets: list[type[ChainletBase]] = [
        c for c in chainlets_in_module(module.__name__) if getattr(module, c.__name__, None) is c
    ]
    if entrypoint is not None:
        for cls in chainlets:
            if cls.__name__ == entrypoint:
                return cls
        known = ", ".join(c.__name__ for c in chainlets) or "none"
        raise ChainsUsageError(
            f"{path} defines no chainlet named {entrypoint!r}; chainlets there: {known}."
        )
    marked = [cls for cls in chainlets if is_entrypoint(cls)]
    if len(marked) == 1:
        return marked[0]
    if not marked and len(chainlets) == 1:
        return chainlets[0]  # as in truss-chains: a file's only chainlet needs no mark
    if not chainlets:
        raise ChainsUsageError(_nothing_to_deploy(path, module))
    if not marked:
        raise NoEntrypointError(path, [c.__name__ for c in chainlets])
    raise ChainsUsageError(  # pragma: no cover - mark_entrypoint reports a second one itself
        f"{path} marks {len(marked)} entrypoints; keep one."
    )


def _nothing_to_deploy(path: pathlib.Path, module: types.ModuleType) -> str:
    """Why a file without chainlets cannot be pushed; names a model class missing its base."""
    lookalikes = [
        name for name, value in vars(module).items()
        if isinstance(value, type) and value.__module__ == module.__name__
        and callable(getattr(value, "predict", None))
    ]
    hint = (
        f" {', '.join(f'`{n}`' for n in lookalikes)} has a `predict` method but does not inherit "
        "from chains.ModelBase; add it as base class (`class X(chains.ModelBase):`)."
        if lookalikes else ""
    )
    return (
        f"{path} defines no chainlet and no model: a chain needs classes inheriting from "
        "chains.ChainletBase (endpoint `run_remote`) or one chains.ModelBase (endpoint "
        f"`predict`).{hint}"
    )


def _forget_edited_modules() -> None:
    """Drop the modules a previous load imported whose file changed since, and their bytecode.

    The bytecode goes too: Python reuses it when the source's size and mtime in whole seconds
    are unchanged, which a quick edit such as ``v1`` -> ``v2`` does not change.
    """
    for name, (file, digest) in list(_imported.items()):
        if _digest(file) == digest:
            continue
        del _imported[name]
        cached = getattr(sys.modules.pop(name, None), "__cached__", None)
        if cached:
            pathlib.Path(cached).unlink(missing_ok=True)
    importlib.invalidate_caches()


def _remember_imported(names: set[str], workspace: pathlib.Path) -> None:
    for name in names:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file and pathlib.Path(file).resolve().is_relative_to(workspace):
            _imported[name] = (pathlib.Path(file), _digest(pathlib.Path(file)))


def _digest(file: pathlib.Path) -> bytes:
    try:
        return hashlib.sha256(file.read_bytes()).digest()
    except OSError:
        return b""


def _where(exc: BaseException, path: pathlib.Path) -> str:
    """``file:line`` of the deepest frame of the traceback inside the workspace's files."""
    workspace = workspace_of(path)
    location = str(path)
    for frame, line in traceback.walk_tb(exc.__traceback__):
        filename = pathlib.Path(frame.f_code.co_filename)
        if filename.is_absolute() and filename.is_relative_to(workspace):
            location = f"{filename}:{line}"
    return location
