"""Killing a training process at a chosen moment (for the tests of what a SIGKILL leaves)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

import pytest


def kill_when(cmd: list[str], ready: Callable[[], bool], what: str, timeout: float = 120,
              grace: float = 0.3) -> None:
    """Start ``cmd``, wait until ``ready()`` (failing the test after ``timeout`` seconds with
    "``what`` never happened"), let it run ``grace`` seconds more, then SIGKILL it."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + timeout
        while not ready():
            if time.time() > deadline:
                pytest.fail(f"{what} never happened")
            time.sleep(0.05)
        time.sleep(grace)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
