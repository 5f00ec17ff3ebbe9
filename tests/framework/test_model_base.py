"""`infra_chains/framework/model_base.py`: truss-chains' standalone model (`predict`, no
dependencies, its own entrypoint, one per file), run locally and deployed like a chainlet."""

from __future__ import annotations

import asyncio
import json
import pathlib
import textwrap

import pytest

import infra_chains as chains
from infra_chains import deploy
from infra_chains.framework.chainlet import definition_of, is_entrypoint
from infra_chains.framework.loading import load_entrypoint
from infra_chains.targets.local import LocalTarget


def _problem_codes(cls: type[chains.ChainletBase]) -> list[str]:
    with pytest.raises(chains.ChainsUsageError) as info:
        definition_of(cls)
    return [p.code for p in info.value.problems]


def test_a_model_is_its_own_entrypoint_and_runs_locally_through_predict() -> None:
    class Counter(chains.ModelBase):
        def __init__(self, context: chains.DeploymentContext = chains.depends_context()) -> None:
            self._calls = 0
            self.user_env = dict(context.user_env)

        def predict(self, increment: int) -> int:
            self._calls += increment
            return self._calls

    assert is_entrypoint(Counter)
    definition = definition_of(Counter)
    assert definition.endpoint.method_name == "predict"
    assert [p.name for p in definition.endpoint.params] == ["increment"]
    with chains.run_local(user_env={"k": "v"}):
        model = Counter()
        assert (model.predict(2), model.predict(3)) == (2, 5)
        assert model.user_env == {"k": "v"}


def test_an_async_model_keeps_its_name_from_remote_config() -> None:
    class Passthrough(chains.ModelBase):
        remote_config = chains.RemoteConfig(name="OverridePassthroughModelName")

        async def predict(self, value: str) -> str:
            return value

    definition = definition_of(Passthrough)
    assert definition.name == "OverridePassthroughModelName"
    assert definition.endpoint.is_async
    with chains.run_local():
        assert asyncio.run(Passthrough().predict("x")) == "x"


def test_a_model_needs_predict_not_run_remote() -> None:
    class ModelWithRunRemote(chains.ModelBase):
        def run_remote(self) -> str:
            return ""

    with pytest.raises(chains.ChainsUsageError, match=r"a model needs an endpoint method `def predict"):
        definition_of(ModelWithRunRemote)
    assert _problem_codes(ModelWithRunRemote) == ["endpoint-missing"]


