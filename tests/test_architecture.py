"""The shape of the house: packages by concept, dependencies pointing one way, no cycles.

The import graph is built from the source of ``network/`` (every import statement,
those inside functions too), so a cycle or an import that points the wrong way fails
here before a reader meets it.  The layers, lowest first::

    errors <- base <- storage <- data <- mlp, conv, vae <- grid <- plots, bench <- play <- cli
                                                                           <- network/__init__ and the shims

A module may import its own package and any lower layer; siblings on one layer
(mlp, conv, vae; plots, bench) do not import each other.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "network"
RANK = {"errors": 0, "base": 1, "storage": 2, "data": 3, "mlp": 4, "conv": 4, "vae": 4,
        "grid": 5, "plots": 6, "bench": 6, "play": 7, "cli": 8, "top": 9}
TOP_MODULES = {"__init__", "__main__", "mnist_loader", "expand_mnist", "sweep"}


def module_name(path):
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name):
    rel = Path(*name.split("."))
    return (ROOT.parent / rel).with_suffix(".py").exists() or (ROOT.parent / rel / "__init__.py").exists()


def package_of(name):
    parts = name.split(".")
    if len(parts) == 1 or parts[1] in TOP_MODULES:
        return "top"
    return parts[1]


def imports_of(path):
    """Every network module ``path`` imports, anywhere in the file."""
    name = module_name(path)
    is_pkg = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "network"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "network":
                continue
            subs = [f"{target}.{a.name}" for a in node.names if is_module(f"{target}.{a.name}")]
            found |= set(subs) if subs and len(subs) == len(node.names) else {target}
    return found


def graph():
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m != name} for name, path in modules.items()}


def test_no_import_cycles_anywhere_in_the_library():
    edges = graph()
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if nxt not in edges:
                continue
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_every_import_points_down_the_layers():
    wrong = []
    for name, targets in graph().items():
        here = package_of(name)
        for target in targets:
            there = package_of(target)
            if there != here and RANK[there] >= RANK[here]:
                wrong.append(f"{name} -> {target} ({here} may not import {there})")
    assert not wrong, "\n".join(sorted(wrong))


def test_the_checks_catch_a_wrong_way_import_and_a_cycle(tmp_path, monkeypatch):
    """Negative control: the same functions flag an import up the layers and a cycle."""
    fake = tmp_path / "network"
    for rel, text in {"__init__.py": "", "errors.py": "from .mlp import network\n",
                      "mlp/__init__.py": "", "mlp/network.py": "from ..errors import X\n"}.items():
        (fake / rel).parent.mkdir(parents=True, exist_ok=True)
        (fake / rel).write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake)
    with pytest.raises(AssertionError, match="errors may not import mlp"):
        test_every_import_points_down_the_layers()
    with pytest.raises(AssertionError, match="import cycles"):
        test_no_import_cycles_anywhere_in_the_library()


def test_the_top_of_the_package_holds_little_but_the_public_face():
    loose = [p.name for p in ROOT.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert len(loose) <= 8, loose
    assert all(RANK.get(p.name) is not None for p in ROOT.iterdir()
               if p.is_dir() and (p / "__init__.py").exists()), "a package missing from RANK"


def test_every_compiled_kernel_goes_through_the_one_numba_switch():
    direct = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
              if p.name != "jit.py" and ("import numba" in p.read_text()
                                         or "from numba" in p.read_text())]
    assert not direct, f"import numba directly (use network/base/jit.py): {direct}"


def test_importing_and_drawing_never_switches_the_matplotlib_backend(tmp_path):
    """A notebook's backend stays what it was: plots draw on their own Agg canvas, and the
    play windows import pyplot only when one is really opened."""
    code = (
        "import matplotlib; matplotlib.use('svg'); "
        "import network, network.plots, network.plots.grid, network.cli; "
        "import network.play.vae_window, network.play.digits_window; "
        "from network import plots; "
        f"plots.line_plot({str(tmp_path / 'a.png')!r}, {{'x': [1, 2, 3]}}, 'title'); "
        "import sys; print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["svg", "False"]
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_without_numba_the_conv_net_runs_on_its_numpy_twins():
    code = ("import numpy as np; from network.conv import ConvNetwork, ConvPoolLayer, SoftmaxLayer; "
            "from network.base.jit import HAVE_NUMBA; "
            "net = ConvNetwork([ConvPoolLayer((2, 1, 3, 3), (1, 8, 8)), SoftmaxLayer(18, 3)], seed=0); "
            "X = np.random.default_rng(0).random((20, 64)); y = np.arange(20) % 3; "
            "net.SGD((X, y), 1, 5, 0.1, verbose=False); "
            "print(HAVE_NUMBA, net.layers[0].kernels['conv_pool_forward'].__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "NNDL_NO_NUMBA": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "conv_pool_forward_numpy"]


@pytest.mark.parametrize("given, expected", [
    ({}, "1000 True"),                                   # the library's short spin
    ({"GOMP_SPINCOUNT": "5"}, "5 False"),                # the user's own count is kept
    ({"OMP_WAIT_POLICY": "ACTIVE"}, "None False"),       # so is the user's wait policy
    ({"NNDL_NO_NUMBA": "1"}, "None False"),              # no numba, no OpenMP threads to tune
])
def test_importing_the_library_shortens_openmps_spin_unless_the_user_chose(given, expected):
    import os
    env = {k: v for k, v in os.environ.items()
           if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "NNDL_NO_NUMBA")}
    code = ("import os, network; from network.base.jit import SPIN_TURNS_SET; "
            "print(os.environ.get('GOMP_SPINCOUNT'), SPIN_TURNS_SET)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**env, **given})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected
