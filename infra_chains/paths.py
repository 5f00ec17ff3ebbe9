"""`make_abs_path_here`: paths written relative to the file that names them."""

from __future__ import annotations

import inspect
import pathlib

import pydantic

from infra_chains.errors import ChainsUsageError


class AbsPath(pydantic.BaseModel):
    """A path resolved against the directory of the module that created it.

    Existence is checked where the path is *used* (``abs_path``), not where it is written, so a
    chain file can be imported on a machine that lacks, say, a local data dir it never deploys.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    abs_file_path: str
    creating_module: str
    original_path: str

    @property
    def abs_path(self) -> str:
        """The absolute path; raises a clear error if nothing exists there."""
        if not pathlib.Path(self.abs_file_path).exists():
            raise ChainsUsageError(
                f"Path {self.original_path!r} given to make_abs_path_here in {self.creating_module} "
                f"resolves to {self.abs_file_path}, which does not exist. Paths are relative to the "
                "directory of the file that calls make_abs_path_here; fix the path or create it."
            )
        return self.abs_file_path

    def __str__(self) -> str:
        return self.abs_file_path


def make_abs_path_here(file_path: str) -> AbsPath:
    """Resolve ``file_path`` relative to the directory of the *calling* file.

    Call it directly in the file whose neighbours you name (typically at module level in a chain
    file): wrapping it in a helper function makes the helper's file the reference point.
    """
    frame = inspect.currentframe()
    caller = frame.f_back if frame is not None else None
    if caller is None:  # pragma: no cover - only without frame support (not CPython)
        raise ChainsUsageError("make_abs_path_here needs the calling frame; use an absolute path.")
    creating_file = caller.f_code.co_filename
    path = pathlib.Path(file_path)
    if not path.is_absolute():
        path = pathlib.Path(creating_file).resolve().parent / path
    return AbsPath(
        abs_file_path=str(path.resolve()), creating_module=creating_file, original_path=file_path
    )
