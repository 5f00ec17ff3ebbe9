"""Dockerfiles: made from the image part alone, a venv the runtime runs from, layers in cache order,
build args in a stage of their own."""

from __future__ import annotations

import hashlib
import json
import pathlib

from infra_chains.build.context import write_build_context
from infra_chains.build.dockerfile import (
    BUILD_ARGS,
    DOCKERIGNORE,
    HEALTHCHECK_SCRIPT,
    REQUIREMENTS_STAGE,
    USER_ID,
    dependency_layers,
    dockerfile,
    requirements_stage,
)
from infra_chains.plan import ChainPlan, ImageSpec, RuntimeVersion, SourceDigests
from infra_chains.plan.base_images import CUDA_IMAGE, IMAGE_TEMPLATE_VERSION, VENV_PYTHON
from infra_chains.plan.runtime import PACKAGE_DIR, runtime_files

PIP_INSTALL = f"RUN {VENV_PYTHON} -m pip install --no-cache-dir -r /app/requirements.txt"
SERVE = f'CMD ["{VENV_PYTHON}", "-m", "infra_chains.serve"]'
COPY_VENV = f"COPY --from={REQUIREMENTS_STAGE} /opt/venv /opt/venv"


def image(**fields: object) -> ImageSpec:
    base: dict[str, object] = dict(
        base_image="python:3.12-slim", python_version="3.12", sources=SourceDigests(code="c"),
        runtime=RuntimeVersion(version="0.1.0", digest="r"), template_version=IMAGE_TEMPLATE_VERSION,
    )
    return ImageSpec.model_validate({**base, **fields})


def gpu_image(**fields: object) -> ImageSpec:
    return image(base_image=CUDA_IMAGE, python_executable=VENV_PYTHON, python_setup="apt-venv",
                 **fields)


def custom_image() -> ImageSpec:
    return image(base_image="my/base:1", python_executable="/py/bin/python3", python_version=None)


def index(lines: list[str], prefix: str) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(prefix))


def stages(text: str) -> tuple[list[str], list[str]]:
    """The requirements stage's lines and the image stage's (from its FROM on)."""
    lines = text.splitlines()
    froms = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    assert len(froms) == 2, froms
    return [line for line in lines[: froms[1]] if line], lines[froms[1]:]


def test_default_image_makes_a_venv_installs_requirements_then_copies_the_source() -> None:
    text = dockerfile(image())
    lines = text.splitlines()
    assert lines[0] == f"FROM python:3.12-slim AS {REQUIREMENTS_STAGE}"
    assert "apt-get" not in text
    assert "RUN python3 -m venv /opt/venv" in lines  # the base's Python, no system site
    order = [index(lines, prefix) for prefix in (
        "RUN python3 -m venv", "COPY requirements.txt /app/requirements.txt", PIP_INSTALL,
        "RUN groupadd", COPY_VENV, "COPY runtime /app/runtime", "ENV PYTHONPATH=/app/runtime",
        "WORKDIR /app/workspace", "HEALTHCHECK", "CMD", f"USER {USER_ID}:{USER_ID}",
        "COPY packages /app/packages", "COPY data /app/data", "COPY workspace /app/workspace",
    )]
    assert order == sorted(order)
    # The image is the second stage, from the same base.
    assert lines.index(PIP_INSTALL) < lines.index("FROM python:3.12-slim") < index(lines, "RUN groupadd")
    assert "ENV PYTHONPATH=/app/runtime" in lines
    # `python` is the venv's for whoever runs it; an image without a PATH keeps the default one.
    assert "ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:${PATH:-/usr/local/sbin:" in text
    assert lines[-1] == "COPY workspace /app/workspace"  # the source last: an edit rebuilds 3 layers
    assert SERVE in lines


def test_the_chainlet_runs_as_a_fixed_non_root_user_that_owns_only_its_home() -> None:
    lines = dockerfile(image()).splitlines()
    user = lines[index(lines, "RUN groupadd")]
    assert f"groupadd --system --gid {USER_ID} chainlet" in user
    assert f"useradd --system --uid {USER_ID} --gid {USER_ID} --create-home" in user
    assert [line for line in lines if line.startswith("USER ")] == [f"USER {USER_ID}:{USER_ID}"]
    # Every file stays root's: COPY ignores USER, and nothing changes an owner.
    assert not any("chown" in line or "--chown" in line for line in lines)


def test_healthcheck_runs_the_images_python_on_the_shipped_script() -> None:
    healthcheck = next(line for line in dockerfile(image()).splitlines()
                       if line.startswith("HEALTHCHECK "))
    options, command = healthcheck.split(" CMD ", 1)
    assert "--interval=" in options and "--timeout=" in options and "--retries=" in options
    assert json.loads(command) == [VENV_PYTHON, "-I", f"/app/runtime/{HEALTHCHECK_SCRIPT}"]
    assert (PACKAGE_DIR.parent / HEALTHCHECK_SCRIPT) in runtime_files()


def test_gpu_image_installs_the_distributions_python_and_makes_the_venv_from_it() -> None:
    text = dockerfile(gpu_image(apt_requirements=["libgomp1"]))
    first, second = stages(text)
    assert first[0] == f"FROM {CUDA_IMAGE} AS {REQUIREMENTS_STAGE}" and second[0] == f"FROM {CUDA_IMAGE}"
    install = first[index(first, "RUN apt-get")]
    assert "libgomp1 python3 python3-venv" in install
    assert install.endswith("&& apt-get clean && rm -rf /var/lib/apt/lists/*")
    assert first[index(first, "RUN apt-get") + 1] == "RUN /usr/bin/python3 -m venv /opt/venv"
    assert PIP_INSTALL in first
    # The image has the Python the venv links to: the same apt layer.
    assert second[index(second, "RUN apt-get")] == install
    assert COPY_VENV in second and SERVE in second


def test_custom_image_makes_the_venv_from_its_python_and_keeps_its_packages() -> None:
    text = dockerfile(custom_image())
    assert text.startswith(f"FROM my/base:1 AS {REQUIREMENTS_STAGE}\n")
    assert "\nFROM my/base:1\n" in text
    assert "RUN /py/bin/python3 -m venv --system-site-packages /opt/venv" in text.splitlines()
    assert "apt-get" not in text
    assert PIP_INSTALL in text
    assert SERVE in text.splitlines()


def test_apt_packages_are_one_cleaned_layer_before_the_venv_and_quoted() -> None:
    text = dockerfile(image(apt_requirements=["curl", "libgomp1=12.2.0-14", "weird;name"]))
    for stage, before in zip(stages(text), ("RUN python3 -m venv", "RUN groupadd"), strict=True):
        apt = [line for line in stage if "apt-get" in line and line.startswith("RUN")]
        assert apt == [
            "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
            "--no-install-recommends curl libgomp1=12.2.0-14 'weird;name' "
            "&& apt-get clean && rm -rf /var/lib/apt/lists/*"
        ]
        assert stage[stage.index(apt[0]) - 1] == "# hadolint ignore=DL3008"
        assert stage.index(apt[0]) < index(stage, before)


def test_build_args_reach_only_the_requirements_install_and_never_env() -> None:
    first, second = stages(dockerfile(image(build_commands=["echo hi"])))
    args = [i for i, line in enumerate(first) if line.startswith("ARG ")]
    assert [first[i] for i in args] == [f"ARG {name}" for name in BUILD_ARGS]
    assert "PIP_INDEX_URL" in BUILD_ARGS
    assert index(first, "COPY requirements.txt") < min(args) and max(args) + 1 == first.index(PIP_INSTALL)
    assert first[-1] == PIP_INSTALL  # nothing else in that stage sees them
    for line in first + second:
        if line.startswith("ENV "):
            assert not any(name in line for name in BUILD_ARGS), line
    # The image is the second stage: the engine records the build args in scope in the history
    # of each RUN, so none may be in scope there (not even for build_commands).
    assert not any(line.startswith("ARG ") or "$PIP_" in line for line in second), second


def test_the_dockerfile_depends_on_the_image_part_only(plan: ChainPlan) -> None:
    for spec in plan.chainlets:
        text = dockerfile(spec.image)
        assert spec.name not in text and spec.content_hash not in text
        assert plan.workspace_dir not in text


