"""``POST /restyle``: AdaIN (a forward pass, well under a second) answers with the PNG at once;
Gatys (minutes on a CPU) answers 202 with a job to poll (``server.jobs``). ``auto`` is resolved
by the rule the CLI and the API follow (``transfer.restyle.method_resolved``)."""

from __future__ import annotations

import io

from fastapi.responses import JSONResponse, Response
from PIL import Image
from starlette.concurrency import run_in_threadpool

from stylesim import api
from stylesim.errors import UsageError
from stylesim.server.app import ServerState

SIZES = (64, 1024)
MAX_STEPS = 1000


async def restyle_request(
    state: ServerState,
    content: Image.Image,
    styles: list[Image.Image],
    method: str,
    size: int,
    alpha: float,
    steps: int,
) -> Response:
    settings = api.method_resolved(restyle_settings(state, method, size, alpha, steps))
    if settings.method == "adain":
        image = await run_in_threadpool(state.restyler.render, content, styles, settings)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return Response(buffer.getvalue(), media_type="image/png", headers={"X-Stylesim-Method": "adain"})
    job = state.jobs.submit(content, styles, settings)
    return JSONResponse(state.jobs.describe(job), status_code=202, headers={"Location": f"/jobs/{job.id}"})


def restyle_settings(
    state: ServerState, method: str, size: int, alpha: float, steps: int
) -> api.RestyleSettings:
    if method not in ("auto", "adain", "gatys"):
        raise UsageError(f"method {method!r}: use auto, adain or gatys")
    if not SIZES[0] <= size <= SIZES[1]:
        raise UsageError(f"size {size}: give {SIZES[0]} to {SIZES[1]} pixels")
    if not 1 <= steps <= MAX_STEPS:
        raise UsageError(f"steps {steps}: give 1 to {MAX_STEPS}")
    if not 0.0 <= alpha <= 1.0:
        raise UsageError(f"alpha {alpha}: give a number between 0 and 1")
    gatys = api.GatysSettings(size=size, steps=steps)
    return api.RestyleSettings(
        method=method, gatys=gatys, alpha=alpha, decoder=state.config.decoder, device=state.config.device
    )
