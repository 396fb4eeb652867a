"""Training the AdaIN decoder (Huang & Belongie 2017, sec. 6): the encoder f (VGG19 to relu4_1,
frozen) and the AdaIN operation are fixed; the decoder g learns to turn t = AdaIN(f(c), f(s))
back into an image whose features are t and whose statistics are the style's:

    t    = AdaIN(f(c), f(s))                                            eq. 9
    L_c  = mean (f(g(t)) - t)^2 / e_4                                   eq. 12  (content_loss "target")
    L_c  = mean (IN(f(g(t))) - IN(t))^2,  IN(x) = (x - mu(x)) / sigma(x)     (content_loss "normalised")
    L_c  = the same + mean (IN(phi_3(g(t))) - IN(phi_3(c)))^2,  phi_3 = relu3_1  (content_loss "layout")
    L_c  = "layout" + mean (IN(phi_2(g(t))) - IN(phi_2(c)))^2,  phi_2 = relu2_1  ("layout-fine")
    L_s  = sum_l [ mean (mu(phi_l(g(t))) - mu(phi_l(s)))^2
                 + mean (sigma(phi_l(g(t))) - sigma(phi_l(s)))^2 ] / e_l   eq. 13, l = relu1_1..relu4_1
    L    = L_c + lambda L_s,  lambda = 10                               eq. 11

The "normalised" content loss (after Park & Lee 2019, SANet, eq. 8, which compares with the
normalised content features IN(f(c)); IN(t) is the same pattern, since AdaIN only rescales and
shifts each channel, except in a channel the style leaves flat to within IN's epsilon, where
IN(t) is flat too and asks for no pattern the style does not have) measures each channel's
pattern relative to its own spread: eq. 12 counts a channel whose style sigma is small (a flat
illustration, a clear sky) in proportion to sigma^2, so the decoder can drop its pattern, the
content's layout, at little cost; the style term still sets mu and sigma. A run that switches
the loss starts its gradient-norm guard again (the norms change scale with the loss).

The "layout" content loss adds the same per-channel comparison one level down, at relu3_1,
against the content image's own features: where a style's statistics are dominated by a plain
canvas (clip art on white), relu4_1's target keeps too little of the content's tones for the
decoder to restore, while relu3_1 still holds them. It asks for the content's pattern only:
IN removes each channel's mean and spread, which the style term at relu3_1 sets, so the two
terms do not pull against each other on the statistics. "layout-fine" adds relu2_1 the same
way: its smaller receptive fields hold the content's tones region by region (dark fur stripes,
not only their edges), which is what the coarse layout of a result is judged on. ``layout_weight``
w multiplies the terms below relu4_1 (1 unless set; a run may change it when continued from an
exported decoder, which starts a new leg).

e_l is the mean squared activation of layer l over the training data, measured once before the
first step: the paper's VGG was rescaled so that every layer's activations have unit mean,
while our Caffe weights differ in scale between layers by orders of magnitude, so each term is
divided by its layer's energy to keep the paper's balance.

Adam with the reference code's decay lr_i = lr / (1 + decay * i), the gradient's norm clipped at
``clip_factor`` times the running mean of the norms before it (g <- g min(1, k n_avg / |g|),
n_avg <- 0.99 n_avg + 0.01 min(|g|, k n_avg)): one outlier batch otherwise enters Adam's second
moment v with |g|^2 and, with beta2 = 0.999, damps every later step for thousands of iterations.
With ``ema_decay`` = beta > 0 the exported decoder is the exponential moving average of the
weights over the steps (Polyak & Juditsky 1992): theta_avg <- beta theta_avg + (1 - beta) theta
after every step, started at the weights the run (or its resumption) began with. The average
does not change the optimisation, so a run may turn it on or change beta when it is resumed.
An optional first stage of
``reconstruction_iterations`` trains g to invert f(c) itself (t = f(c), no style term). The
state of the run (decoder, optimiser, the random generator that picks the crops, the energies,
the loss history) is checkpointed atomically, so ``resume`` continues exactly where a killed run
stopped.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from stylesim.collection.decode import open_image, read_file
from stylesim.descriptors.adain import ADAIN_LAYERS
from stylesim.descriptors.ops import channel_mean_std, instance_normalise
from stylesim.encoding import VGG19Encoder
from stylesim.encoding.device import autocast, frozen_in_precision
from stylesim.encoding.preprocess import normalise_rgb
from stylesim.errors import DecodeError, StylesimError
from stylesim.transfer.adain import ADAIN_LAYER, AdaINDecoder, adain
from stylesim.transfer.defaults import CONTENT_LOSSES

CHECKPOINT = "checkpoint.pt"
TRAINING_RECORD = "adain_decoder.training.json"  # beside the exported decoder
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class TrainingSettings:
    iterations: int = 20_000
    crop: int = 128  # training crops (the decoder is fully convolutional: it runs at any size)
    batch: int = 8
    learning_rate: float = 1e-4
    lr_decay: float = 5e-5
    style_weight: float = 10.0
    reconstruction_iterations: int = 0  # first stage with AdaIN off
    max_zoom: float = 2.5  # crops of crop..max_zoom*crop source pixels, resized to crop
    seed: int = 0
    precision: str = "bf16"
    checkpoint_seconds: float = 300.0
    history_every: int = 50  # iterations per averaged point of the loss curve
    clip_factor: float = 5.0  # gradient norm clipped at this times its running mean; 0 = off
    content_loss: str = "target"  # one of CONTENT_LOSSES (module docstring)
    layout_weight: float = 1.0  # w of the layout content losses' terms below relu4_1
    ema_decay: float = 0.0  # beta of the exported weights' moving average; 0 = the last step's weights

    def __post_init__(self) -> None:
        if self.content_loss not in CONTENT_LOSSES:
            raise StylesimError(f"content loss {self.content_loss!r}: not one of {', '.join(CONTENT_LOSSES)}")
        if self.crop % 8:
            # the decoder's output is 8x relu4_1's size: another crop's layers would not line up
            raise StylesimError(f"crop {self.crop}: must be a multiple of 8")
        if self.layout_weight < 0:
            raise StylesimError(f"layout weight {self.layout_weight}: must be at least 0")
        if not 0.0 <= self.ema_decay < 1.0:
            raise StylesimError(f"moving-average decay {self.ema_decay}: must be at least 0 and below 1")


# Settings added after the first runs, with the values that reproduce those runs: a checkpoint or
# training record without the key was trained that way.
SETTINGS_BEFORE_THEY_EXISTED: dict[str, Any] = {
    "clip_factor": 0.0,
    "content_loss": "target",
    "ema_decay": 0.0,
    "layout_weight": 1.0,
}
# Settings any resumed run may change: the length, the checkpoint interval, and the moving average
# of the exported weights (none changes the steps taken).
FREE_SETTINGS = ("iterations", "checkpoint_seconds", "ema_decay")
# Settings a run continued from an exported decoder may change; each change starts a new leg.
LEG_SETTINGS = ("precision", "content_loss", "layout_weight", "crop")
# the layers below relu4_1 that each layout content loss compares with the content's
LAYOUT_LAYERS: dict[str, tuple[str, ...]] = {"layout": ("relu3_1",), "layout-fine": ("relu2_1", "relu3_1")}
GRAD_NORM_MOMENTUM = 0.99


@dataclass
class TrainingState:
    iteration: int = 0
    seconds: float = 0.0
    energies: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    grad_norm_mean: float = 0.0  # running mean of the (clipped) gradient norms
    clipped_steps: int = 0
    # per machine or change: {"from": iteration, "precision", and content_loss, layout_weight and
    # crop where they are not "target", 1 and 128}
    legs: list[dict[str, Any]] = field(default_factory=list)


# ----------------------------------------------------------------------------- pure losses
def adain_content_loss(output_feature: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean (f(g(t)) - t)^2 (eq. 12, as a mean)."""
    return torch.mean((output_feature.float() - target.float()) ** 2)


