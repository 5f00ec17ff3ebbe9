"""`infra_chains/paths.py`: `make_abs_path_here` resolves against the *calling* file."""

import pathlib
import textwrap
import types
from collections.abc import Callable

import pytest

import infra_chains as chains

ImportFile = Callable[[pathlib.Path, str], types.ModuleType]

HELPER = textwrap.dedent("""
    import infra_chains as chains

    DATA = chains.make_abs_path_here("data/weights.txt")
    MISSING = chains.make_abs_path_here("nowhere/file.txt")

    def make(path):
        return chains.make_abs_path_here(path)
""")


def test_relative_to_the_calling_file(tmp_path: pathlib.Path, import_file: ImportFile) -> None:
    package = tmp_path / "pkg"
    (package / "data").mkdir(parents=True)
    (package / "data" / "weights.txt").write_text("w")
    helper = package / "paths_helper.py"
    helper.write_text(HELPER)
    module = import_file(helper, "paths_helper")

    path = module.DATA
    assert isinstance(path, chains.AbsPath)
    assert path.abs_path == str((package / "data" / "weights.txt").resolve())
    assert str(path) == path.abs_path
    assert path.original_path == "data/weights.txt"
    assert path.creating_module == str(helper)


def test_a_helper_function_makes_its_own_file_the_reference(
    tmp_path: pathlib.Path, import_file: ImportFile
) -> None:
    helper = tmp_path / "paths_helper_fn.py"
    helper.write_text(HELPER)
    module = import_file(helper, "paths_helper_fn")
    assert str(module.make("x.txt")) == str((tmp_path / "x.txt").resolve())


def test_relative_to_this_test_file() -> None:
    assert chains.make_abs_path_here("test_paths.py").abs_path == str(pathlib.Path(__file__).resolve())


def test_absolute_paths_stay_absolute(tmp_path: pathlib.Path) -> None:
    path = chains.make_abs_path_here(str(tmp_path))
    assert path.abs_path == str(tmp_path.resolve())


def test_missing_path_is_an_error_only_when_used(tmp_path: pathlib.Path, import_file: ImportFile) -> None:
    helper = tmp_path / "paths_helper_missing.py"
    helper.write_text(HELPER)
    module = import_file(helper, "paths_helper_missing")  # importing does not check existence
    with pytest.raises(chains.ChainsUsageError) as info:
        module.MISSING.abs_path  # noqa: B018
    message = str(info.value)
    assert "'nowhere/file.txt'" in message
    assert str(helper) in message
    assert str(tmp_path.resolve() / "nowhere" / "file.txt") in message
    assert "does not exist" in message


def test_abs_path_is_a_frozen_model() -> None:
    path = chains.make_abs_path_here(".")
    assert chains.AbsPath.model_validate(path.model_dump()) == path
    with pytest.raises(Exception, match="frozen"):
        path.abs_file_path = "/"  # type: ignore[misc]
