"""The public API of `infra_chains/__init__.py`: every name of API.md, nothing else leaking."""

import inspect
import json
import pkgutil
import subprocess
import sys
import traceback

import pytest

import infra_chains as chains
from infra_chains.public_types import StackFrame

# Every name shared/API.md promises at the top level (truss-chains' names plus our extensions).
API_NAMES = [
    "AbsPath", "Assets", "BasetenImage", "ChainService", "ChainletBase", "ChainsRuntimeError",
    "ChainsUsageError", "Compute", "ConfigError", "DeploymentError", "CustomImage", "DeploymentContext", "DockerImage",
    "ExternalDataItem", "RPCOptions", "RemoteConfig", "RemoteErrorDetail", "ServiceDescriptor",
    "StubBase", "deploy_remotely", "depends", "depends_context", "make_abs_path_here",
    "mark_entrypoint", "push", "run_local", "WebSocketProtocol",
]


# truss-chains' `__all__` (0.18, `truss-chains/truss_chains/__init__.py`): a file written for it
# ports by changing its import, so each of these names must be there too.
TRUSS_CHAINS_ALL = [
    "Assets", "BasetenImage", "EngineBuilderLLMChainlet", "ChainletBase", "ChainletOptions",
    "Compute", "CustomImage", "DeployedServiceDescriptor", "DeploymentContext", "DockerImage",
    "Environment", "GenericRemoteException", "ModelBase", "EngineBuilderLLMInput", "RPCOptions",
    "RemoteConfig", "RemoteErrorDetail", "StubBase", "TrussChainlet", "WebSocketProtocol",
    "WeightsSource", "depends", "depends_context", "make_abs_path_here", "mark_entrypoint", "push",
    "run_local",
]


@pytest.mark.parametrize("name", TRUSS_CHAINS_ALL)
def test_truss_chains_name_is_exported(name: str) -> None:
    assert name in chains.__all__
    assert getattr(chains, name) is not None


@pytest.mark.parametrize("name", API_NAMES)
def test_api_name_is_exported(name: str) -> None:
    assert name in chains.__all__
    assert getattr(chains, name) is not None


def test_all_is_sorted_and_unique() -> None:
    assert chains.__all__ == sorted(set(chains.__all__))


def test_every_name_in_all_is_defined() -> None:
    missing = [name for name in chains.__all__ if not hasattr(chains, name)]
    assert missing == []


def test_no_public_name_outside_all() -> None:
    submodules = {module.name for module in pkgutil.iter_modules(chains.__path__)}
    public = {name for name in dir(chains) if not name.startswith("_")}
    assert public - set(chains.__all__) - submodules == set()


def test_exports_come_from_public_modules() -> None:
    for name in chains.__all__:
        module = getattr(getattr(chains, name), "__module__", "infra_chains")
        assert module.split(".")[0] == "infra_chains", name
        assert not any(part.startswith("_") for part in module.split(".")), (name, module)


# What a deployed chainlet must not pay for: the deploy side of the package and the CLI's libraries.
_NOT_IN_A_CHAINLET = (
    "infra_chains.deploy", "infra_chains.plan", "infra_chains.build", "infra_chains.targets",
    "infra_chains.cli", "typer", "rich", "pulumi", "pulumi_kubernetes", "pulumi_docker", "httpx",
)


def test_a_chainlet_process_imports_framework_and_serving_only() -> None:
    code = (
        "import json, sys\n"
        "import infra_chains, infra_chains.serve, infra_chains.serving.runtime\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    leaked = [m for m in loaded if any(m == n or m.startswith(f"{n}.") for n in _NOT_IN_A_CHAINLET)]
    assert leaked == []


def test_lazy_push_is_the_real_function() -> None:
    from infra_chains import deploy, deploy_remotely, push

    assert push is deploy.push and chains.push is deploy.push
    assert deploy_remotely is deploy.deploy_remotely
    assert inspect.signature(chains.push) == inspect.signature(deploy.push)
    assert "push" in dir(chains) and "deploy_remotely" in dir(chains)
    with pytest.raises(AttributeError, match="no attribute 'pussh'"):
        chains.pussh  # noqa: B018 - the attribute access is the test


def test_deployment_context_is_generic() -> None:
    import pydantic

    class MyConfig(pydantic.BaseModel):
        size: int = 1

    context = chains.DeploymentContext[MyConfig](user_config=MyConfig(size=3))
    assert context.user_config.size == 3


def _raise_nested() -> None:
    def inner() -> None:
        raise ValueError("bad input: 42")

    inner()


def test_remote_error_detail_formats_like_a_traceback() -> None:
    try:
        _raise_nested()
    except ValueError as exc:
        summary = traceback.extract_tb(exc.__traceback__)
        expected_frames = "".join(traceback.format_list(summary)).rstrip("\n")
        frames = [
            StackFrame(filename=f.filename, lineno=f.lineno, name=f.name, line=f.line) for f in summary
        ]
    detail = chains.RemoteErrorDetail(
        remote_name="Leaf",
        exception_cls_name="ValueError",
        exception_module_name="builtins",
        exception_message="bad input: 42",
        user_stack_trace=frames,
    )
    rendered = detail.format()
    lines = rendered.splitlines()
    assert "Leaf" in lines[0]
    assert lines[1] == "Chainlet-Traceback (most recent call last):"
    # Frames render exactly as Python renders them (without the caret lines of 3.11+).
    python_frames = [line for line in expected_frames.splitlines() if line.strip(" ^~")]
    assert lines[2:-1] == python_frames
    assert lines[-1] == "ValueError: bad input: 42"


def test_remote_error_detail_qualifies_user_exception_classes() -> None:
    detail = chains.RemoteErrorDetail(
        remote_name="Leaf",
        exception_cls_name="QuotaExceeded",
        exception_module_name="billing.errors",
        exception_message="",
        user_stack_trace=[StackFrame(filename="/app/leaf.py", lineno=3, name="run_remote")],
    )
    assert detail.format().splitlines()[-2:] == [
        '  File "/app/leaf.py", line 3, in run_remote',
        "billing.errors.QuotaExceeded",
    ]


def test_remote_error_detail_round_trips_as_json() -> None:
    detail = chains.RemoteErrorDetail(
        remote_name="Leaf", exception_cls_name="KeyError", exception_message="'x'",
        user_stack_trace=[StackFrame(filename="f.py", lineno=1, name="g", line="x = d['x']")],
    )
    assert chains.RemoteErrorDetail.model_validate_json(detail.model_dump_json()) == detail
