"""Writes that never leave half a result where a reader looks: folders and files appear whole or not
at all, even when the writing process is killed (``kill -9``, power loss of the process).

A folder is built in a hidden staging folder beside its target (``.NAME.staging-PID-*``) and put in
place by one rename. Replacing an existing folder is one atomic exchange of the two directory
entries on Linux (``renameat2(RENAME_EXCHANGE)``: the Python standard library has no call for it,
hence ctypes); elsewhere it is two renames, and a previous folder caught between them is put back
by the next write to that place. Staging folders of processes that no longer exist are removed then.
Readers that list folders (bench's artifact discovery) skip hidden names.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

_STAGING, _BACKUP = "staging", "old"


@contextmanager
def atomic_folder(target: Path):
    """Yield an empty staging folder beside ``target``; on success it becomes ``target`` in one step.

    On an exception the staging folder is removed, so a failed write never leaves a half-written
    model behind, and an existing ``target`` is untouched.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():  # swapping a folder in would lose that file
        raise FileExistsError(f"{target} is an existing file, not a folder to replace")
    target.parent.mkdir(parents=True, exist_ok=True)
    _recover(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.{_STAGING}-{os.getpid()}-", dir=target.parent))
    try:
        yield staging
        _put_in_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _put_in_place(staging: Path, target: Path) -> None:
    if not target.exists():
        staging.rename(target)
    elif _exchange(staging, target):  # target now holds the new folder, staging the old one
        shutil.rmtree(staging, ignore_errors=True)
    else:
        backup = target.with_name(f".{target.name}.{_BACKUP}-{os.getpid()}")
        shutil.rmtree(backup, ignore_errors=True)
        target.rename(backup)
        staging.rename(target)
        shutil.rmtree(backup, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directory entries atomically (Linux renameat2); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:  # glibc < 2.28, musl
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # a file system without exchange
        return False
    raise OSError(code, os.strerror(code), str(b))


def _recover(target: Path) -> None:
    """Before writing ``target``: put back a previous folder a killed writer left as its backup, and
    remove the staging and backup folders of writers that no longer run."""
    for leftover in sorted(target.parent.glob(f".{target.name}.*")):
        kind, _, rest = leftover.name[len(target.name) + 2:].partition("-")
        pid = rest.split("-")[0]
        if kind not in (_STAGING, _BACKUP) or not pid.isdigit() or _alive(int(pid)):
            continue
        if kind == _BACKUP and not target.exists():
            leftover.rename(target)
        else:
            shutil.rmtree(leftover, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # an earlier write of ours that was interrupted: nothing of it is still running
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically (temporary file beside it, then one rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False, encoding="utf-8")
    try:
        with handle:
            handle.write(text)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def write_json(path: Path, payload: dict) -> None:
    """Write JSON atomically."""
    write_text(path, json.dumps(payload, indent=2))
