"""Gatys style transfer by optimisation (Gatys, Ecker & Bethge 2016): find the image x that
minimises  a L_content(x, c) + b L_style(x, s) + t L_tv(x)  (eq. 7 plus a total-variation
term), starting from the content image (default), noise or a given file.

Defaults and their sources:
- content layer relu4_2 and style layers relu1_1..relu5_1 with equal weights 1/5: Gatys et
  al. 2016, sec. 2-3 (fig. 2).
- L-BFGS with learning rate 1 (one iteration per step): the paper's optimiser and the default
  of every mature implementation (Johnson's neural-style, pystiche); Adam (lr 0.01 on pixels
  in [0, 1]) as the alternative. No line search by default: with lr 1 the strong-Wolfe search
  accepts the unit step and only doubles the evaluations (the same result in twice the time,
  docs/performance.md).
- the network's forward and backward under bf16 autocast where the hardware has bf16 units
  (``encoding.device``), losses and Gram matrices in float32.
- weights a = 1, b = 10, t = 10 (``transfer.defaults``, where the measurement is): the
  paper's a/b = 1e-3..1e-4 refers to its own loss scales (sum, not mean; a rescaled network),
  ours are relative errors (``transfer.losses``).
- image stays in [0, 1]: clamped after every Adam step; L-BFGS runs free and the result is
  clamped (clamping inside L-BFGS breaks its curvature pairs).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from stylesim.encoding import VGG19Encoder
from stylesim.encoding.device import autocast, choose_precision, frozen_in_precision
from stylesim.encoding.layers import GATYS_CONTENT_LAYER, GATYS_STYLE_LAYERS, layer_index
from stylesim.encoding.preprocess import normalise_rgb
from stylesim.errors import StylesimError
from stylesim.transfer.colour import PRESERVE_METHODS, keep_luminance, match_colour_statistics
from stylesim.transfer.defaults import CONTENT_WEIGHT, STYLE_WEIGHT, TV_WEIGHT
from stylesim.transfer.image import load_image, shape_for, to_image, to_tensor
from stylesim.transfer.losses import ContentLoss, GramStyleLoss, TotalVariationLoss
from stylesim.transfer.pyramid import level_shapes, resample

OPTIMISERS = ("lbfgs", "adam")
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.01}


@dataclass(frozen=True)
class GatysSettings:
    content_layer: str = GATYS_CONTENT_LAYER
    style_layers: tuple[str, ...] = GATYS_STYLE_LAYERS
    content_weight: float = CONTENT_WEIGHT
    style_weight: float = STYLE_WEIGHT
    tv_weight: float = TV_WEIGHT
    optimiser: str = "lbfgs"
    steps: int = 300  # per pyramid level
    learning_rate: float | None = None  # None: DEFAULT_LR[optimiser]
    init: str = "content"  # content | noise | a file path
    seed: int = 0
    size: int = 512  # long side of the result (the last pyramid level when there is one)
    pyramid: tuple[int, ...] = ()  # long sides, increasing; () = one level at ``size``
    style_scale: float = 1.0  # style images' long side relative to the result's
    preserve_colour: str | None = None  # None | luminance | stats
    precision: str = "auto"  # the network's forward and backward: auto, fp32 or bf16 (losses in fp32)
    line_search: bool = False  # L-BFGS with a strong-Wolfe line search (two evaluations a step)

    def __post_init__(self) -> None:
        if self.optimiser not in OPTIMISERS:
            raise StylesimError(f"unknown optimiser {self.optimiser!r}; use {' or '.join(OPTIMISERS)}")
        if self.preserve_colour not in (None, *PRESERVE_METHODS):
            raise StylesimError(
                f"unknown colour preservation {self.preserve_colour!r}; use {' or '.join(PRESERVE_METHODS)}"
            )
        if self.steps < 1:
            raise StylesimError(f"--steps must be at least 1, got {self.steps}")
        if not self.style_scale > 0:
            raise StylesimError(f"--style-scale must be positive, got {self.style_scale}")
        for layer in (self.content_layer, *self.style_layers):
            layer_index(layer)  # raises on unknown names

    @property
    def sizes(self) -> tuple[int, ...]:
        return self.pyramid or (self.size,)

    def encoder_layers(self) -> tuple[str, ...]:
        return tuple(sorted({self.content_layer, *self.style_layers}, key=layer_index))


@dataclass
class TransferResult:
    image: Image.Image
    shapes: list[tuple[int, int]]  # (H, W) of each pyramid level
    losses: list[dict[str, float]] = field(default_factory=list)  # per step: total, content, style, tv
    seconds: float = 0.0


StepCallback = Callable[[int, int, dict[str, float]], None]  # (level, step, losses)


def _initial_image(settings: GatysSettings, content: torch.Tensor) -> torch.Tensor:
    if settings.init == "content":
        return content.clone()
    if settings.init == "noise":
        generator = torch.Generator().manual_seed(settings.seed)
        return torch.rand(content.shape, generator=generator).to(content)
    path = Path(settings.init)
    if not path.is_file():
        raise StylesimError(f"--init {settings.init}: use content, noise or an image file")
    height, width = content.shape[-2:]
    return to_tensor(load_image(str(path), "initial image"), (height, width), content.device)


def gatys_transfer(
    encoder: VGG19Encoder,
    content: Image.Image,
    styles: Sequence[Image.Image],
    style_weights: Sequence[float] | None = None,
    settings: GatysSettings = GatysSettings(),
    on_step: StepCallback | None = None,
) -> TransferResult:
    """Render ``content`` in the blend of ``styles`` (weights normalised to sum 1)."""
    if not styles:
        raise StylesimError("give at least one style image")
    weights = list(style_weights) if style_weights is not None else [1.0] * len(styles)
    missing = set(settings.encoder_layers()) - set(encoder.layers)
    if missing:
        raise ValueError(f"the encoder does not output {sorted(missing)}")
    start = time.perf_counter()
    device = encoder.device
    shapes = level_shapes(*content.size, settings.sizes)
    losses: list[dict[str, float]] = []
    content_loss = ContentLoss(settings.content_layer, settings.content_weight)
    style_loss = GramStyleLoss(settings.style_layers, settings.style_weight)
    tv_loss = TotalVariationLoss(settings.tv_weight)

    precision = choose_precision(encoder.device, settings.precision)
    network = frozen_in_precision(encoder, precision)

    def features(x: torch.Tensor) -> dict[str, torch.Tensor]:
        with autocast(encoder.device, precision):
            return network.forward(normalise_rgb(x, encoder.preprocessing))

    image: torch.Tensor | None = None
    content_x = None
    for level, shape in enumerate(shapes):
        content_x = to_tensor(content, shape, device)
        style_long = max(16, round(max(shape) * settings.style_scale))
        style_xs = [to_tensor(s, shape_for(*s.size, style_long), device) for s in styles]
        if settings.preserve_colour == "stats":
            style_xs = [match_colour_statistics(s, content_x) for s in style_xs]
        with torch.no_grad():
            content_loss.set_target(features(content_x))
            style_loss.set_targets([features(s) for s in style_xs], weights)
        start_image = _initial_image(settings, content_x) if image is None else resample(image, shape)
        image = _optimise(
            start_image, features, content_loss, style_loss, tv_loss, settings, level, losses, on_step
        )
    assert image is not None and content_x is not None
    if settings.preserve_colour == "luminance":
        image = keep_luminance(image, content_x)
    return TransferResult(to_image(image), shapes, losses, time.perf_counter() - start)


def _optimise(
    start: torch.Tensor,
    features: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    content_loss: ContentLoss,
    style_loss: GramStyleLoss,
    tv_loss: TotalVariationLoss,
    settings: GatysSettings,
    level: int,
    history: list[dict[str, float]],
    on_step: StepCallback | None,
) -> torch.Tensor:
    x = start.detach().clone().requires_grad_(True)
    lr = settings.learning_rate or DEFAULT_LR[settings.optimiser]
    if settings.optimiser == "lbfgs":
        optimiser: torch.optim.Optimizer = torch.optim.LBFGS(
            [x],
            lr=lr,
            max_iter=1,
            history_size=50,
            line_search_fn="strong_wolfe" if settings.line_search else None,
        )
    else:
        optimiser = torch.optim.Adam([x], lr=lr)
    last: dict[str, float] = {}

    def closure() -> float:
        optimiser.zero_grad()
        f = features(x)
        parts = {"content": content_loss(f), "style": style_loss(f), "tv": tv_loss(x)}
        total = parts["content"] + parts["style"] + parts["tv"]
        torch.autograd.backward(total)
        assert x.grad is not None
        x.grad = x.grad.contiguous()  # the encoder runs channels-last; L-BFGS flattens the gradient
        last.clear()
        last.update(total=float(total.detach()), **{k: float(v.detach()) for k, v in parts.items()})
        return last["total"]

    for step in range(settings.steps):
        optimiser.step(closure)
        if settings.optimiser == "adam":
            with torch.no_grad():
                x.clamp_(0, 1)
        if not torch.isfinite(torch.tensor(last["total"])):
            raise StylesimError(
                "the optimisation diverged (loss is not finite); lower --lr or use --optimiser lbfgs"
            )
        history.append(dict(last, level=level))
        if on_step:
            on_step(level, step, dict(last))
    return x.detach().clamp(0, 1)
