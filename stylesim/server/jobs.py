"""Gatys restyles as jobs: they take minutes on a CPU, so ``POST /restyle`` answers at once with
a job, at most one job runs per core (a thread each: torch releases the GIL), the others wait
with their place in the queue, and ``GET /jobs/{id}`` reports status and progress until the
image is ready. Searches never wait for them."""

from __future__ import annotations

import io
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from stylesim import api

KEEP_DONE = 200  # finished jobs remembered (their images in memory), oldest forgotten first


@dataclass
class Job:
    id: str
    total: int  # optimisation steps
    status: str = "queued"  # queued | running | done | failed
    done: int = 0
    error: str | None = None
    png: bytes | None = None
    created: float = field(default_factory=time.time)
    seconds: float | None = None


class RestyleJobs:
    def __init__(self, restyler: api.Restyler, workers: int) -> None:
        self.restyler = restyler
        self.executor = ThreadPoolExecutor(max(1, workers), thread_name_prefix="gatys")
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()

    def submit(self, content: Image.Image, styles: list[Image.Image], settings: Any) -> Job:
        """Queue a Gatys restyle (``settings``: a RestyleSettings with method gatys)."""
        total = settings.gatys.steps * len(settings.gatys.sizes)
        job = Job(uuid.uuid4().hex[:16], total)
        with self.lock:
            self.jobs[job.id] = job
            self._forget_old()
        self.executor.submit(self._run, job, content, styles, settings)
        return job

    def _run(self, job: Job, content: Image.Image, styles: list[Image.Image], settings: Any) -> None:
        job.status = "running"
        start = time.perf_counter()

        def on_step(level: int, step: int, losses: dict[str, float]) -> None:
            job.done += 1

        try:
            image = self.restyler.render(content, styles, settings, on_step)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            job.png, job.status = buffer.getvalue(), "done"
        except Exception as error:  # noqa: BLE001 - reported through GET /jobs/{id}
            job.status, job.error = (
                "failed",
                str(error).splitlines()[0] if str(error) else type(error).__name__,
            )
        job.seconds = time.perf_counter() - start

    def _forget_old(self) -> None:
        finished = [j for j in self.jobs.values() if j.status in ("done", "failed")]
        for job in sorted(finished, key=lambda j: j.created)[: max(0, len(finished) - KEEP_DONE)]:
            del self.jobs[job.id]

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def position(self, job: Job) -> int | None:
        """1 for the next job to start, ... (None once it runs)."""
        with self.lock:  # one look at the statuses: a worker may start the job meanwhile
            queued = sorted((j for j in self.jobs.values() if j.status == "queued"), key=lambda j: j.created)
        ids = [j.id for j in queued]
        return 1 + ids.index(job.id) if job.id in ids else None

    def describe(self, job: Job) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": job.id,
            "status": job.status,
            "progress": {"steps": job.done, "total": job.total},
        }
        if job.status == "queued" and (place := self.position(job)) is not None:
            out["position"] = place
        if job.error:
            out["error"] = job.error
        if job.status == "done":
            out["image"] = f"/jobs/{job.id}/image"
            out["seconds"] = round(job.seconds or 0.0, 2)
        return out

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
