"""
The one way pedet writes a file: atomically, durably, with ordinary permissions, cleaning up after interrupted saves.

Every output of the project (evaluator predictions / metrics / plots, the main job's report, converter outputs, the
synthetic set, checkpoints, exported models) goes through ``atomic_open`` (``atomic_path`` for a writer that takes a
file name, as ``cv2.VideoWriter`` for the demo's annotated video):

1. The content is written to a temporary sibling ``.<name>.<host>.<pid>.<random>.tmp`` in the destination folder (a
   long <name> shortened to the file system's name limit), so that ``os.replace`` stays within one file system and
   is atomic on POSIX: a reader, or a run killed half-way, sees the old file or the new one, never a torn one.
2. The temporary file is created by ``os.open(..., 0o666)``, so the kernel applies the umask exactly as for a plain
   ``open(path, "w")`` (``tempfile.mkstemp`` would give 0600, unreadable by the group of a shared output folder).
3. The file is flushed and fsync'd before the rename, and the folder is fsync'd after it, so that the new name and
   its content survive a power loss together.
4. A destination that is a symbolic link keeps it: the link's target is replaced, as ``open`` writes through a
   link; a character device or a named pipe (``/dev/null``, ``/dev/stdout``, a FIFO) is written to directly, as
   ``open`` would (renaming a file over it would remove the device: as root, ``--out /dev/null`` replaced the system's
   /dev/null by a regular file); other non-regular files (block devices, sockets) are refused.
5. A save that is killed (``kill -9``, OOM, power loss) leaves its temporary file behind; nothing else would ever
   remove it. Each save first removes the stale temporaries of its own destination, and ``remove_stale_temporaries``
   clears a whole folder (called when a checkpointer, a converter or the synthetic generator starts). A temporary is
   stale when it was written on this host by a process that no longer runs; files of live writers and of other hosts
   (a shared file system) are left alone.

Nothing here imports torch or Detectron2: ``pedet.data``, ``pedet.evaluation`` and ``pedet.engine`` all use it.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import socket
import stat
from typing import IO, Any, Iterator, Optional, Union

__all__ = ["atomic_open", "atomic_path", "atomic_write", "atomic_write_json", "current_folder_is_gone",
           "describe_os_error", "name_too_long", "symlink_loop", "remove_stale_temporaries"]

_SUFFIX = ".tmp"
# errors of a write, flush or fsync, which name no file: the writer adds the destination's name
_WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO)
_NAME_MAX_SHORTENED = 200  # a temporary name this long may hold a shortened destination name (any file system's limit
#                            is above; one of a shortened name is within a few bytes of its limit)
# .<name>.<host>.<pid>.<16 hex>.tmp[.<ext>] ; host never contains "." here (see _host); the extension only for
# writers that take a file name and choose the format by it (atomic_path)
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<host>[^.]*)\.(?P<pid>\d+)\.[0-9a-f]{16}\.tmp(\.[A-Za-z0-9]{1,16})?$")


def _host() -> str:
    """This machine's name as a file-name component (dots and path separators replaced)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:64]


def _name_max(folder: str) -> int:
    """The longest file name (bytes) the file system of `folder` takes; 255 (ext4, XFS, APFS, NTFS) if unknown."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, ValueError, OSError):  # no pathconf (Windows), or the folder does not exist yet
        return 255


def _temporary_path(path: str, extension: str = "") -> str:
    folder, name = os.path.split(path)
    host, pid, token = _host(), os.getpid(), secrets.token_hex(8)
    # the destination's name is shortened where the temporary name would pass the file system's limit: a legal
    # name of 230 bytes failed with "File name too long" naming the temporary, never the file asked for
    room = _name_max(folder or ".") - len(f"..{host}.{pid}.{token}{_SUFFIX}{extension}".encode())
    while len(os.fsencode(name)) > room:  # os.fsencode: a name of non-UTF-8 bytes (surrogates) has a length too
        name = name[:-1]
    return os.path.join(folder, f".{name}.{host}.{pid}.{token}{_SUFFIX}{extension}")


def _process_is_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OverflowError:  # not a possible pid
        return False
    return True


def _is_stale(file_name: str, name: str | None = None) -> bool:
    """True for a temporary of ours (of destination `name`, if given) left by a dead process of this host."""
    m = _TEMPORARY.match(file_name)
    # a temporary of a long destination name holds the start of that name (_temporary_path)
    if m is None or (name is not None and not (m.group("name") == name or (
            len(os.fsencode(file_name)) >= _NAME_MAX_SHORTENED and name.startswith(m.group("name"))))):
        return False
    return m.group("host") == _host() and not _process_is_alive(int(m.group("pid")))


def remove_stale_temporaries(folder: str, name: str | None = None) -> list[str]:
    """
    Remove the temporary files that interrupted saves left in `folder` (see the module docstring).

    Args:
        folder: a folder; a missing one holds nothing to remove.
        name: only the temporaries of this destination file name (None: of every destination).
    Returns:
        the paths removed.
    """
    try:
        entries = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    for entry in entries:
        if _SUFFIX in entry and _is_stale(entry, name):
            path = os.path.join(folder, entry)
            with contextlib.suppress(FileNotFoundError):  # another process cleaned it first
                os.remove(path)
                removed.append(path)
    return removed


def _fsync_folder(folder: str) -> None:
    """fsync a folder so that a rename in it is durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:  # some file systems do not support fsync on folders
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def describe_os_error(e: OSError) -> str:
    """"<file>: <what>" for an OSError, without Python's "[Errno N]" prefix (which tells a user nothing)."""
    if e.strerror is None:
        return str(e)
    if e.filename is None:
        if e.errno == errno.ENOENT and current_folder_is_gone():  # os.path.abspath of a relative path names no file
            return CURRENT_FOLDER_GONE
        return e.strerror
    if (e.errno == errno.ENOENT and isinstance(e.filename, str) and not os.path.isabs(e.filename)
            and current_folder_is_gone()):  # a relative input, said to be missing while it may well be there
        return f"{e.filename}: {CURRENT_FOLDER_GONE}"
    return f"{e.filename}: {e.strerror}" + (f" ({e.filename2})" if e.filename2 is not None else "")


