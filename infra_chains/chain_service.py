"""`ChainService`: the handle `push` returns for a deployed chain, whatever the target."""

from __future__ import annotations

import abc
from typing import Any

from infra_chains.errors import DependencyUnreachableError
from infra_chains.public_types import DeployedChainlet
from infra_chains.serving.remote_errors import exception_from_response


class ChainService(abc.ABC):
    """Handle for a deployed chain: its status, its entrypoint URL, and a way to call it."""

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    @abc.abstractmethod
    def run_remote_url(self) -> str:
        """URL to invoke the entrypoint (``POST`` the keyword arguments as JSON)."""

    @property
    @abc.abstractmethod
    def status_page_url(self) -> str:
        """Where the chain's status can be seen."""

    @abc.abstractmethod
    def get_info(self) -> list[DeployedChainlet]:
        """Status of each chainlet (name, is_entrypoint, status, logs_url)."""

    def run_remote(self, json: dict[str, Any], timeout_sec: float = 600.0) -> Any:
        """Invoke the entrypoint with ``json`` (its keyword arguments); returns the JSON answer.

        A failure in the chain raises the same exceptions a stub raises: the remote traceback of
        every hop in the message, the HTTP status kept.
        """
        import httpx  # imported here: the CLI's start-up should not pay for it

        try:
            response = httpx.post(self.run_remote_url, json=json, timeout=timeout_sec)
        except httpx.TransportError as exc:
            raise DependencyUnreachableError(
                f"Chain {self.name!r} is not reachable at {self.run_remote_url}: {exc}. "
                f"Check `infra-chains status {self.name}`.",
                chainlet=self.name, url=self.run_remote_url,
            ) from exc
        if response.is_success:
            return response.json()
        raise exception_from_response(
            response.status_code, response.content, chainlet=self.name, url=self.run_remote_url
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} at {self.run_remote_url}>"
