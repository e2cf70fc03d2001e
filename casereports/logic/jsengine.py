"""The browser's JavaScript engine, run under node: the conformance runner's `--engine js`."""

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

RUNNER = Path(__file__).with_name("node_runner.js")


class EngineError(RuntimeError):
    pass


def evaluate_many(
    asts: Sequence[dict], records: Sequence[Mapping[str, str]]
) -> list[bool | float | int | str]:
    """Evaluate asts[i] on records[i] in one node process."""
    if len(asts) != len(records):
        raise ValueError(f"{len(asts)} expressions but {len(records)} records")
    node = shutil.which("node")
    if node is None:
        raise EngineError("node is not installed: the JavaScript engine needs Node.js")
    payload = "".join(
        json.dumps({"ast": ast, "data": dict(record)}) + "\n"
        for ast, record in zip(asts, records, strict=True)
    )
    completed = subprocess.run(  # noqa: S603 - our runner script, data on stdin
        [node, str(RUNNER)], input=payload, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise EngineError(f"node failed: {completed.stderr.strip()[-500:]}")
    results = []
    for line in completed.stdout.splitlines():
        answer = json.loads(line)
        if "error" in answer:
            raise EngineError(answer["error"])
        results.append(answer["value"])
    if len(results) != len(asts):
        raise EngineError(f"node answered {len(results)} of {len(asts)} expressions")
    return results