CURRENT_FOLDER_GONE = ("the current folder no longer exists (it was deleted or moved while a shell was in it); cd into "
                       "a folder that exists, or give absolute paths")


def current_folder_is_gone() -> bool:
    """True if the process's working folder was deleted: every relative path then fails with a bare ENOENT."""
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def name_too_long(path: str) -> Optional[str]:
    """
    "'<name>' is N bytes long; file names have at most M" for the first component of `path` longer than its file
    system allows, else None. Commands check their outputs with it before the work, as with ``file_in_the_way``.
    """
    folder = os.path.abspath(path)
    while not os.path.isdir(folder):  # the limit of the file system the missing part will be made on
        folder = os.path.dirname(folder)
    limit = _name_max(folder)
    for name in os.path.abspath(path).split(os.sep):
        # os.fsencode, not str.encode: a name with bytes that are not UTF-8 (read back by Python as surrogates)
        # raised UnicodeEncodeError, a traceback from every command writing there
        if len(os.fsencode(name)) > limit:
            return f"'{_short_name(name)}' is {len(os.fsencode(name))} bytes long; file names have at most {limit}"
    return None


def symlink_loop(path: str) -> Optional[str]:
    """
    "'<path>' is a loop of symbolic links ..." if `path` (or a folder above it) cannot be resolved because its links
    point at one another, else None. Commands check their outputs with it before the work: ``realpath`` gives such a
    path back unresolved, so the writer would otherwise replace the link by a regular file without a word.
    """
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return f"'{path}' is a loop of symbolic links (each points on to another); remove it or give another path"
    return None


def _short_name(name: str) -> str:
    return name if len(name) <= 40 else f"{name[:18]}...{name[-18:]}"


def same_file(path, other) -> bool:
    """
    True if two paths name one file: the same name, or through '..', a symbolic link (to the file or to a folder above
    it) or a hard link. A file that does not exist yet is no other file; a value that is not a path is none.
    """
    if not isinstance(path, (str, os.PathLike)) or not isinstance(other, (str, os.PathLike)):
        return False
    try:
        return os.path.realpath(path) == os.path.realpath(other) or os.path.samefile(path, other)
    except (OSError, ValueError):  # one of them does not exist (yet), or a NUL in a name
        return False


def is_inside(path, folder) -> bool:
    """True if `path` is `folder` or lies in it or one of its subfolders, symbolic links resolved (as the writer
    resolves them)."""
    real, top = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([real, top]) == top


