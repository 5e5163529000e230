"""The one place pixseek reads its configuration from (environment, `PIXSEEK_` prefix)."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pixseek.core.active_model import follow_switch

# Pretrained tags that mean "random weights": only for tests and benchmarks.
RANDOM_WEIGHTS = ("none", "")


# S3 bucket names (the common subset of the naming rules), and the shape of any API key.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
API_KEY_SHAPE = re.compile(r"[A-Za-z0-9._~+/=-]{32,256}")

KeeperRule = Literal["resolution", "file_size", "captured_at"]
DEFAULT_KEEPER_ORDER: tuple[KeeperRule, ...] = ("resolution", "file_size", "captured_at")


class DuplicateSettings(BaseModel):
    """Duplicate detection (`PIXSEEK_DUPLICATES__<NAME>`); docs/duplicates.md explains each rule."""

    # near: best pHash distance over windows (crops) and turns, and the share of agreeing patches.
    near_hash_distance: int = Field(default=12, ge=0, le=32)
    near_patch_agreement: float = Field(default=0.75, ge=0.0, le=1.0)
    # similar: CLS cosine similarity (pretrained weights only; ignored with random weights).
    similar_threshold: float = Field(default=0.9, ge=-1.0, le=1.0)
    # ... and the same things in about the same places: the layout agreement of the two
    # pictures' patch tokens (search/duplicates/layout.py), each cell matched within
    # `similar_shift` cells; -1 switches the check off (CLS alone decides).
    similar_layout: float = Field(default=0.82, ge=-1.0, le=1.0)
    similar_shift: int = Field(default=1, ge=0, le=4)
    knn: int = Field(default=10, ge=1, le=1000)  # CLS neighbours examined per image
    # Up to this many images the searches are exact (brute force); above, FAISS multi-index
    # hashing on the hashes and an IVF index on the CLS vectors.
    exact_limit: int = Field(default=20_000, ge=1)
    # Past the brute-force hash limit, hash candidates are kept within at most this many bits:
    # at 12, random codes sharing a 16-bit substring give ~3 x 10^7 pairs to check at 1M
    # images; at 8, ~10^5, for 3% of true copies (those 10-12 bits off; docs/duplicates.md).
    scale_hash_distance: int = Field(default=8, ge=0, le=32)
    # Sizes a detection run's query batches (memory_mb * 16 images each) and so bounds what one
    # batch allocates (hash queries and results, CLS rescoring: ~800 MB at the default). Not the
    # run's total, which also holds per image the hash codes (1.4 KB), the CLS vectors read
    # from SQL (2 KB at 512-d) and the approximate indexes (docs/duplicates.md: 1.7 GB at 1M
    # besides codes and vectors, docs/benchmarks.md).
    memory_mb: int = Field(default=1024, ge=64)
    keeper_order: list[KeeperRule] = Field(default_factory=lambda: list(DEFAULT_KEEPER_ORDER))

    @field_validator("keeper_order", mode="after")
    @classmethod
    def _distinct(cls, value: list[KeeperRule]) -> list[KeeperRule]:
        if len(set(value)) != len(value):
            raise ValueError("keeper_order names a rule twice")
        return value


class TagSettings(BaseModel):
    """Zero-shot tags (`PIXSEEK_TAGS__<NAME>`); docs/search.md explains the calibration rule."""

    # Tag new images when an ingest is published, and the whole catalog when the vocabulary
    # (or the model) changes; tags are scored from the stored CLS vectors, never re-embedded.
    enabled: bool = True
    # The user's own categories (JSON, edited by `pixseek tags`); unset: <data_dir>/tags.json.
    vocabulary_file: Path | None = None
    # Images scored per step: one (batch x prompts) matrix product and one commit.
    batch_size: int = Field(default=2048, ge=1, le=1_000_000)
    # A search response lists at most this many tags in its facet counts.
    facet_limit: int = Field(default=20, ge=1, le=1000)


class OcrSettings(BaseModel):
    """Text in images (`PIXSEEK_OCR__<NAME>`), recognised by Tesseract after embedding."""

    enabled: bool = False
    # Tesseract language packs joined by `+` (Debian: tesseract-ocr-deu, ...).
    languages: str = Field(default="eng", pattern=r"^[A-Za-z_]{3,20}(\+[A-Za-z_]{3,20}){0,9}$")
    # The Celery queue of OCR jobs (their own, so that OCR never holds up embedding).
    queue: str = Field(default="pixseek-ocr", min_length=1, max_length=200)
    # Bounds per image: the longest side is scaled down to this before recognition, and
    # Tesseract is stopped after this many seconds (the image then has no words).
    max_side: int = Field(default=2500, ge=64, le=20_000)
    timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Words Tesseract is less sure of than this (0-100) are dropped.
    min_confidence: float = Field(default=60.0, ge=0, le=100)
    # Images recognised between two commits.
    batch_size: int = Field(default=16, ge=1, le=10_000)


class WatchSettings(BaseModel):
    """`pixseek ingest --watch` (`PIXSEEK_WATCH__<NAME>`); the README's "Folders that stay in sync"."""

    # A burst of file events gives one ingest, once the folder has been quiet this long.
    debounce_seconds: float = Field(default=2.0, ge=0.0, le=3600.0)
    # The safety net: an ingest at least this often, whatever the events said.
    rescan_seconds: float = Field(default=3600.0, gt=0.0, le=7 * 86400.0)
    # Filesystem events (local folders only); off, the watcher only rescans.
    events: bool = True


