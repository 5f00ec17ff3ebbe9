"""Where a chainlet's files are when it runs: inside its image, or on the planning host.

The runtime contract is made from a layout (`targets/contracts.runtime_contract`), so an image
target's contract holds only in-image paths and the local target's only host paths.

In an image (`APP_DIR` = ``/app``)::

    /app/workspace     the chain's workspace (the runtime's working directory)
    /app/packages/<n>  DockerImage.external_package_dirs, in order
    /app/data          DockerImage.data_dir
    /app/runtime       the infra_chains runtime (on PYTHONPATH)
    /opt/venv          the Python the runtime runs with (build/dockerfile.py makes it)
"""

from __future__ import annotations

import pathlib
import sys

import pydantic

from infra_chains.plan.base_images import VENV_PYTHON
from infra_chains.plan.models import ChainletSpec, ChainPlan, ImageSpec
from infra_chains.plan.runtime import PACKAGE_DIR

APP_DIR = "/app"


class ChainletLayout(pydantic.BaseModel):
    """Absolute paths of a chainlet's workspace, package dirs, data dir, runtime and Python."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    workspace_dir: str
    package_dirs: list[str] = pydantic.Field(default_factory=list)
    data_dir: str | None = None
    runtime_dir: str = pydantic.Field(description="The directory holding the infra_chains package.")
    python_executable: str

    @classmethod
    def in_image(cls, image: ImageSpec) -> ChainletLayout:
        """The layout every image built from ``image`` has (see the module docstring)."""
        return cls(
            workspace_dir=f"{APP_DIR}/workspace",
            package_dirs=[f"{APP_DIR}/packages/{i}" for i in range(len(image.external_package_dirs))],
            data_dir=f"{APP_DIR}/data" if image.data_dir is not None else None,
            runtime_dir=f"{APP_DIR}/runtime",
            python_executable=VENV_PYTHON,
        )

    @classmethod
    def on_host(
        cls, plan: ChainPlan, spec: ChainletSpec, python_executable: str | None = None
    ) -> ChainletLayout:
        """Where the planning machine has the files: the workspace the plan was made from."""
        workspace = pathlib.Path(plan.workspace_dir)

        def absolute(relative: str) -> str:
            return str((workspace / relative).resolve())

        return cls(
            workspace_dir=str(workspace),
            package_dirs=[absolute(p) for p in spec.image.external_package_dirs],
            data_dir=absolute(spec.image.data_dir) if spec.image.data_dir is not None else None,
            runtime_dir=str(PACKAGE_DIR.parent),
            python_executable=python_executable or sys.executable,
        )

    def rooted_at(self, root: pathlib.Path) -> ChainletLayout:
        """This in-image layout with `APP_DIR` replaced by ``root``: a build context run in place.

        ``root`` is made absolute: a contract's paths are read from the chainlet's own working
        directory (its workspace), not from the caller's.
        """
        base = root.resolve()

        def move(path: str) -> str:
            relative = pathlib.PurePosixPath(path).relative_to(APP_DIR)
            return str(base.joinpath(*relative.parts))

        return self.model_copy(update={
            "workspace_dir": move(self.workspace_dir),
            "package_dirs": [move(p) for p in self.package_dirs],
            "data_dir": move(self.data_dir) if self.data_dir is not None else None,
            "runtime_dir": move(self.runtime_dir),
        })
