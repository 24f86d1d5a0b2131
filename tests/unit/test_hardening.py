"""A service process is out of reach of same-user processes; the programs it starts are not."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers.processes import REPO_ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

SCRIPT = """
import subprocess, sys
from services.runtime.hardening import forbid_inspection, inspection_allowed
before = inspection_allowed()
took = forbid_inspection()
child = subprocess.run(
    [sys.executable, "-c",
     "from services.runtime.hardening import inspection_allowed; print(inspection_allowed())"],
    capture_output=True, text=True, check=True,
).stdout.strip()
print(before, took, inspection_allowed(), child)
"""


def test_forbidding_inspection_lasts_for_the_process_and_not_for_what_it_starts() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert result.stdout.split() == ["True", "True", "False", "True"]