def test_dependency_layers_are_the_dockerfiles_prefix() -> None:
    for spec in (image(), gpu_image(), custom_image(), image(apt_requirements=["curl"])):
        prefix = dependency_layers(spec)
        assert dockerfile(spec).splitlines()[: len(prefix)] == prefix
        assert prefix[: len(requirements_stage(spec))] == requirements_stage(spec)
        assert prefix[-1] == COPY_VENV
    with_commands = dependency_layers(image(build_commands=["echo a", "echo b"]))
    assert with_commands[-3:] == [COPY_VENV, "RUN echo a", "RUN echo b"]


def _files(root: pathlib.Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _copied_before_venv(lines: list[str]) -> set[str]:
    """Context paths read by a COPY before the installed venv is copied into the image."""
    end = lines.index(COPY_VENV)
    return {line.split()[1] for line in lines[:end] if line.startswith("COPY ") and "--from" not in line}


def test_chainlets_with_equal_base_and_requirements_share_every_layer_up_to_the_install(
    shared_plan: ChainPlan, tmp_path: pathlib.Path
) -> None:
    leaf, mid, entry = (shared_plan.chainlet(n) for n in ("Leaf", "Mid", "Entry"))
    contexts = {s.name: write_build_context(shared_plan, s, tmp_path / s.name).directory
                for s in (leaf, mid, entry)}
    texts = {name: (root / "Dockerfile").read_text().splitlines() for name, root in contexts.items()}
    # Leaf and Mid: byte-identical instructions up to and including the venv's copy...
    end = texts["Leaf"].index(COPY_VENV)
    assert texts["Leaf"][: end + 1] == texts["Mid"][: end + 1]
    # ...over byte-identical files: every context file that differs is copied after it.
    leaf_files, mid_files = _files(contexts["Leaf"]), _files(contexts["Mid"])
    differing = {path for path in leaf_files.keys() | mid_files.keys()
                 if leaf_files.get(path) != mid_files.get(path)}
    assert {"data/table.csv", "packages/0/helpers.py"} <= differing
    early = _copied_before_venv(texts["Leaf"])
    assert early == {"requirements.txt"}
    assert not {p for p in differing if p.split("/")[0] in early or p in early}, differing
    # Entry asks for numpy: same instructions, but its requirements.txt differs, so its install
    # layer is its own.
    assert texts["Entry"][: end + 1] == texts["Leaf"][: end + 1]
    assert (contexts["Entry"] / "requirements.txt").read_bytes() != leaf_files["requirements.txt"]
    assert leaf.image.sources != mid.image.sources  # different images, shared dependency layers


def test_dockerignore_keeps_vcs_venvs_caches_state_and_env_files_out() -> None:
    for pattern in ("**/.git", "**/.venv", "**/venv", "**/__pycache__", "**/.env", "**/.env.*",
                    "**/.chains_generated"):
        assert pattern in DOCKERIGNORE.splitlines()


#: sha256 of the rendered recipe per IMAGE_TEMPLATE_VERSION. When this test fails you changed
#: what images hold: bump IMAGE_TEMPLATE_VERSION (plan/base_images.py), so no image built from
#: the old recipe is reused under a tag the new one would give, and record the new digest here.
TEMPLATE_DIGESTS = {
    2: "f5078bde919c6075e026b080520ca265969cddae0b712117960b095de317ea7e",
    3: "958204ee1d95770583185bcb57007c966df6a514ce5a5113489e525485cecc2b",
}


def test_changing_the_recipe_bumps_the_template_version() -> None:
    recipe = hashlib.sha256()
    for spec in (image(), gpu_image(apt_requirements=["libgomp1"]), custom_image()):
        recipe.update(dockerfile(spec).encode())
    recipe.update(DOCKERIGNORE.encode())
    assert recipe.hexdigest() == TEMPLATE_DIGESTS.get(IMAGE_TEMPLATE_VERSION), (
        f"the image recipe changed: bump IMAGE_TEMPLATE_VERSION (now {IMAGE_TEMPLATE_VERSION}) "
        f"and record {recipe.hexdigest()} for it in TEMPLATE_DIGESTS"
    )
