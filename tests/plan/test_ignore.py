"""The .gitignore matcher: the patterns people write, with git's precedence."""

from __future__ import annotations

import pathlib

import pytest

from infra_chains.plan import ignore

BASE = pathlib.Path("/w")
RULES = ignore.parse(
    "\n".join([
        "# a comment",
        "*.log",
        "!keep.log",
        "out/",
        "/top.txt",
        "docs/**/*.tmp",
        "**/cache",
        "vendor/**",
        "secret[0-9].txt",
        "\\#literal",
        "",
    ]),
    BASE,
)


@pytest.mark.parametrize(
    ("path", "is_dir", "expected"),
    [
        ("x.log", False, True),
        ("deep/down/x.log", False, True),
        ("deep/keep.log", False, False),  # negation: the last match wins
        ("out", True, True),
        ("a/out", True, True),
        ("out", False, False),  # a trailing slash matches directories only
        ("top.txt", False, True),
        ("sub/top.txt", False, False),  # a leading slash anchors at the .gitignore's directory
        ("docs/c.tmp", False, True),  # `**` is zero or more directories
        ("docs/a/b/c.tmp", False, True),
        ("other/c.tmp", False, False),
        ("cache", True, True),
        ("x/y/cache", True, True),
        ("vendor/a/b.py", False, True),
        ("vendor", True, False),
        ("secret7.txt", False, True),
        ("secretx.txt", False, False),
        ("#literal", False, True),
        ("main.py", False, False),
    ],
)
def test_patterns(path: str, is_dir: bool, expected: bool) -> None:
    assert ignore.ignored(RULES, BASE / path, is_dir) is expected


def test_a_deeper_gitignore_overrides_its_ancestor() -> None:
    rules = ignore.parse("*.csv\n", BASE) + ignore.parse("!wanted.csv\n", BASE / "data")
    assert ignore.ignored(rules, BASE / "data" / "other.csv", False)
    assert not ignore.ignored(rules, BASE / "data" / "wanted.csv", False)
    assert ignore.ignored(rules, BASE / "wanted.csv", False)  # only below data/


def test_patterns_of_another_directory_do_not_apply() -> None:
    rules = ignore.parse("/x.txt\n", BASE / "sub")
    assert not ignore.ignored(rules, BASE / "x.txt", False)
    assert ignore.ignored(rules, BASE / "sub" / "x.txt", False)
