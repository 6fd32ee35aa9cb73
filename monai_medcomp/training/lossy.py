"""Train any lossy block codec's network on the training pool and write its bundle weights and record.

    python -m monai_medcomp.training.lossy --codec cnn-ae --steps 7000 --batch 512
    python -m monai_medcomp.training.lossy --codec cnn-ae --steps 2000 --batch 128 --channels 3

One driver for all of them: the codec says how its network is built and what its differentiable
stand-in for quantised coding is (``relaxed``); the loop here adds the losses.

* Quantisation noise: uniform, of one latent step at each block's own bit depth, so a 16-bit block
  trains with the finer latent a 16-bit image gets at 16:1.
* Autoencoders (``cnn-*``): MSE of every stage's reconstruction, Adam with a cosine learning-rate decay.
* GAN and GAN-AE codecs: first the generator (and encoder) alone on the pixel loss with Adam (half
  the steps: adversarial training from scratch does not converge in a CPU-hour budget, the SRGAN
  recipe), then generator and discriminator together: loss = lambda1 * error + lambda2 * adversarial
  with the paper's lambda1 = 1 and lambda2 = 10, where *error* is the L1 or L2 error summed over the
  1,024 pixels of a block (a norm, not a mean) and *adversarial* is the generator's WGAN critic or
  DCGAN non-saturating loss averaged over the batch.  WGAN: RMSProp lr 2e-5, critic weights clipped
  to +-0.01; DCGAN: Adam lr 2e-4, beta1 0.5.

Grey models (``models/model.pt``) train on blocks of every pool image's planes, RGB models
(``--channels 3``, ``models/model_rgb.pt``) on whole RGB blocks of the pool's RGB images, starting
from the bundle's grey model (:mod:`.rgb_start`), which must be trained first.  Each holds
``{"network": state_dict, "prior": (stages, latent channels, bins)}``, the prior being the histogram
of the trained encoder's latents on the training blocks (the learned factorised prior of the
optional entropy coding).  Seeded and single-threaded by default: the same command
writes the same weights on the CPU.  ``--device cuda`` runs the same loop on a GPU, where CUDA's
atomics make runs differ in the last bits; ``--blocks`` trains on a block set saved by :mod:`.blocks`.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ..codecs import get_codec
from ..codecs.learned_block import LearnedBlockCodec, model_file
from ..entropy.factorized import fit_prior
from ..errors import MedCompError, run_command
from ..fileio import atomic_path, atomic_write, check_outputs
from ..networks.gan import BlockDiscriminator
from ..weights import file_sha256, read_state, state_bytes
from . import Progress
from .blocks import BlockSet, training_blocks
from .rgb_start import start_from_grey

SEED = 0
BATCH = 32
LEARNING_RATE = 1e-3
BLOCKS_PER_IMAGE = 2000
VALIDATION_BLOCKS = 512
LAMBDA_ERROR, LAMBDA_ADVERSARIAL = 1.0, 10.0
WGAN_CLIP = 0.01
PRIOR_LEVELS = 1 << 16  # latent quantisation when the prior is fitted: every bit depth's levels are unions of these


def pixel_error(output: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-block L1 or L2 error summed over the block's pixels, averaged over the batch."""
    difference = output - target
    per_pixel = difference.abs() if kind == "l1" else difference ** 2
    return per_pixel.flatten(1).sum(1).mean()


