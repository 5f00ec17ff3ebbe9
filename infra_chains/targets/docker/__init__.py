"""The docker target: chains as containers on a Docker engine (`target.py`; the engine in `engine.py`)."""

from infra_chains.targets.docker.target import DockerChainService, DockerTarget

__all__ = ["DockerChainService", "DockerTarget"]
