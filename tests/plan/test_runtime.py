"""The runtime an image ships: its files, its digest, its pins."""

from __future__ import annotations

import pathlib
import shutil
import tomllib

from packaging.requirements import Requirement

from infra_chains.plan.runtime import (
    PACKAGE_DIR,
    RUNTIME_REQUIREMENTS,
    WEBSOCKET_REQUIREMENTS,
    runtime_digest,
    runtime_files,
)

PYPROJECT = pathlib.Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_runtime_files_are_the_whole_package_but_caches() -> None:
    relative = {p.relative_to(PACKAGE_DIR).as_posix() for p in runtime_files()}
    # `build` is a normal package name here (the workspace walker skips folders named so).
    assert {"serve.py", "build/context.py", "serving/runtime.py", "py.typed"} <= relative
    assert not any("__pycache__" in p or p.endswith((".pyc", ".pyo")) for p in relative)


def test_the_digest_covers_names_and_contents_but_not_caches(tmp_path: pathlib.Path) -> None:
    copy = tmp_path / "a" / "infra_chains"
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    digest = runtime_digest(copy)
    assert digest == runtime_digest(PACKAGE_DIR)  # relocatable
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "serve.cpython-311.pyc").write_bytes(b"cache")
    assert runtime_digest(copy) == digest
    (copy / "serve.py").write_text((copy / "serve.py").read_text() + "\n# a local edit\n")
    assert runtime_digest(copy) != digest


def test_runtime_pins_are_exact_and_inside_the_declared_ranges() -> None:
    declared = {
        Requirement(line).name.lower(): Requirement(line)
        for line in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    }
    for pin in (*RUNTIME_REQUIREMENTS, *WEBSOCKET_REQUIREMENTS):
        requirement = Requirement(pin)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", pin
        assert requirement.name in declared, f"{pin} is not a declared dependency"
        assert declared[requirement.name].specifier.contains(specifier.version), (
            f"{pin} is outside pyproject's {declared[requirement.name]}"
        )
