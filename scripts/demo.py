"""The demo: every service on SQLite with the example DAGs, one run triggered and shown.

Run it with ``./dev demo``. It starts ``tradewind standalone`` in a fresh home folder, waits
until every service serves, triggers ``example_etl`` with the CLI and waits for it, prints the
run's task table and one task's log, then stops the suite and removes the home folder (kept
with ``--keep-home``, or when the demo failed, for its logs).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from executor.isolation import default_user_can_run_tasks
from tradewind.cli.standalone import PORT_OFFSETS

ROOT = Path(__file__).resolve().parent.parent
READY_SECONDS = 90.0


def free_port_base() -> int:
    """A port with the ones after it free too, one per service of ``standalone``."""
    for base in [50051, *range(51051, 60000, 17)]:
        sockets = []
        try:
            for offset in sorted(set(PORT_OFFSETS.values())):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return int(base)
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise SystemExit("no free ports for the demo")


def tradewind(*args: str, address: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI like a person would, showing the command and its output."""
    command = ["tradewind", *args, "--state-address", address]
    print(f"\n$ {shlex.join(command)}", flush=True)
    return subprocess.run(
        [sys.executable, "-m", "tradewind.cli", *args, "--state-address", address],
        text=True,
        check=False,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the exit status of the triggered run's wait."""
    parser = argparse.ArgumentParser(prog="./dev demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--keep-home",
        action="store_true",
        help="keep the demo's home folder (database, logs) instead of removing it at the end",
    )
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="tradewind-demo-"))
    try:
        status = show(home)
    except BaseException:
        print(f"The demo failed; its home folder is kept for its logs: {home}", file=sys.stderr)
        raise
    if status != 0 or args.keep_home:
        print(f"Home folder of this demo (database, logs): {home}")
    else:
        shutil.rmtree(home, ignore_errors=True)
    return status


def show(home: Path) -> int:
    """Start the suite in ``home``, trigger and show a run, stop the suite; the wait's status."""
    base = free_port_base()
    address = f"127.0.0.1:{base}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWIND_")}
    # The CLI finds the API token the suite generates in its home.
    os.environ["TRADEWIND_HOME"] = str(home)
    if os.geteuid() == 0 and not default_user_can_run_tasks([ROOT / "examples" / "dags"]):
        print(
            "Running as root, and user 'nobody' cannot run this Python: the demo's tasks run as"
            " root, without capabilities and confined (TRADEWIND_RUN_AS_USER=root).",
            flush=True,
        )
        env["TRADEWIND_RUN_AS_USER"] = "root"
    print(f"Starting every Tradewind service (SQLite in {home}) ...", flush=True)
    suite = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tradewind.cli",
            "standalone",
            "--home",
            str(home),
            "--dags-folder",
            str(ROOT / "examples" / "dags"),
            "--port-base",
            str(base),
            "--metrics-port-base",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert suite.stdout is not None
    status = 1
    try:
        deadline = time.monotonic() + READY_SECONDS
        for line in suite.stdout:
            print(line.rstrip(), flush=True)
            if line.startswith("Ready."):
                break
            if time.monotonic() > deadline:
                raise SystemExit(
                    "the services did not start; see the logs in " + str(home / "logs")
                )
        else:
            raise SystemExit("standalone stopped early; see the logs in " + str(home / "logs"))
        # The DAG processor registers the example DAGs within a scan or two.
        for _ in range(100):
            listing = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tradewind.cli",
                    "dags",
                    "list",
                    "--output",
                    "json",
                    "--state-address",
                    address,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if listing.returncode == 0 and "example_etl" in listing.stdout:
                break
            time.sleep(0.2)
        tradewind("dags", "list", address=address)
        triggered = tradewind(
            "dags",
            "trigger",
            "example_etl",
            "--conf",
            json.dumps({"multiplier": 3}),
            "--wait",
            address=address,
        )
        status = triggered.returncode
        runs = subprocess.run(
            [
                sys.executable,
                "-m",
                "tradewind.cli",
                "runs",
                "list",
                "example_etl",
                "--output",
                "json",
                "--state-address",
                address,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        run_id = json.loads(runs.stdout)[0]["run_id"] if runs.returncode == 0 else ""
        if run_id:
            tradewind("runs", "show", "example_etl", run_id, address=address)
            tradewind("tasks", "logs", "example_etl", run_id, "load", address=address)
    finally:
        suite.send_signal(signal.SIGINT)
        suite.wait(timeout=60)
    print(
        "\nThe demo stopped the suite. Run it yourself with:\n"
        "  .venv/bin/tradewind standalone --dags-folder examples/dags\n"
        "then, in another shell: .venv/bin/tradewind dags list | dags trigger DAG_ID --wait |"
        " runs show DAG_ID RUN_ID | tasks logs ..."
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
