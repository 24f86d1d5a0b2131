"""Landlock confinement of the processes that run user code (task tries, DAG file parses).

A process running user code as the service's own OS user could otherwise open whatever that
user can: Tradewind's home (the SQLite database, the Fernet key, the generated tokens), the
service's TLS key. Landlock, which the kernel offers to unprivileged processes (and which binds
root too), lets such a process give those paths up for good before user code runs: every path
stays reachable except the protected ones, which become unreadable and unwritable, and signals
to, and ptrace or ``/proc/<pid>/mem`` of, processes outside the sandbox are refused. Each job
confines itself once more after the fork, so that tries are sandboxed from one another too.

Landlock grants access per file hierarchy, so "everything but these paths" is granted as every
sibling of each protected path and of each of their ancestors; the ancestors themselves are
not granted (nothing new can be created directly in them: ``/``, ``/root`` for the default
home). Paths granted explicitly (the DAG folder) stay reachable even inside a protected one.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import landlockpy
from landlockpy import AccessFS, AccessNet, Scope

from services.runtime.hardening import drop_capabilities, forbid_inspection
from tradewind_common import config as cfg
from tradewind_common.secret_files import home_folder, scrubbed_environment

#: The variable through which a service hands its confinement to a fork server or a fresh
#: interpreter (JSON: ``{"protected": [...], "granted": [...]}``).
CONFINEMENT_ENV = "TRADEWIND_CONFINEMENT"
PROTECTED_PATHS = cfg.Setting[tuple[str, ...]](
    name="protected_paths",
    parse=cfg.parse_list,
    default=(),
    help="comma-separated paths task code must not reach, besides $TRADEWIND_HOME and the"
    " service's TLS key (Landlock), e.g. a SQLite database outside the home",
)
#: The files SQLite keeps beside a database file ("<file>-wal" ...).
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
#: The rights Landlock allows on a file that is not a directory.
FILE_RIGHTS = (
    AccessFS.EXECUTE
    | AccessFS.WRITE_FILE
    | AccessFS.READ_FILE
    | AccessFS.TRUNCATE
    | AccessFS.IOCTL_DEV
)


@dataclass(frozen=True)
class Confinement:
    """What a process running user code must not reach, and what it must reach regardless."""

    #: Files and folders that become unreachable.
    protected: tuple[Path, ...] = ()
    #: Folders reachable even inside a protected one (the DAG and plugins folders).
    granted: tuple[Path, ...] = field(default=())

    def to_env(self) -> str:
        """The value of :data:`CONFINEMENT_ENV` that hands this confinement on."""
        return json.dumps(
            {
                "protected": [str(p) for p in self.protected],
                "granted": [str(p) for p in self.granted],
            }
        )

    @classmethod
    def from_env(cls, text: str) -> Confinement:
        """The confinement a service handed on (see :meth:`to_env`)."""
        raw = json.loads(text)
        return cls(
            protected=tuple(Path(p) for p in raw.get("protected", ())),
            granted=tuple(Path(p) for p in raw.get("granted", ())),
        )


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 where it has none (or it is disabled)."""
    try:
        return landlockpy.abi_version() if landlockpy.supported() else 0
    except (OSError, landlockpy.LandlockError):
        return 0


def _inside(path: Path, folders: Iterable[Path]) -> bool:
    return any(path == folder or folder in path.parents for folder in folders)


def ancestors_of(protected: Iterable[Path]) -> list[Path]:
    """The folders above the protected paths (not themselves protected), sorted."""
    blocked = set(protected)
    return sorted({parent for path in blocked for parent in path.parents} - blocked)


def reachable_roots(protected: Sequence[Path]) -> list[Path]:
    """The paths to grant so that everything is reachable except ``protected``.

    Every entry of each protected path's ancestors, except those ancestors and the protected
    paths themselves; an entry that is a symlink into a protected path, or to one of their
    ancestors, is left out too.
    """
    blocked = set(protected)
    ancestors = {parent for path in protected for parent in path.parents}
    roots = []
    for folder in ancestors_of(protected):
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry in blocked or entry in ancestors:
                continue
            target = entry.resolve() if entry.is_symlink() else entry
            if _inside(target, blocked) or target in ancestors:
                continue
            roots.append(entry)
    return roots


class FolderWatch:
    """Notices entries added to folders, even from inside a sandbox that hides them.

    It keeps a descriptor of each folder, opened before the process confines itself (Landlock
    checks access when a file is opened, so listing through it keeps working), and the names
    the folder held then. Children close theirs.
    """

    def __init__(self, folders: Iterable[Path]) -> None:
        self._fds: dict[Path, int] = {}
        self._names: dict[Path, frozenset[str]] = {}
        self._mtimes: dict[Path, int] = {}
        for folder in folders:
            try:
                fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                continue
            self._fds[folder] = fd
            self._mtimes[folder] = os.fstat(fd).st_mtime_ns
            self._names[folder] = frozenset(os.listdir(fd))

    def added(self) -> bool:
        """Whether any folder holds an entry it did not hold at the start (removals are fine)."""
        for folder, fd in self._fds.items():
            try:
                if os.fstat(fd).st_mtime_ns == self._mtimes[folder]:
                    continue
                if not frozenset(os.listdir(fd)) <= self._names[folder]:
                    return True
            except OSError:
                continue
        return False

    def close(self) -> None:
        """Close the descriptors."""
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()