def normalised_content_loss(output_feature: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean (IN(f(g(t))) - IN(t))^2, each channel normalised by its own mean and std (module
    docstring; SANet's eq. 8)."""
    return torch.mean((instance_normalise(output_feature) - instance_normalise(target)) ** 2)


def layout_content_loss(
    output_features: dict[str, torch.Tensor],
    target: torch.Tensor,
    content_features: dict[str, torch.Tensor],
    layers: Sequence[str] = LAYOUT_LAYERS["layout"],
    weight: float = 1.0,
) -> torch.Tensor:
    """mean (IN(f(g(t))) - IN(t))^2 + w sum_l mean (IN(phi_l(g(t))) - IN(phi_l(c)))^2 over
    ``layers`` (module docstring), w = ``weight``."""
    layout_terms = [normalised_content_loss(output_features[name], content_features[name]) for name in layers]
    return (
        normalised_content_loss(output_features[ADAIN_LAYER], target)
        + weight * torch.stack(layout_terms).sum()
    )


def adain_style_loss(output: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor) -> torch.Tensor:
    """mean (mu(F) - mu_s)^2 + mean (sigma(F) - sigma_s)^2 for one layer (eq. 13)."""
    mean, std = channel_mean_std(output)
    return torch.mean((mean - style_mean) ** 2) + torch.mean((std - style_std) ** 2)


def moving_average(average: Sequence[torch.Tensor], weights: Sequence[torch.Tensor], decay: float) -> None:
    """theta_avg <- decay theta_avg + (1 - decay) theta, in place, tensor by tensor."""
    with torch.no_grad():
        for mean, value in zip(average, weights, strict=True):
            mean.lerp_(value.detach().to(mean.dtype), 1.0 - decay)


def learning_rate(settings: TrainingSettings, iteration: int) -> float:
    """lr / (1 + decay * iteration), the reference implementation's schedule."""
    return settings.learning_rate / (1.0 + settings.lr_decay * iteration)


# ----------------------------------------------------------------------------- data
class CropPool:
    """Images held in memory (short side ``short_side``) from which random square crops are
    cut: a random size in [crop, max_zoom * crop] resized to ``crop`` (scale augmentation), a
    random position and a random horizontal flip, all drawn from one seeded generator."""

    def __init__(self, files: Sequence[str | Path], short_side: int, role: str) -> None:
        self.files = [str(f) for f in files]
        if not self.files:
            raise StylesimError(f"no {role} images to train on")
        self.images: list[torch.Tensor] = []
        for path in self.files:
            try:
                image = open_image(read_file(path), path)[0]
            except DecodeError as err:
                raise StylesimError(f"{path}: cannot use as a {role} image: {err.reason}") from None
            self.images.append(_short_side_tensor(image, short_side))

    def digest(self) -> str:
        """sha256 of the sorted file list: a resumed run must see the same data."""
        return hashlib.sha256("\n".join(sorted(self.files)).encode()).hexdigest()

    def sample(self, n: int, crop: int, max_zoom: float, generator: torch.Generator) -> torch.Tensor:
        """(n, 3, crop, crop) float RGB in [0, 1]."""
        picks = torch.randint(len(self.images), (n,), generator=generator).tolist()
        return torch.stack([self._crop(self.images[i], crop, max_zoom, generator) for i in picks])

    @staticmethod
    def _crop(image: torch.Tensor, crop: int, max_zoom: float, generator: torch.Generator) -> torch.Tensor:
        h, w = image.shape[-2:]
        largest = min(h, w, int(crop * max_zoom))
        side = int(torch.randint(min(crop, largest), largest + 1, (1,), generator=generator))
        top = int(torch.randint(0, h - side + 1, (1,), generator=generator))
        left = int(torch.randint(0, w - side + 1, (1,), generator=generator))
        patch = image[:, top : top + side, left : left + side].float().div(255.0)
        if side != crop:
            patch = F.interpolate(
                patch[None], size=(crop, crop), mode="bilinear", antialias=True, align_corners=False
            )[0]
        if bool(torch.randint(0, 2, (1,), generator=generator)):
            patch = patch.flip(-1)
        return patch.clamp(0, 1)


def _short_side_tensor(image: Image.Image, short_side: int) -> torch.Tensor:
    """(3, H, W) uint8 with min(H, W) = short_side (never upscaled past it)."""
    scale = short_side / min(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    resized = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return torch.from_numpy(np.asarray(resized, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


# ----------------------------------------------------------------------------- one step
def layer_energies(encoder: VGG19Encoder, images: torch.Tensor) -> dict[str, float]:
    """mean F_l^2 of each style layer (and relu4_1) over a batch of images in [0, 1]."""
    with torch.no_grad():
        features = encoder(normalise_rgb(images.to(encoder.device), encoder.preprocessing))
    return {layer: float(features[layer].float().pow(2).mean().clamp_min(1e-12)) for layer in ADAIN_LAYERS}


def training_losses(
    encoder: VGG19Encoder,
    decoder: AdaINDecoder,
    content: torch.Tensor,
    style: torch.Tensor,
    energies: dict[str, float],
    style_weight: float,
    reconstruct: bool,
    content_loss: str = "target",
    layout_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """The losses of one batch (module docstring); ``reconstruct`` trains g to invert f(c) (with
    eq. 12 whatever ``content_loss``: without the style term nothing else would fix the scale)."""
    with torch.no_grad():
        all_content = encoder(normalise_rgb(content, encoder.preprocessing))
        content_features = all_content[ADAIN_LAYER]
        style_features = encoder(normalise_rgb(style, encoder.preprocessing))
        target = (
            content_features.float()
            if reconstruct
            else adain(content_features.float(), style_features[ADAIN_LAYER].float())
        )
    output = decoder(target.contiguous(memory_format=torch.channels_last))
    features = encoder(normalise_rgb(output, encoder.preprocessing))
    if content_loss == "normalised" and not reconstruct:
        content_term = normalised_content_loss(features[ADAIN_LAYER], target)
    elif content_loss in LAYOUT_LAYERS and not reconstruct:
        layers = LAYOUT_LAYERS[content_loss]
        content_term = layout_content_loss(features, target, all_content, layers, layout_weight)
    else:
        content_term = adain_content_loss(features[ADAIN_LAYER], target) / energies[ADAIN_LAYER]
    if reconstruct:
        return {"total": content_term, "content": content_term, "style": torch.zeros(())}
    style_term = sum(
        adain_style_loss(features[layer], *channel_mean_std(style_features[layer])) / energies[layer]
        for layer in ADAIN_LAYERS
    )
    assert isinstance(style_term, torch.Tensor)
    return {"total": content_term + style_weight * style_term, "content": content_term, "style": style_term}


# ----------------------------------------------------------------------------- checkpoints
def save_checkpoint(
    work: Path,
    settings: TrainingSettings,
    state: TrainingState,
    decoder: AdaINDecoder,
    optimiser: torch.optim.Optimizer,
    generator: torch.Generator,
    data: dict[str, str],
    average: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write the whole training state (with the weights' moving ``average`` where the run keeps one)
    to ``work/checkpoint.pt`` atomically (temp, fsync, rename)."""
    work.mkdir(parents=True, exist_ok=True)
    blob = {
        "version": CHECKPOINT_VERSION,
        "settings": asdict(settings),
        "state": asdict(state),
        "data": data,
        "decoder": decoder.state_dict(),
        "optimiser": optimiser.state_dict(),
        "generator": generator.get_state(),
        **({"average": average} if average is not None else {}),
    }
    tmp = work / (CHECKPOINT + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(blob, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, work / CHECKPOINT)
    return work / CHECKPOINT


def load_checkpoint(work: Path) -> dict[str, Any]:
    path = work / CHECKPOINT
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise StylesimError(f"{path}: no checkpoint to resume from") from None
    except Exception as err:  # noqa: BLE001 - torch raises many types for a damaged file
        raise StylesimError(f"{path}: unreadable checkpoint ({err})") from None
    if not isinstance(blob, dict) or blob.get("version") != CHECKPOINT_VERSION:
        raise StylesimError(f"{path}: not a version {CHECKPOINT_VERSION} training checkpoint")
    return blob


def check_resumable(
    saved_settings: dict[str, Any],
    settings: TrainingSettings,
    source: Path,
    data: tuple[dict[str, str], dict[str, str]] | None = None,
    may_change: tuple[str, ...] = (),
) -> None:
    """A resumed run must train the same way (only the length and the ``may_change`` settings
    may differ) and, when ``data`` = (saved, now) digests are given, on the same data;
    ``source`` (the checkpoint or training record) names what was resumed in the error."""
    saved = {**SETTINGS_BEFORE_THEY_EXISTED, **saved_settings}
    wanted = asdict(settings)
    for key in (*FREE_SETTINGS, *may_change):
        saved.pop(key, None)
        wanted.pop(key, None)
    changed = [f"{k}: checkpoint {saved.get(k)!r}, now {v!r}" for k, v in wanted.items() if saved.get(k) != v]
    if data is not None and data[0] != data[1]:
        changed.append("the content or style file lists differ")
    if changed:
        raise StylesimError(
            f"{source}: cannot resume with other settings ({'; '.join(changed)}); use another work folder"
        )


@dataclass(frozen=True)
class WarmStart:
    """An exported decoder and its training record (``adain_decoder.training.json``): what a
    machine without the checkpoint continues from. The decoder's float16 weights and the
    record's iteration count, energies, loss curve and running gradient norm (the clipping guard)
    carry over; Adam's moments start again
    (the learning-rate schedule continues from the recorded iteration)."""

    decoder: dict[str, torch.Tensor]
    record: dict[str, Any]
    source: Path


def read_record(record_path: Path) -> dict[str, Any]:
    """A training record (``adain_decoder.training.json``): settings, iterations, energies, loss curve."""
    try:
        record = json.loads(record_path.read_text())
        _ = (record["settings"], record["iterations"], record["energies"], record["loss_curve"])
    except FileNotFoundError:
        raise StylesimError(f"{record_path}: no training record to continue from") from None
    except (ValueError, KeyError, TypeError) as err:
        raise StylesimError(f"{record_path}: not a training record ({err})") from None
    assert isinstance(record, dict)
    return record


def read_warm_start(record_path: Path, decoder_state: dict[str, torch.Tensor]) -> WarmStart:
    """The training record at ``record_path`` paired with the verified decoder's weights."""
    return WarmStart(decoder_state, read_record(record_path), record_path)


def leg(iteration: int, settings: dict[str, Any]) -> dict[str, Any]:
    """The record of a leg starting at ``iteration``: its LEG_SETTINGS (each added later only
    where it is not the value every run had before the setting existed, or before it could
    change between legs: the crop, recorded only where it is not the default)."""
    unrecorded = {**SETTINGS_BEFORE_THEY_EXISTED, "crop": TrainingSettings.crop}
    values = {**unrecorded, "precision": TrainingSettings.precision, **settings}
    entry = {"from": iteration, **{key: values[key] for key in LEG_SETTINGS}}
    for key, before in unrecorded.items():
        if key in entry and entry[key] == before:
            del entry[key]
    return entry


def recorded_legs(legs: list[dict[str, Any]], saved_settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The legs of a saved run as ``leg`` records them now. A run saved before legs were kept is
    one leg with its saved settings; one saved before a leg could change the crop trained all
    its legs at its saved crop (its legs name none); otherwise a leg that names no crop had 128."""
    if not legs:
        return [leg(0, saved_settings)]
    crop = TrainingSettings.crop if any("crop" in entry for entry in legs) else saved_settings["crop"]
    return [leg(entry["from"], {"crop": crop, **entry}) for entry in legs]


# ----------------------------------------------------------------------------- the loop
StepReport = Callable[[int, dict[str, float]], None]


@dataclass
class Trainer:
    """Everything a run needs, built fresh or from a checkpoint (``start``), then ``run``."""

    encoder: VGG19Encoder
    settings: TrainingSettings
    content: CropPool
    style: CropPool
    work: Path
    decoder: AdaINDecoder = field(default_factory=AdaINDecoder)
    state: TrainingState = field(default_factory=TrainingState)
    generator: torch.Generator = field(default_factory=torch.Generator)
    optimiser: torch.optim.Optimizer | None = None
    average: dict[str, torch.Tensor] | None = None  # the parameters' moving average (ema_decay > 0)

    def data(self) -> dict[str, str]:
        return {"content": self.content.digest(), "style": self.style.digest()}

    def start(self, resume: bool, warm: WarmStart | None = None) -> None:
        """Fresh weights, the checkpoint in ``work`` (``resume``), or an exported decoder (``warm``)."""
        self.decoder.to(self.encoder.device).to(memory_format=torch.channels_last).train()
        self.optimiser = torch.optim.Adam(self.decoder.parameters(), lr=self.settings.learning_rate)
        if warm is not None:  # the caller passes it only when there is no checkpoint to resume
            self._continue_from(warm)
            return
        if resume:
            blob = load_checkpoint(self.work)
            check_resumable(
                blob["settings"], self.settings, self.work / CHECKPOINT, (blob["data"], self.data())
            )
            self.decoder.load_state_dict(blob["decoder"])
            self.optimiser.load_state_dict(blob["optimiser"])
            self.generator.set_state(blob["generator"])
            self.state = TrainingState(**blob["state"])
            self.average = self._on_device(blob.get("average")) if self.settings.ema_decay > 0 else None
            self.state.legs = recorded_legs(self.state.legs, blob["settings"])
            return
        self.generator.manual_seed(self.settings.seed)
        sample = torch.cat([self._sample(self.content), self._sample(self.style)])
        self.state.energies = layer_energies(self.encoder, sample)

    def _continue_from(self, warm: WarmStart) -> None:
        # Another machine may lack (or have) bf16 units (the objective is the same, the arithmetic not);
        # a run may go on with the other content loss, or on larger crops. Each starts a new leg.
        check_resumable(warm.record["settings"], self.settings, warm.source, may_change=LEG_SETTINGS)
        self.decoder.load_state_dict(warm.decoder)  # copied into the parameters in place
        r = warm.record
        self.state = TrainingState(int(r["iterations"]), float(r["seconds"]), r["energies"], r["loss_curve"])
        self.state.clipped_steps = int(r.get("clipped_steps", 0))
        before = {**SETTINGS_BEFORE_THEY_EXISTED, **r["settings"]}
        now = self.settings
        objective = ("content_loss", "layout_weight", "crop")
        same_loss = all(before[key] == getattr(now, key) for key in objective)
        # the guard from the first step, unless the loss or the crops (so the norms' scale) changed
        self.state.grad_norm_mean = float(r.get("grad_norm_mean", 0.0)) if same_loss else 0.0
        self.state.legs = recorded_legs(r.get("legs", []), r["settings"])
        self.generator.manual_seed(self.settings.seed + self.state.iteration)  # crops not yet drawn

    def _sample(self, pool: CropPool) -> torch.Tensor:
        s = self.settings
        return pool.sample(s.batch, s.crop, s.max_zoom, self.generator).to(self.encoder.device)

    def step(self) -> dict[str, float]:
        """One optimisation step on a fresh batch; returns its losses."""
        assert self.optimiser is not None, "start() first"
        s, i = self.settings, self.state.iteration
        for group in self.optimiser.param_groups:
            group["lr"] = learning_rate(s, i)
        content, style = self._sample(self.content), self._sample(self.style)
        with autocast(self.encoder.device, s.precision):
            losses = training_losses(
                frozen_in_precision(self.encoder, s.precision),
                self.decoder,
                content,
                style,
                self.state.energies,
                s.style_weight,
                reconstruct=i < s.reconstruction_iterations,
                content_loss=s.content_loss,
                layout_weight=s.layout_weight,
            )
        self.optimiser.zero_grad(set_to_none=True)
        torch.autograd.backward(losses["total"])
        values = {k: float(v.detach()) for k, v in losses.items()}
        values["grad_norm"] = self._clip_gradient()
        if not (np.isfinite(values["total"]) and np.isfinite(values["grad_norm"])):
            raise StylesimError(f"training diverged at iteration {i} (loss {values['total']}); lower --lr")
        self.optimiser.step()
        self._average_weights()
        self.state.iteration += 1
        return values

    def _on_device(self, average: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor] | None:
        """A checkpoint's moving average (read onto the CPU) beside the parameters it follows."""
        if average is None:
            return None
        parameters = dict(self.decoder.named_parameters())
        if set(average) != set(parameters):
            raise StylesimError(f"{self.work / CHECKPOINT}: its moving average is not this decoder's")
        return {name: value.to(parameters[name].device) for name, value in average.items()}

    def _average_weights(self) -> None:
        if self.average is not None:
            parameters = dict(self.decoder.named_parameters())
            weights = [parameters[name] for name in self.average]
            moving_average(list(self.average.values()), weights, self.settings.ema_decay)

    def exported_decoder(self) -> AdaINDecoder:
        """The decoder to export: the weights' moving average where the run keeps one."""
        if self.average is None:
            return self.decoder
        averaged = copy.deepcopy(self.decoder)
        averaged.load_state_dict({**self.decoder.state_dict(), **self.average})
        return averaged

    def _clip_gradient(self) -> float:
        """Scale the gradient to at most clip_factor x the running mean norm (module docstring);
        returns its norm before clipping."""
        s, state = self.settings, self.state
        active = s.clip_factor > 0 and state.grad_norm_mean > 0
        limit = s.clip_factor * state.grad_norm_mean if active else None
        norm = float(torch.nn.utils.clip_grad_norm_(self.decoder.parameters(), limit or float("inf")))
        kept = norm if limit is None else min(norm, limit)
        if limit is not None and norm > limit:
            state.clipped_steps += 1
        m = GRAD_NORM_MOMENTUM if state.grad_norm_mean > 0 else 0.0
        state.grad_norm_mean = m * state.grad_norm_mean + (1 - m) * kept
        return norm

    def run(
        self, on_step: StepReport | None = None, on_checkpoint: Callable[[Path], None] | None = None
    ) -> None:
        """Train to ``settings.iterations``, checkpointing every ``checkpoint_seconds`` and at the end
        (also when interrupted: KeyboardInterrupt is re-raised after the checkpoint)."""
        settings = asdict(self.settings)
        if self.settings.ema_decay > 0 and self.average is None:  # the average starts here
            self.average = {k: p.detach().clone() for k, p in self.decoder.named_parameters()}
        if not self.state.legs or leg(0, self.state.legs[-1]) != leg(0, settings):
            self.state.legs.append(leg(self.state.iteration, settings))
        window: list[dict[str, float]] = []
        last_save = started = time.monotonic()
        base_seconds = self.state.seconds
        try:
            while self.state.iteration < self.settings.iterations:
                losses = self.step()
                window.append(losses)
                self._record(window)
                self.state.seconds = base_seconds + time.monotonic() - started
                if on_step:
                    on_step(self.state.iteration, losses)
                if time.monotonic() - last_save >= self.settings.checkpoint_seconds:
                    self._checkpoint(on_checkpoint)
                    last_save = time.monotonic()
        finally:
            self._checkpoint(on_checkpoint)

    def _record(self, window: list[dict[str, float]]) -> None:
        if len(window) >= self.settings.history_every:
            point = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
            self.state.history.append({"iteration": self.state.iteration, **point})
            window.clear()

    def _checkpoint(self, on_checkpoint: Callable[[Path], None] | None) -> None:
        assert self.optimiser is not None
        path = save_checkpoint(
            self.work,
            self.settings,
            self.state,
            self.decoder,
            self.optimiser,
            self.generator,
            self.data(),
            self.average,
        )
        if on_checkpoint:
            on_checkpoint(path)


def training_record(trainer: Trainer, sources: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
    """What goes beside the weights: data lists with sources and licences, settings, the loss curve."""
    return {
        "settings": asdict(trainer.settings),
        "iterations": trainer.state.iteration,
        "seconds": round(trainer.state.seconds, 1),
        "clipped_steps": trainer.state.clipped_steps,
        "grad_norm_mean": trainer.state.grad_norm_mean,
        "legs": trainer.state.legs,
        "energies": trainer.state.energies,
        "loss_curve": trainer.state.history,
        "data": sources,
    }


def read_sources(folder: Path) -> list[dict[str, str]]:
    """``folder/sources.csv`` rows (file, package, licence), or the bare file list."""
    import csv

    listing = folder / "sources.csv"
    if listing.is_file():
        with open(listing, newline="") as f:
            return list(csv.DictReader(f))
    return [{"file": p.name} for p in sorted(folder.iterdir()) if p.is_file()]


def write_record(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)
