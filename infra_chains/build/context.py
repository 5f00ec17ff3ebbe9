"""ChainletSpec -> build context: everything an image build needs, in one directory.

```
<out>/<chain>/
├── plan.json
└── <chainlet>/
    ├── Dockerfile           from the image part alone (build/dockerfile.py)
    ├── .dockerignore
    ├── chainlet.json        the ChainletSpec
    ├── layout.json          the image's layout (build/layout.py)
    ├── requirements.txt     the image part's merged requirements (runtime pins + the user's)
    ├── runtime/infra_chains the runtime: every file of the package but caches (plan/runtime.py)
    ├── workspace/           the chain's workspace (plan/workspace.py decides what is in it)
    ├── packages/<n>/        external package dirs
    └── data/                DockerImage.data_dir
```
No secret value is ever written here: secrets reach a chainlet at run time, as files its target
mounts. Copied files get normalized modes (0644, or 0755 when executable; directories 0755): the
image's non-root user can read them but not change them, whatever the user's umask was, and equal
files give equal layers on every machine. Targets that build images (docker, the Pulumi
components) use this; ``only_generate_trusses`` (the CLI's ``--dry-run``) stops here.
"""

from __future__ import annotations

import pathlib
import shutil

import pydantic

from infra_chains.build.dockerfile import BUILD_ARGS, DOCKERIGNORE, dockerfile
from infra_chains.build.layout import ChainletLayout
from infra_chains.plan.models import ChainletSpec, ChainPlan
from infra_chains.plan.runtime import PACKAGE_DIR, RUNTIME_REQUIREMENTS, runtime_files
from infra_chains.plan.workspace import workspace_files


class BuildContext(pydantic.BaseModel):
    """A written build context: where it is, the tag its image gets, and that image's layout."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    chainlet: str
    directory: pathlib.Path
    image_tag: str = pydantic.Field(description="The image part's hash.")
    layout: ChainletLayout
    build_args: tuple[str, ...] = pydantic.Field(
        default=BUILD_ARGS,
        description="Build arguments the Dockerfile declares (e.g. PIP_INDEX_URL); a target passes "
        "the ones it is given, and they never enter a layer.",
    )


def runtime_requirements() -> list[str]:
    """The serving runtime's own pinned requirements (the same on every machine)."""
    return list(RUNTIME_REQUIREMENTS)


def _copy_files(files: list[pathlib.Path], root: pathlib.Path, destination: pathlib.Path) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    for path in files:
        target = destination / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        target.chmod(0o755 if path.stat().st_mode & 0o111 else 0o644)


def _normalize_modes(directory: pathlib.Path) -> None:
    """Directories 0755, files 0644 (0755 if executable): readable by the image's user."""
    for path in [directory, *directory.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
        elif path.is_file():
            path.chmod(0o755 if path.stat().st_mode & 0o100 else 0o644)


def write_build_context(plan: ChainPlan, spec: ChainletSpec, directory: pathlib.Path) -> BuildContext:
    """Write ``spec``'s build context into ``directory`` (replacing it)."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    image = spec.image
    workspace = pathlib.Path(plan.workspace_dir)
    _copy_files(workspace_files(workspace), workspace, directory / "workspace")
    (directory / "packages").mkdir()
    for index, relative in enumerate(image.external_package_dirs):
        root = (workspace / relative).resolve()
        _copy_files(workspace_files(root), root, directory / "packages" / str(index))
    (directory / "data").mkdir()
    if image.data_dir is not None:
        root = (workspace / image.data_dir).resolve()
        _copy_files(workspace_files(root), root, directory / "data")
    _copy_files(runtime_files(PACKAGE_DIR), PACKAGE_DIR.parent, directory / "runtime")
    layout = ChainletLayout.in_image(image)
    (directory / "requirements.txt").write_text("\n".join(image.pip_requirements) + "\n")
    (directory / "Dockerfile").write_text(dockerfile(image))
    (directory / ".dockerignore").write_text(DOCKERIGNORE)
    (directory / "chainlet.json").write_text(spec.model_dump_json(indent=2))
    (directory / "layout.json").write_text(layout.model_dump_json(indent=2))
    _normalize_modes(directory)
    return BuildContext(chainlet=spec.name, directory=directory, image_tag=spec.image_hash, layout=layout)


def write_build_contexts(plan: ChainPlan, out_dir: pathlib.Path) -> pathlib.Path:
    """Write the plan and every chainlet's build context under ``out_dir / chain_name``."""
    chain_dir = out_dir / plan.chain_name
    chain_dir.mkdir(parents=True, exist_ok=True)
    (chain_dir / "plan.json").write_text(plan.model_dump_json(indent=2))
    for spec in plan.chainlets:
        write_build_context(plan, spec, chain_dir / spec.name)
    return chain_dir
