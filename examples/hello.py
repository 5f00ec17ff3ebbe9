"""The smallest chain: an entrypoint that greets through a dependency.

    python examples/hello.py                    # runs in this process (run_local)
    infra-chains push examples/hello.py         # deploys it as two local HTTP services
"""

import infra_chains as chains


class Greeter(chains.ChainletBase):
    """Builds the greeting."""

    def run_remote(self, name: str, punctuation: str = "!") -> str:
        return f"Hello, {name}{punctuation}"


@chains.mark_entrypoint
class HelloWorld(chains.ChainletBase):
    """Greets every name it is given."""

    def __init__(self, greeter: Greeter = chains.depends(Greeter)) -> None:
        self._greeter = greeter

    def run_remote(self, names: list[str]) -> list[str]:
        return [self._greeter.run_remote(name=name) for name in names]


if __name__ == "__main__":
    with chains.run_local():
        print(HelloWorld().run_remote(names=["Ada", "Grace"]))
