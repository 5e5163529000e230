"""Train the tiny scenes CLIP (`pixseek-scenes`) on generated scenes, on the CPU, from a seed.

    python -m bench.train_tiny                      # the committed checkpoint's recipe
    python -m bench.train_tiny --steps 20 --anneal 5 --pool 500 --out /tmp/try.pt   # check the loop

Two stages: `--steps` at a constant learning rate after a warm-up (so the weights after N
steps do not depend on how many follow), then `--anneal` steps with a fresh optimizer and
the rate falling linearly to 0. `--resume CKPT` runs stage 2 only, from the checkpoint
stage 1 saved (`--save-every`) after exactly `--steps` steps: the result is bit-identical
to running both stages in one go (the weights are rounded to fp16 between the stages
either way).

Data: `pixseek.demo.scenes` renders a pool of scenes (1-4 things on plain, noise, texture
and photo backgrounds; photos from `../shared/datasets/coco-mini-train` under an open
licence, skipped when absent) at 160 px and resizes them to the model's input exactly as
ingest does. Each step draws a batch of scenes and one random true caption per scene.

Loss: CLIP's symmetric contrastive loss, except that a caption counts as a positive for
every scene of the batch it is true of ("a circle" for all scenes with a circle), not only
its own: the targets are each row's true pairs, shared equally. Plus an auxiliary loss
meant to speed learning up: the tokens leaving the second-to-last block classify, per
patch, which (colour, shape) covers that patch (or none), through a linear head that is
thrown away. (Shapes are what takes a tiny ViT long: colours were learned in 100 steps,
shapes only from about step 1,200; runs without the auxiliary loss were stopped at 300-500
steps, before that, so how much it helps is not measured.) The last block, the CLS pooling
and the projection learn from the contrastive loss alone, as in CLIP, so the patch modes
(which rewrite that last block) are compared on equal terms.

Writes the fp16 state dict (loadable with `PIXSEEK_MODEL=pixseek-scenes
PIXSEEK_PRETRAINED=<file>`) by a temp file and `os.replace`, and `<file>.json` beside it
with the recipe, time and held-out figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pixseek.demo.scenes import (
    COLOURS,
    SHAPES,
    Layout,
    PhotoBackgrounds,
    caption,
    random_layout,
    render,
    sample_caption,
)
from pixseek.model.encoder import MODEL_CONFIG_DIR

log = logging.getLogger("train_tiny")

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "pixseek" / "model" / "weights" / "pixseek-scenes.pt"
PHOTOS = REPO.parent / "shared" / "datasets" / "coco-mini-train"
MODEL = "pixseek-scenes"
RENDER_SIZE = 160  # the size `pixseek demo` and the tests write scenes at
# Plain and noise backgrounds twice as often as textures and photos.
BACKGROUNDS = ("plain", "noise", "plain", "noise", "texture", "photo")
KINDS = [(c, s) for c in COLOURS for s in SHAPES]
AUX_WEIGHT = 1.0

_photos: PhotoBackgrounds | None = None


def _init_worker(photos_dir: str | None) -> None:
    global _photos
    torch.set_num_threads(1)
    _photos = PhotoBackgrounds(Path(photos_dir)) if photos_dir else None


def _pixels(layout: Layout, image_size: int) -> np.ndarray:
    """The scene at the model's input size, uint8 HWC, resized as ingest resizes it."""
    img = render(layout, RENDER_SIZE, _photos)
    return np.asarray(img.resize((image_size, image_size), Image.Resampling.BICUBIC), dtype=np.uint8)


def _render_pool(layouts: list[Layout], image_size: int, photos: Path | None, workers: int) -> np.ndarray:
    args = [(layout, image_size) for layout in layouts]
    with multiprocessing.get_context("fork").Pool(
        workers, initializer=_init_worker, initargs=(str(photos) if photos else None,)
    ) as pool:
        arrays = pool.starmap(_pixels, args, chunksize=256)
    return np.stack(arrays)


def _parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only: not on norms, biases, embeddings or the logit scale."""
    decay, rest = [], []
    for name, param in model.named_parameters():
        if param.ndim < 2 or "embedding" in name or "logit_scale" in name or "ln" in name:
            rest.append(param)
        else:
            decay.append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def _patch_labels(layout: Layout, grid: tuple[int, int]) -> np.ndarray:
    """Per cell (row-major): the index of the (colour, shape) whose box holds the cell's centre, else 0."""
    gh, gw = grid
    labels = np.zeros(gh * gw, dtype=np.int64)
    for r in range(gh):
        for c in range(gw):
            x, y = (c + 0.5) / gw, (r + 0.5) / gh
            for thing in layout.things:
                x0, y0, x1, y1 = thing.box
                if x0 <= x <= x1 and y0 <= y <= y1:
                    labels[r * gw + c] = 1 + KINDS.index((thing.colour, thing.shape))
    return labels


def _loss(image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Symmetric contrastive loss with every true (caption, scene) pair a positive."""
    logits = scale * text @ image.T  # (captions, scenes)
    per_text = truth / truth.sum(dim=1, keepdim=True)
    per_image = truth.T / truth.T.sum(dim=1, keepdim=True)
    loss_text = -(per_text * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    loss_image = -(per_image * F.log_softmax(logits.T, dim=1)).sum(dim=1).mean()
    return (loss_text + loss_image) / 2


def _held_out(seed: int) -> tuple[list[Layout], list[str]]:
    """One single-thing scene per (colour, shape), and the query for each."""
    rng = np.random.default_rng(seed)
    kinds = [(c, s) for c in COLOURS for s in SHAPES]
    layouts = [random_layout(rng, kinds=[kind], backgrounds=BACKGROUNDS) for kind in kinds]
    return layouts, [f"a photo of a {c} {s}." for c, s in kinds]


@torch.no_grad()
def _recall_at_1(model: Any, tokenizer: Any, pixels: torch.Tensor, queries: list[str]) -> float:
    model.eval()
    image = F.normalize(model.encode_image(pixels), dim=-1)
    text = F.normalize(model.encode_text(tokenizer(queries)), dim=-1)
    model.train()
    best = (text @ image.T).argmax(dim=1)
    return float((best == torch.arange(len(queries))).float().mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="stage 1: constant learning rate")
    parser.add_argument("--anneal", type=int, default=600, help="stage 2: learning rate falling to 0")
    parser.add_argument(
        "--resume",
        type=Path,
        default=None,
        help="a checkpoint saved after exactly --steps steps: run stage 2 only",
    )
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--pool", type=int, default=24_000, help="scenes rendered before training")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=2, help="torch threads (2 made the shipped checkpoint)"
    )
    parser.add_argument("--photos", type=Path, default=PHOTOS, help="COCO-style folder; skipped if absent")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--log-every", type=int, default=100)
    parser.add_argument("--save-every", type=int, default=500, help="also write the checkpoint every N steps")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a few steps on a few scenes, into a temp folder",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.anneal, args.batch, args.pool, args.warmup = 3, 2, 8, 32, 1
        args.log_every, args.save_every = 1, 1000
        args.out = Path(tempfile.mkdtemp(prefix="pixseek-train-smoke-")) / "pixseek-scenes.pt"
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")

    import open_clip

    started = time.monotonic()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    open_clip.add_model_config(MODEL_CONFIG_DIR)
    model = open_clip.create_model(MODEL, pretrained=None)
    tokenizer = open_clip.get_tokenizer(MODEL)
    visual = model.visual
    size = int(visual.image_size[0] if isinstance(visual.image_size, tuple | list) else visual.image_size)
    pp = visual.preprocess_cfg
    mean = torch.tensor(pp["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(pp["std"]).view(1, 3, 1, 1)

    photos = args.photos if (args.photos / "captions_train2017.json").is_file() else None
    if photos is None:
        log.warning("train.no_photos folder=%s: photo backgrounds fall back to plain", args.photos)
    layouts = [random_layout(rng, backgrounds=BACKGROUNDS) for _ in range(args.pool)]
    canonical = [caption(layout) for layout in layouts]
    pool = torch.from_numpy(_render_pool(layouts, size, photos, workers=2))
    held_layouts, held_queries = _held_out(args.seed + 1)
    held = torch.from_numpy(_render_pool(held_layouts, size, photos, 1))
    rendered = time.monotonic() - started
    log.info("train.pool scenes=%d seconds=%.1f", len(layouts), rendered)

    def normalise(batch: torch.Tensor) -> torch.Tensor:
        # The same arithmetic as ingest's preprocessor: levels / 255, minus mean, over std.
        return (batch.permute(0, 3, 1, 2).float() / 255.0 - mean) / std

    held_pixels = normalise(held)
    grid = (int(visual.grid_size[0]), int(visual.grid_size[1]))
    labels = torch.from_numpy(np.stack([_patch_labels(layout, grid) for layout in layouts]))
    captured: dict[str, torch.Tensor] = {}

    def capture(_module: Any, _inputs: Any, output: torch.Tensor) -> None:
        captured["tokens"] = output

    # The auxiliary head reads the second-to-last block's patch tokens (captured by a hook).
    visual.transformer.resblocks[-2].register_forward_hook(capture)
    history: list[dict[str, Any]] = []

    def stage(steps: int, offset: int, lr_at: Any, stage_rng: np.random.Generator) -> None:
        """`steps` steps with a fresh AdamW and a fresh auxiliary head; `lr_at(i)` for i = 1..steps."""
        aux_head = torch.nn.Linear(visual.transformer.width, 1 + len(KINDS))
        groups = [
            *_parameter_groups(model, args.weight_decay),
            {"params": aux_head.parameters(), "weight_decay": 0.0},
        ]
        optimizer = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.98))
        model.train()
        for i in range(1, steps + 1):
            step = offset + i
            lr = lr_at(i)
            for group in optimizer.param_groups:
                group["lr"] = lr
            index = stage_rng.choice(len(layouts), size=args.batch, replace=False)
            texts, claims = zip(*(sample_caption(layouts[j], stage_rng) for j in index), strict=True)
            truth = torch.tensor(
                [[c.holds(layouts[j], canonical[j]) for j in index] for c in claims], dtype=torch.float32
            )
            image = F.normalize(model.encode_image(normalise(pool[index])), dim=-1)
            text = F.normalize(model.encode_text(tokenizer(list(texts))), dim=-1)
            contrastive = _loss(image, text, model.logit_scale.exp(), truth)
            cells = aux_head(captured["tokens"][:, 1:])  # (B, cells, kinds + 1), class token left out
            aux = F.cross_entropy(cells.reshape(-1, cells.shape[-1]), labels[index].reshape(-1))
            loss = contrastive + AUX_WEIGHT * aux
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            if step % args.log_every == 0 or i == steps:
                recall = _recall_at_1(model, tokenizer, held_pixels, held_queries)
                elapsed = time.monotonic() - started
                history.append(
                    {
                        "step": step,
                        "contrastive": round(contrastive.item(), 4),
                        "aux": round(aux.item(), 4),
                        "recall_at_1": recall,
                        "seconds": round(elapsed),
                    }
                )
                log.info(
                    "train.step %d contrastive=%.3f aux=%.3f lr=%.2e held_out_r@1=%.3f elapsed=%.0fs",
                    step, contrastive.item(), aux.item(), lr, recall, elapsed,
                )  # fmt: skip
            if step % args.save_every == 0 and step < args.steps + args.anneal:
                _save(model, args, time.monotonic() - started, rendered, history, step)

    # Stage 1: warm-up, then a constant rate, so the weights after N steps do not depend on
    # --steps. Stage 2 anneals from them: a fresh optimizer, the rate falling linearly to 0.
    if args.resume is None:
        stage(args.steps, 0, lambda i: args.lr * min(1.0, i / args.warmup), rng)
    else:
        state = torch.load(args.resume, map_location="cpu", weights_only=True)
        model.load_state_dict({k: v.float() for k, v in state.items()})
        log.info("train.resume from=%s: stage 1 skipped", args.resume)
    with torch.no_grad():  # stage 2 starts from the weights as saved (fp16), however stage 1 ended
        for tensor in model.state_dict().values():
            tensor.copy_(tensor.to(torch.float16).float())
    torch.manual_seed(args.seed + 1)
    stage(
        args.anneal,
        args.steps,
        lambda i: args.lr * (1 - i / (args.anneal + 1)),
        np.random.default_rng([args.seed, 1]),
    )
    seconds = time.monotonic() - started
    _save(model, args, seconds, rendered, history, args.steps + args.anneal)
    log.info("train.done seconds=%.0f out=%s", seconds, args.out)
    return 0


def _save(
    model: Any, args: argparse.Namespace, seconds: float, rendered: float, history: list[dict], step: int
) -> None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items()}
    tmp = args.out.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, args.out)
    card = {
        "model": MODEL,
        "steps": step,
        "stage1_steps": args.steps,
        "stage2_steps": args.anneal,
        "resumed_from": str(args.resume) if args.resume else None,
        "batch": args.batch,
        "pool": args.pool,
        "lr": args.lr,
        "seed": args.seed,
        "threads": args.threads,
        "photos": bool((args.photos / "captions_train2017.json").is_file()),
        "seconds_total": round(seconds, 1),
        "cpu_seconds": round(time.process_time(), 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "seconds_rendering": round(rendered, 1),
        "bytes": args.out.stat().st_size,
        "history": history,
        "torch": torch.__version__,
    }
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
