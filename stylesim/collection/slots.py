"""Shared memory for decoded pictures: one block of fixed-size slots that decoding processes
write uint8 pixels into and the encoding process reads from, so a picture crosses processes
without being pickled or copied through a pipe.

The process that creates the block owns it (``close`` unlinks it); workers ``attach`` by name.
Which slot is free is decided by the owner alone (``SlotAllocator``): a worker writes only into
the slot its task names.
"""

from __future__ import annotations

from collections import deque
from multiprocessing import shared_memory

import numpy as np

from stylesim.collection.geometry import bucket_shapes


def slot_bytes(size: int) -> int:
    """Bytes of the largest encoder input picture (H x W x 3 uint8) for ``size``."""
    return max(h * w * 3 for h, w in bucket_shapes(size))


class SharedSlots:
    """``count`` slots of ``nbytes`` each in one shared memory block."""

    def __init__(self, count: int, nbytes: int, name: str | None = None) -> None:
        self.count, self.nbytes = count, nbytes
        self.owner = name is None
        if name is None:
            self.memory = shared_memory.SharedMemory(create=True, size=max(1, count * nbytes))
        else:
            self.memory = shared_memory.SharedMemory(name=name)
        self.name = self.memory.name

    @classmethod
    def attach(cls, name: str, count: int, nbytes: int) -> SharedSlots:
        return cls(count, nbytes, name)

    def view(self, slot: int, shape: tuple[int, ...]) -> np.ndarray:
        """The slot's bytes as a uint8 array of ``shape`` (no copy)."""
        size = int(np.prod(shape))
        if not 0 <= slot < self.count or size > self.nbytes:
            raise ValueError(f"slot {slot} of {self.count} cannot hold {shape}")
        buffer = self.memory.buf
        assert buffer is not None
        return np.ndarray(shape, dtype=np.uint8, buffer=buffer, offset=slot * self.nbytes)

    def close(self) -> None:
        """Detach (and, for the owner, free the block)."""
        self.memory.close()
        if self.owner:
            self.memory.unlink()


class SlotAllocator:
    """The owner's record of which slots are free."""

    def __init__(self, count: int) -> None:
        self.free: deque[int] = deque(range(count))

    def take(self) -> int | None:
        return self.free.popleft() if self.free else None

    def give_back(self, slot: int) -> None:
        self.free.append(slot)
