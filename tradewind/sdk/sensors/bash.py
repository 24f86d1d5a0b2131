"""BashSensor: run a Bash command at each poke; exit code 0 means done."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from tradewind.sdk.exceptions import TaskFailedNoRetry
from tradewind.sdk.sensors.base import BaseSensorOperator


class BashSensor(BaseSensorOperator):
    """Run ``bash_command`` (as a script, in a fresh temporary directory) at each poke.

    Exit code 0 ends the sensor. Without ``retry_exit_code`` any other code means "not yet";
    with it, that code means "not yet" and any other non-zero code fails the task without
    retrying (``TaskFailedNoRetry``; a skip with soft_fail).

    Args:
        bash_command: the command or script (templated).
        env: the environment of the command (templated); the task process's when None.
        output_encoding: how to decode the command's output.
        retry_exit_code: the exit code that means "poke again later", or None.
        **kwargs: BaseSensorOperator arguments.

    """

    template_fields: Sequence[str] = ("bash_command", "env")
    display_fields: Sequence[str] = ("retry_exit_code",)

    def __init__(
        self,
        *,
        bash_command: str,
        env: Mapping[str, str] | None = None,
        output_encoding: str = "utf-8",
        retry_exit_code: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = dict(env) if env is not None else None
        self.output_encoding = output_encoding
        self.retry_exit_code = retry_exit_code
        self._process: subprocess.Popen[bytes] | None = None

    def poke(self, context: Mapping[str, Any]) -> bool:
        """Run the command once and read its exit code.

        Args:
            context: the task instance's context.

        Returns:
            True for exit code 0, False for "not yet".

        Raises:
            TaskFailedNoRetry: another non-zero code, when ``retry_exit_code`` is set.

        """
        with tempfile.TemporaryDirectory(prefix="tradewindtmp") as scratch:
            script = os.path.join(scratch, "poke.sh")
            with open(script, "w", encoding="utf-8") as file:
                file.write(self.bash_command)
            self.log.info("Running command: %s", self.bash_command)
            exit_code = self._run(script, scratch)
        if exit_code == 0:
            return True
        if self.retry_exit_code is not None:
            if exit_code == self.retry_exit_code:
                self.log.info("Return code matches retry code, will retry later")
                return False
            raise TaskFailedNoRetry(f"Command exited with return code {exit_code}")
        self.log.info("Non-zero return code and no retry code set, will retry later")
        return False

    def _run(self, script: str, cwd: str) -> int:
        with subprocess.Popen(
            ["bash", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=self.env,
            # Its own process group, so that on_kill stops the command's children too.
            process_group=0,
        ) as process:
            self._process = process
            assert process.stdout is not None
            for raw in process.stdout:
                self.log.info("%s", raw.decode(self.output_encoding, "backslashreplace").rstrip())
            exit_code = process.wait()
        self._process = None
        self.log.info("Command exited with return code %s", exit_code)
        return exit_code

    def on_kill(self) -> None:
        """Stop the running command and its children."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(os.getpgid(self._process.pid), signal.SIGTERM)
