"""The grid search's results file: JSON Lines that survive a kill at any moment.

Line 1 is a header ``{"kind": "grid", "version": 1, "spec": {...}}`` recording
the whole grid (options, sampling, data fingerprint); every later line is one
finished run ``{"kind": "run", "key": ..., "config": {...}, "epochs": [...], ...}``.

Why it stays valid: the header is written atomically (temp file + rename), and
each run is appended as *one* ``os.write`` of the complete line on a file opened
with ``O_APPEND``, then fsynced.  A kill can at worst leave a partial last line
(no newline yet); ``read_results`` ignores it and ``ResultsFile`` cuts it off
before appending again, so the next line never fuses with a fragment.

Only the parent process writes (workers return rows to it), so there is one
writer and no locking.  Left out on purpose: concurrent writers, compaction,
any format other than JSON Lines.
"""

import json
import os
from pathlib import Path

from ..errors import DataError, UsageError
from ..storage import strict_json
from ..storage.atomic import atomic_write_text
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
    data = read_capped(path, MAX_FILE_BYTES, "grid results file", DataError)
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
    """Append-only writer for one grid: ``open`` (creating or resuming), ``append``, ``close``."""

    def __init__(self, path, spec):
        self.path = Path(path)
        self.spec = spec
        self.fd = None

    def open(self):
        """Create the file with its header, or check the header and return the finished rows.

        A file from a different grid is refused (UsageError naming the fields that
        differ); a partial last line left by a kill is cut off.
        """
        rows = []
        canonical = json.loads(dumps_line(self.spec))  # the spec as it reads back from disk
        if self.path.exists() and self.path.stat().st_size > 0:
            spec, rows = read_results(self.path)
            if spec != canonical:
                fields = ", ".join(spec_differences(spec, canonical)) or "?"
                raise UsageError(f"{self.path} holds results of a different grid (differs in: "
                                 f"{fields}); use another --out folder, or delete the file to "
                                 f"start this grid afresh")
            data_len = self.path.stat().st_size
            keep = self.path.read_bytes().rfind(b"\n") + 1
            if keep < data_len:
                os.truncate(self.path, keep)  # drop the fragment of an interrupted append
        else:
            header = {"kind": "grid", "version": VERSION, "spec": self.spec}
            atomic_write_text(self.path, dumps_line(header).decode("utf-8"))
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        return rows

    def append(self, row):
        """Write one row as a single complete line and make it durable before returning."""
        line = dumps_line(dict(row, kind="run"))
        written = os.write(self.fd, line)
        while written < len(line):  # a regular file only writes short on a full disk
            more = os.write(self.fd, line[written:])
            if more == 0:
                raise OSError(f"{self.path}: could not append a results line (disk full?)")
            written += more
        os.fsync(self.fd)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
