"""`python -m bench.video`: segments found against frames embedded, pixseek's sampling against 1 fps.

Held-out clips of the tiny model's generated scenes (things moving within a scene, cut from
one scene to the next; `pixseek/demo/videos.py`) are cut and embedded two ways:

- `pieces` (pixseek, `pixseek/media/video.py` + `ingest/video.py`): frames sampled at
  `PIXSEEK_VIDEO__SAMPLE_FPS` on 32x32 signatures, one model pass per piece, pieces merged
  into segments;
- `1fps` (the baseline): one model pass per second of video, each frame its own moment.

Each scene's caption is a text query over every clip's moments: a hit is the right clip and a
moment overlapping the scene (within 1 s); `start_1s` also wants the moment to start within
1 s of the scene's start. Reported per way: recall, model passes per minute of video,
video-seconds ingested per second (decode + sample + embed, this CPU, the second of two
runs), and what a video-hour stores (vectors and patch grids). Slideshows of photos
(`../shared/datasets/coco-mini-train`, generated pictures without it) with cuts and 1 s
cross-fades give the cut precision and recall (a boundary within 0.5 s of the truth).

`--smoke`: two short clips and one slideshow, seconds; figures mean nothing.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import add_smoke_flag, machine, output_dir, say, write_json
from pixseek.core.settings import VideoSettings
from pixseek.demo.scenes import random_layout, render
from pixseek.demo.videos import Clip, boundary_scores, slideshow_frames, write_scene_clips, write_video
from pixseek.ingest.video import merge_pieces
from pixseek.media.video import VideoLimits, sample_video, sniff_video
from pixseek.model.bundled import SCENES_MODEL, SCENES_WEIGHTS
from pixseek.model.encoder import Encoder
from pixseek.model.preprocess import centre_draft_side

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "coco-mini-train"
TOLERANCE = 1.0


@dataclass
class Moments:
    clip: list[int]
    start: np.ndarray
    end: np.ndarray
    vectors: np.ndarray
    passes: int
    seconds: float  # wall time to decode, sample and embed


def _limits(baseline: bool, side: int) -> VideoLimits:
    v = VideoSettings()
    if baseline:  # every sampled frame its own piece: no cut, no drift, no merge
        return VideoLimits(sample_fps=1.0, max_piece_seconds=1e-6, cut_threshold=2.0, drift_threshold=2.0,
                           preview_side=side)  # fmt: skip
    return VideoLimits(
        sample_fps=v.sample_fps,
        max_piece_seconds=v.max_piece_seconds,
        cut_threshold=v.cut_threshold,
        drift_threshold=v.drift_threshold,
        preview_side=side,
    )


def _moments(encoder: Encoder, paths: list[Path], baseline: bool) -> tuple[Moments, list[list[float]]]:
    """Every clip's moments one way; and each clip's segment starts (its cuts)."""
    limits = _limits(baseline, centre_draft_side(encoder.image_size))
    similarity = 2.0 if baseline else VideoSettings().merge_similarity
    clip_of, starts, ends, vectors, cuts = [], [], [], [], []
    passes = 0
    began = time.perf_counter()
    for c, path in enumerate(paths):
        data = path.read_bytes()
        sample = sample_video(data, sniff_video(data[:64]) or "MP4", limits)
        pixels = np.stack([encoder.preprocessor(p.image, p.image.size)[0] for p in sample.pieces])
        cls = np.concatenate(
            [encoder.encode_pixels(pixels[i : i + 32]).cls for i in range(0, len(pixels), 32)]
        )
        passes += len(pixels)
        runs = merge_pieces(sample.pieces, cls, similarity)
        for run in runs:
            mean = cls[run].mean(axis=0)
            best = run[int(np.argmax(cls[run] @ mean))]
            clip_of.append(c)
            starts.append(sample.pieces[run[0]].start)
            ends.append(sample.pieces[run[-1]].end)
            vectors.append(cls[best])
        cuts.append([sample.pieces[run[0]].start for run in runs[1:]])
    seconds = time.perf_counter() - began
    found = Moments(clip_of, np.asarray(starts), np.asarray(ends), np.stack(vectors), passes, seconds)
    return found, cuts


def _recall(encoder: Encoder, clips: list[Clip], found: Moments) -> dict[str, float]:
    queries = [(c, shot) for c, clip in enumerate(clips) for shot in clip.shots]
    texts = encoder.encode_texts([shot.caption for _, shot in queries])
    overlap = start_1s = 0
    for (c, shot), q in zip(queries, texts, strict=True):
        best = int(np.argmax(found.vectors @ q))
        right = found.clip[best] == c
        s, e = float(found.start[best]), float(found.end[best])
        overlap += right and s <= shot.end + TOLERANCE and e >= shot.start - TOLERANCE and s < shot.end
        start_1s += right and abs(s - shot.start) <= TOLERANCE
    return {"recall": overlap / len(queries), "recall_start_1s": start_1s / len(queries)}


def _slideshows(folder: Path, count: int, pictures_each: int, smoke: bool) -> list[tuple[Path, list[float]]]:
    photos = sorted(PHOTOS.glob("*.jpg")) if PHOTOS.exists() and not smoke else []
    rng = np.random.default_rng(11)
    out = []
    for i in range(count):
        if photos:
            chosen = rng.choice(len(photos), pictures_each, replace=False)
            pictures = [_fit(Image.open(photos[int(j)]).convert("RGB")) for j in chosen]
        else:
            pictures = [render(random_layout(rng), 160) for _ in range(pictures_each)]
        frames, truth = slideshow_frames(pictures, 3.0, 1.0 if i % 2 else 0.0, 8)
        path = folder / f"show{i:02d}.mp4"
        write_video(path, frames, 8)
        out.append((path, truth))
    return out


def _fit(image: Image.Image) -> Image.Image:
    """A photo as a 320x240 frame (cropped to 4:3)."""
    w, h = image.size
    side = min(w, h * 4 // 3)
    left, top = (w - side) // 2, (h - side * 3 // 4) // 2
    return image.crop((left, top, left + side, top + side * 3 // 4)).resize((320, 240))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clips", type=int, default=10, help="held-out clips of generated scenes")
    parser.add_argument("--hold", type=float, default=6.0, help="seconds each scene shows")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    clips_n, shots, hold = (2, 2, 2.0) if args.smoke else (args.clips, 3, args.hold)
    encoder = Encoder(SCENES_MODEL, str(SCENES_WEIGHTS), device="cpu", precision="fp32")
    size = encoder.image_size
    encoder.encode_pixels(np.zeros((8, 3, size, size), dtype=np.float32))  # warm: timings start hot
    with output_dir(args.smoke, "video") as folder:
        clip_dir = folder / "clips"
        clips = write_scene_clips(clip_dir, clips_n, seed=31, shots=shots, hold=hold)
        paths = [clip_dir / clip.key for clip in clips]
        minutes = sum(clip.duration for clip in clips) / 60
        ways: dict[str, Any] = {}
        for name, baseline in (("pieces", False), ("1fps", True)):
            if not args.smoke:  # twice, timed the second time: torch prepares kernels per batch shape once
                _moments(encoder, paths, baseline)
            found, _ = _moments(encoder, paths, baseline)
            dim = found.vectors.shape[1]
            per_hour = len(found.clip) / minutes * 60
            ways[name] = {
                **_recall(encoder, clips, found),
                "passes_per_minute": found.passes / minutes,
                "moments_per_minute": len(found.clip) / minutes,
                "video_seconds_per_second": minutes * 60 / found.seconds,
                # A moment stores its CLS vector (float32) and its centre patch grid (float16).
                "stored_mib_per_video_hour": per_hour
                * (4 * dim + 2 * dim * encoder.grid[0] * encoder.grid[1])
                / 2**20,
            }
        shows = _slideshows(folder, 2 if args.smoke else 8, 3 if args.smoke else 8, args.smoke)
        _, cuts = _moments(encoder, [p for p, _ in shows], baseline=False)
        tp = found_n = hit = truth_n = 0
        for (_, truth), found_cuts in zip(shows, cuts, strict=True):
            a, b = boundary_scores(found_cuts, truth, 0.5)
            tp, found_n, hit, truth_n = tp + a, found_n + len(found_cuts), hit + b, truth_n + len(truth)
        report = {
            "machine": machine(),
            "clips": clips_n,
            "video_minutes": minutes,
            "ways": ways,
            "slideshow_cuts": {
                "photos": PHOTOS.exists() and not args.smoke,
                "precision": tp / max(1, found_n),
                "recall": hit / max(1, truth_n),
                "boundaries": truth_n,
            },
        }
        write_json("video.json", report, folder)
    say(f"# video moments on {clips_n} held-out clips ({minutes:.1f} min), {machine()['cpu']}\n")
    say("| way | recall | start within 1 s | model passes / min | moments / min | video s / s ")
    say("| MiB / video-hour |\n")
    say("|---|---|---|---|---|---|---|\n")
    for name, r in ways.items():
        say(
            f"| {name} | {r['recall']:.3f} | {r['recall_start_1s']:.3f} | {r['passes_per_minute']:.1f} "
            f"| {r['moments_per_minute']:.1f} | {r['video_seconds_per_second']:.1f} "
            f"| {r['stored_mib_per_video_hour']:.1f} |\n"
        )
    cut = report["slideshow_cuts"]
    say(f"\nslideshow cuts: precision {cut['precision']:.3f}, recall {cut['recall']:.3f}")
    say(f" of {cut['boundaries']} boundaries\n")
    return report


if __name__ == "__main__":
    main()