@dataclass(frozen=True)
class Sandbox:
    """A confinement worked out once (the paths to grant), entered by many processes."""

    abi: int
    roots: tuple[Path, ...]
    confinement: Confinement
    #: The folders whose entries were granted one by one, watched for new entries.
    watch: FolderWatch = field(compare=False)

    @classmethod
    def prepare(cls, confinement: Confinement) -> Sandbox | None:
        """The sandbox of ``confinement``; None with no protected path or no Landlock."""
        abi = landlock_abi()
        protected = [Path(os.path.realpath(p)) for p in confinement.protected]
        if abi == 0 or not protected:
            return None
        watch = FolderWatch(ancestors_of(protected))
        roots = (*reachable_roots(protected), *confinement.granted)
        return cls(abi, roots, confinement, watch)

    def stale(self) -> bool:
        """Whether an entry was added since to a folder it lists (a file in ``/tmp``, say).

        A process confined with a stale sandbox cannot reach the new entries: a fork server
        works its children's sandbox out again first.
        """
        return self.watch.added()

    def enter(self) -> str:
        """Confine this process and its future children; return what is in force, for logs.

        Entered again in a child, it adds a layer of its own: processes in sibling layers
        (two tries) cannot signal or trace each other.
        """
        rights = landlockpy.fs_for_abi(self.abi)
        scopes = landlockpy.scope_for_abi(self.abi) & (Scope.SIGNAL | Scope.ABSTRACT_UNIX_SOCKET)
        # Network access stays as it is: tasks reach databases and APIs of their own.
        with landlockpy.Ruleset(
            handled_fs=rights, handled_net=AccessNet.NONE, scoped=scopes
        ) as ruleset:
            protected = [Path(os.path.realpath(p)) for p in self.confinement.protected]
            for root in self.roots:
                self._grant(ruleset, root, rights, protected)
            ruleset.restrict()
        return f"landlock ABI {self.abi}"

    def _grant(
        self, ruleset: landlockpy.Ruleset, root: Path, rights: AccessFS, protected: list[Path]
    ) -> None:
        """Grant ``root`` as it is now, unless it now leads to a protected path.

        A root is opened once and checked through its descriptor: an entry replaced by a
        symlink to the home (say, by a task) since the sandbox was worked out is not granted.
        """
        try:
            fd = os.open(root, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return  # gone meanwhile
        try:
            real = Path(os.readlink(f"/proc/self/fd/{fd}"))
            holds_protected = any(real == p or real in p.parents for p in protected)
            if holds_protected or (
                root not in self.confinement.granted and _inside(real, protected)
            ):
                return
            is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
            with contextlib.suppress(OSError):  # a special file Landlock takes no rule for
                ruleset.allow_path(
                    f"/proc/self/fd/{fd}", rights if is_dir else rights & FILE_RIGHTS
                )
        finally:
            os.close(fd)


def sandbox_from_environment() -> Sandbox | None:
    """The sandbox a service handed on in :data:`CONFINEMENT_ENV`, if any."""
    text = os.environ.get(CONFINEMENT_ENV, "")
    return Sandbox.prepare(Confinement.from_env(text)) if text else None


def user_code_confinement(
    *, granted: Iterable[Path | None], protected: Iterable[Path | None] = ()
) -> Confinement:
    """The confinement of a service's user code: Tradewind's home and ``protected`` out of reach.

    Args:
        granted: folders user code needs even when they lie inside the home (the DAG folder,
            the plugins folder); None entries are skipped.
        protected: further paths (the service's own TLS key, operators' additions).

    """
    paths = [home_folder(), *(p for p in protected if p is not None)]
    runtime = os.environ.get("XDG_RUNTIME_DIR")  # the user's session bus, agents' sockets
    if runtime:
        paths.append(Path(runtime))
    # A SQLite file's journal, WAL and shared memory hold its rows too.
    paths += [p.with_name(p.name + suffix) for p in list(paths) for suffix in SQLITE_COMPANIONS]
    return Confinement(
        protected=tuple(Path(os.path.realpath(p.expanduser())) for p in paths),
        granted=tuple(Path(os.path.realpath(p.expanduser())) for p in granted if p is not None),
    )


def isolate(sandbox: Sandbox | None) -> list[str]:
    """Isolate this process before it runs user code; return the protections in force.

    Non-dumpable (same-user processes cannot read its memory), confined by ``sandbox`` when
    there is one, and without capabilities when it runs as root.
    """
    in_force = ["non-dumpable"] if forbid_inspection() else []
    if sandbox is not None:
        in_force.append(sandbox.enter())
    if os.geteuid() == 0 and drop_capabilities():
        in_force.append("root without capabilities")
    return in_force


def user_code_environment(confinement: Confinement | None) -> dict[str, str]:
    """The environment of a process running user code: no secret, the confinement handed on."""
    env = scrubbed_environment()
    if confinement is not None:
        env[CONFINEMENT_ENV] = confinement.to_env()
    return env
