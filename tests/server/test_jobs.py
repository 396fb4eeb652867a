"""The Gatys job queue's bookkeeping (``server.jobs``) with a restyler that waits for the test,
so that a job can be looked at while it is queued, running, done or failed."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from PIL import Image

from stylesim.server.jobs import RestyleJobs


class HeldRestyler:
    """Renders a grey picture (or raises) once the test releases it."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    def render(
        self, content: Image.Image, styles: list[Image.Image], settings: Any, on_step: Any
    ) -> Image.Image:
        self.started.set()
        assert self.release.wait(30)
        if settings.fail:
            raise RuntimeError("style image unreadable\nsecond line")
        on_step(0, 1, {})
        return Image.new("RGB", (8, 8), "grey")


def settings(fail: bool = False) -> SimpleNamespace:
    return SimpleNamespace(gatys=SimpleNamespace(steps=1, sizes=(64,)), fail=fail)


def wait_for(jobs: RestyleJobs, job_id: str, status: str) -> dict[str, Any]:
    for _ in range(300):
        found = jobs.get(job_id)
        if found is not None and found.status == status:
            return jobs.describe(found)
        threading.Event().wait(0.01)
    raise AssertionError(f"job {job_id} never became {status}")


def test_a_job_has_an_image_only_when_done_and_waiting_jobs_know_their_place():
    restyler = HeldRestyler()
    jobs = RestyleJobs(restyler, workers=1)
    picture = Image.new("RGB", (8, 8))
    try:
        first = jobs.submit(picture, [picture], settings())
        assert restyler.started.wait(30)
        second = jobs.submit(picture, [picture], settings(fail=True))
        running = jobs.describe(first)
        assert running["status"] == "running" and "image" not in running and first.png is None
        assert jobs.describe(second) | {"id": None} == {
            "id": None,
            "status": "queued",
            "progress": {"steps": 0, "total": 1},
            "position": 1,
        }
        restyler.release.set()
        done = wait_for(jobs, first.id, "done")
        assert done["image"] == f"/jobs/{first.id}/image" and done["progress"] == {"steps": 1, "total": 1}
        assert first.png is not None and first.png.startswith(b"\x89PNG")
        failed = wait_for(jobs, second.id, "failed")
        assert failed["error"] == "style image unreadable" and "image" not in failed
    finally:
        restyler.release.set()
        jobs.close()
