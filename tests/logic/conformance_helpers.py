import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CONFORMANCE = HERE / "conformance.jsonl"


def assert_conformance_passes(engine: str, postgres_dsn: str | None = None) -> None:
    """Run the whole conformance file through the CLI; every case must pass."""
    env = {**os.environ, "GDSI_LOGIC_POSTGRES_URL": postgres_dsn} if postgres_dsn else None
    result = subprocess.run(
        [sys.executable, "-m", "casereports.logic", "check", str(CONFORMANCE), "--engine", engine],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    last_line = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    assert re.fullmatch(r"\d+ passed, 0 failed", last_line), result.stdout[-3000:] + result.stderr
    assert int(last_line.split()[0]) >= 900
    assert result.returncode == 0
