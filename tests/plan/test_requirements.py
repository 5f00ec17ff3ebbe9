"""pip requirements: names, the requirements file, and the merge where the user's pins win."""

from __future__ import annotations

import pathlib

import pytest

from infra_chains.errors import ChainsUsageError
from infra_chains.plan.requirements import merge_requirements, project_name, read_requirements_file


@pytest.mark.parametrize(("line", "name"), [
    ("numpy", "numpy"),
    ("NumPy>=1.26", "numpy"),
    ("typing_extensions==4.12 ; python_version < '3.12'", "typing-extensions"),
    ("uvicorn[standard]~=0.30", "uvicorn"),
    ("my.pkg @ https://example.com/my.pkg-1.0.tar.gz", "my-pkg"),
    ("git+https://github.com/org/repo.git#egg=repo", None),
    ("./local/package", None),
])
def test_project_names_are_normalized(line: str, name: str | None) -> None:
    assert project_name(line) == name


def test_the_users_pins_win_and_each_project_appears_once() -> None:
    runtime = ["pydantic==2.14.4", "httpx==0.28.1"]
    from_file = ["--extra-index-url https://pypi.example.com/simple", "Pydantic==2.9.0", "torch"]
    listed = ["torch==2.5.1", "httpx>=0.27"]
    assert merge_requirements(runtime, from_file, listed) == [
        "--extra-index-url https://pypi.example.com/simple",
        "Pydantic==2.9.0",
        "httpx>=0.27",
        "torch==2.5.1",
    ]


def test_requirements_file_drops_comments_but_keeps_url_fragments(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(
        "# pinned\nrequests==2.32.0  # http\n\n--index-url https://pypi.example.com  # mirror\n"
        "git+https://github.com/org/repo.git#egg=repo\n"
    )
    assert read_requirements_file(path) == [
        "requests==2.32.0", "--index-url https://pypi.example.com",
        "git+https://github.com/org/repo.git#egg=repo",
    ]


@pytest.mark.parametrize("line", ["-r other.txt", "--requirement=other.txt", "-cconstraints.txt"])
def test_requirements_file_naming_another_file_is_rejected_with_its_line(
    tmp_path: pathlib.Path, line: str
) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(f"numpy\n{line}\n")
    with pytest.raises(ChainsUsageError, match=r"requirements\.txt:2: .* names another file"):
        read_requirements_file(path)
