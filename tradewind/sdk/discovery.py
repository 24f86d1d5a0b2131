"""Finding DAG files: every ``*.py`` under the DAG folder not excluded by an ignore file.

As in Airflow, an ``.airflowignore`` (or ``.tradewindignore``) file holds one regular
expression per line (``#`` starts a comment); a file or folder whose path relative to the
ignore file's folder matches one of them (``re.search``) is skipped, and the patterns apply to
that folder and everything below it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILES = (".airflowignore", ".tradewindignore")


@dataclass(frozen=True)
class DagFileInfo:
    """A DAG file and when it last changed."""

    relative: str
    mtime_ns: int
    size: int


def _patterns(folder: Path) -> list[re.Pattern[str]]:
    patterns = []
    for name in IGNORE_FILES:
        path = folder / name
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            try:
                patterns.append(re.compile(text))
            except re.error:
                continue  # a broken pattern ignores nothing rather than everything
    return patterns


def find_dag_files(root: Path) -> list[DagFileInfo]:
    """Every DAG file under ``root``, sorted by relative path."""
    found: list[DagFileInfo] = []
    inherited: dict[Path, list[tuple[Path, re.Pattern[str]]]] = {}
    # Symbolic links are followed, as in Airflow; a link back to a folder already walked would
    # list the same files again under ever longer paths, so each real folder is walked once.
    walked: set[tuple[int, int]] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        here = Path(folder)
        try:
            identity = os.stat(here)
        except OSError:
            subfolders[:] = []
            continue
        if (identity.st_dev, identity.st_ino) in walked:
            subfolders[:] = []
            continue
        walked.add((identity.st_dev, identity.st_ino))
        rules = list(inherited.get(here, []))
        rules += [(here, pattern) for pattern in _patterns(here)]

        def ignored(path: Path, rules: list[tuple[Path, re.Pattern[str]]] = rules) -> bool:
            return any(p.search(str(path.relative_to(base))) for base, p in rules)

        subfolders[:] = sorted(
            s for s in subfolders if not s.startswith((".", "__")) and not ignored(here / s)
        )
        for sub in subfolders:
            inherited[here / sub] = rules
        for name in sorted(files):
            path = here / name
            if not name.endswith(".py") or name.startswith(".") or ignored(path):
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            found.append(DagFileInfo(str(path.relative_to(root)), stat.st_mtime_ns, stat.st_size))
    return sorted(found, key=lambda f: f.relative)
