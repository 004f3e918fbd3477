"""Atomic file writes: a reader never sees half a file, a crash leaves the old one.

Each write goes to a temporary file in the *same folder* as the target (so the
final ``os.replace`` is a rename on one file system, which POSIX makes atomic),
is flushed and fsynced, then renamed over the target. On any failure, including
KeyboardInterrupt, the temporary file is removed and the target is untouched.

``atomic_open`` is the streaming form (used for downloads that are verified
before they are kept); the three ``atomic_write_*`` helpers are one-liners on top.

What is replaced is the file the name means: a symbolic link is followed, so its
target gets the new contents and the link stays a link; a name that is a device, a
FIFO, a socket or a folder is refused (UsageError) before anything is written, since
a rename would silently turn ``/dev/full`` or a pipe into a plain file.
``check_writable`` makes the same checks, and proves a file can be created in the
folder, *before* a long run: the command line calls it when it reads its options.

Left out on purpose: locking between concurrent writers (the last rename wins),
fsync of the parent folder on platforms without ``O_DIRECTORY``, and creating
missing parent folders in the library (a missing folder is a caller's mistake worth
seeing; the command line makes them).
"""

import contextlib
import errno
import json
import os
import stat
import tempfile
from pathlib import Path

from ..errors import UsageError


def target(path):
    """The regular file a write to ``path`` replaces: a symlink's target (the link stays);
    refuses a device, FIFO, socket or folder, which a rename would destroy."""
    path = Path(path)
    real = Path(os.path.realpath(path))
    try:
        mode = os.stat(real).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return real
    if stat.S_ISDIR(mode):
        raise UsageError(f"{path}: is a folder; give the name of a file in it")
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket"
                if stat.S_ISSOCK(mode) else "a device")
        raise UsageError(f"{path}: is {kind}, not a regular file; writing it would replace it "
                         f"with a plain file; give the name of a regular file")
    return real


def check_writable(path):
    """Refuse, before any work, a name that cannot be written: a special file, a folder, or
    a folder in which no file can be created (read-only, no permission).  Returns the
    regular file that the atomic write will replace."""
    real = target(path)
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".probe", dir=real.parent)
    except OSError as exc:
        raise UsageError(f"{path}: cannot create a file in {real.parent} "
                         f"({exc.strerror or exc}); choose another place") from None
    os.close(fd)
    os.unlink(probe)
    return real


def _umask():
    """The process umask (there is no way to read it without setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path, mode="wb", encoding=None, verify=None):
    """Yield a file object whose contents replace ``path`` only on clean exit.

    ``mode`` is "wb" or "w" (text, ``encoding`` defaults to UTF-8). If the
    ``with`` block raises, the temporary file is deleted and ``path`` keeps
    its old contents (or stays absent). ``verify``, if given, is called with
    the temporary file's Path after it is complete on disk and before the
    rename; if it raises, the file is discarded the same way (used to check
    a download's checksum before it can be seen under its real name).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open: mode must be 'wb' or 'w', not {mode!r}")
    path = target(path)        # through a symlink; never over a device or a pipe
    folder = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except FileNotFoundError:
        # name the missing folder, not the temporary file the caller never asked for
        raise FileNotFoundError(errno.ENOENT, f"no such folder to write {path.name} into; "
                                "create it first", str(folder)) from None
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would have.
        os.chmod(tmp_name, 0o666 & ~_umask())
        if mode == "w":
            f = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline="")
        else:
            f = os.fdopen(fd, "wb")
        fd = None  # the file object owns the descriptor now
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them visible
        if verify is not None:
            verify(Path(tmp_name))
        os.replace(tmp_name, path)
        tmp_name = None
    finally:
        if fd is not None:
            os.close(fd)
        if tmp_name is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes-like) to ``path`` atomically; return the Path."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path, text, encoding="utf-8"):
    """Write ``text`` to ``path`` atomically (no newline translation); return the Path."""
    with atomic_open(path, "w", encoding=encoding) as f:
        f.write(text)
    return Path(path)


def atomic_write_json(path, obj, indent=None):
    """Serialise ``obj`` with ``json.dumps`` and write it atomically; return the Path.

    The object is serialised *before* the temporary file is created, so an
    unserialisable object raises TypeError and touches nothing on disk.
    """
    text = json.dumps(obj, indent=indent)
    return atomic_write_text(path, text)
