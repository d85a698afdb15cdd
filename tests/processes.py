"""Running hopstream's own processes from tests, and always stopping them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hopstream import readiness
from hopstream.settings import Settings


class Process:
    """`python -m hopstream <command>` with the given settings, output to a log file."""

    def __init__(self, command: str, settings: Settings, log_path: Path,
                 extra_env: dict[str, str] | None = None) -> None:
        self.command = command
        self.settings = settings
        self.log_path = log_path
        env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        readiness.clear(settings, [command])
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hopstream", command],
            env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if readiness.marker(self.settings, self.command).exists():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(
            f"hopstream {self.command} not ready (exit={self.proc.poll()}):\n{self.output()}"
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self, sig: int = signal.SIGTERM, within: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(within)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode
