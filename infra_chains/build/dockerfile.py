"""ImageSpec -> Dockerfile text (and the context's .dockerignore).

The Dockerfile is a function of the `ImageSpec` alone (no chainlet name, no deployment value), so
the image tag can be the spec's hash and chainlets with equal image parts share one image. Two
stages; layers go from least to most often changed::

    FROM <base> AS requirements            stage 1: the venv, installed (`requirements_stage`)
    ENV  PYTHONUNBUFFERED=1 ...            the same for every image
    RUN  apt-get ... (one cleaned layer)   apt_requirements (+ python3 / python3-venv for CUDA)
    RUN  <base python> -m venv /opt/venv
    COPY requirements.txt                  the merged requirements, byte-identical when equal
    ARG  PIP_INDEX_URL ...                 build args: this stage's install only
    RUN  /opt/venv/bin/python -m pip install -r requirements.txt

    FROM <base>                            stage 2: the image (`dockerfile`)
    ENV, RUN apt-get ...                   the same instructions as stage 1: the same layers
    RUN  groupadd/useradd                  the non-root user (uid/gid 10001)
    COPY --from=requirements /opt/venv     the installed venv
    RUN  <command>                         RemoteConfig.build_commands, one layer each
    ---- shared by every chainlet of a chain with the same base and requirements up to here ----
    COPY runtime (compiled)                the infra_chains runtime (the same for the whole chain)
    HEALTHCHECK, CMD python -m infra_chains.serve, USER 10001
    COPY packages, data, workspace         the source, last (root's files: COPY ignores USER)

Everything up to the venv copy depends only on the base image, the apt packages and the
requirements, so chainlets of a chain that share those get byte-identical instructions over
byte-identical files and the engine's cache builds those layers once.

The runtime's Python is always the venv at `VENV_DIR`, made from the base's Python: it works on
bases whose system Python is marked externally managed (Debian's and Ubuntu's python3, PEP 668),
and the user's pins never fight the base's packages. A `CustomImage`'s venv sees the image's own
packages (``--system-site-packages``): a CUDA image with torch keeps its torch. The venv's
interpreter links to the base's, which stage 2 has at the same path (same base, same apt layer).

Build arguments (`BUILD_ARGS`: a private index, for example) are declared in stage 1 only, right
before the install. Why two stages: the engine records the values of the build args in scope in
the history of every later ``RUN`` of their stage (``docker history``, and the image config that
``docker save`` and a registry push carry), so a token in ``PIP_INDEX_URL`` would ship with a
one-stage image. The image is stage 2, whose history holds no build arg; stage 1 stays in the
engine's build cache. ``build_commands`` run in stage 2 and so do not see them. The proxy
variables (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``) are the engine's predefined args, kept
out of the history by the engine; pass them the same way.
"""

from __future__ import annotations

import json
import shlex

from infra_chains.build.layout import APP_DIR, ChainletLayout
from infra_chains.plan.base_images import VENV_DIR
from infra_chains.plan.models import ImageSpec
from infra_chains.serving.probe import ProbePolicy

#: Never sent to the engine, even if a copy step let one through (the copier skips them too).
DOCKERIGNORE = "\n".join([
    "**/.git", "**/.hg", "**/.svn", "**/.venv", "**/venv", "**/.venvs", "**/.env", "**/.env.*",
    "**/__pycache__", "**/*.pyc", "**/*.pyo", "**/.mypy_cache", "**/.pytest_cache",
    "**/.ruff_cache", "**/.tox", "**/.chains_generated", "**/.infra-chains",
    "chainlet.json", "layout.json",
]) + "\n"

#: Build arguments the requirements install accepts (pip reads them from its environment).
BUILD_ARGS: tuple[str, ...] = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")
#: The name of the stage that installs the requirements (`requirements_stage`).
REQUIREMENTS_STAGE = "requirements"
#: The chainlet's user and group: fixed, so a mounted secret file can be made readable to it.
USER_ID = 10001
USER_NAME = "chainlet"
#: The HEALTHCHECK command's script, relative to the runtime dir (build/healthcheck.py).
HEALTHCHECK_SCRIPT = "infra_chains/build/healthcheck.py"
#: How the engine checks a running chainlet. A hung chainlet is unhealthy after ~15 s; failures
#: in the first minute (a model loading in ``__init__``) do not count. The Docker target
#: overrides the numbers per container from the chainlet's ``health_checks``
#: (`targets.docker.containers.healthcheck`), so they are not part of the image.
HEALTHCHECK_LIVENESS = ProbePolicy(period_sec=5.0, timeout_sec=3.0, failure_threshold=3)
HEALTHCHECK_START_PERIOD_SEC = 60
HEALTHCHECK_OPTIONS = (
    f"--interval={HEALTHCHECK_LIVENESS.period_sec:g}s --timeout={HEALTHCHECK_LIVENESS.timeout_sec:g}s "
    f"--start-period={HEALTHCHECK_START_PERIOD_SEC}s --retries={HEALTHCHECK_LIVENESS.failure_threshold}"
)
_BASE_ENV = (
    "ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1"
)
#: The engine's PATH for an image that sets none.
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: The distribution's Python that `apt-venv` installs (Ubuntu's ``python3``).
_DISTRIBUTION_PYTHON = "/usr/bin/python3"


