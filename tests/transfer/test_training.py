"""AdaIN decoder training: the losses against their formulas, the schedule, the crop pool, and
runs with the real encoder on real photos (tiny crops): a run resumed from its checkpoint ends
exactly where an uninterrupted one does, other settings are refused, the exported decoder is
float16 and loads through the verified loader, and a machine without the checkpoint continues
from the exported decoder and its training record."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from PIL import Image

from stylesim.descriptors.adain import ADAIN_LAYERS
from stylesim.encoding import VGG19Encoder, resolve_weights
from stylesim.errors import StylesimError
from stylesim.transfer.adain import AdaINDecoder, load_decoder, save_decoder
from stylesim.transfer.training import (
    LAYOUT_LAYERS,
    CropPool,
    Trainer,
    TrainingSettings,
    adain_content_loss,
    adain_style_loss,
    check_resumable,
    layout_content_loss,
    learning_rate,
    leg,
    load_checkpoint,
    moving_average,
    normalised_content_loss,
    read_warm_start,
    recorded_legs,
    training_losses,
)
from tests.conftest import photo

TINY = TrainingSettings(
    iterations=4, crop=32, batch=2, max_zoom=2.0, checkpoint_seconds=3600, history_every=2, precision="fp32"
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("training-data")
    for role, names in (("content", ("astronaut", "chelsea", "rocket")), ("style", ("coffee", "camera"))):
        (root / role).mkdir()
        for name in names:
            Image.fromarray(photo(name, 160)).save(root / role / f"{name}.jpg")
    return root / "content", root / "style"


@pytest.fixture(scope="module")
def encoder() -> VGG19Encoder:
    return VGG19Encoder(resolve_weights(), ADAIN_LAYERS)


def trainer(
    encoder: VGG19Encoder, folders: tuple[Path, Path], work: Path, settings: TrainingSettings = TINY
) -> Trainer:
    pools = [
        CropPool(sorted(f.iterdir()), 96, role) for f, role in zip(folders, ("content", "style"), strict=True)
    ]
    torch.manual_seed(0)  # the decoder's initial weights
    return Trainer(encoder, settings, pools[0], pools[1], work, decoder=AdaINDecoder())


def test_losses_are_the_formulas():
    g = torch.Generator().manual_seed(3)
    out, target = torch.rand((2, 4, 5, 6), generator=g), torch.rand((2, 4, 5, 6), generator=g)
    assert float(adain_content_loss(out, target)) == pytest.approx(float(((out - target) ** 2).mean()))
    style = torch.rand((2, 4, 7, 3), generator=g)
    mu_s, sigma_s = style.mean((2, 3)), style.var((2, 3), unbiased=False).add(1e-5).sqrt()
    mu_o, sigma_o = out.mean((2, 3)), out.var((2, 3), unbiased=False).add(1e-5).sqrt()
    expected = ((mu_o - mu_s) ** 2).mean() + ((sigma_o - sigma_s) ** 2).mean()
    assert float(adain_style_loss(out, mu_s, sigma_s)) == pytest.approx(float(expected), rel=1e-4)


def test_normalised_content_loss_compares_each_channels_pattern_whatever_its_scale():
    g = torch.Generator().manual_seed(4)
    out, target = torch.rand((2, 3, 6, 5), generator=g), torch.rand((2, 3, 6, 5), generator=g)

    def standardised(x: torch.Tensor) -> torch.Tensor:
        spread = x.var((2, 3), unbiased=False, keepdim=True).add(1e-5).sqrt()
        return (x - x.mean((2, 3), keepdim=True)) / spread

    expected = ((standardised(out) - standardised(target)) ** 2).mean()
    assert float(normalised_content_loss(out, target)) == pytest.approx(float(expected), rel=1e-4)
    # The paper's loss counts a channel of spread 0.05 at 1/400 of one of spread 1; this one does not.
    spread = torch.tensor([1.0, 0.05, 1.0])[None, :, None, None]
    damped = normalised_content_loss(out * spread * 20 + 3, target * spread * 20 + 3)
    assert float(damped) == pytest.approx(float(normalised_content_loss(out * 20, target * 20)), rel=1e-3)
    assert float(normalised_content_loss(target, target)) < 1e-6


def test_layout_content_loss_adds_the_contents_pattern_below_relu4_1():
    g = torch.Generator().manual_seed(5)
    out4, target = torch.rand((2, 3, 4, 4), generator=g), torch.rand((2, 3, 4, 4), generator=g)
    out3, content3 = torch.rand((2, 2, 8, 8), generator=g), torch.rand((2, 2, 8, 8), generator=g)
    out2, content2 = torch.rand((2, 2, 16, 16), generator=g), torch.rand((2, 2, 16, 16), generator=g)
    features = {"relu4_1": out4, "relu3_1": out3, "relu2_1": out2}
    content = {"relu3_1": content3, "relu2_1": content2}
    expected = normalised_content_loss(out4, target) + normalised_content_loss(out3, content3)
    assert float(layout_content_loss(features, target, content)) == pytest.approx(float(expected))
    fine = layout_content_loss(features, target, content, LAYOUT_LAYERS["layout-fine"])
    assert float(fine) == pytest.approx(float(expected + normalised_content_loss(out2, content2)))
    # the content's pattern in other statistics (what the style term sets) costs nothing more
    restyled = {"relu4_1": out4, "relu3_1": out3 * 7 + 2, "relu2_1": out2 * 0.2 + 5}
    refined = layout_content_loss(restyled, target, content, LAYOUT_LAYERS["layout-fine"])
    assert float(refined) == pytest.approx(float(fine), rel=1e-3)
    # a layout weight w scales the terms below relu4_1 only
    heavier = layout_content_loss(features, target, content, LAYOUT_LAYERS["layout-fine"], weight=3.0)
    below = normalised_content_loss(out3, content3) + normalised_content_loss(out2, content2)
    assert float(heavier) == pytest.approx(float(normalised_content_loss(out4, target) + 3 * below))


def test_training_uses_the_chosen_content_loss_after_the_reconstruction_stage(encoder):
    pictures = [
        torch.from_numpy(photo(name, 64).copy()).permute(2, 0, 1)[:, :40].float() / 255
        for name in ("chelsea", "coffee")
    ]
    torch.manual_seed(0)
    decoder = AdaINDecoder()

    def content_term(loss: str, energy: float, reconstruct: bool = False) -> float:
        energies = dict.fromkeys(ADAIN_LAYERS, energy)
        with torch.no_grad():
            torch.manual_seed(1)
            terms = training_losses(
                encoder, decoder, pictures[0][None], pictures[1][None], energies, 10.0, reconstruct, loss
            )
        return float(terms["content"])

    # eq. 12 is divided by the layer's energy; the normalised term is already of unit scale
    assert content_term("target", 10.0) == pytest.approx(content_term("target", 1.0) / 10, rel=1e-4)
    assert content_term("normalised", 10.0) == pytest.approx(content_term("normalised", 1.0), rel=1e-4)
    assert content_term("normalised", 1.0) != pytest.approx(content_term("target", 1.0), rel=0.1)
    assert content_term("layout", 10.0) == pytest.approx(content_term("layout", 1.0), rel=1e-4)
    assert content_term("layout", 1.0) > content_term("normalised", 1.0) * 1.05  # relu3_1's term added
    assert content_term("layout-fine", 1.0) > content_term("layout", 1.0) * 1.05  # relu2_1's term added
    assert content_term("layout-fine", 10.0) == pytest.approx(content_term("layout-fine", 1.0), rel=1e-4)
    assert content_term("layout", 1.0, True) == pytest.approx(content_term("target", 1.0, True), rel=1e-5)
    # the reconstruction stage inverts f(c) with eq. 12 whichever loss follows it
    assert content_term("normalised", 1.0, True) == pytest.approx(content_term("target", 1.0, True), rel=1e-5)
    with pytest.raises(StylesimError, match="content loss 'perceptual'"):
        TrainingSettings(content_loss="perceptual")
    with pytest.raises(StylesimError, match="crop 100: must be a multiple of 8"):
        TrainingSettings(crop=100)


def test_learning_rate_decays_as_the_reference_code():
    s = TrainingSettings(learning_rate=1e-4, lr_decay=5e-5)
    assert learning_rate(s, 0) == pytest.approx(1e-4)
    assert learning_rate(s, 20_000) == pytest.approx(1e-4 / 2)


def test_crop_pool_is_reproducible_and_shaped(folders):
    pool = CropPool(sorted(folders[0].iterdir()), 96, "content")
    a = pool.sample(3, 32, 2.0, torch.Generator().manual_seed(5))
    b = pool.sample(3, 32, 2.0, torch.Generator().manual_seed(5))
    assert a.shape == (3, 3, 32, 32) and torch.equal(a, b)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    with pytest.raises(StylesimError, match="no content images"):
        CropPool([], 96, "content")


def test_resumed_run_ends_where_an_uninterrupted_one_does(encoder, folders, tmp_path):
    straight = trainer(encoder, folders, tmp_path / "straight")
    straight.start(resume=False)
    straight.run()
    first = trainer(
        encoder, folders, tmp_path / "split", TrainingSettings(**{**TINY.__dict__, "iterations": 2})
    )
    first.start(resume=False)
    first.run()
    second = trainer(encoder, folders, tmp_path / "split")
    second.start(resume=True)
    second.run()
    assert second.state.iteration == straight.state.iteration == 4
    for name, value in straight.decoder.state_dict().items():
        assert torch.equal(value, second.decoder.state_dict()[name]), name
    assert [p["iteration"] for p in load_checkpoint(tmp_path / "split")["state"]["history"]] == [2, 4]
    assert second.state.legs == [{"from": 0, "precision": "fp32", "crop": 32}]  # one precision throughout
    blob = load_checkpoint(tmp_path / "split")
    del blob["state"]["legs"]  # a checkpoint saved before the precision record was kept
    torch.save(blob, tmp_path / "split" / "checkpoint.pt")
    older = trainer(encoder, folders, tmp_path / "split")
    older.start(resume=True)
    assert older.state.legs == [{"from": 0, "precision": "fp32", "crop": 32}]


def test_moving_average_is_the_formula():
    average, weights = [torch.tensor([1.0, 3.0])], [torch.tensor([5.0, -1.0])]
    moving_average(average, weights, 0.75)
    assert torch.allclose(average[0], 0.75 * torch.tensor([1.0, 3.0]) + 0.25 * torch.tensor([5.0, -1.0]))


def test_the_exported_decoder_is_the_weights_moving_average_and_resuming_keeps_it(encoder, folders, tmp_path):
    averaged = TrainingSettings(**{**TINY.__dict__, "ema_decay": 0.5})
    straight = trainer(encoder, folders, tmp_path / "straight", averaged)
    straight.start(resume=False)
    expected = {k: p.detach().clone() for k, p in straight.decoder.named_parameters()}  # where it starts

    def follow(_: int, __: dict[str, float]) -> None:
        for name, p in straight.decoder.named_parameters():
            expected[name] = 0.5 * expected[name] + 0.5 * p.detach()

    straight.run(on_step=follow)
    exported = straight.exported_decoder().state_dict()
    for name, value in expected.items():
        assert torch.allclose(exported[name], value, atol=1e-7), name
        assert not torch.equal(value, straight.decoder.state_dict()[name]), name  # not the last weights
    first = trainer(
        encoder, folders, tmp_path / "split", TrainingSettings(**{**averaged.__dict__, "iterations": 2})
    )
    first.start(resume=False)
    first.run()
    second = trainer(encoder, folders, tmp_path / "split", averaged)
    second.start(resume=True)
    second.run()
    for name, value in second.exported_decoder().state_dict().items():
        assert torch.equal(value, exported[name]), name
    from stylesim import api

    assert second.average is not None  # on the parameters' device, whatever the checkpoint was read onto
    parameters = dict(second.decoder.named_parameters())
    assert all(value.device == parameters[name].device for name, value in second.average.items())
    assert api.recorded_ema(tmp_path / "split") == 0.5  # what --ema defaults to when resuming it
    assert api.recorded_ema(tmp_path / "nowhere") == 0.0
    last_weights = trainer(encoder, folders, tmp_path / "split", TINY)  # a resumed run may drop the average
    last_weights.start(resume=True)
    assert last_weights.exported_decoder() is last_weights.decoder
    with pytest.raises(StylesimError, match="decay 1.0"):
        TrainingSettings(ema_decay=1.0)


def test_resume_refuses_other_settings(encoder, folders, tmp_path):
    run = trainer(encoder, folders, tmp_path / "w", TrainingSettings(**{**TINY.__dict__, "iterations": 1}))
    run.start(resume=False)
    run.run()
    other = trainer(encoder, folders, tmp_path / "w", TrainingSettings(**{**TINY.__dict__, "crop": 48}))
    with pytest.raises(StylesimError, match="crop"):
        other.start(resume=True)
    with pytest.raises(StylesimError, match="no checkpoint"):
        trainer(encoder, folders, tmp_path / "empty").start(resume=True)


def test_reconstruction_stage_learns_to_invert_the_encoder(encoder, folders, tmp_path):
    settings = TrainingSettings(
        **{
            **TINY.__dict__,
            "iterations": 30,
            "reconstruction_iterations": 30,
            "learning_rate": 1e-3,
            "lr_decay": 0.0,
        }
    )
    run = trainer(encoder, folders, tmp_path / "r", settings)
    run.start(resume=False)
    losses: list[float] = []
    run.run(on_step=lambda _, step_losses: losses.append(step_losses["content"]))
    assert all(float(point["style"]) == 0.0 for point in run.state.history)  # AdaIN off: no style term
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5])


def test_an_outlier_gradient_is_clipped_to_a_multiple_of_its_running_mean(encoder, folders, tmp_path):
    run = trainer(encoder, folders, tmp_path / "c", TrainingSettings(**{**TINY.__dict__, "clip_factor": 2.0}))
    run.start(resume=False)
    run.state.grad_norm_mean = 1e-4  # as if every earlier step had been tiny: this batch is an outlier
    losses = run.step()
    applied = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in run.decoder.parameters()]))
    assert losses["grad_norm"] > 2e-4 and run.state.clipped_steps == 1
    assert float(applied) == pytest.approx(2e-4, rel=1e-3)
    assert run.state.grad_norm_mean == pytest.approx(0.99 * 1e-4 + 0.01 * 2e-4)


def test_runs_from_before_clipping_continue_only_without_it(tmp_path):
    legacy = {k: v for k, v in asdict(TINY).items() if k != "clip_factor"}  # a record written before
    check_resumable(legacy, TrainingSettings(**{**TINY.__dict__, "clip_factor": 0.0}), tmp_path)
    with pytest.raises(StylesimError, match="clip_factor"):
        check_resumable(legacy, TINY, tmp_path)


def test_exported_decoder_is_float16_and_verified(tmp_path):
    path = tmp_path / "adain_decoder.pt"
    decoder = AdaINDecoder()
    save_decoder(decoder, path, resolve_weights().sha256, "zeros", {"iterations": 0})
    blob = torch.load(path, weights_only=True)
    assert all(t.dtype == torch.float16 for t in blob["state_dict"].values())
    assert path.stat().st_size < 8_000_000
    loaded, file = load_decoder(path, resolve_weights().sha256)
    assert file.padding == "zeros"
    for name, value in decoder.state_dict().items():
        assert torch.allclose(loaded.state_dict()[name], value.half().float())


def test_a_machine_without_the_checkpoint_continues_from_the_exported_decoder(encoder, folders, tmp_path):
    from stylesim import api

    api.train_decoder(*folders, tmp_path / "a", TrainingSettings(**{**TINY.__dict__, "iterations": 2}))
    (tmp_path / "a" / "checkpoint.pt").unlink()  # what a fresh machine has: the committed export only
    exported = json.loads((tmp_path / "a" / "adain_decoder.training.json").read_text())
    decoder, _ = load_decoder(tmp_path / "a" / "adain_decoder.pt", resolve_weights().sha256)
    warm = read_warm_start(tmp_path / "a" / "adain_decoder.training.json", decoder.state_dict())
    started = trainer(encoder, folders, tmp_path / "b")
    started.start(resume=False, warm=warm)
    assert started.state.iteration == 2 and started.state.energies == exported["energies"]
    assert started.state.grad_norm_mean == exported["grad_norm_mean"] > 0  # clipping guards step 1 too
    normalised = TrainingSettings(**{**TINY.__dict__, "content_loss": "normalised"})
    switching = trainer(encoder, folders, tmp_path / "b2", normalised)
    switching.start(resume=False, warm=warm)
    assert switching.state.grad_norm_mean == 0.0  # another loss, other norms: the guard starts again
    for name, value in decoder.state_dict().items():
        assert torch.equal(started.decoder.state_dict()[name], value), name

    api.train_decoder(*folders, tmp_path / "c", TINY, resume=True, continue_from=tmp_path / "a")
    with pytest.raises(StylesimError, match="--resume continues it"):  # never overwritten by a new run
        api.train_decoder(*folders, tmp_path / "c", TINY, continue_from=tmp_path / "a")
    record = json.loads((tmp_path / "c" / "adain_decoder.training.json").read_text())
    assert record["iterations"] == 4
    assert [p["iteration"] for p in record["loss_curve"]] == [2, 4]
    assert record["legs"] == [{"from": 0, "precision": "fp32", "crop": 32}]
    on_bf16 = TrainingSettings(**{**TINY.__dict__, "precision": "bf16"})  # the next machine has the units
    api.train_decoder(*folders, tmp_path / "e", on_bf16, continue_from=tmp_path / "a")
    legs = json.loads((tmp_path / "e" / "adain_decoder.training.json").read_text())["legs"]
    assert legs == [
        {"from": 0, "precision": "fp32", "crop": 32},
        {"from": 2, "precision": "bf16", "crop": 32},
    ]
    api.train_decoder(*folders, tmp_path / "f", normalised, continue_from=tmp_path / "a")
    legs = json.loads((tmp_path / "f" / "adain_decoder.training.json").read_text())["legs"]
    assert legs == [
        {"from": 0, "precision": "fp32", "crop": 32},
        {"from": 2, "precision": "fp32", "content_loss": "normalised", "crop": 32},
    ]
    with pytest.raises(StylesimError, match="content_loss"):  # but not within a run resumed exactly
        api.train_decoder(*folders, tmp_path / "f", TINY, resume=True)
    heavier = TrainingSettings(**{**normalised.__dict__, "content_loss": "layout", "layout_weight": 3.0})
    api.train_decoder(*folders, tmp_path / "g", heavier, continue_from=tmp_path / "f")
    legs = json.loads((tmp_path / "g" / "adain_decoder.training.json").read_text())["legs"]
    assert legs[-1] == {
        "from": 4,
        "precision": "fp32",
        "content_loss": "layout",
        "layout_weight": 3.0,
        "crop": 32,
    }
    with pytest.raises(StylesimError, match="layout weight"):
        TrainingSettings(layout_weight=-1.0)


def test_a_continued_run_may_go_on_with_larger_crops_as_a_new_leg(encoder, folders, tmp_path):
    from stylesim import api

    api.train_decoder(*folders, tmp_path / "a", TrainingSettings(**{**TINY.__dict__, "iterations": 2}))
    (tmp_path / "a" / "checkpoint.pt").unlink()
    larger = TrainingSettings(**{**TINY.__dict__, "crop": 48})
    decoder, _ = load_decoder(tmp_path / "a" / "adain_decoder.pt", resolve_weights().sha256)
    warm = read_warm_start(tmp_path / "a" / "adain_decoder.training.json", decoder.state_dict())
    on_larger_crops = trainer(encoder, folders, tmp_path / "b", larger)
    on_larger_crops.start(resume=False, warm=warm)
    assert on_larger_crops.state.grad_norm_mean == 0.0  # other crops, other norms: the guard starts again
    api.train_decoder(*folders, tmp_path / "d", larger, continue_from=tmp_path / "a")
    record = json.loads((tmp_path / "d" / "adain_decoder.training.json").read_text())
    assert record["legs"] == [
        {"from": 0, "precision": "fp32", "crop": 32},
        {"from": 2, "precision": "fp32", "crop": 48},
    ]
    assert record["settings"]["crop"] == 48 and record["iterations"] == 4
    with pytest.raises(StylesimError, match="crop"):  # but not within a run resumed exactly
        api.train_decoder(*folders, tmp_path / "d", TINY, resume=True)


def test_adain_of_a_flat_channel_stays_bounded_under_bf16_autocast():
    """A nearly flat content channel (sigma << mu, what a dark or plain training crop gives at
    relu4_1) of bf16 activations: under autocast the moments once lost sigma, and AdaIN divided
    the bf16 rounding noise by ~0 (targets 3 000x too large, the spikes of issue 14's first run)."""
    from stylesim.encoding.device import autocast
    from stylesim.transfer.adain import adain

    g = torch.Generator().manual_seed(0)
    content = (100 + 0.3 * torch.randn(2, 4, 16, 16, generator=g)).to(torch.bfloat16).float()
    style = 50 * torch.rand(2, 4, 16, 16, generator=g)
    exact = adain(content.double(), style.double())
    with autocast(torch.device("cpu"), "bf16"):
        target = adain(content, style)
    assert float(target.abs().max()) < 1.05 * float(exact.abs().max())
    torch.testing.assert_close(target.double(), exact, rtol=0, atol=0.05 * float(exact.abs().max()))


def test_train_decoder_stops_with_a_checkpoint_when_killed(folders, tmp_path):
    """``kill PID`` (SIGTERM) on a background run with SIGINT ignored, as ``nohup ... &`` starts
    it: the run writes its checkpoint and exports before it exits."""
    import signal
    import subprocess
    import sys

    work = tmp_path / "killed"
    command = [sys.executable, "-m", "stylesim", "train-decoder", "--content", str(folders[0]),
               "--style", str(folders[1]), "--work", str(work), "--iterations", "100000", "--crop", "32",
               "--batch", "2", "--precision", "fp32", "--checkpoint-minutes", "60"]  # fmt: skip
    ignored = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by the child, as with &
    try:
        run = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, ignored)
    assert run.stderr is not None
    for line in run.stderr:  # the first progress line: the loop is running
        if "training:" in line:
            break
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=120) == 130
    assert load_checkpoint(work)["state"]["iteration"] >= 1
    assert (work / "adain_decoder.pt").is_file()


def test_legs_of_runs_saved_before_the_crop_could_change_keep_their_crop():
    shipped_like = [{"from": 0, "precision": "fp32"}, {"from": 9, "precision": "bf16", "layout_weight": 3.0}]
    assert recorded_legs(shipped_like, {"crop": 128}) == shipped_like  # 128: nothing to add
    at_32 = recorded_legs([{"from": 0, "precision": "fp32"}], {"crop": 32})  # crops could not change then
    assert at_32 == [{"from": 0, "precision": "fp32", "crop": 32}]
    assert leg(0, at_32[-1]) == leg(0, {"precision": "fp32", "crop": 32})  # no new leg when it goes on
    later = [{"from": 0, "precision": "bf16"}, {"from": 5, "precision": "bf16", "crop": 256}]
    assert recorded_legs(later, {"crop": 256}) == later  # a leg naming no crop beside one that does: 128
    assert recorded_legs([], {"crop": 64, "precision": "bf16"}) == [
        {"from": 0, "precision": "bf16", "crop": 64}
    ]
