"""The build itself: what it reports, what it registers, that the kernels stay
framework-free, and (slow) that the wheel installs into a fresh environment."""

import os
import pathlib
import subprocess
import sys
import venv

import pytest
import torch

import lossext

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_build_info_reports_versions_and_backends():
    info = lossext.build_info()
    assert info["lossext"] == lossext.__version__
    assert info["torch"] == torch.__version__
    assert info["compiled"] and info["cpu_kernels"], info["import_error"]
    assert isinstance(info["cuda_kernels"], bool)
    assert info["openmp_threads"] == torch.get_num_threads()
    if info["cuda_kernels"]:
        assert "9.0" in info["cuda_archs"] or "90" in info["cuda_archs"]


def test_python_dash_m_prints_build_info():
    out = subprocess.run([sys.executable, "-m", "lossext"], capture_output=True, text=True, check=True).stdout
    assert "cpu_kernels" in out and "True" in out and torch.__version__ in out


@pytest.mark.slow
def test_wheel_installs_into_fresh_venv(tmp_path):
    """pip wheel --no-build-isolation, then a new venv with only torch and the
    wheel: import, build_info, one loss forward and backward."""
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-build-isolation",
            "--no-deps",
            "-q",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
        env={**os.environ, "MAX_JOBS": os.environ.get("MAX_JOBS", "2")},
    )
    (wheel,) = dist.glob("lossext-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = str(env_dir / "bin" / "python")
    # The same torch the wheel was built against (a local file on this machine's kind).
    subprocess.run(
        [py, "-m", "pip", "install", "-q", f"torch=={torch.__version__.split('+')[0]}", "numpy"], check=True
    )
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    smoke = (
        "import torch, lossext; info = lossext.build_info(); assert info['cpu_kernels'], info; "
        "x = torch.randn(8, 100, requires_grad=True); y = torch.randint(0, 100, (8,)); "
        "l = lossext.cross_entropy(x, y); l.backward(); "
        "torch.testing.assert_close(l, torch.nn.functional.cross_entropy(x, y)); print('wheel ok', info['lossext'])"
    )
    out = subprocess.run([py, "-c", smoke], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "wheel ok" in out.stdout


def _unbuilt_copy(tmp_path):
    """lossext's Python sources without the compiled extension, as in a fresh clone."""
    import shutil

    shutil.copytree(
        ROOT / "lossext", tmp_path / "lossext", ignore=shutil.ignore_patterns("*.so", "__pycache__")
    )
    return tmp_path


def test_python_dash_m_says_how_to_build_when_nothing_is_compiled(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "lossext"], cwd=_unbuilt_copy(tmp_path), capture_output=True, text=True
    )
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "not built" in text and "make build" in text and "--no-build-isolation" in text, text
    assert "circular import" not in text


def test_python_dash_m_says_when_the_extension_does_not_load(tmp_path):
    root = _unbuilt_copy(tmp_path)
    import sysconfig

    (root / "lossext" / f"_C{sysconfig.get_config_var('EXT_SUFFIX')}").write_bytes(b"not an ELF file")
    out = subprocess.run([sys.executable, "-m", "lossext"], cwd=root, capture_output=True, text=True)
    assert out.returncode != 0
    assert "does not load" in out.stdout + out.stderr


def _setup_py_without_torch(tmp_path, folder_name):
    """Runs setup.py where `import torch` fails, from a folder named like pip's
    isolated build environments or not."""
    fake = tmp_path / folder_name
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text("raise ImportError('No module named torch')\n")
    env = {**os.environ, "PYTHONPATH": str(fake)}
    return subprocess.run(
        [sys.executable, "setup.py", "--version"], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_setup_py_without_torch_says_to_install_it(tmp_path):
    out = _setup_py_without_torch(tmp_path, "site")
    assert out.returncode != 0
    assert "install torch first" in out.stderr and "isolated" not in out.stderr, out.stderr


def test_setup_py_in_an_isolated_build_says_no_build_isolation(tmp_path):
    out = _setup_py_without_torch(tmp_path, "pip-build-env-abc123")
    assert out.returncode != 0
    assert "isolated" in out.stderr and "--no-build-isolation" in out.stderr, out.stderr
    assert "install torch first" not in out.stderr


def test_wheel_metadata_requires_the_torch_it_was_built_against(tmp_path):
    """The extension loads only into the torch it was compiled against, so the
    distribution requires that version (any local build: +cpu or +cuXXX)."""
    subprocess.run(
        [sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (requires,) = tmp_path.glob("*.egg-info/requires.txt")
    lines = requires.read_text().split()
    assert f"torch=={torch.__version__.split('+')[0]}" in lines, lines


def test_release_build_has_no_debug_info():
    """setup.py appends -g0 after Python's CFLAGS (which carry -g): the
    extension carries no DWARF sections unless LOSSEXT_DEBUG_INFO=1."""
    so = pathlib.Path(lossext._ext._C.__file__)
    readelf = subprocess.run(["readelf", "-S", "-W", str(so)], capture_output=True, text=True)
    if readelf.returncode != 0:
        pytest.skip("readelf not available")
    assert ".debug_info" not in readelf.stdout, f"{so.name} has debug info ({so.stat().st_size} bytes)"
