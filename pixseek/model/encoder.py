"""The embedding model: an open_clip ViT behind a small interface (load, encode), cached.

Per image it gives the CLS embedding (the pooled, projected image embedding) and the patch
embeddings (every last-layer patch token through the final norm and the same projection),
all L2-normalised in the joint image-text space. Text goes through the same model.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pixseek.core.errors import ConfigError
from pixseek.core.settings import Settings
from pixseek.model.conversion import ImageGraph, probe_inputs, unit_rows
from pixseek.model.cpu_precision import bf16_pays
from pixseek.model.identity import ModelId, weights_id
from pixseek.model.onnx_tower import load_onnx_text, load_onnx_tower, onnxruntime_available
from pixseek.model.openvino_tower import load_text_tower, load_tower, openvino_available
from pixseek.model.patch_tokens import DEFAULT_PATCH_MODE, PatchMode, check_patch_mode, encode_with_patch_mode
from pixseek.model.preprocess import Preprocessor
from pixseek.model.runtime_choice import TORCH_FP32, TowerChoice, candidates, choose
from pixseek.model.text_tower import ShortText, supports_short_text, trim
from pixseek.model.tiling import WholeLayout, merge_tiles
from pixseek.model.weights_source import ensure_weights_reachable

log = logging.getLogger(__name__)

MODEL_CONFIG_DIR = Path(__file__).resolve().parent / "configs"
# Random weights are drawn from this seed so that every process builds the same model:
# an index built by `pixseek ingest` must be searchable by a later `pixseek search`.
RANDOM_WEIGHTS_SEED = 0


def resolve_device(setting: str) -> str:
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise ConfigError("PIXSEEK_DEVICE=cuda but no CUDA device is available")
    return setting


def resolve_precision(setting: str, device: str, cache_dir: Path | None = None) -> str:
    """`auto`: fp16 on CUDA; on the CPU bf16 where it was measured to pay, else fp32
    (`cpu_precision.bf16_pays`: asked of the CPU once, kept under `cache_dir`)."""
    if setting != "auto":
        return setting
    if device == "cuda":
        return "fp16"
    return "bf16" if bf16_pays(cache_dir) else "fp32"


def resolve_runtime(setting: str, device: str, precision: str) -> str:
    """`torch`, `openvino` or `onnxruntime` for given settings (both towers).

    `auto` with a precision given: ONNX Runtime for `int8` (the only runtime here that runs
    int8), OpenVINO on the CPU for bf16 and fp32, where it was measured faster at equal
    quality (docs/benchmarks.md, "Runtimes"); torch on CUDA. With the precision `auto` too,
    the CPU is asked instead (`runtime_choice.py`).
    """
    if setting in ("openvino", "onnxruntime") and device != "cpu":
        raise ConfigError(f"PIXSEEK_RUNTIME={setting} runs on the CPU; set PIXSEEK_DEVICE=cpu")
    if precision == "int8" and setting not in ("auto", "onnxruntime"):
        raise ConfigError(
            "PIXSEEK_PRECISION=int8 runs on ONNX Runtime: set PIXSEEK_RUNTIME=onnxruntime or auto"
        )
    if setting == "onnxruntime" and precision != "int8":
        raise ConfigError(
            "PIXSEEK_RUNTIME=onnxruntime runs the int8 towers: set PIXSEEK_PRECISION=int8 or auto"
        )
    if setting != "auto":
        return setting
    if precision == "int8":
        return "onnxruntime"
    if device == "cpu" and precision in ("bf16", "fp32") and openvino_available():
        return "openvino"
    return "torch"


def resolve_choice(runtime: str, precision: str, device: str, cache_dir: Path | None) -> TowerChoice:
    """The runtime and precision both towers run in, from settings that name at least one."""
    if runtime == "onnxruntime" and precision == "auto":
        precision = "int8"
    resolved = resolve_precision(precision, device, cache_dir)
    return TowerChoice(resolve_runtime(runtime, device, resolved), resolved)


class _DropRandomInitNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No pretrained weights loaded")


@contextlib.contextmanager
def _quiet_open_clip_random_init() -> Iterator[None]:
    """open_clip announces random init on the root logger; ours says it once, with context."""
    notice = _DropRandomInitNotice()
    root = logging.getLogger()
    root.addFilter(notice)
    try:
        yield
    finally:
        root.removeFilter(notice)


def embed_dim(model_name: str) -> int:
    """The width of an architecture's joint embedding, read from its config (no weights loaded).

    Raises:
        ConfigError: unknown model.
    """
    import open_clip

    open_clip.add_model_config(MODEL_CONFIG_DIR)
    config = open_clip.get_model_config(model_name)
    if config is None:
        raise ConfigError(f"unknown model {model_name!r}; see open_clip.list_models()")
    return int(config["embed_dim"])


# int8 runs on ONNX Runtime only; torch, the fallback of a tower that fails its gate, stays fp32.
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": torch.float32}

ImageRunner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
TextRunner = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class EncodedImages:
    cls: np.ndarray  # (B, D) float32, unit rows
    patches: np.ndarray  # (B, grid_h, grid_w, D) float16, unit vectors


class Encoder:
    """An open_clip model ready for inference. Build it with `get_encoder(settings)`."""

    def __init__(
        self,
        model_name: str,
        pretrained: str,
        *,
        device: str = "auto",
        precision: str = "auto",
        cache_dir: Path | None = None,
        runtime: str = "torch",
        runtime_cache_dir: Path | None = None,
    ) -> None:
        """Load `model_name` with weights from `pretrained`.

        Args:
            model_name: an open_clip architecture (`ViT-B-32`, `ViT-L-14`, ...) or one
                of pixseek's own configs (`pixseek-tiny`).
            pretrained: an open_clip pretrained tag (downloaded on first use into the
                cache dir), a local checkpoint file for offline use, or `none` for
                random weights (tests and benchmarks only).
            device: `cpu`, `cuda` or `auto`.
            precision: `fp32`, `bf16`, `fp16` or `auto` (bf16 on CPUs where it was
                measured faster than fp32, fp16 on CUDA, else fp32). On the CPU the weights
                are cast (faster than autocast); on CUDA the weights stay fp32 and the
                forward runs under autocast, which keeps norms and softmax in fp32.
            cache_dir: where downloaded weights are kept.
            runtime: `torch`, `openvino` or `auto` (`resolve_runtime`), for the image tower
                and for CLIP text towers that `text_tower.ShortText` runs.
            runtime_cache_dir: where converted models are kept (OpenVINO); required for it.

        Raises:
            ConfigError: unknown model, missing checkpoint, download failure, or a
                model whose vision tower gives no patch tokens.

        Example:
            >>> enc = Encoder("pixseek-tiny", "none", device="cpu")
            >>> enc.encode_texts(["a dog"]).shape
            (1, 64)
        """
        import open_clip

        open_clip.add_model_config(MODEL_CONFIG_DIR)
        self.model_name = model_name
        self.pretrained = pretrained
        self.random_weights = pretrained == "none"
        self.device = resolve_device(device)
        self._runtime_cache_dir = runtime_cache_dir
        # Both `auto` on the CPU: each tower's runtime and precision are measured once per
        # machine and model (runtime_choice.py); otherwise the settings decide, for both.
        probe = runtime == "auto" and precision == "auto" and self.device == "cpu"
        if probe and runtime_cache_dir is None:
            raise ConfigError("choosing a runtime by measurement needs a cache dir to keep the choice in")
        fixed = TORCH_FP32
        if not probe:
            fixed = resolve_choice(runtime, precision, self.device, runtime_cache_dir)
            if fixed.runtime != "torch" and runtime_cache_dir is None:
                raise ConfigError(f"the {fixed.runtime} runtime needs a cache dir for its converted model")
        if model_name not in open_clip.list_models():
            raise ConfigError(f"unknown model {model_name!r}; see open_clip.list_models()")
        if not self.random_weights and os.sep in pretrained and not os.path.isfile(pretrained):
            raise ConfigError(f"checkpoint file not found: {pretrained}")
        if not self.random_weights:
            ensure_weights_reachable(model_name, pretrained, cache_dir)
        try:
            if self.random_weights:
                log.warning(
                    "model.random_weights model=%s: embeddings carry no meaning; "
                    "use only for tests and benchmarks",
                    model_name,
                )
                with torch.random.fork_rng(devices=[]), _quiet_open_clip_random_init():
                    torch.manual_seed(RANDOM_WEIGHTS_SEED)
                    model, _, _ = open_clip.create_model_and_transforms(model_name, pretrained=None)
            else:
                model, _, _ = open_clip.create_model_and_transforms(
                    model_name,
                    pretrained=pretrained,
                    cache_dir=str(cache_dir) if cache_dir else None,
                )
        except RuntimeError as exc:
            raise ConfigError(f"cannot load model {model_name} ({pretrained}): {exc}") from exc
        visual = model.visual
        if not isinstance(visual, open_clip.transformer.VisionTransformer) or visual.attn_pool is not None:
            raise ConfigError(f"{model_name}: pixseek needs an open_clip ViT with a class token")
        visual.output_tokens = True
        model = model.eval()
        self.tokenizer = open_clip.get_tokenizer(model_name)
        pp = visual.preprocess_cfg
        size = visual.image_size
        self.image_size = int(size[0] if isinstance(size, tuple | list) else size)
        short_text = supports_short_text(model)
        # What converted runtimes are made from (and gated against), in float32, kept only
        # while a converted tower may still be loaded. The model itself while it stays float32
        # (the usual case: a converted runtime runs and torch is only the fallback); a copy
        # when torch itself runs in another precision.
        converts = probe or fixed.runtime != "torch"
        self._visual_fp32: torch.nn.Module | None = None
        self._text_fp32: ShortText | None = None
        if converts:
            self._visual_fp32 = visual
            self._text_fp32 = ShortText(model) if short_text else None
        if probe:
            assert runtime_cache_dir is not None
            self.image_choice = self._probe_image(runtime_cache_dir)
            self.text_choice = self._probe_text(runtime_cache_dir) if short_text else TORCH_FP32
        else:
            self.image_choice = fixed
            # Only CLIP text towers run short and converted; others stay on torch.
            self.text_choice = fixed
            if not short_text and fixed.runtime != "torch":
                self.text_choice = TORCH_FP32
        # What torch runs in: the precision of a tower torch runs (the image tower's first);
        # else, as the fallback of a conversion that fails its gate, the precision asked for
        # (fp32 for int8, which torch does not run).
        torch_precision = next(
            (c.precision for c in (self.image_choice, self.text_choice) if c.runtime == "torch"),
            self.image_choice.precision
            if self.image_choice.precision in ("fp32", "bf16", "fp16")
            else "fp32",
        )
        self.precision = self.image_choice.precision
        self.runtime = self.image_choice.runtime
        self.dtype = _DTYPES[torch_precision]
        if self._visual_fp32 is not None and self.dtype != torch.float32:
            self._visual_fp32 = copy.deepcopy(self._visual_fp32).float().eval()
            if self._text_fp32 is not None:
                self._text_fp32 = copy.deepcopy(self._text_fp32).float().eval()
        self._towers: dict[str, ImageRunner | None] = {}
        self._text_tower: TextRunner | None = None
        self._text_loaded = self.text_choice.runtime == "torch"
        if self.image_choice.runtime == "torch":
            self._visual_fp32 = None
        if self.text_choice.runtime == "torch":
            self._text_fp32 = None
        # CPU: cast the weights (bf16 weights ran faster than autocast in measurements).
        # CUDA: fp32 weights under autocast, the usual mixed-precision recipe on tensor cores.
        self.autocast = self.device == "cuda" and self.dtype != torch.float32
        weight_dtype = torch.float32 if self.autocast else self.dtype
        self.input_dtype = weight_dtype
        self.model = model.to(device=self.device, dtype=weight_dtype).eval()
        # Text runs on the tokens up to the end-of-text only (text_tower.py) where the model allows.
        self._short_text = ShortText(self.model) if short_text else None
        self.preprocessor = Preprocessor(
            image_size=self.image_size, mean=tuple(pp["mean"]), std=tuple(pp["std"])
        )
        gh, gw = visual.grid_size
        self.grid = (int(gh), int(gw))
        self.dim = int(visual.output_dim)
        # One forward at a time: torch already uses every core for one batch.
        self._lock = threading.Lock()

    def _load_image_tower(self, choice: TowerChoice, mode: PatchMode) -> ImageRunner | None:
        """The converted image tower of `choice` for `mode`, or None when it failed its gate."""
        assert self._visual_fp32 is not None and self._runtime_cache_dir is not None
        if choice.runtime == "openvino":
            return load_tower(
                self._visual_fp32,
                model_name=self.model_name,
                pretrained=self.pretrained,
                mode=mode,
                image_size=self.image_size,
                precision=choice.precision,
                cache_dir=self._runtime_cache_dir,
            )
        return load_onnx_tower(
            self._visual_fp32,
            model_name=self.model_name,
            pretrained=self.pretrained,
            mode=mode,
            image_size=self.image_size,
            cache_dir=self._runtime_cache_dir,
        )

    def _load_text_tower(self, choice: TowerChoice) -> TextRunner | None:
        assert self._text_fp32 is not None and self._runtime_cache_dir is not None
        if choice.runtime == "openvino":
            return load_text_tower(
                self._text_fp32,
                model_name=self.model_name,
                pretrained=self.pretrained,
                precision=choice.precision,
                cache_dir=self._runtime_cache_dir,
            )
        return load_onnx_text(
            self._text_fp32,
            model_name=self.model_name,
            pretrained=self.pretrained,
            cache_dir=self._runtime_cache_dir,
        )

    def _torch_runner(self, module: torch.nn.Module, precision: str) -> Callable[[Any], Any]:
        """A torch candidate for the probe: a copy of the float32 module in `precision`."""
        copied = copy.deepcopy(module).to(_DTYPES[precision]).eval()

        def run(x: Any) -> Any:
            with torch.inference_mode():
                tensor = torch.from_numpy(x)
                return copied(tensor.to(_DTYPES[precision]) if tensor.is_floating_point() else tensor)

        return run

    def _probe_image(self, cache: Path) -> TowerChoice:
        assert self._visual_fp32 is not None
        graph = ImageGraph(self._visual_fp32, DEFAULT_PATCH_MODE).eval()
        factories: dict[TowerChoice, Any] = {}
        for choice in candidates(openvino=openvino_available(), onnxruntime=onnxruntime_available()):
            if choice.runtime == "torch":
                factories[choice] = functools.partial(self._torch_runner, graph, choice.precision)
            else:
                factories[choice] = functools.partial(self._load_image_tower, choice, DEFAULT_PATCH_MODE)
        return choose(
            cache,
            model_name=self.model_name,
            weights=weights_id(self.pretrained),
            part="image",
            factories=factories,
            inputs=probe_inputs(self.image_size),
        )

    def _probe_text(self, cache: Path) -> TowerChoice:
        assert self._text_fp32 is not None
        text = self._text_fp32
        factories: dict[TowerChoice, Any] = {}
        for choice in candidates(openvino=openvino_available(), onnxruntime=onnxruntime_available()):
            if choice.runtime == "torch":
                factories[choice] = functools.partial(self._torch_runner, text, choice.precision)
            else:
                factories[choice] = functools.partial(self._load_text_tower, choice)
        # One short query: what a search waits for.
        tokens = trim(self.tokenizer(["a photo of a dog playing on the beach."])).numpy()
        return choose(
            cache,
            model_name=self.model_name,
            weights=weights_id(self.pretrained),
            part="text",
            factories=factories,
            inputs=tokens,
        )

    @property
    def model_id(self) -> ModelId:
        """What the index records: architecture and weights."""
        return ModelId(self.model_name, self.pretrained)

    @property
    def logit_scale(self) -> float:
        """The temperature CLIP learned for its image-text softmax (100 for most open_clip weights)."""
        scale = getattr(self.model, "logit_scale", None)
        if scale is None:
            return 100.0
        return float(scale.detach().float().exp().clamp(max=100.0))

    def runtime_label(self, patch_mode: PatchMode = DEFAULT_PATCH_MODE) -> str:
        """What embeds images, e.g. `openvino bf16` or `torch fp32` (job summaries, logs)."""
        if self.image_choice.runtime != "torch" and self._tower(patch_mode) is not None:
            return self.image_choice.label
        return f"torch {self._torch_precision}"

    @property
    def text_runtime_label(self) -> str:
        """What embeds query texts, e.g. `onnxruntime int8`."""
        return self.text_choice.label if self._text_runner() is not None else f"torch {self._torch_precision}"

    @property
    def _torch_precision(self) -> str:
        return next(name for name, dtype in _DTYPES.items() if dtype == self.dtype)

    def _tower(self, patch_mode: PatchMode) -> ImageRunner | None:
        """The converted image tower for this patch mode (converted on first use), or None for torch."""
        if self._visual_fp32 is None:
            return None
        if patch_mode not in self._towers:
            self._towers[patch_mode] = self._load_image_tower(self.image_choice, patch_mode)
        return self._towers[patch_mode]

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        """A model input tensor from a host array; through pinned memory on CUDA."""
        tensor = torch.from_numpy(array)
        if self.device == "cuda":
            # Pinned (page-locked) host memory lets the copy run by DMA without a staging copy.
            return tensor.pin_memory().to(device=self.device, dtype=self.input_dtype, non_blocking=True)
        return tensor.to(dtype=self.input_dtype)

    def _autocast(self) -> contextlib.AbstractContextManager[object]:
        if self.autocast:
            return torch.autocast(device_type="cuda", dtype=self.dtype)
        return contextlib.nullcontext()

    def encode_pixels(self, pixels: np.ndarray, patch_mode: PatchMode = DEFAULT_PATCH_MODE) -> EncodedImages:
        """CLS and patch embeddings for a batch of preprocessed images (B, 3, S, S).

        `patch_mode` picks how patch tokens are made (ingest/patch_tokens.py); the CLS
        embedding is the same in every mode.
        """
        mode = check_patch_mode(patch_mode)
        gh, gw = self.grid
        with self._lock:
            tower = self._tower(mode)
            if tower is not None:
                pooled_np, patches_np = tower(pixels)
                unit = unit_rows(patches_np)
                return EncodedImages(
                    cls=unit_rows(pooled_np), patches=unit.reshape(len(unit), gh, gw, -1).astype(np.float16)
                )
            batch = self._to_device(pixels)
            with torch.inference_mode(), self._autocast():
                # Region search (issue 6): localising patch tokens.
                pooled, patches = encode_with_patch_mode(self.model.visual, batch, mode)
                cls = torch.nn.functional.normalize(pooled.float(), dim=-1)
                patches = torch.nn.functional.normalize(patches.float(), dim=-1)
        b = patches.shape[0]
        return EncodedImages(
            cls=cls.cpu().numpy().astype(np.float32, copy=False),
            patches=patches.reshape(b, gh, gw, -1).cpu().numpy().astype(np.float16),
        )

    def encode_whole(
        self,
        pixels: np.ndarray,
        layout: WholeLayout,
        method: str = "tiles",
        patch_mode: PatchMode = DEFAULT_PATCH_MODE,
    ) -> np.ndarray:
        """Patch embeddings over the whole picture: (rows, cols, D) float16 unit vectors.

        Args:
            pixels: `tiles`: the (tiles, 3, S, S) inputs of `Preprocessor.tiles`; `full`: the
                (3, rows*patch, cols*patch) input of `Preprocessor.whole`.
            layout: the image's grid and tiles (`pixseek.model.tiling.plan_layout`).
            method: `tiles` (each tile an ordinary input, overlaps averaged) or `full` (one
                pass with interpolated position embeddings).
        """
        mode = check_patch_mode(patch_mode)
        if method == "tiles":
            tiles = self.encode_pixels(pixels, mode).patches
            return merge_tiles(layout, tiles).astype(np.float16)
        if method != "full":
            raise ConfigError(f"unknown whole-image patch method {method!r}: tiles or full")
        batch = self._to_device(pixels[None])
        with self._lock, torch.inference_mode(), self._autocast():
            _, patches = encode_with_patch_mode(self.model.visual, batch, mode)
            patches = torch.nn.functional.normalize(patches.float(), dim=-1)
        return patches.reshape(layout.rows, layout.cols, -1).cpu().numpy().astype(np.float16)

    def encode_whole_batch(
        self,
        items: list[tuple[np.ndarray, WholeLayout]],
        method: str,
        patch_mode: PatchMode = DEFAULT_PATCH_MODE,
        batch_size: int = 32,
    ) -> list[np.ndarray]:
        """`encode_whole` for several images: the tiles of all of them go through in shared batches."""
        if method != "tiles":
            return [self.encode_whole(pixels, layout, method, patch_mode) for pixels, layout in items]
        if not items:
            return []
        tiles = np.concatenate([pixels for pixels, _ in items])
        encoded = np.concatenate(
            [
                self.encode_pixels(tiles[i : i + batch_size], patch_mode).patches
                for i in range(0, len(tiles), batch_size)
            ]
        )
        out, start = [], 0
        for pixels, layout in items:
            out.append(merge_tiles(layout, encoded[start : start + len(pixels)]).astype(np.float16))
            start += len(pixels)
        return out

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Unit text embeddings (T, D) float32 in the same space as the CLS vectors."""
        tokens = self.tokenizer(texts)
        with self._lock:
            tower = self._text_runner()
            if tower is not None:
                return unit_rows(tower(trim(tokens).numpy()))
            tokens = tokens.to(self.device)
            with torch.inference_mode(), self._autocast():
                if self._short_text is not None:
                    feats = self._short_text(trim(tokens))
                else:
                    feats = self.model.encode_text(tokens)
                feats = torch.nn.functional.normalize(feats.float(), dim=-1)
        return feats.cpu().numpy().astype(np.float32, copy=False)

    def _text_runner(self) -> TextRunner | None:
        """The converted text tower (converted on first use), or None for torch."""
        if not self._text_loaded:
            self._text_loaded = True  # tried once: a failure must not be retried per query
            try:
                self._text_tower = self._load_text_tower(self.text_choice)
            except ConfigError as exc:
                # Queries must not fail, nor retry a conversion each time: torch answers instead.
                log.warning("model.text_conversion_failed %s: text runs on torch", exc)
            self._text_fp32 = None  # the float32 copy is no longer needed
        return self._text_tower


_LOAD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=2)
def _cached_encoder(
    model: str,
    pretrained: str,
    device: str,
    precision: str,
    cache_dir: Path | None,
    runtime: str,
    runtime_cache_dir: Path,
) -> Encoder:
    return Encoder(
        model,
        pretrained,
        device=device,
        precision=precision,
        cache_dir=cache_dir,
        runtime=runtime,
        runtime_cache_dir=runtime_cache_dir,
    )


def get_encoder(settings: Settings) -> Encoder:
    """The process-wide encoder for these settings, loaded once."""
    if settings.torch_threads:
        # 0 keeps torch's default, one thread per core: decode threads run beside it but
        # cost ~5% of the model's CPU time (docs/performance.md), so the model keeps them all.
        torch.set_num_threads(settings.torch_threads)
    with _LOAD_LOCK:
        return _cached_encoder(
            settings.model,
            settings.pretrained,
            settings.device,
            settings.precision,
            settings.model_cache_dir,
            settings.runtime,
            settings.runtime_cache_dir,
        )