class AdversarialTrainer:
    """The discriminator side of a GAN codec: its optimiser, its step, the generator's adversarial loss."""

    def __init__(self, kind: str, parameters: list[torch.nn.Parameter], channels: int = 1, device: str = "cpu"):
        self.kind = kind
        self.discriminator = BlockDiscriminator(channels).to(device)
        if kind == "wgan":
            self.optimiser = torch.optim.RMSprop(self.discriminator.parameters(), lr=2e-5)
        else:
            self.optimiser = torch.optim.Adam(self.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.generator_optimiser = (torch.optim.RMSprop(parameters, lr=2e-5) if kind == "wgan"
                                    else torch.optim.Adam(parameters, lr=2e-4, betas=(0.5, 0.999)))

    def discriminator_step(self, real: torch.Tensor, fake: torch.Tensor) -> None:
        real_score, fake_score = self.discriminator(real), self.discriminator(fake.detach())
        if self.kind == "wgan":
            loss = fake_score.mean() - real_score.mean()
        else:
            loss = (F.binary_cross_entropy_with_logits(real_score, torch.ones_like(real_score))
                    + F.binary_cross_entropy_with_logits(fake_score, torch.zeros_like(fake_score)))
        self.optimiser.zero_grad()
        loss.backward()
        self.optimiser.step()
        if self.kind == "wgan":
            with torch.no_grad():
                for parameter in self.discriminator.parameters():
                    parameter.clamp_(-WGAN_CLIP, WGAN_CLIP)

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        score = self.discriminator(fake)
        if self.kind == "wgan":
            return -score.mean()
        return F.binary_cross_entropy_with_logits(score, torch.ones_like(score))


def train(codec: LearnedBlockCodec, steps: int, seed: int, blocks: BlockSet | None = None, batch: int = BATCH,
          device: str = "cpu", channels: int = 1, grey_start: dict[str, torch.Tensor] | None = None,
          progress: Progress | None = None) -> tuple[torch.nn.Module, np.ndarray, dict[str, Any]]:
    """The trained network (on the CPU), its latent prior and a summary of the run.

    ``blocks``: what :func:`.blocks.training_blocks` returns, by default for the training pool (a
    quarter of them, at most 512, are held out for the final loss); their channels (grey or RGB)
    decide the model's, otherwise ``channels`` does.  ``grey_start``: the codec's grey network state,
    where an RGB model starts (:mod:`.rgb_start`).  ``progress`` is called after each step.
    """
    torch.manual_seed(seed)
    start = time.perf_counter()
    blocks = training_blocks(BLOCKS_PER_IMAGE, seed, channels=channels) if blocks is None else blocks
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(blocks), generator=generator)
    data = torch.from_numpy(blocks.normalised())[order].to(device)
    block_levels = torch.tensor([1 << codec.latent_bits(int(b)) for b in blocks.bits], dtype=torch.float32)
    levels = block_levels[order].view(-1, 1, 1, 1).to(device)
    held_out = min(VALIDATION_BLOCKS, len(data) // 4)
    validation, data = data[:held_out], data[held_out:]
    validation_levels, levels = levels[:held_out], levels[held_out:]
    network = codec.build_network(blocks.channels)
    if grey_start is not None:
        start_from_grey(network, grey_start)
    network = network.to(device)
    adversarial = getattr(codec, "adversarial", None)
    pixel_kind = getattr(codec, "pixel_loss", "l2")
    warmup = steps // 2 if adversarial else steps
    optimiser = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, warmup))
    trainer = (AdversarialTrainer(adversarial, list(network.parameters()), blocks.channels, device)
               if adversarial else None)
    network.train()
    for step in range(steps):
        pick = torch.randint(len(data), (batch,), generator=generator).to(device)
        target = data[pick]
        outputs = codec.relaxed(network, target, levels[pick])
        if step < warmup:
            loss = sum(pixel_error(out, target, pixel_kind) for out in outputs) / len(outputs)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        else:
            trainer.discriminator_step(target, outputs[-1])
            loss = (LAMBDA_ERROR * pixel_error(outputs[-1], target, pixel_kind)
                    + LAMBDA_ADVERSARIAL * trainer.generator_loss(outputs[-1]))
            trainer.generator_optimiser.zero_grad()
            loss.backward()
            trainer.generator_optimiser.step()
        if progress is not None:
            progress(step + 1, steps)
    network.eval()
    with torch.no_grad():
        final_mse = [float(torch.mean((out.clamp(0, 1) - validation) ** 2))
                     for out in codec.relaxed(network, validation, validation_levels)]
        network.double()  # the prior sees the latents at PRIOR_LEVELS, as good as continuous
        everything = blocks.normalised()
        chunks = [[stage.cpu() for stage in codec.analyse(network, torch.from_numpy(part).double().to(device),
                                                           PRIOR_LEVELS)]
                  for part in np.array_split(everything, -(-len(everything) // 1024))]
    network.float().cpu()
    prior = np.stack([fit_prior(np.concatenate([c[stage].numpy() for c in chunks]) / (PRIOR_LEVELS - 1))
                      for stage in range(codec.stages)])
    summary = {"codec": codec.name, "channels": blocks.channels, "seed": seed, "steps": steps, "batch": batch,
               "warmup_steps": warmup,
               "adversarial": adversarial, "pixel_loss": pixel_kind, "training_blocks": len(data),
               "validation_blocks": len(validation),
               "latent_levels": sorted({int(v) for v in block_levels.tolist()}),
               "parameters": sum(p.numel() for p in network.parameters()),
               "final_validation_mse_per_stage": final_mse,
               "final_validation_psnr_per_stage": [round(-10 * np.log10(m), 2) for m in final_mse],
               "seconds": round(time.perf_counter() - start, 1), "torch": torch.__version__,
               "device": torch.cuda.get_device_name(device) if str(device).startswith("cuda") else "CPU",
               "threads": torch.get_num_threads(), "date": datetime.date.today().isoformat(),
               "images": blocks.images}
    return network, prior, summary


def weights_bytes(network: torch.nn.Module, prior: np.ndarray) -> bytes:
    """The bundle's ``model.pt``: the network's state and the latent prior."""
    return state_bytes({"network": network.state_dict(), "prior": torch.from_numpy(prior)})


def report_markdown(summary: dict[str, Any], command: str) -> str:
    images = "\n".join(f"- {line}" for line in summary["images"])
    method = (f"encoder/generator pixel-loss ({summary['pixel_loss']}) pretraining for {summary['warmup_steps']} "
              f"steps, then {summary['adversarial'].upper()} training (see `monai_medcomp/training/lossy.py`)"
              if summary["adversarial"] else "Adam on the MSE of every stage's reconstruction")
    colour, blocks = (("RGB", "RGB blocks of the training pool's RGB images") if summary["channels"] == 3
                      else ("grey", "blocks of the training pool"))
    start = ""
    if summary.get("grey_start_sha256"):
        start = (f"\n- started from the grey model `models/model.pt` (sha256 `{summary['grey_start_sha256']}`) "
                 "applied to the block's mean plane (`monai_medcomp/training/rgb_start.py`)")
    return f"""# {summary['codec']}: training of the {colour} model

The {colour} network of the `{summary['codec']}` codec ({summary['parameters']} parameters), trained on random 32x32
{blocks} with uniform noise of one latent step at each block's bit depth
({', '.join(str(v) for v in summary['latent_levels'])} levels) standing in for quantisation: {method}.

Command ({summary['device']}, torch {summary['torch']} on {summary['threads']} CPU thread(s), {summary['date']}):

    {command}

- seed {summary['seed']}; {summary['steps']} steps of {summary['batch']} blocks; wall time {summary['seconds']} s{start}
- {summary['training_blocks']} training blocks, {summary['validation_blocks']} held-out pool blocks for the final loss
- final held-out MSE per stage (normalised [0, 1] pixels, quantisation noise on):
  {', '.join(f'{m:.6f}' for m in summary['final_validation_mse_per_stage'])}
  (PSNR {', '.join(str(p) for p in summary['final_validation_psnr_per_stage'])} dB)
- weights sha256 `{summary['sha256']}` (what `.mcz` headers record)

Training pool (`monai_medcomp.data.training_images()`; no evaluation image is used):

{images}
"""


def grey_model(root: Path) -> tuple[dict[str, torch.Tensor], str]:
    """The grey network state in bundle folder ``root`` (where its RGB model starts) and its SHA-256."""
    path = root / model_file(1)
    if not path.is_file():
        raise MedCompError(f"an RGB model starts from the grey one: train {path} first (--channels 1)")
    state = read_state(path)
    if not isinstance(state, dict) or "network" not in state:
        raise MedCompError(f"{path} is not a lossy block codec's model (no network state)")
    return state["network"], file_sha256(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", required=True, help="registry name, e.g. cnn-ae")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--bundles", default="bundles", help="the bundles folder to write into")
    parser.add_argument("--batch", type=int, default=BATCH, help="blocks per step")
    parser.add_argument("--blocks", help="a block set saved by monai_medcomp.training.blocks (default: draw "
                                         f"{BLOCKS_PER_IMAGE} blocks per pool image)")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=1,
                        help="1: the grey model (models/model.pt); 3: the RGB model (models/model_rgb.pt)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: the same weights every run)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    args = parser.parse_args(argv)
    return run_command("python -m monai_medcomp.training.lossy", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise MedCompError(f"--device {args.device}: this torch ({torch.__version__}) sees no CUDA device")
    codec = get_codec(args.codec)
    if not isinstance(codec, LearnedBlockCodec):
        raise MedCompError(f"codec {codec.name!r} is not a learned block codec: nothing to train here")
    root = Path(args.bundles) / codec.bundle
    model = root / model_file(args.channels)
    record = root / "docs" / ("training.md" if args.channels == 1 else "training_rgb.md")
    check_outputs([model, record], args.force)
    blocks = BlockSet.load(args.blocks) if args.blocks else None
    if blocks is not None and blocks.channels != args.channels:
        raise MedCompError(f"{args.blocks} holds {blocks.channels}-channel blocks, not the --channels "
                           f"{args.channels} this model takes")
    grey_start, grey_sha = grey_model(root) if args.channels == 3 else (None, None)
    network, prior, summary = train(codec, args.steps, args.seed, blocks, args.batch, args.device, args.channels,
                                    grey_start)
    summary["grey_start_sha256"] = grey_sha
    weights = weights_bytes(network, prior)
    atomic_write(model, weights, force=args.force)
    summary["sha256"] = hashlib.sha256(weights).hexdigest()
    print(json.dumps({k: v for k, v in summary.items() if k != "images"}, indent=1))
    options = [("--seed", args.seed, SEED), ("--batch", args.batch, BATCH), ("--channels", args.channels, 1),
               ("--device", args.device, "cpu"),
               ("--blocks", args.blocks and Path(args.blocks).name, None)]
    command = f"python -m monai_medcomp.training.lossy --codec {args.codec} --steps {args.steps}" + "".join(
        f" {flag} {value}" for flag, value, default in options if value != default)
    if blocks is not None:
        command += (f"\n\nwith `{Path(args.blocks).name}` from `python -m monai_medcomp.training.blocks --out "
                    f"{Path(args.blocks).name} --per-image {blocks.per_image} --seed {blocks.seed}"
                    + (" --channels 3`" if blocks.channels == 3 else "`"))
    with atomic_path(record, force=args.force) as tmp:
        Path(tmp).write_text(report_markdown(summary, command), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
