"""Finding DAG files: recursion, what is skipped, and ignore files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tradewind.sdk.discovery import find_dag_files


def make(root: Path, *relatives: str) -> None:
    """Create empty files (and their folders) under ``root``."""
    for relative in relatives:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")


def found(root: Path) -> list[str]:
    return [info.relative for info in find_dag_files(root)]


def test_python_files_are_found_recursively_and_sorted(tmp_path: Path) -> None:
    make(tmp_path, "b.py", "a.py", "team/z.py", "team/deeper/y.py", "notes.txt", "data.pyc")
    assert found(tmp_path) == ["a.py", "b.py", "team/deeper/y.py", "team/z.py"]


def test_hidden_and_dunder_entries_are_skipped(tmp_path: Path) -> None:
    make(tmp_path, ".hidden.py", ".git/hooks/x.py", "__pycache__/m.py", "keep.py")
    assert found(tmp_path) == ["keep.py"]


def test_a_file_records_its_size_and_modification_time(tmp_path: Path) -> None:
    path = tmp_path / "dag.py"
    path.write_text("x = 1\n")
    os.utime(path, ns=(1_000_000_000, 2_000_000_000))
    (info,) = find_dag_files(tmp_path)
    assert (info.relative, info.size, info.mtime_ns) == ("dag.py", 6, 2_000_000_000)


@pytest.mark.parametrize("name", [".airflowignore", ".tradewindignore"])
def test_ignore_file_patterns_are_searched_in_relative_paths(tmp_path: Path, name: str) -> None:
    make(tmp_path, "keep.py", "old_report.py", "team/old_stuff.py", "team/fine.py")
    (tmp_path / name).write_text("old_\n")
    assert found(tmp_path) == ["keep.py", "team/fine.py"]


def test_comments_blank_lines_and_broken_patterns_ignore_nothing(tmp_path: Path) -> None:
    make(tmp_path, "a.py", "b.py", "c.py")
    (tmp_path / ".airflowignore").write_text("# b.py is fine\n\n   \n[unclosed\nc\\.py  # c goes\n")
    assert found(tmp_path) == ["a.py", "b.py"]


def test_an_ignored_folder_is_not_entered(tmp_path: Path) -> None:
    make(tmp_path, "vendor/lib.py", "vendor/more/x.py", "dag.py")
    (tmp_path / ".airflowignore").write_text("^vendor$\n")
    assert found(tmp_path) == ["dag.py"]


def test_patterns_of_a_subfolder_apply_below_it_only(tmp_path: Path) -> None:
    make(tmp_path, "skip_me.py", "team/skip_me.py", "team/sub/skip_me.py", "team/keep.py")
    (tmp_path / "team" / ".airflowignore").write_text("^skip_me\\.py$\n")
    # Relative to team/: "skip_me.py" matches, "sub/skip_me.py" does not (anchored).
    assert found(tmp_path) == ["skip_me.py", "team/keep.py", "team/sub/skip_me.py"]


def test_patterns_of_a_parent_are_matched_against_paths_relative_to_the_parent(
    tmp_path: Path,
) -> None:
    make(tmp_path, "team/sub/x.py", "team/sub/y.py", "other/sub/x.py")
    (tmp_path / ".airflowignore").write_text("^team/sub/x\n")
    assert found(tmp_path) == ["other/sub/x.py", "team/sub/y.py"]


def test_linked_folders_are_followed_and_a_link_loop_is_walked_once(tmp_path: Path) -> None:
    make(tmp_path / "elsewhere", "shared.py")
    make(tmp_path / "dags", "dag.py")
    (tmp_path / "dags" / "linked").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "dags" / "loop").symlink_to(tmp_path / "dags")
    assert found(tmp_path / "dags") == ["dag.py", "linked/shared.py"]


def test_a_missing_root_finds_nothing(tmp_path: Path) -> None:
    assert found(tmp_path / "absent") == []
