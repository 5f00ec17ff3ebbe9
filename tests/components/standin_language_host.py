"""A stand-in for Pulumi's Python language host, for the real-engine test (test_real_engine.py).

The engine runs a Python project through a plugin, ``pulumi-language-python``: a Go program in a
Go module of its own that the Go module proxy does not serve (the CLI and the Kubernetes provider
are served and built by scripts/ci-pulumi-engine). This plays its part: the engine starts it with
its own address as the last argument, reads the port printed on stdout and calls its
``LanguageRuntime`` service. It is the Python SDK's own server, the one the Automation API runs
inline programs with (`pulumi.automation._server.LanguageServer`); its program runs the project's
``main`` with `runpy`, in the program directory, with the project root set, as the Go host's exec
shim does. Dependencies are not installed: the interpreter running this is the project's venv.

Run as ``python standin_language_host.py [flags...] ENGINE_ADDRESS``.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
from concurrent import futures
from typing import Any

import grpc
import pulumi.runtime.settings
from pulumi.automation._server import LanguageServer
from pulumi.runtime.proto import language_pb2_grpc

#: gRPC messages the engine sends may be large (config, resource state); the Go host allows 400 MiB.
MAX_MESSAGE_BYTES = 400 * 1024 * 1024


class ProgramHost(LanguageServer):  # type: ignore[misc]
    """`LanguageServer` whose program is the project's ``main`` named in the `Run` request."""

    def __init__(self) -> None:
        super().__init__(program=self._run_main)
        self._request: Any = None

    def Run(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC method name)
        self._request = request  # the engine runs one program at a time per host
        return super().Run(request, context)

    def _run_main(self) -> None:
        request = self._request
        info = request.info
        program_dir = info.program_directory or request.pwd or os.getcwd()
        entry = info.entry_point or request.program or "."
        pulumi.runtime.settings.SETTINGS.root_directory = info.root_directory or program_dir
        os.chdir(program_dir)
        sys.path.insert(0, program_dir)
        runpy.run_path(os.path.join(program_dir, entry), run_name="__main__")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="pulumi-language-python (stand-in)")
    parser.add_argument("engine_address", nargs="?")
    parser.parse_known_args(argv)  # flags such as -tracing or -root are the Go host's; unused here
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                 ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)],
    )
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(ProgramHost(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)  # the engine reads the port from the first line of stdout
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:  # the engine's way of closing a plugin
        server.stop(grace=None)


if __name__ == "__main__":
    main(sys.argv[1:])
