"""Publishing an index: versioned directories behind one symlink, switched in one atomic step.

    PARENT/
      NAME -> .NAME.versions/20261130T123456123456Z-3f9a1c    what readers open (a symlink)
      .NAME.versions/
        20261130T123456123456Z-3f9a1c/    the published build
        20261130T120001000000Z-9e8d7c/    the one before (kept: a server may still be loading it)
        .tmp-XXXXXXXX/                     a build being written; left only by a killed build
      .NAME.lock                           held while a build writes or cleans up

A build writes a complete, fsynced directory under `.NAME.versions/`, then points a new
symlink at it and renames that symlink over NAME with `os.replace`: one atomic step, so
a process killed at any moment leaves NAME naming a whole index (the old one or the new
one). The next build removes whatever a killed build left behind. An index directory
made by an older version of this program (a plain directory at NAME) is swapped for the
symlink in one step too (Linux `renameat2(RENAME_EXCHANGE)`), and kept as the previous build.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from indexer.errors import IndexWriteError

VERSIONS_SUFFIX = ".versions"
TMP_PREFIX = ".tmp-"
LEGACY_PREFIXES = (".tmp-", ".old-")  # siblings left by the two-rename swap of earlier versions


# Called with the name of each step of a build; the fault-injection test sets it to kill the process there.
step_hook: Callable[[str], None] | None = None
# For fault tests of a real `glossary index` process: the step (e.g. "embedded-chunk-3") at which the
# process kills itself with SIGKILL, as a crash or an out-of-memory kill would.
FAULT_ENV = "GLOSSARY_FAULT_AT"


def checkpoint(step: str) -> None:
    if step_hook is not None:
        step_hook(step)
    if os.environ.get(FAULT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def versions_dir(path: Path) -> Path:
    return path.parent / f".{path.name}{VERSIONS_SUFFIX}"


def new_build_id() -> str:
    """Sortable by time, unique across concurrent builds: 20261130T123456123456Z-3f9a1c."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}-{secrets.token_hex(3)}"


def _unwritable(path: Path, exc: OSError) -> IndexWriteError:
    reason = exc.strerror or exc.__class__.__name__
    return IndexWriteError(f"cannot write the index at {path}: {reason}; choose another --out (or GLOSSARY_INDEX)")


@contextmanager
def build_lock(path: Path) -> Iterator[None]:
    """Exclusive while one build writes, publishes or cleans up `path` (other builds wait)."""
    if path.is_file() or (path.exists() and not path.is_dir()):
        raise IndexWriteError(f"cannot write the index at {path}: a file is in the way; choose another --out")
    try:
        versions_dir(path).mkdir(parents=True, exist_ok=True)
        handle = (path.parent / f".{path.name}.lock").open("a")
    except OSError as exc:
        raise _unwritable(path, exc) from exc
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


def prepare_output(path: Path) -> None:
    """Before any embedding: check that `path` can be written, and remove what killed builds left."""
    path = Path(os.path.abspath(path))
    with build_lock(path):
        _recover_legacy(path)
        remove_stale(path)
        try:
            probe = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=versions_dir(path)))
            probe.rmdir()
        except OSError as exc:
            raise _unwritable(path, exc) from exc
    checkpoint("prepared")


def remove_stale(path: Path) -> None:
    """Temporary directories of killed builds (called with the lock held, so none is in use)."""
    for stale in versions_dir(path).glob(f"{TMP_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in path.parent.glob(f".{path.name}.link-*"):
        stale.unlink(missing_ok=True)  # a symlink made but never renamed over the index path
    for prefix in LEGACY_PREFIXES:
        for stale in path.parent.glob(f".{path.name}{prefix}*"):
            shutil.rmtree(stale, ignore_errors=True)


def _recover_legacy(path: Path) -> None:
    """An earlier version killed between its two renames left the index in `.NAME.old-*/index`: put it back."""
    if path.exists() or path.is_symlink():
        return
    for old in sorted(path.parent.glob(f".{path.name}.old-*/index")):
        os.replace(old, path)
        return


@contextmanager
def staging_dir(path: Path) -> Iterator[Path]:
    """A fresh temporary directory beside the versions of `path`; removed if the block fails."""
    try:
        tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=versions_dir(path)))
    except OSError as exc:
        raise _unwritable(path, exc) from exc
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def publish(tmp: Path, path: Path) -> Path:
    """Make the complete directory `tmp` the index at `path` in one atomic step; return its version directory."""
    versions = versions_dir(path)
    version = versions / new_build_id()
    os.replace(tmp, version)
    _fsync_dir(versions)
    checkpoint("version-in-place")
    previous = _current_version(path)
    link = path.parent / f".{path.name}.link-{secrets.token_hex(4)}"
    os.symlink(os.path.relpath(version, path.parent), link)
    checkpoint("link-made")
    try:
        if path.is_dir() and not path.is_symlink():
            _swap_legacy_directory(link, path, versions)
        else:
            os.replace(link, path)
    except BaseException:
        link.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    checkpoint("published")
    _remove_old_versions(versions, keep={version.name, previous})
    checkpoint("cleaned")
    return version


def _current_version(path: Path) -> str | None:
    if not path.is_symlink():
        return None
    return Path(os.readlink(path)).name


def _remove_old_versions(versions: Path, keep: set[str | None]) -> None:
    for version in versions.iterdir():
        if version.name not in keep and not version.name.startswith(TMP_PREFIX):
            shutil.rmtree(version, ignore_errors=True)


def _swap_legacy_directory(link: Path, path: Path, versions: Path) -> None:
    """Replace the plain directory at `path` by the symlink `link`; the directory becomes a kept version."""
    if _exchange(link, path):  # now `path` is the symlink and `link` names the old directory
        os.replace(link, versions / f"legacy-{new_build_id()}")
        return
    # Without an atomic exchange (not Linux): two renames; `_recover_legacy` covers a kill between them.
    held = path.parent / f".{path.name}.old-{secrets.token_hex(4)}"
    held.mkdir()
    os.replace(path, held / "index")
    os.replace(link, path)
    os.replace(held / "index", versions / f"legacy-{new_build_id()}")
    held.rmdir()


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two names (Linux renameat2 with RENAME_EXCHANGE); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (38, 22, 95):  # ENOSYS, EINVAL, EOPNOTSUPP: the kernel or file system cannot
        return False
    raise OSError(errno, os.strerror(errno), str(b))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
