"""The one place that decides where the network runs and in which precision.

Precision policy (``--precision auto``): the VGG19 convolutions run under ``torch.autocast`` in
bfloat16 where the hardware has bf16 matrix units, and in float32 elsewhere; statistics (Gram
matrices, means, standard deviations, histograms) are always accumulated in float32
(``descriptors.base.flatten_spatial``).

- CUDA: bf16 when ``torch.cuda.is_bf16_supported()`` (Ampere and later).
- CPU: bf16 when the CPU reports ``amx_bf16`` or ``avx512_bf16`` (``/proc/cpuinfo`` flags, as
  ``lscpu`` shows them). Without those units oneDNN emulates bf16 and it is slower than fp32,
  so the choice is made per machine from its flags, never assumed. The measured speed-ups
  (and the retrieval figures that make bf16 and fp32 indexes compatible) are in
  ``docs/performance.md``.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import os
import weakref
from collections.abc import Iterator
from functools import lru_cache
from typing import TypeVar, cast

import torch

from stylesim.errors import StylesimError

PRECISIONS = ("auto", "fp32", "bf16")
ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)
CPU_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; anything else is passed to torch. Every run of a
    network resolves its device first, so this also sets the process up to run one: freed
    memory reused (``reuse_freed_memory``, once per process)."""
    reuse_freed_memory()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise StylesimError(f"--device {device!r}: not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise StylesimError(
            f"--device {device!r}: no CUDA GPU is available on this machine; use --device cpu"
        )
    if dev.type not in ("cpu", "cuda"):
        raise StylesimError(f"--device {device!r}: stylesim runs on cpu or cuda")
    return dev


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
KEEP_FREE_BYTES = 1 << 30
MALLOC_ENV = "STYLESIM_MALLOC"  # "system" leaves the C library's malloc as it is


@lru_cache(maxsize=1)
def reuse_freed_memory() -> bool:
    """Set glibc's malloc to hand freed tensor memory to the next tensor rather than back to the
    system: no mmap for large blocks (``M_MMAP_MAX`` 0; by default blocks above an adaptive
    threshold of at most 32 MiB are mapped when allocated and unmapped when freed, so the next
    one is faulted in page by page again), the heap trimmed only when more than
    ``KEEP_FREE_BYTES`` lie free at its top (``M_TRIM_THRESHOLD``), and one arena for the threads
    that allocate from now on (``M_ARENA_MAX`` 1: the server's worker threads share the reused
    memory). The process keeps its peak memory. ``$STYLESIM_MALLOC=system`` leaves malloc as it
    is. Returns whether the settings were made (False there, or on a C library without
    ``mallopt``, e.g. macOS's)."""
    if os.environ.get(MALLOC_ENV) == "system":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    settings = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, KEEP_FREE_BYTES), (M_ARENA_MAX, 1))
    return all(mallopt(option, value) == 1 for option, value in settings)


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags the kernel reports (empty where /proc/cpuinfo is not readable)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def bf16_is_fast(device: torch.device) -> bool:
    """Whether this device has bf16 matrix units (module docstring)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return bool(cpu_flags() & CPU_BF16_FLAGS)


def choose_precision(device: torch.device, requested: str = "auto") -> str:
    """``fp32`` or ``bf16`` for ``device``: ``auto`` follows the hardware, the others are obeyed."""
    if requested not in PRECISIONS:
        raise StylesimError(f"--precision {requested!r}: use one of {', '.join(PRECISIONS)}")
    if requested == "auto":
        return "bf16" if bf16_is_fast(device) else "fp32"
    return requested


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[None]:
    """The context the network runs in: bf16 autocast, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def frozen_in_precision(network: ModuleT, precision: str) -> ModuleT:
    """``network`` for inference, or as a frozen loss network, under ``autocast(precision)``: for
    bf16, a copy with its weights stored in bfloat16, made once per network and made again only
    after its weights change. Autocast casts only weights that require gradients once per region;
    frozen ones it casts again on every call, which on a CPU with bf16 units costs as much as the
    convolutions. Stored in bf16 they give bit-identical outputs (autocast rounds them the same
    way) for networks whose every weighted layer autocast runs in bf16 (convolutions: VGG19, the
    AdaIN decoder layer by layer; its inference path sums kernel rows of the stored bf16 weights,
    ``transfer.convolutions``, so there it rounds twice). fp32: the network itself."""
    if precision != "bf16":
        return network
    versions = tuple(t._version for t in network.state_dict(keep_vars=True).values())
    cached = _BF16_COPIES.get(network)
    if cached is None or cached[0] != versions:
        with torch.inference_mode(False):  # usable with autograd later even if first made for inference
            cached = (versions, copy.deepcopy(network).to(torch.bfloat16).requires_grad_(False))
        _BF16_COPIES[network] = cached
    return cast(ModuleT, cached[1])


_BF16_COPIES: weakref.WeakKeyDictionary[torch.nn.Module, tuple[tuple[int, ...], torch.nn.Module]] = (
    weakref.WeakKeyDictionary()
)


def default_batch_size(device: torch.device) -> int:
    """Images per forward pass: small on CPU, where large batches fall out of cache, large on
    GPU (measurements in docs/performance.md)."""
    return 64 if device.type == "cuda" else 2


def default_decode_workers(device: torch.device) -> int:
    """Decoding processes: on CPU the model already uses every core, so one; on GPU, enough to
    feed it (all cores up to 16)."""
    cores = os.cpu_count() or 1
    return min(16, cores) if device.type == "cuda" else 1


@contextlib.contextmanager
def cuda_tuning(device: torch.device) -> Iterator[None]:
    """cuDNN autotuning for fixed input shapes, on CUDA only (a no-op on CPU)."""
    if device.type != "cuda":
        yield
        return
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous
