"""Batches for the encoder: pictures of one input shape go through the network together
(``collection.geometry`` gives every picture one of a few aspect-bucket shapes)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class ShapeBatcher(Generic[T]):
    """Groups items by their picture's shape; hands out a full batch as soon as one shape has
    ``batch_size`` items, and the largest partial one when 2 x batch_size items wait in all
    (bounding what an interruption can lose and how long an item waits)."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.waiting: dict[Hashable, list[T]] = {}

    def add(self, item: T, shape: Hashable) -> list[T] | None:
        """Queue ``item``; returns a batch ready to encode, or None."""
        bucket = self.waiting.setdefault(shape, [])
        bucket.append(item)
        if len(bucket) >= self.batch_size:
            return self.waiting.pop(shape)
        if sum(len(b) for b in self.waiting.values()) >= 2 * self.batch_size:
            largest = max(self.waiting, key=lambda s: len(self.waiting[s]))
            return self.waiting.pop(largest)
        return None

    def drain(self) -> list[list[T]]:
        """Every waiting item, in batches of one shape."""
        batches = list(self.waiting.values())
        self.waiting.clear()
        return batches
