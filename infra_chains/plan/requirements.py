"""pip requirements of an image: the runtime's pins and the user's, one entry per project.

The user's lines win over the runtime's (they may need another pydantic), and
`pip_requirements` wins over `pip_requirements_file` (it is the more specific place). Lines pip
reads as options (``--extra-index-url ...``) are kept, once each, in front.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Iterable

from infra_chains.errors import ChainsUsageError

_NAME_RE = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?=$|[\[;@<>=!~(\s])")
#: pip's comment rule: a '#' at the start or after whitespace (so `...#egg=name` stays).
_COMMENT_RE = re.compile(r"(^|\s)#.*$")
#: Options naming another file: it would not be in the build context.
_INCLUDE_OPTIONS = ("-r", "--requirement", "-c", "--constraint")


def project_name(requirement: str) -> str | None:
    """The normalized project name (PEP 503) of a requirement line; None for a URL or a path."""
    match = _NAME_RE.match(requirement.strip())
    if match is None:
        return None
    return re.sub(r"[-_.]+", "-", match[1]).lower()


def read_requirements_file(path: pathlib.Path) -> list[str]:
    """The requirement lines of ``path`` (comments and blank lines dropped)."""
    lines: list[str] = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = _COMMENT_RE.sub("", raw).strip()
        if line.startswith("-"):
            option = line.split(maxsplit=1)[0].split("=", 1)[0]
            if option in _INCLUDE_OPTIONS or option[:2] in _INCLUDE_OPTIONS:
                raise ChainsUsageError(
                    f"{path}:{number}: {line!r} names another file, which the image build cannot "
                    "see; list its requirements in this file or in DockerImage.pip_requirements."
                )
        if line:
            lines.append(line)
    return lines


def merge_requirements(*groups: Iterable[str]) -> list[str]:
    """Merge ``groups`` in order; a later line for the same project replaces an earlier one."""
    options: list[str] = []
    by_project: dict[str, str] = {}
    for group in groups:
        for line in group:
            line = line.strip()
            if line.startswith("-"):
                if line not in options:
                    options.append(line)
                continue
            by_project[project_name(line) or line] = line
    return options + list(by_project.values())
