"""The grid search's results file: JSON Lines that survive a kill at any moment.

Line 1 is a header ``{"kind": "grid", "version": 1, "spec": {...}}`` recording
the whole grid (options, sampling, data fingerprint) -- or, for a Hydra sweep
(network/sweep.py), only what every row must share (the data fingerprint);
every later line is one finished run ``{"kind": "run", "key": ..., "config":
{...}, "epochs": [...], ...}``.

Why it stays valid: every change is made under an exclusive lock on the file
(``fcntl.lockf``, which NFS honours too), so any number of processes may append
to one file -- the parallel jobs of a sweep -- and a grid's parent process is
simply the only writer.  Under the lock a run is appended as *one* ``os.write``
of the complete line on a file opened with ``O_APPEND``, then fsynced.  A kill
can at worst leave a partial last line (no newline yet); ``read_results``
ignores it and the next writer cuts it off, under the lock, before appending,
so a new line never fuses with a fragment.  A header cut short the same way
counts as no header and is written again.

Left out on purpose: compaction, any format other than JSON Lines, and locks on
Windows (there the one-writer rule of a grid is all that holds).
"""

import contextlib
import json
import os
import stat
from pathlib import Path

try:
    import fcntl
except ImportError:      # Windows: no POSIX locks (see the module docstring)
    fcntl = None

from ..errors import DataError, UsageError
from ..storage import strict_json
from ..storage.limits import read_capped
from ..storage.strict_json import dumps_line

MAX_FILE_BYTES = 1024**3     # a million runs of a few hundred bytes each

VERSION = 1


def read_results(path):
    """(spec, rows) from a results file; a trailing partial line is ignored.

    Raises DataError for a file that is not a grid results file, or whose
    middle is damaged (that never happens through ``ResultsFile``).
    """
    path = Path(path)
    return parse_results(read_capped(path, MAX_FILE_BYTES, "grid results file", DataError), path)


def parse_results(data, path):
    """(spec, rows) from the bytes of a results file (see ``read_results``)."""
    complete = data[:data.rfind(b"\n") + 1]  # bytes after the last newline: an interrupted write
    lines = complete.splitlines()
    if not lines:
        raise DataError(f"{path}: empty grid results file (no complete header line); "
                        f"delete it and rerun the grid")
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            records.append(strict_json.parse(line, f"{path}: line {number}", "grid results line",
                                             DataError))
        except DataError as exc:
            raise DataError(f"{exc}; the file was edited or damaged; delete the line (or the "
                            f"file) and rerun") from None
    header = records[0]
    if not isinstance(header, dict) or header.get("kind") != "grid" or "spec" not in header:
        raise DataError(f"{path}: not a grid results file (its first line has no grid header)")
    if header.get("version") != VERSION:
        raise DataError(f"{path}: results file version {header.get('version')!r}, this code "
                        f"reads version {VERSION}; use another --out folder")
    rows = [r for r in records[1:] if isinstance(r, dict) and r.get("kind") == "run"]
    return header["spec"], rows


def spec_differences(a, b, prefix=""):
    """The dotted names of the fields where two specs differ (for the error message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += spec_differences(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


class ResultsFile:
    """Appends rows to one results file: ``open`` (creating or resuming), ``append``, ``close``.

    Safe with several writers: each one opens the file, and every read-modify-write
    happens under an exclusive lock on it (see the module docstring).
    """

    def __init__(self, path, spec):
        self.path = Path(path)
        self.spec = spec
        self.fd = None

    def open(self):
        """Create the file with its header, or check the header and return the finished rows.

        A file from a different grid (or sweep) is refused (UsageError naming the
        fields that differ); a partial last line left by a kill is cut off.
        """
        canonical = json.loads(dumps_line(self.spec))  # the spec as it reads back from disk
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise DataError(f"{self.path}: cannot open the grid results file "
                            f"({exc.strerror or exc})") from None
        try:
            if not stat.S_ISREG(os.fstat(self.fd).st_mode):
                raise DataError(f"{self.path}: not a regular file; give --out a folder of "
                                f"its own")
            with self._locked():
                data = self._complete_lines()
                if not data:
                    header = {"kind": "grid", "version": VERSION, "spec": self.spec}
                    self._write(dumps_line(header))
                    return []
                spec, rows = parse_results(data, self.path)
            if spec != canonical:
                fields = ", ".join(spec_differences(spec, canonical)) or "?"
                raise UsageError(f"{self.path} holds results of a different grid (differs in: "
                                 f"{fields}); use another --out folder, or delete the file "
                                 f"to start this grid afresh")
        except BaseException:
            self.close()
            raise
        return rows

    def append(self, row):
        """Write one row as a single complete line and make it durable before returning."""
        line = dumps_line(dict(row, kind="run"))
        with self._locked():
            self._complete_lines()   # another writer may have been killed mid-line
            self._write(line)

    def _write(self, line):
        written = os.write(self.fd, line)
        while written < len(line):  # a regular file only writes short on a full disk
            more = os.write(self.fd, line[written:])
            if more == 0:
                raise OSError(f"{self.path}: could not append a results line (disk full?)")
            written += more
        os.fsync(self.fd)

    def _complete_lines(self):
        """The file's bytes up to its last newline; anything after it is cut off.  Read
        through the locked descriptor: opening the file again would drop a POSIX lock."""
        size = os.fstat(self.fd).st_size
        if size > MAX_FILE_BYTES:
            raise DataError(f"{self.path}: {size} bytes is larger than any grid results file "
                            f"this library writes ({MAX_FILE_BYTES} bytes at most)")
        chunks, offset = [], 0
        while offset < size:
            chunk = os.pread(self.fd, size - offset, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        data = b"".join(chunks)
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            os.ftruncate(self.fd, keep)  # the fragment of an interrupted append
        return data[:keep]

    @contextlib.contextmanager
    def _locked(self):
        if fcntl is None:
            yield
            return
        fcntl.lockf(self.fd, fcntl.LOCK_EX)   # waits for the other writers, if any
        try:
            yield
        finally:
            fcntl.lockf(self.fd, fcntl.LOCK_UN)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
