"""``.gitignore`` patterns: what a user already said should never leave their machine.

A small matcher of the patterns people write (``*.log``, ``dir/``, ``/top-level``, ``a/**/b``,
``!keep.log``, ``[abc]``), with git's rules: a pattern without a slash (other than a trailing one)
matches a name at any depth, one with a slash is relative to its ``.gitignore``'s directory, a
trailing slash matches directories only, the last matching pattern wins, and deeper files'
patterns come after their ancestors'. A file inside an ignored directory stays ignored (the walker
never enters that directory), as in git.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re

GITIGNORE = ".gitignore"


@dataclasses.dataclass(frozen=True)
class Rule:
    """One pattern of one ``.gitignore``; ``base`` is that file's directory."""

    base: pathlib.Path
    regex: re.Pattern[str]
    negated: bool
    directory_only: bool

    def matches(self, path: pathlib.Path, is_dir: bool) -> bool:
        if self.directory_only and not is_dir:
            return False
        try:
            relative = path.relative_to(self.base).as_posix()
        except ValueError:
            return False
        return self.regex.match(relative) is not None


def parse(text: str, base: pathlib.Path) -> list[Rule]:
    """The rules of a ``.gitignore`` whose directory is ``base``."""
    rules: list[Rule] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if raw.endswith("\\ "):  # an escaped trailing space is kept
            line = raw[:-2] + " "
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if negated or line.startswith("\\!") or line.startswith("\\#"):
            line = line[1:]
        directory_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        body = _translate(line.lstrip("/"))
        if not anchored and not body.startswith("(?:.*/)?"):
            body = "(?:.*/)?" + body
        rules.append(Rule(base, re.compile(f"^{body}$", re.DOTALL), negated, directory_only))
    return rules


def read(directory: pathlib.Path) -> list[Rule]:
    """The rules of ``directory/.gitignore`` (none when it has none or it cannot be read)."""
    try:
        return parse((directory / GITIGNORE).read_text(errors="replace"), directory)
    except OSError:
        return []


def ignored(rules: list[Rule], path: pathlib.Path, is_dir: bool) -> bool:
    """Whether ``path`` is ignored: the last rule that matches it decides."""
    verdict = False
    for rule in rules:
        if rule.matches(path, is_dir):
            verdict = not rule.negated
    return verdict


def _translate(pattern: str) -> str:
    """A gitignore glob as a regular expression over a ``/``-separated relative path."""
    out: list[str] = []
    segments = pattern.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            if last:
                out.append(".*")  # `a/**`: everything inside a
            else:
                out.append("(?:.*/)?")  # `**/b`, `a/**/b`: zero or more directories
            continue
        out.append(_segment(segment))
        if not last:
            out.append("/")
    return "".join(out)


def _segment(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "\\" and i + 1 < len(segment):
            out.append(re.escape(segment[i + 1]))
            i += 2
            continue
        if char == "*":
            while i + 1 < len(segment) and segment[i + 1] == "*":
                i += 1
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = segment.find("]", i + 2 if segment[i + 1:i + 2] in ("!", "^", "]") else i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                inner = segment[i + 1:end]
                negate = inner[:1] in ("!", "^")
                body = "".join(c if c == "-" else re.escape(c) for c in inner[negate:])
                out.append("[" + ("^" if negate else "") + body + "]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)
