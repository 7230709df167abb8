"""Can the installed torch drive this GPU? Asked once at start-up, answered in one sentence with the fix.

Two ways a notebook's GPU meets a torch that cannot use it, both ending in an error deep inside the first step:

- **No kernels for its architecture.** Each torch wheel carries machine code for a list of architectures
  (``torch.cuda.get_arch_list()``). PyTorch's CUDA 13 wheels start at Turing (sm_75); only the CUDA 12.6 wheels,
  up to torch 2.14, still ship Maxwell (sm_50), Pascal (sm_60, Kaggle's P100) and Volta (sm_70, V100). torch only
  warns at start-up, and the first kernel then fails with "no kernel image is available".
- **A driver too old for the wheel's CUDA.** ``torch.cuda.is_available()`` is then ``False`` (with a warning), and
  Lightning says only that the GPU accelerator is not available. The CUDA 12.6 wheels run on drivers >= 525.
"""

from __future__ import annotations

import re
import warnings

import torch

from colorization.errors import GPUSupportError

__all__ = ["LEGACY_CUDA_INDEX", "arch_supported", "driver_problem", "gpu_problem", "require_supported_gpu"]

# The wheels that still carry sm_50, sm_60 and sm_70 kernels and run on drivers >= 525 (PyTorch <= 2.14).
LEGACY_CUDA_INDEX = "https://download.pytorch.org/whl/cu126"
LEGACY_ARCHS = ((5, 0), (9, 0))  # the compute capabilities those wheels cover
_ARCH = re.compile(r"^(sm|compute)_(\d+)(\d)([a-z]?)$")


def _install(index: str) -> str:
    version = torch.__version__.split("+")[0]
    return f"pip install torch=={version} --index-url {index} (the same torch and torchvision, built for it)"


def arch_supported(capability: tuple[int, int], arch_list: list[str]) -> bool:
    """Whether a GPU of ``capability`` ``(major, minor)`` runs a torch built for ``arch_list`` (``sm_80``,
    ``compute_90``, ...): machine code for the same major and a minor up to its own (``sm_80`` runs on 8.6), or
    PTX for any capability up to its own (JIT-compiled by the driver). ``sm_90a``-style code runs only on 9.0."""
    for arch in arch_list:
        match = _ARCH.match(arch)
        if match is None:
            continue
        kind, major, minor, suffix = match.group(1), int(match.group(2)), int(match.group(3)), match.group(4)
        if suffix:
            if (major, minor) == tuple(capability):
                return True
        elif kind == "sm" and major == capability[0] and minor <= capability[1]:
            return True
        elif kind == "compute" and (major, minor) <= tuple(capability):
            return True
    return False


def gpu_problem(index: int, name: str, capability: tuple[int, int], arch_list: list[str]) -> str | None:
    """One sentence when this torch has no code for GPU ``index`` (``name``, ``capability``), else ``None``."""
    if not arch_list or arch_supported(capability, arch_list):
        return None
    major, minor = capability
    what = (f"GPU {index} ({name}) has compute capability {major}.{minor} (sm_{major}{minor}), for which this torch "
            f"{torch.__version__} has no kernels (it has {' '.join(arch_list)})")
    if LEGACY_ARCHS[0] <= (major, minor) <= LEGACY_ARCHS[1]:
        return f"{what}; install the CUDA 12.6 build, which covers sm_50 to sm_90: {_install(LEGACY_CUDA_INDEX)}"
    if (major, minor) < LEGACY_ARCHS[0]:
        return f"{what}; no current torch build supports it: use a GPU of compute capability 5.0 or newer"
    return (f"{what}; install a build for a newer CUDA that covers it, listed at "
            "https://pytorch.org/get-started/locally/")


def driver_problem(warning: str) -> str:
    """One sentence for torch's "driver too old" start-up warning (its first sentence is kept: it names the
    driver version found)."""
    found = warning.strip().split(". ")[0].rstrip(".")
    return (f"the NVIDIA driver is too old for this torch {torch.__version__} (CUDA {torch.version.cuda}): {found}; "
            f"install a build for an older CUDA, which runs on drivers >= 525: {_install(LEGACY_CUDA_INDEX)}, "
            "or update the driver")


def _cuda_available() -> tuple[bool, str | None]:
    """``torch.cuda.is_available()`` and, when it is ``False`` because the driver is too old, torch's warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        available = torch.cuda.is_available()
    if available:
        return True, None
    too_old = [str(w.message) for w in caught if "driver" in str(w.message).lower() and "old" in str(w.message)]
    return False, (too_old[0] if too_old else None)


def require_supported_gpu() -> bool:
    """Whether a usable CUDA GPU is visible; a :class:`GPUSupportError` (one sentence with the fix) when there is
    one the installed torch cannot drive. ``False`` without an error where there is simply no GPU (a CPU
    machine, a login node, a CPU-only torch)."""
    available, driver_warning = _cuda_available()
    if not available:
        if driver_warning is not None:
            raise GPUSupportError(driver_problem(driver_warning))
        return False
    arch_list = torch.cuda.get_arch_list()
    for index in range(torch.cuda.device_count()):
        problem = gpu_problem(index, torch.cuda.get_device_name(index), torch.cuda.get_device_capability(index),
                              arch_list)
        if problem is not None:
            raise GPUSupportError(problem)
    return True
