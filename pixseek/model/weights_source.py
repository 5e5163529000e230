"""Where a pretrained tag's weights come from, and a fast, clear failure when they cannot come.

open_clip downloads a tag's weights from the Hugging Face hub (or a URL) on first use. On a
machine that cannot reach it, huggingface_hub retries for about a minute and ends with its
own message; a user pointing pixseek at their photos for the first time deserves to know at
once what is wrong and what to do. So before loading a tag, this checks the hub cache, then
(only when the weights are not cached) whether the host answers at all, within seconds.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pixseek.core.errors import WeightsUnavailable

HF_ENDPOINT = "https://huggingface.co"
# open_clip's name for a hub repo's weights when the tag names no file.
HF_WEIGHTS_NAME = "open_clip_pytorch_model.bin"
CONNECT_TIMEOUT_S = 3.0
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class WeightsSource:
    """A tag's weights: a hub repo and its candidate files, or a URL."""

    hf_repo: str = ""
    hf_files: tuple[str, ...] = ()
    url: str = ""


def weights_source(model_name: str, pretrained: str) -> WeightsSource | None:
    """Where open_clip would fetch these weights; None for a local file or an unknown tag."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not cfg or "file" in cfg:
        return None
    hub = str(cfg.get("hf_hub") or "")
    if hub:
        repo, filename = os.path.split(hub)
        filename = filename or HF_WEIGHTS_NAME
        # open_clip tries a .safetensors twin first, then the named file.
        stem, _ = os.path.splitext(filename)
        safe = "open_clip_model.safetensors" if filename == HF_WEIGHTS_NAME else f"{stem}.safetensors"
        return WeightsSource(hf_repo=repo, hf_files=(safe, filename))
    url = str(cfg.get("url") or "")
    return WeightsSource(url=url) if url else None


def _cached(source: WeightsSource, cache_dir: Path | None) -> bool:
    if source.hf_repo:
        from huggingface_hub import try_to_load_from_cache

        for name in source.hf_files:
            found = try_to_load_from_cache(
                source.hf_repo, name, cache_dir=str(cache_dir) if cache_dir else None
            )
            if isinstance(found, str):
                return True
        return False
    folder = cache_dir or Path("~/.cache/clip").expanduser()  # open_clip's default for URLs
    return (folder / os.path.basename(urlsplit(source.url).path)).is_file()


def _unreachable(url: str) -> str | None:
    """Why `url`'s host cannot be reached now (None when a TCP connection opens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def advice(model_name: str, pretrained: str) -> str:
    return (
        "Either copy a checkpoint file here and point PIXSEEK_PRETRAINED at it "
        f"(PIXSEEK_MODEL={model_name} PIXSEEK_PRETRAINED=/path/to/weights.bin), "
        "or copy a Hugging Face cache that holds the weights and set HF_HUB_OFFLINE=1 (with HF_HOME "
        "or PIXSEEK_MODEL_CACHE_DIR pointing at it), or run `pixseek demo` to see pixseek work with "
        "its bundled model, no download."
    )


def ensure_weights_reachable(model_name: str, pretrained: str, cache_dir: Path | None) -> None:
    """Raise `WeightsUnavailable` at once when the weights are neither cached nor downloadable.

    Cheap when they are cached (a file lookup); otherwise one TCP connection attempt of a few
    seconds, instead of the hub library's minute of retries.
    """
    source = weights_source(model_name, pretrained)
    if source is None or _cached(source, cache_dir):
        return
    what = f"the pretrained weights of {model_name} ({pretrained}) are not on this machine"
    if source.hf_repo:
        if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
            raise WeightsUnavailable(
                f"{what}, and HF_HUB_OFFLINE is set, so they cannot be downloaded. "
                + advice(model_name, pretrained)
            )
        endpoint = os.environ.get("HF_ENDPOINT") or HF_ENDPOINT
    else:
        endpoint = source.url
    reason = _unreachable(endpoint)
    if reason is not None:
        host = urlsplit(endpoint).hostname
        raise WeightsUnavailable(
            f"{what}, and {host} cannot be reached to download them (no network? {reason}). "
            + advice(model_name, pretrained)
        )
