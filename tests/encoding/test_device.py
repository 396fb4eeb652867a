"""The process setting that lets large tensors reuse freed memory instead of new pages."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from stylesim.encoding.device import MALLOC_ENV

WHERE_A_LARGE_TENSOR_LIVES = """
import torch
from stylesim.encoding.device import resolve_device, reuse_freed_memory
resolve_device("cpu")  # sets the allocator up, as every run of a network does

def heap():
    for line in open("/proc/self/maps"):
        if line.rstrip().endswith("[heap]"):
            return tuple(int(x, 16) for x in line.split()[0].split("-"))
    return (0, 0)

x = torch.ones(16 << 20)  # 64 MB of float32
start, end = heap()
on_the_heap = start <= x.data_ptr() < end  # not a block mapped for it alone
del x
kept = heap()[1] >= end  # freed, its memory stays in the process for the next tensor
print(reuse_freed_memory(), on_the_heap, kept)
"""


def settings_made_heap_and_kept(malloc: str) -> list[bool]:
    env = {**os.environ, MALLOC_ENV: malloc}
    command = [sys.executable, "-c", WHERE_A_LARGE_TENSOR_LIVES]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return [word == "True" for word in done.stdout.split()]


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc"
)
def test_a_large_tensor_comes_from_the_heap_and_stays_unless_the_system_malloc_is_asked_for():
    assert settings_made_heap_and_kept("") == [True, True, True]
    made, on_the_heap, _ = settings_made_heap_and_kept("system")
    assert not made and not on_the_heap  # glibc maps a block this large for itself, and unmaps it on free
