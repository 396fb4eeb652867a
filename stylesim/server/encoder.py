"""Concurrent queries share forward passes: a request's pictures go into a queue; a collector
waits up to ``window`` seconds (or until ``max_batch`` pictures wait) and encodes what it
gathered in one call, in the one thread the model runs in, off the event loop. Searches then
run in the thread pool, so a slow request never holds the others up."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from stylesim import api

Waiting = tuple[api.QueryPicture, "asyncio.Future[dict[str, np.ndarray]]"]


class QueryBatcher:
    def __init__(self, extractor: api.DescriptorExtractor, window: float, max_batch: int) -> None:
        self.extractor = extractor
        self.window, self.max_batch = window, max_batch
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="encoder")
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queue: asyncio.Queue[Waiting] | None = None
        self.task: asyncio.Task[None] | None = None
        self.passes = 0  # encoder calls made
        self.pictures = 0  # pictures encoded

    def _started(self) -> asyncio.Queue[Waiting]:
        loop = asyncio.get_running_loop()
        if self.loop is not loop or self.queue is None:  # first use, or a new event loop (tests)
            self.loop, self.queue = loop, asyncio.Queue()
            self.task = loop.create_task(self._collect(self.queue))
        return self.queue

    async def encode(self, pictures: list[api.QueryPicture]) -> dict[str, np.ndarray]:
        """Raw descriptor vectors of ``pictures`` (rows in their order), as ``api.encode_queries``."""
        queue = self._started()
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in pictures]
        for picture, future in zip(pictures, futures, strict=True):
            queue.put_nowait((picture, future))
        rows = await asyncio.gather(*futures)
        return {name: np.stack([row[name] for row in rows]) for name in rows[0]}

    async def _collect(self, queue: asyncio.Queue[Waiting]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            deadline = loop.time() + self.window
            while len(batch) < self.max_batch and (left := deadline - loop.time()) > 0:
                try:
                    batch.append(await asyncio.wait_for(queue.get(), left))
                except TimeoutError:
                    break
            await self._encode(batch)

    async def _encode(self, batch: list[Waiting]) -> None:
        pictures = [picture for picture, _ in batch]
        loop = asyncio.get_running_loop()
        try:
            raw = await loop.run_in_executor(
                self.executor, api.encode_queries, pictures, self.extractor, self.max_batch
            )
        except Exception as error:  # noqa: BLE001 - every waiting request gets the error
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        self.passes += 1
        self.pictures += len(batch)
        for i, (_, future) in enumerate(batch):
            if not future.done():
                future.set_result({name: vectors[i] for name, vectors in raw.items()})

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)
