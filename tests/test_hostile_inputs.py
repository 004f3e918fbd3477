"""A catalogue of hostile inputs thrown at the command line, each in a subprocess under an
address-space limit, so a regression cannot take the test machine down.

Every case must end within its time limit with exit status 2 (or the shell's 130/143 for
a signal), one line on stderr and no traceback, within the memory limit; no special file
given as an output may have been replaced, and no process may be left behind.  The
classes (issue "Nothing a user types or feeds it takes the machine down"):

1. non-regular input files (devices, FIFOs, folders) are read with a cap, or refused;
2. memory amplification inside an accepted size is refused before it is built;
3. outputs that are devices, FIFOs, sockets or folders are refused, symlinks followed;
4. outputs that cannot be written are refused before the work, and a resume keeps them;
5. sizes and structures that cannot fit are refused with what they would need;
6. a grid search stops on Ctrl-C (once or twice) and SIGTERM with its workers;
7. values that used to give silently wrong or empty results are refused or explained.

No real device node is touched: FIFOs, sockets and (as root) a character device are made
in a temporary folder.  ``CASES`` counts the catalogue by class for the README.
"""

import json
import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

import processes

pytestmark = pytest.mark.slow   # every case is a subprocess under a memory limit: left out by -m "not slow"

ADDRESS_SPACE = 3 * 1024**3      # per subprocess: numba and LLVM need well under this
PEAK_RSS = 1200 * 1024**2        # what a refused case may have used at most
SECONDS = 60
SMALL = ["--training-size", "2000", "--epochs", "1"]
# The subprocesses run in a temporary folder: import the code under test, not whichever
# checkout an editable install points at.
CHECKOUT = {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _limit():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


class Run:
    """One case: the command line (or a Python snippet) in a subprocess with a tag in its
    environment, so any process it leaves behind can be found."""

    def __init__(self, args, tmp_path, python=None, stdin=None):
        self.tag = uuid.uuid4().hex
        env = {**os.environ, "NNDL_HOSTILE_TAG": self.tag, "OMP_NUM_THREADS": "1", **CHECKOUT}
        cmd = [sys.executable, "-c", python] if python else [sys.executable, "-m", "network",
                                                              *map(str, args)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        self.proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                                   timeout=SECONDS, preexec_fn=_limit, stdin=stdin)
        self.seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        self.peak = after * 1024 if after > before else None   # None: under an earlier peak

    def refused(self, *phrases, status=2):
        err = self.proc.stderr
        assert self.proc.returncode == status, (self.proc.returncode, err[-2000:])
        assert "Traceback" not in err, err[-2000:]
        assert len(err.strip().splitlines()) == 1, err
        for phrase in phrases:
            assert phrase in err, (phrase, err)
        assert self.peak is None or self.peak < PEAK_RSS, f"used {self.peak / 2**20:.0f} MB"
        assert not leftovers(self.tag), "a process was left behind"
        return err


def leftovers(tag):
    """Processes whose environment carries ``tag``."""
    return processes.tagged("NNDL_HOSTILE_TAG", tag)


def special_files(folder):
    """A FIFO, a Unix socket and, where this process may make one, a character device
    (the null device's numbers) -- all in ``folder``, none of the system's own."""
    made = {"fifo": folder / "fifo", "socket": folder / "socket"}
    os.mkfifo(made["fifo"])
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(made["socket"]))
    sock.close()
    try:
        os.mknod(folder / "device", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        made["device"] = folder / "device"
    except PermissionError:
        pass  # not root: the FIFO and the socket still cover the class
    return made


def still_special(path):
    mode = os.lstat(path).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


CASES = {}   # class -> number of hostile inputs thrown (README's reliability section)


def count(cls, n=1):
    CASES[cls] = CASES.get(cls, 0) + n


# ---- 1. non-regular input files ---------------------------------------------------------------

def test_1_a_device_a_fifo_a_folder_or_stdin_as_input_is_capped_or_refused(tmp_path):
    made = special_files(tmp_path)
    Run(["evaluate", "/dev/zero"], tmp_path).refused("/dev/zero", "more than")
    count(1)
    for name in ("fifo", "socket", "device"):
        if name in made:
            if name == "fifo":   # a writer that would stream 600 MB into it
                feeder = threading.Thread(target=_feed, args=(made["fifo"], 600 * 2**20),
                                          daemon=True)
                feeder.start()
            Run(["train", "--resume", made[name]], tmp_path).refused("not a regular file")
            count(1)
            if name == "fifo":   # refused unopened: open and close the reading end to free it
                os.close(os.open(made["fifo"], os.O_RDONLY | os.O_NONBLOCK))
                feeder.join(timeout=30)
    with open("/dev/zero", "rb") as zero:   # 700 MB of zeros on a pipe, as `evaluate /dev/stdin`
        run = Run(["evaluate", "/dev/stdin"], tmp_path, stdin=zero)
    run.refused("more than")
    count(1)
    Run(["evaluate", tmp_path], tmp_path).refused("is a folder")
    Run(["vae", "train", "--resume", tmp_path], tmp_path).refused("not a regular file")
    Run(["grid", "--data", "/dev/zero", "--eta", "0.5", "--out", tmp_path / "g"],
        tmp_path).refused("not a regular file")
    count(1, 3)


def _feed(path, nbytes):
    try:
        with open(path, "wb") as f:
            chunk = bytes(1 << 20)
            for _ in range(nbytes >> 20):
                f.write(chunk)
    except (BrokenPipeError, OSError):
        return   # the reader stopped reading, as it should


# ---- 2. memory amplification ----------------------------------------------------------------

def _model_doc():
    from network import Network
    from network.mlp.io import network_to_dict
    return network_to_dict(Network([784, 30, 10], seed=0))


def test_2_small_files_that_would_build_gigabytes_are_refused_before_they_are_built(tmp_path):
    doc = json.dumps(_model_doc())
    padded = tmp_path / "padded.json"
    padded.write_text(doc[:-1] + ', "padding": [' + "[]," * (40 * 2**20 // 3) + "[]]}")
    Run(["evaluate", padded], tmp_path).refused("deep or wide empty structures")
    deep = tmp_path / "deep.json"
    deep.write_text(doc[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    Run(["evaluate", deep], tmp_path).refused("deep.json")
    wide = tmp_path / "wide.json"
    wide.write_text(doc[:-1] + ', "x": {' + ",".join(f'"{i}": 0' for i in range(2_000_000)) + "}}")
    Run(["evaluate", wide], tmp_path).refused("wide.json")
    unknown = tmp_path / "unknown.json"
    unknown.write_text(doc[:-1] + ', "surprise": 1}')
    Run(["evaluate", unknown], tmp_path).refused("unknown field 'surprise'")
    count(2, 4)


# ---- 3. special files and links as outputs ----------------------------------------------------

def test_3_outputs_that_are_special_files_are_refused_and_links_followed(tmp_path):
    made = special_files(tmp_path)
    for name, path in made.items():
        for option in ("--save", "--metrics", "--checkpoint"):
            Run(["train", *SMALL, option, path], tmp_path).refused(str(path), "not a regular file")
            assert still_special(path), f"{path} was replaced"
            count(3)
        Run(["vae", "train", "--epochs", "1", "--training-size", "500", "--save", path],
            tmp_path).refused("not a regular file")
        Run(["bench", "--quick", "--json", path], tmp_path).refused("not a regular file")
        assert still_special(path)
        count(3, 2)
    Run(["train", *SMALL, "--save", tmp_path], tmp_path).refused("is a folder")
    count(3)
    target, link = tmp_path / "real" / "model.json", tmp_path / "link.json"
    target.parent.mkdir()
    link.symlink_to(target)
    ok = Run(["train", *SMALL, "--seed", "1", "--save", link], tmp_path)
    assert ok.proc.returncode == 0, ok.proc.stderr
    assert link.is_symlink() and target.is_file() and json.loads(target.read_text())["sizes"]
    count(3)


# ---- 4. outputs that cannot be written ---------------------------------------------------------

def test_4_an_output_nowhere_writable_is_refused_before_training(tmp_path):
    for option in ("--save", "--metrics", "--checkpoint"):
        run = Run(["train", "--epochs", "30", option, "/proc/self/out.json"], tmp_path)
        run.refused("cannot create a file in")
        assert run.seconds < 20 and run.proc.stdout == ""      # before training, not after
        count(4)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    Run(["vae", "train", "--save", blocker / "m.npz"], tmp_path).refused("cannot create the folder")
    count(4)


def test_4_a_resumed_run_writes_the_interrupted_commands_outputs(tmp_path):
    ck, model, metrics = tmp_path / "run.npz", tmp_path / "model.json", tmp_path / "m.json"
    args = [sys.executable, "-m", "network", "train", "--epochs", "60", "--seed", "2",
            "--training-size", "20000", "--checkpoint", ck, "--save", model, "--metrics", metrics]
    p = subprocess.Popen(list(map(str, args)), cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    for line in p.stdout:
        if line.startswith("Epoch 1:"):
            p.send_signal(signal.SIGINT)
            break
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "resume with: python -m network train --resume" in err, err
    model.unlink(missing_ok=True)
    resumed = subprocess.run([sys.executable, "-m", "network", "train", "--resume", str(ck),
                              "--epochs", "3"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert model.is_file() and len(json.loads(metrics.read_text())["epochs"]) == 3
    count(4)


# ---- 5. sizes and structures that cannot fit ------------------------------------------------

def test_5_sizes_that_cannot_fit_are_refused_with_the_memory_they_need(tmp_path):
    Run(["train", "--sizes", "784", "100000000", "10"], tmp_path).refused("would need about",
                                                                           "of memory")
    Run(None, tmp_path, python="import network, sys\ntry:\n    network.Network([784, 10**9, 10])\n"
        "except network.UsageError as e:\n    sys.exit(print(e, file=sys.stderr) or 2)"
        ).refused("would need about")
    Run(["vae", "train", "--hidden", *["60000"] * 8], tmp_path).refused("would need about")
    count(5, 3)


def test_5_a_forged_data_file_and_a_deeply_nested_results_line_are_refused(tmp_path):
    import zipfile
    np.savez(tmp_path / "d.npz", X_train=np.zeros((10, 784), np.uint8), y_train=np.arange(10),
             X_val=np.zeros((10, 784), np.uint8), y_val=np.arange(10))
    with zipfile.ZipFile(tmp_path / "d.npz") as z:
        members = {n: z.read(n) for n in z.namelist()}
    header = ("{'descr': '|u1', 'fortran_order': False, 'shape': (1000000000, 784), }"
              .ljust(118) + "\n").encode()
    members["X_train.npy"] = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header
    with zipfile.ZipFile(tmp_path / "forged.npz", "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    Run(["grid", "--data", "forged.npz", "--eta", "0.5", "--out", "g"], tmp_path).refused(
        "declares 784000000000 bytes")
    (tmp_path / "g2").mkdir()
    grid = ["grid", "--data", "d.npz", "--eta", "0.5", "--epochs", "1", "--out", "g2",
            "--no-plots", "--workers", "0"]
    first = Run(grid, tmp_path)
    assert first.proc.returncode == 0, first.proc.stderr
    with open(tmp_path / "g2" / "results.jsonl", "a") as f:
        f.write("[" * 200_000 + "]" * 200_000 + "\n")
    Run(grid, tmp_path).refused("results.jsonl: line 3")
    count(5, 2)


# ---- 6. a search that must stop ----------------------------------------------------------------

GRID = ["grid", "--sizes", "784", "100", "10", "--eta", "0.1", "0.5", "1", "3", "--epochs", "200",
        "--workers", "2", "--no-plots"]


@pytest.mark.parametrize("signals,status", [((signal.SIGINT,), 130),
                                            ((signal.SIGINT, signal.SIGINT), 130),
                                            ((signal.SIGTERM,), 143)],
                         ids=["ctrl-c", "ctrl-c-twice", "sigterm"])
def test_6_a_grid_search_ends_with_its_workers_on_any_interrupt(tmp_path, signals, status):
    tag = uuid.uuid4().hex
    env = {**os.environ, "NNDL_HOSTILE_TAG": tag, "OMP_NUM_THREADS": "1", **CHECKOUT}
    p = subprocess.Popen([sys.executable, "-m", "network", *GRID, "--out", "g"], cwd=tmp_path,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=_limit)
    deadline = time.time() + 60
    while len(leftovers(tag)) < 3 and time.time() < deadline:   # the parent and two workers
        time.sleep(0.2)
    time.sleep(1.0)
    for signum in signals:
        p.send_signal(signum)
        time.sleep(0.2)
    _, err = p.communicate(timeout=20)
    # A second Ctrl-C that lands while Python is already exiting (its handlers reset) ends the
    # process by the signal itself: a shell shows 130 either way.
    assert p.returncode in (status, -signals[-1]), err
    assert len(err.strip().splitlines()) == 1 and "run the same command again" in err, err
    time.sleep(1.0)
    assert not leftovers(tag), "a worker was left computing"
    assert (tmp_path / "g" / "results.jsonl").is_file()
    count(6)


def test_6_workers_of_a_killed_search_exit_by_themselves(tmp_path):
    tag = uuid.uuid4().hex
    env = {**os.environ, "NNDL_HOSTILE_TAG": tag, "OMP_NUM_THREADS": "1", **CHECKOUT}
    p = subprocess.Popen([sys.executable, "-m", "network", *GRID, "--out", "g"], cwd=tmp_path,
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         preexec_fn=_limit)
    deadline = time.time() + 60
    while len(leftovers(tag)) < 3 and time.time() < deadline:
        time.sleep(0.2)
    p.kill()
    p.wait(timeout=10)
    deadline = time.time() + 10
    while leftovers(tag) and time.time() < deadline:
        time.sleep(0.2)
    assert not leftovers(tag), "orphaned workers kept computing"
    count(6)


# ---- 7. silently wrong or empty results --------------------------------------------------------

def test_7_values_that_gave_wrong_or_empty_results_are_refused_or_explained(tmp_path):
    Run(["bench", "--training-size", "60000"], tmp_path).refused("at most 50000")
    no_torch = ("import sys; sys.modules['torch'] = None\nfrom network.cli import main\n"
                "sys.exit(main(['bench', '--methods', 'torch']))")
    Run(None, tmp_path, python=no_torch).refused("PyTorch is not installed")
    Run(["grid", "--random", "1000000000000", "--out", "g"], tmp_path).refused("100000")
    doc = _model_doc()
    doc["weights"][0][0][0] = True
    (tmp_path / "bool.json").write_text(json.dumps(doc))
    Run(["evaluate", "bool.json"], tmp_path).refused("true or false")
    Run(None, tmp_path, python="import network, sys\ntry:\n    network.Network([True, True])\n"
        "except network.UsageError as e:\n    sys.exit(print(e, file=sys.stderr) or 2)"
        ).refused("whole number")
    Run(["train", *SMALL, "--lmbda", "1e300"], tmp_path).refused("weight decay factor")
    count(7, 6)


def test_the_catalogue_covers_every_class():
    """Run last (the file's order): every class had hostile inputs thrown at it."""
    assert set(CASES) == set(range(1, 8)), CASES
    print("hostile inputs by class:", dict(sorted(CASES.items())), "total", sum(CASES.values()))
