"""The process setting that lets large tensors reuse freed memory instead of new pages."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from stylesim.encoding.device import MALLOC_ENV

FAULTS = """
import resource, torch
from stylesim.encoding.device import resolve_device, reuse_freed_memory
resolve_device("cpu")  # sets the allocator up, as every run of a network does
faults = []
for _ in range(6):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(16 << 20)  # 64 MB of float32, written and freed
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(reuse_freed_memory(), min(faults[2:]))  # once the heap has settled (the first ones grow it)
"""


def settings_made_and_page_faults(malloc: str) -> tuple[bool, int]:
    env = {**os.environ, MALLOC_ENV: malloc}
    done = subprocess.run([sys.executable, "-c", FAULTS], env=env, capture_output=True, text=True, check=True)
    made, faults = done.stdout.split()
    return made == "True", int(faults)


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc"
)
def test_a_large_tensor_reuses_freed_memory_unless_the_system_malloc_is_asked_for():
    made, ours = settings_made_and_page_faults("")
    kept, system = settings_made_and_page_faults("system")
    assert made and not kept
    if system < 1_000:
        pytest.skip(f"glibc maps 64 MB here in {system} faults (huge pages): nothing to save")
    # glibc's own mmap faults in all 16 384 pages every time; reused memory faults in none
    assert ours < system / 10, (ours, system)
