"""The build itself: what it reports, what it registers, that the kernels stay
framework-free, and (slow) that the wheel installs into a fresh environment."""

import os
import pathlib
import re
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


def test_every_schema_has_cpu_kernel_and_fake():
    for name in ("cross_entropy_index_fwd", "cross_entropy_index_bwd", "cross_entropy_prob_fwd",
                 "cross_entropy_prob_bwd"):
        op = getattr(torch.ops.lossext, name).default
        assert torch._C._dispatch_has_kernel_for_dispatch_key(op.name(), "CPU"), name
        assert torch._C._dispatch_has_kernel_for_dispatch_key(op.name(), "Meta") or \
            torch._library.simple_registry.singleton.find(op.name()).fake_impl.kernel is not None, name


def test_kernels_include_no_framework_header():
    pattern = re.compile(r'#include\s*[<"](torch|ATen|c10)/')
    for path in (ROOT / "csrc" / "kernels").iterdir():
        assert not pattern.search(path.read_text()), f"{path.name} includes a torch header"


@pytest.mark.slow
def test_wheel_installs_into_fresh_venv(tmp_path):
    """pip wheel --no-build-isolation, then a new venv with only torch and the
    wheel: import, build_info, one loss forward and backward."""
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-q", "-w", str(dist),
                    str(ROOT)], check=True, env={**os.environ, "MAX_JOBS": os.environ.get("MAX_JOBS", "2")})
    (wheel,) = dist.glob("lossext-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = str(env_dir / "bin" / "python")
    # The same torch the wheel was built against (a local file on this machine's kind).
    subprocess.run([py, "-m", "pip", "install", "-q", f"torch=={torch.__version__.split('+')[0]}", "numpy"],
                   check=True)
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
