"""A chain's workspace as files: what is copied with the chain, and what its hashes cover."""

from __future__ import annotations

import ast
import hashlib
import os
import pathlib
from collections.abc import Iterable, Iterator

from infra_chains.errors import ChainsUsageError
from infra_chains.framework.loading import module_name, workspace_of
from infra_chains.plan import ignore

__all__ = ["module_name", "workspace_of", "workspace_files", "digest_files", "module_source_without"]

#: Never part of a workspace: VCS data, virtual environments, caches, build outputs.
IGNORED_DIRS = frozenset({
    ".git", ".hg", ".svn", ".venv", "venv", ".venvs", "env", "__pycache__", "node_modules",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".chains_generated",
    "dist", "build", ".idea", ".vscode",
})
IGNORED_SUFFIXES = (".pyc", ".pyo", ".so.tmp", ".swp")
#: A workspace this large is almost certainly a mistake (e.g. a chain file in $HOME).
MAX_WORKSPACE_FILES = 5000


def workspace_files(workspace: pathlib.Path) -> list[pathlib.Path]:
    """Files copied with the chain (sorted, so hashes are stable)."""
    files = sorted(_walk(workspace))
    if len(files) > MAX_WORKSPACE_FILES:
        raise ChainsUsageError(
            f"The workspace {workspace} holds {len(files)} files (more than "
            f"{MAX_WORKSPACE_FILES}); every file there is copied with the chain. Put the chain "
            "file in a directory of its own."
        )
    return files


def _walk(root: pathlib.Path) -> Iterator[pathlib.Path]:
    """Every file under ``root`` but caches, VCS data, ``.env`` files and what ``.gitignore`` says.

    The ``.gitignore`` files of the enclosing git repository (from its root down to ``root``)
    count too, as git would apply them; a secret the user keeps out of git stays out of every
    snapshot, build context and image.
    """
    inherited: dict[pathlib.Path, list[ignore.Rule]] = {root: _enclosing_rules(root)}
    for directory, subdirs, names in os.walk(root):
        here = pathlib.Path(directory)
        rules = inherited.pop(here) + ignore.read(here)
        subdirs[:] = sorted(
            d for d in subdirs
            if d not in IGNORED_DIRS and not d.endswith(".egg-info")
            and not ignore.ignored(rules, here / d, is_dir=True)
        )
        for subdir in subdirs:
            inherited[here / subdir] = rules
        for name in names:
            if name.endswith(IGNORED_SUFFIXES) or _is_env_file(name):
                continue
            if not ignore.ignored(rules, here / name, is_dir=False):
                yield here / name


def _enclosing_rules(root: pathlib.Path) -> list[ignore.Rule]:
    """The ``.gitignore`` rules of ``root``'s ancestors inside its git repository, outermost first."""
    if not root.is_absolute():
        return []
    ancestors: list[pathlib.Path] = []
    for parent in root.parents:
        ancestors.append(parent)
        if (parent / ".git").exists():
            return [rule for directory in reversed(ancestors) for rule in ignore.read(directory)]
    return []  # not inside a repository: only the workspace's own .gitignore files count


def _is_env_file(name: str) -> bool:
    """``.env``, ``.env.local``, ``.envrc``: where people keep secrets for their shell."""
    return name in (".env", ".envrc") or name.startswith(".env.")


def digest_files(paths: Iterable[pathlib.Path], root: pathlib.Path, skip: pathlib.Path | None = None) -> str:
    digest = hashlib.sha256()
    for path in paths:
        if skip is not None and path == skip:
            continue
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def module_source_without(source: str, class_names: set[str]) -> str:
    """``source`` with the top-level classes ``class_names`` removed.

    A chainlet's code is its own class plus the module's shared code (imports, models, helpers),
    not its siblings' classes: editing one chainlet must not restart the others.
    """
    if not class_names:
        return source
    lines = source.splitlines(keepends=True)
    tree = ast.parse(source)
    drop: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in class_names:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            drop.update(range(start - 1, (node.end_lineno or node.lineno)))
    return "".join(line for index, line in enumerate(lines) if index not in drop)
