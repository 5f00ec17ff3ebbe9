"""A fake `pulumi` CLI for tests: records every call and answers with canned JSON and events.

Installed by `conftest.py` as an executable named ``pulumi`` in a temp dir. Everything lives in
``$FAKE_PULUMI_DIR``: ``calls.jsonl`` (one line per call: argv, env, cwd), ``state.json`` (stacks,
their config and outputs), ``outputs.json`` (the outputs the next ``up`` sets), ``events.jsonl``
(engine events ``up``/``preview`` write to ``--event-log``), ``fail`` (a command name that exits 255
with an error on stderr), ``version`` (what ``pulumi version`` prints).
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

HOME = pathlib.Path(os.environ["FAKE_PULUMI_DIR"])
STATE = HOME / "state.json"


def load() -> dict:
    return json.loads(STATE.read_text()) if STATE.exists() else {"stacks": {}, "current": None}


def save(state: dict) -> None:
    STATE.write_text(json.dumps(state))


def option(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def write_events(args: list[str], extra: list[dict]) -> None:
    log = option(args, "--event-log")
    if log is None or log.startswith("tcp://"):
        return
    events = []
    canned = HOME / "events.jsonl"
    if canned.exists():
        events = [json.loads(line) for line in canned.read_text().splitlines() if line.strip()]
    with open(log, "a", encoding="utf-8") as out:
        for n, event in enumerate([*events, *extra, {"cancelEvent": {}}]):
            out.write(json.dumps({"sequence": n, "timestamp": 0, **event}) + "\n")


def main() -> int:
    args = sys.argv[1:]
    with open(HOME / "calls.jsonl", "a", encoding="utf-8") as calls:
        calls.write(json.dumps({"argv": args, "env": dict(os.environ), "cwd": os.getcwd()}) + "\n")
    words = [a for a in args if not a.startswith("-")]
    fail = HOME / "fail"
    if fail.exists() and words and words[0] == fail.read_text().strip():
        print("Updating (dev):", flush=True)
        print("error: the fake engine failed as told", file=sys.stderr)
        log = option(args, "--event-log")
        if log is not None and not log.startswith("tcp://"):  # the engine ends its log so
            with open(log, "a", encoding="utf-8") as out:
                out.write(json.dumps({"sequence": 0, "timestamp": 0, "cancelEvent": {}}) + "\n")
        return 255
    if words[:1] == ["version"]:
        version = HOME / "version"
        print(version.read_text().strip() if version.exists() else "v3.200.0")
        return 0
    state = load()
    stack = option(args, "--stack") or state["current"]
    if words[:2] == ["stack", "ls"]:
        print(json.dumps([{"name": n, "current": n == state["current"]} for n in state["stacks"]]))
        return 0
    if words[:2] == ["stack", "init"]:
        name = words[2]
        state["stacks"][name] = {"config": {}, "outputs": {}, "history": []}
        state["current"] = name
        save(state)
        return 0
    if words[:2] == ["stack", "select"]:
        if stack not in state["stacks"]:
            print(f"error: no stack named '{stack}' found", file=sys.stderr)
            return 255
        state["current"] = stack
        save(state)
        return 0
    if words[:2] == ["config", "set-all"]:
        pairs = [args[i + 1] for i, a in enumerate(args) if a in ("--plaintext", "--secret")]
        for pair in pairs:
            key, value = pair.split("=", 1)
            state["stacks"][stack]["config"][key] = value
        save(state)
        return 0
    if words[:1] == ["config"] and "--json" in args and not {"get", "set", "set-all"} & set(words):
        config = state["stacks"][stack]["config"]
        print(json.dumps({key: {"value": value, "secret": False} for key, value in config.items()}))
        return 0
    if words[:2] == ["stack", "output"]:
        outputs = state["stacks"][stack]["outputs"]
        if "--show-secrets" not in args:
            outputs = {k: "[secret]" if k == "secret_thing" else v for k, v in outputs.items()}
        print(json.dumps(outputs))
        return 0
    if words[:2] == ["stack", "history"]:
        print(json.dumps(state["stacks"][stack]["history"][:1]))
        return 0
    if words[:1] in (["up"], ["destroy"], ["preview"]):
        changes = {"create": 3} if words[0] != "destroy" else {"delete": 3}
        summary = {"summaryEvent": {"resourceChanges": changes, "durationSeconds": 1}}
        write_events(args, [summary])
        print(f"{words[0]} done")
        if words[0] == "preview":
            return 0
        entry = state["stacks"][stack]
        if words[0] == "up":
            outputs_file = HOME / "outputs.json"
            entry["outputs"] = json.loads(outputs_file.read_text()) if outputs_file.exists() else {}
        else:
            entry["outputs"] = {}
        entry["history"].insert(0, {
            "kind": "update" if words[0] == "up" else "destroy", "result": "succeeded",
            "startTime": "2025-01-01T00:00:00.000Z", "endTime": "2025-01-01T00:00:01.000Z",
            "message": "", "environment": {}, "config": {}, "version": len(entry["history"]) + 1,
            "resourceChanges": changes,
        })
        save(state)
        return 0
    print(f"error: the fake pulumi does not know {args}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
