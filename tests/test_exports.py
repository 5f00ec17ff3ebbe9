"""The public API of `infra_chains/__init__.py`: every name of API.md, nothing else leaking."""

import pkgutil
import traceback

import pytest

import infra_chains as chains
from infra_chains.public_types import StackFrame

# Every name shared/API.md promises at the top level (truss-chains' names plus our extensions).
API_NAMES = [
    "AbsPath", "Assets", "BasetenImage", "ChainService", "ChainletBase", "ChainsRuntimeError",
    "ChainsUsageError", "Compute", "CustomImage", "DeploymentContext", "DockerImage",
    "ExternalDataItem", "RPCOptions", "RemoteConfig", "RemoteErrorDetail", "ServiceDescriptor",
    "StubBase", "deploy_remotely", "depends", "depends_context", "make_abs_path_here",
    "mark_entrypoint", "push", "run_local",
]


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
