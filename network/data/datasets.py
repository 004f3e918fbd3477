"""Find, fetch and load the MNIST-format data sets (``mnist``, ``fashion-mnist``).

Lookup order, first folder holding all four files wins:

1. the ``path`` argument (only there: an explicit path is never second-guessed);
2. ``$NNDL_DATA/<name>/``, then ``$NNDL_DATA/`` itself;
3. ``data/<name>/`` in the repository (the parent of the ``network`` package);
4. ``/usr/share/datasets/<name>/`` (Debian's ``dataset-fashion-mnist`` puts it there);
5. a download from the public mirrors into ``$NNDL_DATA/<name>/`` (or the
   repository's ``data/<name>/``, or ``path`` when given). Each file goes to a
   temporary name, is verified, and only then renamed, so a failed or corrupt
   download leaves nothing behind. Mirrors: the ``mirrors`` argument, else
   ``$NNDL_MIRRORS`` (space- or comma-separated base URLs), else the defaults.

Verification: MNIST by the MD5 and SHA-256 of the *uncompressed* files (the
``.gz`` wrappers differ between mirrors; the contents do not). Fashion-MNIST:
Zalando publishes MD5s of the ``.gz`` files only, so a download is checked
against those, while a local copy (perhaps recompressed, as by a distribution)
is checked by structure and sizes only. Every file is read by ``idx.read_idx``,
which refuses anything malformed before allocating.

Left out on purpose: other data sets, caching arrays between calls (each call
reads the files once; callers keep what they need), resuming partial downloads.
"""

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from network.data.idx import read_idx
from network.errors import DataError, UsageError
from network.storage.atomic import atomic_open

REPO_DATA = Path(__file__).resolve().parents[2] / "data"
SYSTEM_DATA = Path("/usr/share/datasets")

FILES = {  # base name -> (key in load_dataset's dict, expected shape with N free)
    "train-images-idx3-ubyte": ("train_images", (None, 28, 28)),
    "train-labels-idx1-ubyte": ("train_labels", (None,)),
    "t10k-images-idx3-ubyte": ("test_images", (None, 28, 28)),
    "t10k-labels-idx1-ubyte": ("test_labels", (None,)),
}