def file_in_the_way(path: str) -> Optional[str]:
    """
    The existing file that stands where a folder above `path` must be, so that `path` can never be written; else
    None. Commands check their outputs with it before the work (not after it, with part of the outputs written).
    A symbolic link is followed, as ``atomic_open`` writes its target.
    """
    folder = os.path.dirname(os.path.realpath(path))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    return None if os.path.isdir(folder) else folder


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w", *, fsync: bool = True, remove_stale: bool = True) -> Iterator[IO]:
    """
    A file object whose content replaces `path` when the ``with`` block exits without an error.

    On an error (or a KeyboardInterrupt) the temporary file is removed and `path` is left as it was.

    Args:
        path: destination; its folder is created if missing. Must not be an existing folder.
        mode: "w" (text, UTF-8) or "wb" (binary).
        fsync: fsync the file and the folder (durable); False only where a later marker file makes a batch durable.
        remove_stale: first remove the temporaries that interrupted saves of `path` left (this lists the folder);
            writers of many files into one folder call ``remove_stale_temporaries(folder)`` once instead.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open supports the modes 'w' and 'wb', got {mode!r}")
    path = os.path.abspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", path)
    loop = symlink_loop(path)
    if loop:  # before: the link was silently replaced by a regular file (realpath gives a loop back as it is)
        raise OSError(errno.ELOOP, "is a loop of symbolic links (each points on to another); remove it or give "
                      "another path", path)
    try:
        kind = stat.S_IFMT(os.stat(path).st_mode)  # through a symbolic link
    except OSError:  # not there yet (or a dangling link, whose target open() would create)
        kind = None
    if kind in (stat.S_IFCHR, stat.S_IFIFO):  # nothing to make atomic, and the device must stay
        try:
            with open(path, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
                yield f
        except OSError as e:
            if e.filename is not None:
                raise
            # a failed write names no file (before: "error: No space left on device" for /dev/full, after the work)
            raise OSError(e.errno, e.strerror, path) from None
        return
    if kind not in (None, stat.S_IFREG):
        raise OSError(errno.EINVAL, "is not a regular file (a block device or a socket); give a file name", path)
    path = os.path.realpath(path)  # a symbolic link stays one: its target gets the new content
    folder, name = os.path.split(path)
    too_long = name_too_long(path)
    if too_long:  # named here: the error would otherwise name the temporary file
        raise OSError(errno.ENAMETOOLONG, too_long, path)
    blocking = file_in_the_way(path)
    if blocking:  # makedirs would say "[Errno 17] File exists", naming neither the output nor the problem
        raise NotADirectoryError(errno.ENOTDIR, f"cannot write '{path}': this is a file, not a folder", blocking)
    os.makedirs(folder, exist_ok=True)
    if remove_stale:
        remove_stale_temporaries(folder, name)
    tmp = _temporary_path(path)
    # 0o666 & ~umask, as open(path, "w") would create it; O_EXCL: never follow or reuse an existing name
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as e:  # named here: the error would otherwise name the temporary file (e.g. in /proc, read-only)
        raise OSError(e.errno, f"cannot create a file in '{folder}' ({e.strerror})", path) from None
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        if e.filename is None and e.errno in _WRITE_ERRORS:
            # a failed write names no file (before: "error: No space left on device" on a full disk, naming no output)
            raise OSError(e.errno, e.strerror, path) from None
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    if fsync:
        _fsync_folder(folder)


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """
    ``atomic_open`` for writers that take a file name instead of a file object (``cv2.VideoWriter``): yields a
    temporary sibling's name that keeps the extension of `path` (such writers choose the container by it); when the
    ``with`` block exits without an error the file written there is fsync'd and renamed over `path`. On an error (or a
    KeyboardInterrupt), or when nothing was written there, the temporary is removed and `path` is left as it was.
    Regular destinations only (a device or a pipe is refused: the writer would open the temporary, not the device).
    """
    path = os.path.abspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", path)
    try:
        kind = stat.S_IFMT(os.stat(path).st_mode)
    except OSError:
        kind = None
    if kind not in (None, stat.S_IFREG):
        raise OSError(errno.EINVAL, "is not a regular file; give a file name", path)
    path = os.path.realpath(path)
    folder, name = os.path.split(path)
    too_long = name_too_long(path)
    if too_long:
        raise OSError(errno.ENAMETOOLONG, too_long, path)
    blocking = file_in_the_way(path)
    if blocking:
        raise NotADirectoryError(errno.ENOTDIR, f"cannot write '{path}': this is a file, not a folder", blocking)
    os.makedirs(folder, exist_ok=True)
    remove_stale_temporaries(folder, name)
    extension = os.path.splitext(name)[1]
    tmp = _temporary_path(path, extension if re.fullmatch(r"\.[A-Za-z0-9]{1,16}", extension) else "")
    try:
        yield tmp
        if os.path.exists(tmp):
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            _fsync_folder(folder)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def atomic_write(path: str, data: Union[str, bytes], *, fsync: bool = True, remove_stale: bool = True) -> None:
    """Replace `path` with `data` (str: UTF-8 text, bytes: binary) through ``atomic_open`` (same options)."""
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w", fsync=fsync, remove_stale=remove_stale) as f:
        f.write(data)


def atomic_write_json(path: str, obj: Any, **dump_kwargs) -> None:
    """
    ``json.dump(obj)`` into `path` through ``atomic_open``. NaN and infinity are refused (``allow_nan=False``
    unless given): a literal ``NaN`` is not JSON, and other readers reject it.
    """
    dump_kwargs.setdefault("allow_nan", False)
    with atomic_open(path, "w") as f:
        json.dump(obj, f, **dump_kwargs)