def _system_packages(image: ImageSpec) -> list[str]:
    packages = set(image.apt_requirements)
    if image.python_setup == "apt-venv":
        packages |= {"python3", "python3-venv"}
    return sorted(packages)


def _base_python(image: ImageSpec) -> str:
    """The Python the venv is made from: the base image's, or the one apt installed."""
    return _DISTRIBUTION_PYTHON if image.python_setup == "apt-venv" else image.python_executable


def _apt_layer(packages: list[str]) -> list[str]:
    return [
        "# The user's apt_requirements are package names, pinned only if the user pins them",
        "# (name=version passes through); the base image's release fixes what a name resolves to.",
        "# hadolint ignore=DL3008",
        "RUN apt-get update"
        " && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
        + " ".join(shlex.quote(p) for p in packages)
        + " && apt-get clean && rm -rf /var/lib/apt/lists/*",
    ]


def _venv_layer(image: ImageSpec) -> str:
    # A CustomImage's own packages (torch in a CUDA image) stay importable from the venv.
    system_site = " --system-site-packages" if image.python_version is None else ""
    return f"RUN {shlex.quote(_base_python(image))} -m venv{system_site} {VENV_DIR}"


def _user_layer() -> str:
    return (
        f"RUN groupadd --system --gid {USER_ID} {USER_NAME}"
        f" && useradd --system --uid {USER_ID} --gid {USER_ID} --create-home"
        f" --home-dir /home/{USER_NAME} --shell /usr/sbin/nologin {USER_NAME}"
    )


def _base_layers(image: ImageSpec) -> list[str]:
    """The first instructions of both stages: the same text, so the engine builds them once."""
    lines = [_BASE_ENV]
    if packages := _system_packages(image):
        lines += _apt_layer(packages)
    return lines


#: An imported rootfs (`docker import`) may have no PATH: keep the engine's default then.
_VENV_ENV = f"ENV VIRTUAL_ENV={VENV_DIR} PATH={VENV_DIR}/bin:${{PATH:-{_DEFAULT_PATH}}}"


def requirements_stage(image: ImageSpec) -> list[str]:
    """Stage 1: the venv with the requirements installed, the only place build args reach."""
    python = ChainletLayout.in_image(image).python_executable
    return [
        f"FROM {image.base_image} AS {REQUIREMENTS_STAGE}",
        *_base_layers(image),
        _venv_layer(image),
        _VENV_ENV,
        f"COPY requirements.txt {APP_DIR}/requirements.txt",
        *(f"ARG {name}" for name in BUILD_ARGS),
        f"RUN {python} -m pip install --no-cache-dir -r {APP_DIR}/requirements.txt",
    ]


def dependency_layers(image: ImageSpec) -> list[str]:
    """Everything before the chain's own files: shared by images with equal inputs."""
    return [
        *requirements_stage(image),
        "",
        f"FROM {image.base_image}",
        *_base_layers(image),
        _user_layer(),
        _VENV_ENV,
        f"COPY --from={REQUIREMENTS_STAGE} {VENV_DIR} {VENV_DIR}",
        # The user's build_commands, as root with the venv first on PATH (`pip install` goes
        # there), one layer each, as truss-chains runs them; shared like the layers above.
        *(f"RUN {command}" for command in image.build_commands),
    ]


def dockerfile(image: ImageSpec) -> str:
    layout = ChainletLayout.in_image(image)
    python = layout.python_executable
    healthcheck = [python, "-I", f"{layout.runtime_dir}/{HEALTHCHECK_SCRIPT}"]
    lines = [
        *dependency_layers(image),
        f"COPY runtime {layout.runtime_dir}",
        # Bytecode at build time: the user cannot write it at run time, and start-up is faster.
        f"RUN {python} -m compileall -q --invalidation-mode checked-hash {layout.runtime_dir}",
        f"ENV PYTHONPATH={layout.runtime_dir}",
        f"WORKDIR {layout.workspace_dir}",
        f"HEALTHCHECK {HEALTHCHECK_OPTIONS} CMD {json.dumps(healthcheck)}",
        f"CMD {json.dumps([python, '-m', 'infra_chains.serve'])}",
        f"USER {USER_ID}:{USER_ID}",
        # The source last: an edit rebuilds these three layers only (each instruction above is a
        # layer of its own, and the engine's build makes a container for each). COPY ignores
        # USER: the files stay root's, readable by the chainlet's user but not writable.
        f"COPY packages {APP_DIR}/packages",
        f"COPY data {APP_DIR}/data",
        f"COPY workspace {layout.workspace_dir}",
    ]
    return "\n".join(lines) + "\n"