class RescanSettings(BaseModel):
    """Scheduled rescans in a cluster (`PIXSEEK_RESCAN__<NAME>`), sent by `pixseek beat`."""

    # Buckets (s3://bucket/prefix, or folders the workers see) ingested again on a schedule.
    buckets: list[str] = Field(default_factory=list)
    interval_seconds: int = Field(default=900, ge=10, le=7 * 86400)


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "pixseek"


class Settings(BaseSettings):
    """Every knob pixseek has; each field is `PIXSEEK_<NAME>` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="PIXSEEK_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_nested_delimiter="__",
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None

    # Model: an open_clip architecture and a pretrained tag, a local checkpoint path, or "none".
    model: str = "ViT-B-32"
    pretrained: str = "laion2b_s34b_b79k"
    device: Literal["cpu", "cuda", "auto"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    # What runs the image and text towers: `auto` is OpenVINO on the CPU in bf16 or fp32
    # (measured faster than torch on both CPU kinds, docs/performance.md), torch on CUDA.
    # Converted models are kept under the model cache dir (default `<data_dir>/runtime-cache`).
    runtime: Literal["auto", "torch", "openvino"] = "auto"
    model_cache_dir: Path | None = None
    # `pixseek serve` loads the model and index in the background at start-up, so the first
    # query does not wait for them; readiness says `loading` meanwhile (api/warmup.py).
    preload_model: bool = True
    # The folder under the data dir holding the served model generation's `index/` and
    # `patches/`: "" (the data dir itself) until `pixseek reindex` switches to a new model,
    # which records it in `<data dir>/model.json`; not meant to be set by hand.
    space: str = Field(default="", pattern=r"^(models/[a-z0-9][a-z0-9._-]{0,120})?$")
    batch_size: int = Field(default=32, ge=1, le=4096)
    decode_workers: int = Field(default=0, ge=0, le=64)
    torch_threads: int = Field(default=0, ge=0, le=512)

    # Ingest limits: refuse decompression bombs and huge files before decoding them.
    max_image_pixels: int = Field(default=64_000_000, ge=1)
    max_file_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    task_batch_size: int = Field(default=256, ge=1, le=100_000)

    # Index: collections this large or larger get a tuned IVF index instead of exact search.
    index_flat_max: int = Field(default=50_000, ge=1)

    # Distributed mode: no broker means every task runs in-process.
    broker_url: str | None = None
    queue: str = Field(default="pixseek", min_length=1, max_length=200)
    # The index writer's queue; by default the same one. On several machines, point it at a
    # queue that only workers sharing the data dir consume (`pixseek worker --queues`).
    index_queue: str | None = None
    # Redis redelivers an unacknowledged task this many seconds after it was handed out: it
    # must exceed the longest batch, or a batch still running is started a second time.
    broker_visibility_timeout: int = Field(default=3600, ge=1)
    # A batch that raises (database or bucket outage) is retried this many times, then its
    # remaining images are recorded failed so the job can finish.
    task_max_retries: int = Field(default=3, ge=0, le=100)
    # A batch whose worker died this many times while running it (a file that crashes the
    # decoder, an out-of-memory kill) is given up: its remaining images are recorded failed.
    task_max_redeliveries: int = Field(default=5, ge=1, le=1000)
    # A running task holds a lease in SQL that its process renews every third of this many
    # seconds; live workers send a task whose lease lapsed again (its worker died), so a
    # killed worker's batch is back in work within about this plus a third of it.
    task_lease_seconds: int = Field(default=30, ge=3, le=3600)
    # A worker serves its Prometheus metrics on this port (a prefork worker with -c N:
    # this port and the next N-1, one per pool process). Unset: no metrics server.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)

    # S3-compatible buckets (`s3://bucket/prefix`). Unset values fall back to the usual
    # AWS variables and files (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, ~/.aws/config, ...).
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None

    # HTTP API.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    max_json_bytes: int = Field(default=1024 * 1024, ge=1024)  # any request body that is not an upload
    max_results: int = Field(default=1000, ge=1)

    # --- Access (issue 11) ---
    # Folders and S3 bucket names `POST /v1/jobs` may read. Both empty (the default): the API
    # ingests nothing, and says which setting to set. `pixseek ingest` is not limited by them.
    ingest_roots: list[Path] = Field(default_factory=list)
    ingest_buckets: list[str] = Field(default_factory=list)
    # A token bucket per API key (per client address while no key exists): bursts of
    # `rate_limit_burst` requests, refilled at `rate_limit_per_second`; past it, 429.
    rate_limit_per_second: float = Field(default=50.0, gt=0, le=1_000_000)
    rate_limit_burst: int = Field(default=100, ge=1, le=1_000_000)
    # Created as the admin key "bootstrap" when the API starts, if no key has that value yet
    # (docker-compose's first key). Generate one with `openssl rand -hex 32`.
    bootstrap_api_key: SecretStr | None = None
    # --- end access ---

    auto_migrate: bool = True

    # Search. Short text queries are wrapped in these templates and the embeddings averaged
    # (CLIP's prompt ensembling); an empty list turns templates off. See docs/search.md.
    prompt_templates: list[str] = Field(default_factory=lambda: ["a photo of {}."])
    prompt_max_words: int = Field(default=4, ge=0, le=100)
    # What one request may ask for: every text and template is a forward of the text tower.
    max_query_parts: int = Field(default=16, ge=1, le=1000)
    max_text_chars: int = Field(default=2000, ge=1)
    max_prompt_templates: int = Field(default=16, ge=0, le=1000)
    max_template_chars: int = Field(default=200, ge=3)
    # A filter that keeps at most this many images is scored exactly from stored vectors;
    # larger ones search the index with an id selector (docs/benchmarks.md).
    search_exact_max: int = Field(default=5_000, ge=0)
    # Reciprocal rank fusion: k, and how deep each ranked list goes before fusing.
    fusion_k: int = Field(default=60, ge=1)
    fusion_depth: int = Field(default=1000, ge=1, le=100_000)
    max_offset: int = Field(default=10_000, ge=0)
    # An unfiltered page's `total` counts matching images up to this many and says "at least"
    # beyond (as Elasticsearch's track_total_hits): an exact count of a million-row catalog
    # costs a full scan per query, far more than the search itself (docs/benchmarks.md).
    search_count_max: int = Field(default=10_000, ge=0)
    # Caption files beside an image (`photo.txt` for `photo.jpg`), read at ingest for keyword
    # search; an empty list saves those reads (each is one extra request on object stores).
    sidecar_suffixes: list[str] = Field(default_factory=lambda: [".txt", ".caption"])

    # --- Region search (issue 6) ---
    # How patch tokens are made so that they localise; see docs/regions.md. The mode is
    # recorded in the patch store and the patch index, and a mismatch is refused. Unset
    # (the default): the mode the data dir's store records, and for a new data dir the
    # model's best measured mode (`index.patch_sync.effective_patch_mode`).
    patch_mode: Literal["clearclip", "maskclip", "sclip", "plain"] | None = None
    # Below this many patches the patch index is exact (fp16 flat); above, IVF-PQ.
    patch_index_min_train: int = Field(default=50_000, ge=1_000)
    patch_pq_bytes: int = Field(default=32, ge=4, le=128)  # PQ code size per patch
    patch_nprobe: int = Field(default=32, ge=1, le=65_536)
    patch_candidates: int = Field(default=256, ge=1, le=100_000)  # patches re-scored exactly
    # How patch cells cover a picture (docs/regions.md): `tiles` of the model's input over the
    # whole picture, one `full` pass with interpolated position embeddings, or the `centre`
    # square only (as before issue 17). Recorded per image; `pixseek regions upgrade`
    # re-embeds the patches of older images.
    region_coverage: Literal["tiles", "full", "centre"] = "tiles"
    # Tiles along the shorter side: the region resolution (1 = cells as large as the centre
    # crop's; 2 = half as wide, about 4x the cells: finds small things, boxes big ones worse).
    region_tiles: int = Field(default=1, ge=1, le=4)
    region_max_tiles: int = Field(default=8, ge=1, le=64)  # at most this many tiles per image
    # --- end region search ---

    duplicates: DuplicateSettings = Field(default_factory=DuplicateSettings)
    tags: TagSettings = Field(default_factory=TagSettings)
    ocr: OcrSettings = Field(default_factory=OcrSettings)

    # --- Web UI (issue 13) ---
    # Thumbnails served (WebP, longest side at most each size) from <data_dir>/thumbs; [] none.
    # The web UI asks for the smallest (grids) and the largest (an image's page).
    thumbnail_sizes: list[int] = Field(default_factory=lambda: [256, 768], max_length=4)
    # Those made at ingest, from the picture already decoded; the others are made from the
    # original the first time they are asked for (a 768 px WebP costs ingest twice a 256 one:
    # docs/benchmarks.md, "Thumbnails at ingest").
    thumbnail_ingest_sizes: list[int] = Field(default_factory=lambda: [256], max_length=4)
    # Signs the web UI's session cookie. Unset: a random secret generated once into
    # <data_dir>/session.secret (mode 0600); set it when several API processes serve one UI.
    session_secret: SecretStr | None = None
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # --- end web UI ---

    watch: WatchSettings = Field(default_factory=WatchSettings)
    rescan: RescanSettings = Field(default_factory=RescanSettings)

    @field_validator("data_dir", "model_cache_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @field_validator("ingest_roots", mode="after")
    @classmethod
    def _expand_roots(cls, value: list[Path]) -> list[Path]:
        roots = [p.expanduser().resolve() for p in value]
        for root in roots:
            if root == Path(root.anchor):
                raise ValueError(f"ingest root {root} is the file system root: it would allow every file")
        return roots

    @field_validator("ingest_buckets", mode="after")
    @classmethod
    def _check_buckets(cls, value: list[str]) -> list[str]:
        names = []
        for entry in value:
            name = entry.removeprefix("s3://").rstrip("/")
            if not _BUCKET_NAME.fullmatch(name):
                raise ValueError(f"ingest bucket {entry!r} is not an S3 bucket name (e.g. images, no prefix)")
            names.append(name)
        return names

    @field_validator("bootstrap_api_key", mode="after")
    @classmethod
    def _check_bootstrap_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None  # docker-compose passes an unset variable as ""
        if not API_KEY_SHAPE.fullmatch(value.get_secret_value()):
            raise ValueError(
                "PIXSEEK_BOOTSTRAP_API_KEY must be 32 to 256 characters of letters, digits and . _ ~ + / = -"
                " (e.g. `openssl rand -hex 32`)"
            )
        return value

    @field_validator("session_secret", mode="after")
    @classmethod
    def _check_session_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        if len(value.get_secret_value()) < 32:
            raise ValueError("PIXSEEK_SESSION_SECRET must be at least 32 characters (`openssl rand -hex 32`)")
        return value

    @field_validator("thumbnail_sizes", "thumbnail_ingest_sizes", mode="after")
    @classmethod
    def _check_thumbnail_sizes(cls, value: list[int]) -> list[int]:
        for size in value:
            if not 32 <= size <= 2048:
                raise ValueError(f"thumbnail size {size} must be between 32 and 2048 pixels")
        return sorted(set(value))

    @field_validator("prompt_templates", mode="after")
    @classmethod
    def _check_templates(cls, value: list[str]) -> list[str]:
        for template in value:
            if template.count("{}") != 1:
                raise ValueError(f"prompt template {template!r} must contain exactly one {{}}")
        return value

    @model_validator(mode="after")
    def _check_thumbnails(self) -> Settings:
        extra = set(self.thumbnail_ingest_sizes) - set(self.thumbnail_sizes)
        if extra:
            raise ValueError(f"thumbnail_ingest_sizes {sorted(extra)} are not in thumbnail_sizes")
        return self

    @model_validator(mode="after")
    def _check_pretrained(self) -> Settings:
        if self.pretrained.strip().lower() in RANDOM_WEIGHTS:
            self.pretrained = "none"
        return self

    @property
    def random_weights(self) -> bool:
        return self.pretrained == "none"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'pixseek.db'}"

    @property
    def space_dir(self) -> Path:
        """Where the served model generation keeps its files (see `space`)."""
        return self.data_dir / self.space

    @property
    def index_dir(self) -> Path:
        return self.space_dir / "index"

    @property
    def patch_index_dir(self) -> Path:
        return self.index_dir / "patches"

    @property
    def patch_dir(self) -> Path:
        return self.space_dir / "patches"

    @property
    def thumbnail_dir(self) -> Path:
        return self.data_dir / "thumbs"

    @property
    def tag_vocabulary_file(self) -> Path:
        """The user's vocabulary file (it need not exist)."""
        path = self.tags.vocabulary_file
        return path.expanduser().resolve() if path is not None else self.data_dir / "tags.json"

    @property
    def writer_queue(self) -> str:
        return self.index_queue or self.queue

    @property
    def embedded(self) -> bool:
        """True when no broker is set: tasks run in this process."""
        return not self.broker_url


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment, following a model switch.

    Long-running processes re-read the switch with `follow_switch` (pixseek/core/active_model.py).
    """
    return follow_switch(Settings())