def test_a_model_takes_no_dependencies() -> None:
    class Helper(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

    class ModelWithDependencies(chains.ModelBase):
        def __init__(self, helper: Helper = chains.depends(Helper)) -> None:
            self.helper = helper

        def predict(self) -> int:
            return 1

    with pytest.raises(chains.ChainsUsageError, match=r"a model \(chains.ModelBase\) takes no dependencies"):
        definition_of(ModelWithDependencies)


def test_a_chainlet_cannot_depend_on_a_model() -> None:
    class Standalone(chains.ModelBase):
        def predict(self) -> int:
            return 1

    class Caller(chains.ChainletBase):
        def __init__(self, model: Standalone = chains.depends(Standalone)) -> None:
            self.model = model

        def run_remote(self) -> int:
            return 1

    with pytest.raises(chains.ChainsUsageError, match=r"depends on model `Standalone`"):
        definition_of(Caller)


def test_model_problems_name_predict(tmp_path: pathlib.Path) -> None:
    class Untyped(chains.ModelBase):
        def predict(self, x):  # type: ignore[no-untyped-def]
            return x

    with pytest.raises(chains.ChainsUsageError, match=r"\(Untyped\.predict\) \[endpoint-annotation\]"):
        definition_of(Untyped)


def _write(tmp_path: pathlib.Path, name: str, source: str) -> pathlib.Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def test_two_models_in_one_file_are_refused(tmp_path: pathlib.Path) -> None:
    # truss-chains' tests/import/standalone_with_multiple_entrypoints.py, in short.
    path = _write(tmp_path, "two_models.py", """
        import infra_chains as chains

        class FirstModel(chains.ModelBase):
            def predict(self, n: int) -> int:
                return n

        class SecondModel(chains.ModelBase):
            def predict(self, n: int) -> int:
                return n
    """)
    entry = load_entrypoint(path)
    assert entry.__name__ == "FirstModel"
    with pytest.raises(chains.ChainsUsageError) as info:
        definition_of(entry)
    (problem,) = info.value.problems
    assert (problem.code, problem.location, problem.line) == ("entrypoint-twice", "SecondModel", 8)
    assert "already has a model, `FirstModel` (line 4)" in problem.message


def test_a_model_beside_a_marked_entrypoint_is_refused(tmp_path: pathlib.Path) -> None:
    path = _write(tmp_path, "model_and_chain.py", """
        import infra_chains as chains

        @chains.mark_entrypoint
        class Entry(chains.ChainletBase):
            def run_remote(self) -> int:
                return 1

        class Model(chains.ModelBase):
            def predict(self) -> int:
                return 1
    """)
    with pytest.raises(chains.ChainsUsageError, match=r"already has a chainlet marked as entrypoint, `Entry`"):
        definition_of(load_entrypoint(path))


def test_a_class_with_predict_but_no_base_is_named(tmp_path: pathlib.Path) -> None:
    # truss-chains' tests/import/model_without_inheritance.py.
    path = _write(tmp_path, "model_without_inheritance.py", """
        class ClassWithoutModelInheritance:
            def __init__(self):
                self._call_count = 0

            async def predict(self, call_count_increment: int) -> int:
                self._call_count += call_count_increment
                return self._call_count
    """)
    with pytest.raises(chains.ChainsUsageError, match=(
        r"defines no chainlet and no model.*`ClassWithoutModelInheritance` has a `predict` method "
        r"but does not inherit from chains.ModelBase"
    )):
        load_entrypoint(path)


def test_a_model_plans_and_builds_as_a_one_chainlet_chain(tmp_path: pathlib.Path) -> None:
    path = _write(tmp_path / "src", "planned_model.py", """
        import infra_chains as chains

        class Planned(chains.ModelBase):
            remote_config = chains.RemoteConfig(compute=chains.Compute(cpu_count=4, memory="1Gi"))

            def predict(self, n: int) -> int:
                return n
    """)
    out = tmp_path / "generated"
    assert deploy.push(load_entrypoint(path), "planned", only_generate_trusses=True,
                       generated_dir=out) is None
    plan = json.loads((out / "planned" / "plan.json").read_text())
    (chainlet,) = plan["chainlets"]
    assert (chainlet["name"], chainlet["is_entrypoint"]) == ("Planned", True)
    assert chainlet["deployment"]["import_path"] == "planned_model:Planned"
    assert chainlet["deployment"]["compute"]["cpu_count"] == 4
    assert chainlet["deployment"]["dependencies"] == []


@pytest.mark.servers
def test_a_model_deploys_to_the_local_target_and_answers(tmp_path: pathlib.Path) -> None:
    path = _write(tmp_path / "src", "counter_model.py", """
        import infra_chains as chains

        class Counter(chains.ModelBase):
            remote_config = chains.RemoteConfig(name="CounterModel")

            def __init__(self):
                self._calls = 0

            async def predict(self, call_count_increment: int) -> int:
                self._calls += call_count_increment
                return self._calls
    """)
    target = LocalTarget(root=tmp_path / "state")
    try:
        service = deploy.push(load_entrypoint(path), "counter", remote=target)
        assert service is not None
        assert [c.name for c in service.get_info()] == ["CounterModel"]
        assert service.run_remote({"call_count_increment": 5}) == 5
        assert service.run_remote({"call_count_increment": 2}) == 7
    finally:
        for chain in target.chains():
            target.down(chain)
