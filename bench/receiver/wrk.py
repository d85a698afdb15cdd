"""Driving wrk (when installed): the maximum rate, and a paced rate for latency at load.

wrk is a closed-loop generator; for the paced run a Lua `delay()` makes each connection
wait between requests so that the connections together offer about the target rate. The
achieved rate is measured and reported, never assumed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
PACING = 'local d = tonumber(os.getenv("WRK_DELAY_MS") or "0")\nfunction delay() return d end\n'


def find_wrk(install: bool) -> str | None:
    """wrk on PATH; installed with apt-get first when allowed and possible (root)."""
    found = shutil.which("wrk")
    if found or not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("bench: wrk is not installed; installing it with apt-get ...", flush=True)
    quiet = subprocess.DEVNULL
    subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=quiet, stderr=quiet,
                   timeout=300)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, stdout=quiet,
                   stderr=quiet, timeout=300,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("wrk")


def run_wrk(wrk: str, url: str, connections: int, seconds: float,
            delay_ms: float = 0.0) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "pacing.lua"
        script.write_text(PACING)
        output = subprocess.run(
            [wrk, "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", "-s",
             str(script), url],
            check=True, capture_output=True, text=True,
            env={**os.environ, "WRK_DELAY_MS": f"{delay_ms:.3f}"},
        ).stdout
    return parse(output, seconds)


def parse(output: str, seconds: float) -> dict[str, float]:
    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"wrk printed no {pct}% latency:\n{output}")
        return float(match.group(1)) * UNITS[match.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", output)
    if rps is None or total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    failed = int(errors.group(1)) if errors else 0
    if socket_errors:
        failed += sum(int(n) for n in socket_errors.groups())
    return {"requests": int(total.group(1)), "errors": failed, "seconds": seconds,
            "rps": float(rps.group(1)), "p50_ms": latency("50"), "p99_ms": latency("99")}
