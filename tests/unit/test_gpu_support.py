"""A GPU the installed torch cannot drive gets one sentence with the fix at start-up (issue 23): torch's CUDA
queries mocked to stand for a P100, a T4, an RTX 50xx and an old driver."""

from __future__ import annotations

import warnings

import pytest
import torch

from colorization.errors import GPUSupportError
from colorization.training import gpu_support, precision
from colorization.training.gpu_support import arch_supported, gpu_problem, require_supported_gpu

CU130 = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]  # torch 2.14 + cu130's list
CU126 = ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]
VERSION = torch.__version__.split("+")[0]


@pytest.mark.parametrize("capability, archs, ok", [
    ((6, 0), CU130, False), ((6, 0), CU126, True), ((7, 0), CU130, False), ((7, 5), CU130, True),
    ((8, 9), CU130, True),  # sm_86 code runs on 8.9 (same major, lower minor)
    ((12, 0), CU126, False), ((12, 0), ["sm_90", "compute_90"], True),  # PTX compiles forward
    ((10, 0), ["sm_90a"], False), ((9, 0), ["sm_90a"], True),  # arch-specific code runs on its own arch only
])
def test_which_builds_run_which_gpus(capability, archs, ok):
    assert arch_supported(capability, archs) is ok


def _gpu(monkeypatch, name: str, capability: tuple[int, int], archs: list[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: archs)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: name)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=0: capability)
    precision.choose_precision.cache_clear()


def test_a_p100_is_told_to_install_the_cuda_12_6_build(monkeypatch):
    _gpu(monkeypatch, "Tesla P100-PCIE-16GB", (6, 0), CU130)
    with pytest.raises(GPUSupportError) as err:
        precision.resolve_precision("auto")  # what trainer=gpu resolves at start-up
    assert str(err.value) == (
        f"GPU 0 (Tesla P100-PCIE-16GB) has compute capability 6.0 (sm_60), for which this torch {torch.__version__} "
        f"has no kernels (it has sm_75 sm_80 sm_86 sm_90 sm_100 sm_120); install the CUDA 12.6 build, which covers "
        f"sm_50 to sm_90: pip install torch=={VERSION} --index-url https://download.pytorch.org/whl/cu126 (the same "
        "torch and torchvision, built for it)")
    # An exit with the sentence: the interpreter prints it alone and exits 1 (OmegaConf wraps only exceptions).
    assert isinstance(err.value, SystemExit) and err.value.code == str(err.value)
    precision.choose_precision.cache_clear()


@pytest.mark.parametrize("name, capability, expected", [("Tesla T4", (7, 5), "16-mixed"),
                                                        ("NVIDIA A100", (8, 0), "bf16-mixed")])
def test_a_supported_gpu_gets_its_precision(monkeypatch, name, capability, expected):
    _gpu(monkeypatch, name, capability, CU130)
    assert precision.resolve_precision("auto") == expected
    precision.choose_precision.cache_clear()


def test_a_gpu_newer_than_the_build_is_pointed_at_a_newer_cuda():
    problem = gpu_problem(1, "NVIDIA RTX 5090", (12, 0), CU126)
    assert problem.startswith("GPU 1 (NVIDIA RTX 5090) has compute capability 12.0 (sm_120), for which")
    assert problem.endswith("install a build for a newer CUDA that covers it, listed at "
                            "https://pytorch.org/get-started/locally/")
    assert "no current torch build" in gpu_problem(0, "GTX 780", (3, 5), CU126)


def test_a_driver_too_old_for_the_wheel_is_named_with_the_fix(monkeypatch):
    message = ("CUDA initialization: The NVIDIA driver on your system is too old (found version 12020). Please "
               "update your GPU driver by downloading and installing a new version from the URL: "
               "http://www.nvidia.com/Download/index.aspx")

    def unavailable() -> bool:
        warnings.warn(message, UserWarning, stacklevel=2)
        return False

    monkeypatch.setattr(torch.cuda, "is_available", unavailable)
    with pytest.raises(GPUSupportError) as err:
        require_supported_gpu()
    assert str(err.value) == (
        f"the NVIDIA driver is too old for this torch {torch.__version__} (CUDA {torch.version.cuda}): CUDA "
        "initialization: The NVIDIA driver on your system is too old (found version 12020); install a build for an "
        f"older CUDA, which runs on drivers >= 525: pip install torch=={VERSION} --index-url "
        "https://download.pytorch.org/whl/cu126 (the same torch and torchvision, built for it), or update the driver")


def test_no_gpu_at_all_is_no_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert require_supported_gpu() is False
    assert gpu_support.gpu_problem(0, "x", (8, 0), []) is None  # a CPU-only build lists nothing: nothing to say
