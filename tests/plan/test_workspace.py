"""What a workspace is made of: never .env files, never what .gitignore excludes."""

from __future__ import annotations

import pathlib

from infra_chains.plan.workspace import workspace_files


def tree(root: pathlib.Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def names(root: pathlib.Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in workspace_files(root)}


def test_env_files_and_gitignored_files_are_left_out(tmp_path: pathlib.Path) -> None:
    tree(tmp_path, {
        "chain.py": "", ".env": "AWS_SECRET_ACCESS_KEY=x", ".env.local": "x", ".envrc": "x",
        ".gitignore": "*.log\nscratch/\n/local.toml\n!important.log\n",
        "run.log": "", "important.log": "", "scratch/a.py": "", "local.toml": "", "sub/local.toml": "",
        "sub/.gitignore": "*.bin\n", "sub/w.bin": "", "w.bin": "", "helpers/util.py": "",
        "__pycache__/chain.cpython-311.pyc": "",
    })
    assert names(tmp_path) == {
        "chain.py", ".gitignore", "important.log", "sub/local.toml", "sub/.gitignore", "w.bin",
        "helpers/util.py",
    }


def test_the_enclosing_repositorys_gitignore_applies(tmp_path: pathlib.Path) -> None:
    (tmp_path / ".git").mkdir()
    tree(tmp_path, {".gitignore": "*.secret\nproject/cache/\n", "project/chain.py": "",
                    "project/key.secret": "", "project/cache/x": ""})
    assert names(tmp_path / "project") == {"chain.py"}


def test_outside_a_repository_parent_gitignores_do_not_apply(tmp_path: pathlib.Path) -> None:
    tree(tmp_path, {".gitignore": "*.py\n", "project/chain.py": ""})
    assert names(tmp_path / "project") == {"chain.py"}


def test_an_ignored_file_added_does_not_change_the_file_list(tmp_path: pathlib.Path) -> None:
    tree(tmp_path, {"chain.py": "", ".gitignore": "*.log\n"})
    before = workspace_files(tmp_path)
    (tmp_path / "debug.log").write_text("noise")
    (tmp_path / ".env").write_text("TOKEN=1")
    assert workspace_files(tmp_path) == before
