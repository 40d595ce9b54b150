"""Files fibrecert reads from others and files it writes with secrets (docs/security.md).

Reading: every file a command takes as input (results.json, certificate.json, a ledger, an expect or
target file) is read through `read_regular`: a regular file only (never a FIFO, a device such as
/dev/zero, or a folder; a symlink is followed to what it names and that must be a regular file), at
most a stated size, opened without blocking. `load_json` adds a nesting limit. Every problem is an
`InputError`: one line naming the file and what is wrong (the command exits 2, nothing is sent).

Writing: `write_private` creates or replaces a file atomically with mode 0600 (a temporary file in the
same folder, fchmod, fsync, rename), whether or not the file existed before.

Temporary folders holding secrets (the embedded sandbox's target file and state, the untrusted CA made
for SEC-002) are made by `private_tempdir`: mode 0700, with the owning process recorded inside, removed
by their owner when it ends and, when a killed process could not, by the next fibrecert that starts
(`sweep_stale`).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["InputError", "read_regular", "load_json", "check_depth", "write_private", "private_tempdir",
           "sweep_stale", "MAX_JSON_BYTES", "MAX_DEPTH"]

MAX_JSON_BYTES = 512 * 1024 * 1024  # results.json of a full run is tens of MB
MAX_TEXT_BYTES = 4 * 1024 * 1024    # target, expect and certificate files are a few KB
MAX_DEPTH = 100                     # results.json nests about 10 deep; recursion past this is refused
OWNER_FILE = ".fibrecert-owner"
TEMP_PREFIXES = ("fibrecert-",)     # folders in the temporary folder that sweep_stale looks at
_UNOWNED_GRACE = 24 * 3600          # a folder without an owner record (an older fibrecert) is left a day


class InputError(Exception):
    """An input file that cannot be used: one line naming the file and why (exit 2)."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular(path: str | os.PathLike[str], what: str, limit: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of the regular file `path` (a `what`: "results file", "certificate"...), at most
    `limit` of them; InputError otherwise."""
    shown = os.fspath(path)
    try:
        fd = os.open(shown, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(f"{shown}: no such {what}") from None
    except IsADirectoryError:
        raise InputError(f"{shown}: is a folder, not a {what}") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise InputError(f"{shown}: cannot read the {what} ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{shown}: is {_kind(st.st_mode)}, not a {what} (only regular files are read)")
        if st.st_size > limit:
            raise InputError(f"{shown}: {st.st_size} bytes, more than a {what} may hold ({limit})")
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:  # grew while being read
                raise InputError(f"{shown}: more than a {what} may hold ({limit} bytes)")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise InputError(f"{shown}: cannot read the {what} ({exc.strerror or type(exc).__name__})") from None
    finally:
        os.close(fd)


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> int:
    """The nesting depth of a JSON-like value (without recursion); ValueError past `max_depth`."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > max_depth:
            raise ValueError(f"nested more than {max_depth} levels deep")
        deepest = max(deepest, depth)
        todo.extend((c, depth + 1) for c in children)
    return deepest


def load_json(path: str | os.PathLike[str], what: str, limit: int = MAX_JSON_BYTES,
              max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in the regular file `path`; InputError (one line) when it is not readable, not
    UTF-8, not JSON, or nested deeper than `max_depth`."""
    shown = os.fspath(path)
    raw = read_regular(path, what, limit)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{shown}: not a {what}: not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise InputError(f"{shown}: not a {what}: nested too deeply") from None
    except ValueError as exc:
        raise InputError(f"{shown}: not a {what}: not JSON ({exc})") from None
    try:
        check_depth(value, max_depth)
    except ValueError as exc:
        raise InputError(f"{shown}: not a {what}: {exc}") from None
    return value


def write_private(path: str | os.PathLike[str], data: bytes | str, *, replace: bool = True,
                  mode: int = 0o600) -> Path:
    """Create or replace `path` atomically with mode 0600 (a temporary file in the same folder, fchmod,
    fsync, rename), whatever was there before: a file of another mode, a symlink (replaced, never written
    through). With replace=False an existing path is never touched (FileExistsError): the file appears
    complete, or not at all."""
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if target.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(target))
    fd, tmp = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".", prefix=f".{target.name}.",
                               suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)  # mkstemp makes 0600 already; exactly `mode`, whatever the umask
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # atomic, and never over an existing file
            os.unlink(tmp)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return target


# ------------------------------------------------------------------------------------------ temp folders
def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, Linux), telling a reused pid from the owner."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return fields[19].decode("ascii")
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    except (OSError, OverflowError, ValueError):
        return False
    now = _start_time(pid)
    return not (started and now and now != started)


def private_tempdir(prefix: str = "fibrecert-", dir: str | os.PathLike[str] | None = None) -> Path:
    """A new folder (mode 0700) recording this process as its owner, for `sweep_stale`."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=dir))
    os.chmod(folder, 0o700)
    pid = os.getpid()
    (folder / OWNER_FILE).write_text(f"{pid} {_start_time(pid) or '-'}\n", encoding="ascii")
    return folder


def _stale(folder: Path, now: float) -> bool:
    try:
        st = folder.lstat()
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        return False  # a symlink, a file, someone else's folder: never touched
    try:
        pid_text, _, started = (folder / OWNER_FILE).read_text(encoding="ascii").strip().partition(" ")
        pid = int(pid_text)
    except FileNotFoundError:
        return now - st.st_mtime > _UNOWNED_GRACE
    except (OSError, ValueError):
        return False
    if pid == os.getpid():
        return False
    return not _alive(pid, None if started in ("", "-") else started)


def sweep_stale(directory: str | os.PathLike[str] | None = None, prefixes: tuple[str, ...] = TEMP_PREFIXES) -> list[Path]:
    """Remove the folders named `prefix*` in `directory` (default: the temporary folder) whose owner
    process is gone (killed before it could remove them); return what was removed. Never raises."""
    base = Path(directory) if directory is not None else Path(tempfile.gettempdir())
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefixes):
            continue
        folder = Path(entry.path)
        if _stale(folder, now):
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(folder)
    return removed
