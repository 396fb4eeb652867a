"""The process setting that lets large tensors reuse freed memory instead of new pages."""

from __future__ import annotations

import platform
import resource

import pytest
import torch

from stylesim.encoding.device import resolve_device, reuse_freed_memory


def page_faults_of_a_fresh_64_mb_tensor() -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(16 << 20)  # 64 MB of float32, written and freed
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc"
)
def test_after_resolving_a_device_a_large_tensor_reuses_freed_memory():
    resolve_device("cpu")  # sets the allocator up, as every run of a network does
    assert reuse_freed_memory()
    faults = [page_faults_of_a_fresh_64_mb_tensor() for _ in range(6)]
    # glibc's own mmap would fault in all 16 384 pages every time; reused memory faults in none
    # once the heap has settled (the first few grow it)
    assert min(faults[2:]) < 1_000, faults
