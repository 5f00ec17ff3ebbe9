"""ChainletSpec -> build context: everything an image build needs, in one directory.

```
<out>/<chain>/
├── plan.json
└── <chainlet>/
    ├── Dockerfile           CMD starts the serving runtime (contract given at deploy time)
    ├── chainlet.json        the ChainletSpec
    ├── requirements.txt     the runtime's own requirements + the chainlet's
    ├── runtime/infra_chains the serving runtime's source
    ├── workspace/           the chain's workspace
    ├── packages/<n>/        external package dirs
    └── data/                DockerImage.data_dir
```
Targets that build images (docker, the Pulumi components) use this; ``only_generate_trusses`` /
``--dry-run`` stop here.
"""

from __future__ import annotations

import pathlib
import shutil
from importlib import metadata

import infra_chains
from infra_chains.plan.models import ChainletSpec, ChainPlan
from infra_chains.plan.workspace import workspace_files

APP_DIR = "/app"
#: Distributions the serving runtime imports; pinned to the versions installed here.
RUNTIME_DISTRIBUTIONS = ("pydantic", "uvicorn", "uvloop", "httptools", "aiohttp", "httpx", "sniffio", "msgpack")


def runtime_requirements() -> list[str]:
    pins = []
    for name in RUNTIME_DISTRIBUTIONS:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def dockerfile(spec: ChainletSpec) -> str:
    build = spec.build
    python = build.python_executable
    lines = [
        f"FROM {build.base_image}",
        "ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1",
    ]
    if build.apt_requirements:
        packages = " ".join(sorted(build.apt_requirements))
        lines.append(
            "RUN apt-get update && apt-get install -y --no-install-recommends "
            f"{packages} && rm -rf /var/lib/apt/lists/*"
        )
    lines += [
        f"COPY requirements.txt {APP_DIR}/requirements.txt",
        f"RUN {python} -m pip install --no-cache-dir -r {APP_DIR}/requirements.txt",
        f"COPY runtime {APP_DIR}/runtime",
        f"COPY packages {APP_DIR}/packages",
        f"COPY data {APP_DIR}/data",
        f"COPY workspace {APP_DIR}/workspace",
        f"ENV PYTHONPATH={APP_DIR}/runtime INFRA_CHAINS_CHAINLET={spec.name} "
        f"INFRA_CHAINS_CONTENT_HASH={spec.content_hash}",
        f"WORKDIR {APP_DIR}/workspace",
        f'CMD ["{python}", "-m", "infra_chains.serve"]',
    ]
    return "\n".join(lines) + "\n"


def _copy_tree(files: list[pathlib.Path], root: pathlib.Path, destination: pathlib.Path) -> None:
    for path in files:
        target = destination / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def write_build_context(plan: ChainPlan, spec: ChainletSpec, directory: pathlib.Path) -> pathlib.Path:
    """Write ``spec``'s build context into ``directory`` (replacing it)."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    workspace = pathlib.Path(spec.build.workspace_dir)
    _copy_tree(workspace_files(workspace), workspace, directory / "workspace")
    (directory / "packages").mkdir()
    for index, package_dir in enumerate(spec.build.external_package_dirs):
        root = pathlib.Path(package_dir)
        _copy_tree(workspace_files(root), root, directory / "packages" / str(index))
    (directory / "data").mkdir()
    if spec.build.data_dir:
        root = pathlib.Path(spec.build.data_dir)
        _copy_tree(workspace_files(root), root, directory / "data")
    package_root = pathlib.Path(infra_chains.__file__).parent
    _copy_tree(workspace_files(package_root), package_root.parent, directory / "runtime")
    requirements = runtime_requirements() + spec.build.pip_requirements
    (directory / "requirements.txt").write_text("\n".join(requirements) + "\n")
    (directory / "chainlet.json").write_text(spec.model_dump_json(indent=2))
    (directory / "Dockerfile").write_text(dockerfile(spec))
    return directory


def write_build_contexts(plan: ChainPlan, out_dir: pathlib.Path) -> pathlib.Path:
    """Write the plan and every chainlet's build context under ``out_dir / chain_name``."""
    chain_dir = out_dir / plan.chain_name
    chain_dir.mkdir(parents=True, exist_ok=True)
    (chain_dir / "plan.json").write_text(plan.model_dump_json(indent=2))
    for spec in plan.chainlets:
        write_build_context(plan, spec, chain_dir / spec.name)
    return chain_dir