DATASETS = {
    "mnist": {
        "mirrors": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        "counts": {"train": 60000, "test": 10000},
        # (md5, sha256) of the uncompressed files, as published (REFERENCE.md section 1).
        "uncompressed": {
            "train-images-idx3-ubyte": (
                "6bbc9ace898e44ae57da46a324031adb",
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
            "train-labels-idx1-ubyte": (
                "a25bea736e30d166cdddb491f175f624",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
            "t10k-images-idx3-ubyte": (
                "2646ac647ad5339dbf082846283269ea",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
            "t10k-labels-idx1-ubyte": (
                "27ae3e4e09519cfbb04c329615203637",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        },
        "gz_md5": {},
    },
    "fashion-mnist": {
        "mirrors": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        "counts": {"train": 60000, "test": 10000},
        # No local copy to hash the uncompressed files: local files get structure checks only.
        "uncompressed": {},
        # MD5 of the .gz files as published in Zalando's README (checked on download only).
        "gz_md5": {
            "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    },
}

MAX_DOWNLOAD = 64 * 1024**2  # no MNIST-format file is near this; a bigger response is not ours


def _spec(name):
    if name not in DATASETS:
        raise UsageError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def _files_in(folder):
    """{base name: Path} if ``folder`` holds all four files (.gz or plain), else None."""
    found = {}
    for base in FILES:
        for candidate in (folder / f"{base}.gz", folder / base):
            if candidate.is_file():
                found[base] = candidate
                break
        else:
            return None
    return found


def _candidates(name, path):
    """The folders to search, in order, each with a note saying why it is there."""
    if path is not None:
        return [(Path(path) / name, "path argument"), (Path(path), "path argument")]
    out = []
    env = os.environ.get("NNDL_DATA")
    if env:
        out += [(Path(env) / name, "$NNDL_DATA"), (Path(env), "$NNDL_DATA")]
    out += [(REPO_DATA / name, "repository"), (SYSTEM_DATA / name, "system")]
    return out


def _download_folder(name, path):
    if path is not None:
        return Path(path)
    env = os.environ.get("NNDL_DATA")
    return (Path(env) if env else REPO_DATA) / name


def _mirrors(name, mirrors):
    if mirrors is None:
        env = os.environ.get("NNDL_MIRRORS", "").replace(",", " ").split()
        mirrors = env or _spec(name)["mirrors"]
    return [m if m.endswith("/") else m + "/" for m in mirrors]


def _digests(name, checksums):
    """{base: (md5, sha256 or None)} of uncompressed files; gz md5s only with the defaults."""
    if checksums is None:
        spec = _spec(name)
        return spec["uncompressed"], spec["gz_md5"]
    return {base: (md5, None) for base, md5 in checksums.items()}, {}


def find_dataset(name="mnist", path=None, download=True, mirrors=None, checksums=None,
                 timeout=30):
    """Return the folder holding the four files of data set ``name``, downloading if needed.

    ``checksums``: {base file name: md5 of the uncompressed file} to use instead of
    the published table (tests pass these for small fake files). Raises DataError,
    saying where it looked and how to get the files, when nothing can be found.
    """
    _spec(name)
    looked = []
    for folder, why in _candidates(name, path):
        if _files_in(folder):
            return folder
        looked.append(f"{folder} ({why})")
    target = _download_folder(name, path)
    failures = []
    if download:
        existed = target.exists()
        try:
            target.mkdir(parents=True, exist_ok=True)
            _download_missing(name, target, _mirrors(name, mirrors), checksums, timeout, failures)
        except OSError as exc:
            failures.append(f"cannot create {target}: {exc}")
        if _files_in(target):
            return target
        if not existed and target.is_dir() and not any(target.iterdir()):
            target.rmdir()  # a failed download leaves nothing behind, not even a folder
    raise DataError(_not_found_message(name, looked, target, failures, download,
                                       _mirrors(name, mirrors)))


def _not_found_message(name, looked, target, failures, download, mirrors):
    files = ", ".join(f"{base}(.gz)" for base in FILES)
    lines = [f"{name}: data set not found. Looked for {files} in:"]
    lines += [f"  {where}" for where in looked]
    if failures:
        lines.append("Download failed:")
        lines += [f"  {why}" for why in failures]
    elif not download:
        lines.append("Download was not allowed (download=False).")
    lines.append(f"To get the files: run again with network access to fetch them into {target}, "
                 f"or download the four .gz files from {mirrors[0] if mirrors else 'a mirror'} "
                 f"into {target} yourself, or set $NNDL_DATA (or pass a path) to a folder "
                 f"that holds them.")
    return "\n".join(lines)


def _download_missing(name, folder, mirrors, checksums, timeout, failures):
    """Fetch each file missing from ``folder``; record one reason per failed attempt."""
    uncompressed, gz_md5 = _digests(name, checksums)
    unreachable = set()  # a mirror that refused a connection is not asked for the other files
    for base, (_, shape) in FILES.items():
        if (folder / f"{base}.gz").is_file() or (folder / base).is_file():
            continue
        for mirror in mirrors:
            if mirror in unreachable:
                continue
            url = f"{mirror}{base}.gz"
            md5, sha256 = uncompressed.get(base, (None, None))

            def verify(tmp, url=url, base=base, shape=shape, md5=md5, sha256=sha256):
                if base in gz_md5:
                    actual = _file_md5(tmp)
                    if actual != gz_md5[base]:
                        raise DataError(f"{url}: checksum mismatch: md5 of the downloaded .gz "
                                        f"is {actual}, expected {gz_md5[base]}")
                read_idx(tmp, shape=shape, dtype=np.uint8, md5=md5, sha256=sha256, name=url)

            try:
                with atomic_open(folder / f"{base}.gz", "wb", verify=verify) as out:
                    _fetch(url, out, timeout)
                break
            except DataError as exc:
                failures.append(str(exc))
            except urllib.error.HTTPError as exc:  # the server answered: try the next file too
                failures.append(f"{url}: {exc}")
            except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError is an OSError
                failures.append(f"{url}: {exc}")
                unreachable.add(mirror)


def _fetch(url, out, timeout):
    """Stream ``url`` into the open file ``out`` with a progress line on stderr."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0)
        if total > MAX_DOWNLOAD:
            raise DataError(f"{url}: the server offers {total} bytes, more than any "
                            f"MNIST-format file; wrong URL or mirror?")
        done, shown = 0, -1
        while chunk := response.read(1 << 16):
            done += len(chunk)
            if done > MAX_DOWNLOAD:
                raise DataError(f"{url}: more than {MAX_DOWNLOAD} bytes; wrong URL or mirror?")
            out.write(chunk)
            if done // 1_000_000 != shown:  # redraw the line once per megabyte, not per chunk
                shown = done // 1_000_000
                _progress(url, done, total)
        _progress(url, done, total)
        print(file=sys.stderr, flush=True)


def _progress(url, done, total):
    size = f"{done / 1e6:.1f}" + (f" of {total / 1e6:.1f}" if total else "")
    print(f"\rdownloading {url}: {size} MB", end="", file=sys.stderr, flush=True)


def _file_md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def load_dataset(name="mnist", path=None, download=True, mirrors=None, checksums=None,
                 timeout=30):
    """Find (or fetch) and read data set ``name``, verified.

    Returns {"train_images": uint8 (n, 28, 28), "train_labels": uint8 (n,),
    "test_images", "test_labels"}; n is 60000/10000 for the real data sets.
    With ``checksums=None`` the published digests and sizes are enforced; with a
    dict, those digests and the structure only (for small test data).
    """
    folder = find_dataset(name, path, download, mirrors, checksums, timeout)
    uncompressed, _ = _digests(name, checksums)
    out = {}
    for base, file in _files_in(folder).items():
        key, shape = FILES[base]
        md5, sha256 = uncompressed.get(base, (None, None))
        out[key] = read_idx(file, shape=shape, dtype=np.uint8, md5=md5, sha256=sha256)
    counts = _spec(name)["counts"] if checksums is None else {}
    for part in ("train", "test"):
        images, labels = out[f"{part}_images"], out[f"{part}_labels"]
        if len(images) != len(labels):
            raise DataError(f"{folder}: {part} set holds {len(images)} images but "
                            f"{len(labels)} labels; the files do not belong together; "
                            f"replace them with a matching set")
        if part in counts and len(images) != counts[part]:
            raise DataError(f"{folder}: {part} set holds {len(images)} images, {name} has "
                            f"{counts[part]}; replace the files with the original ones")
        if len(labels) and labels.max() > 9:
            raise DataError(f"{folder}: {part} labels include {int(labels.max())}, but "
                            f"digits/classes run 0..9; the label file is corrupt")
    return out
