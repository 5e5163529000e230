"""The one place pixseek reads its configuration from (environment, `PIXSEEK_` prefix).

Each field's `description` is its documentation: docs/configuration.md is rendered from
them (`pixseek config docs`, pixseek/core/settings_docs.py), grouped by `SETTINGS_GROUPS`.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from pixseek.core.active_model import follow_switch
from pixseek.core.secret_files import SecretFiles

# Pretrained tags that mean "random weights": only for tests and benchmarks.
RANDOM_WEIGHTS = ("none", "")


# S3 bucket names (the common subset of the naming rules), and the shape of any API key.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
API_KEY_SHAPE = re.compile(r"[A-Za-z0-9._~+/=-]{32,256}")

# Settings that carry credentials: each may also be read from the file `PIXSEEK_<NAME>_FILE` names.
SECRET_FIELDS = ("database_url", "broker_url", "s3_secret_access_key", "bootstrap_api_key", "session_secret")

KeeperRule = Literal["resolution", "file_size", "captured_at"]
DEFAULT_KEEPER_ORDER: tuple[KeeperRule, ...] = ("resolution", "file_size", "captured_at")


class DuplicateSettings(BaseModel):
    """Duplicate detection (`PIXSEEK_DUPLICATES__<NAME>`); docs/duplicates.md explains each rule."""

    near_hash_distance: int = Field(
        default=12,
        ge=0,
        le=32,
        description="`near` tier: the largest perceptual-hash distance (bits of a 64-bit pHash, the best "
        "over crop windows and quarter turns) at which two images are copies of one picture. Raise it to "
        "catch heavier edits, at the cost of more false pairs.",
    )
    near_patch_agreement: float = Field(
        default=0.75,
        ge=0.0,
        le=1.0,
        description="`near` tier: the smallest share (0-1) of thumbnail patches with detail that must agree "
        "between the two images. Lower it to accept heavier local edits (text, stickers).",
    )
    contained_patch_agreement: float = Field(
        default=0.7,
        ge=0.0,
        le=1.0,
        description="`contained` tier (the whole of one picture inside a larger one: a screenshot, a "
        "collage, a padded copy): the smallest share (0-1) of thumbnail patches with detail that must "
        "agree between the smaller picture and the rectangle of the larger one it matched (its hash "
        "within `near_hash_distance`). Raise it if unrelated pictures in alike frames are grouped.",
    )
    similar_threshold: float = Field(
        default=0.9,
        ge=-1.0,
        le=1.0,
        description="`similar` tier: the smallest cosine similarity of the two images' CLS vectors. Only "
        "with pretrained weights (ignored with random weights). Lower it to group looser variants.",
    )
    similar_layout: float = Field(
        default=0.82,
        ge=-1.0,
        le=1.0,
        description="`similar` tier: the smallest layout agreement of the two pictures' patch tokens (the "
        "same things in about the same places, search/duplicates/layout.py), each cell matched within "
        "`similar_shift` cells. `-1` switches the check off, so CLS similarity alone decides.",
    )
    similar_shift: int = Field(
        default=1,
        ge=0,
        le=4,
        description="How many patch cells a thing may move between two shots in the `similar_layout` check. "
        "Raise it for bursts with camera movement.",
    )
    knn: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="CLS neighbours examined per image when looking for `similar` pairs. Raise it when "
        "large groups of variants come out split.",
    )
    exact_limit: int = Field(
        default=20_000,
        ge=1,
        description="Up to this many images the duplicate searches are exact (brute force); above, FAISS "
        "multi-index hashing on the hashes and an IVF index on the CLS vectors. Raise it to stay exact on a "
        "mid-size collection, at the cost of time.",
    )
    scale_hash_distance: int = Field(
        default=8,
        ge=0,
        le=32,
        description="Above `exact_limit` images, hash candidates are kept within at most this many bits. At "
        "12, random codes sharing a 16-bit substring give ~3 x 10^7 pairs to check at 1M images; at 8, "
        "~10^5, for 3% of true copies (those 10-12 bits off; docs/duplicates.md).",
    )
    memory_mb: int = Field(
        default=1024,
        ge=64,
        description="Megabytes that size a detection run's query batches (`memory_mb * 16` images each) and "
        "so bound what one batch allocates (hash queries and results, CLS rescoring: ~800 MB at the "
        "default). Not the run's total, which also holds per image the hash codes (1.4 KB) and the CLS "
        "vectors (2 KB at 512-d), and the approximate indexes (1.7 GB at 1M images besides codes and "
        "vectors; docs/benchmarks.md). Lower it on a small machine.",
    )
    keeper_order: list[KeeperRule] = Field(
        default_factory=lambda: list(DEFAULT_KEEPER_ORDER),
        description="The rules that choose the image a duplicate group keeps, in order; each breaks the "
        "previous one's ties: `resolution` (most pixels), `file_size` (largest file), `captured_at` "
        "(earliest capture time). Each rule at most once.",
    )

    quarantine: str | None = Field(
        default=None,
        description="Where `pixseek duplicates apply` moves the images decided against, keys mirrored: a "
        "folder or `s3://bucket/prefix` of the same kind as their bucket. Unset: a hidden folder "
        "`.pixseek-quarantine/` inside each bucket (ingest never lists hidden folders). Files are moved, "
        "never deleted; `pixseek duplicates undo RUN` puts them back.",
    )

    @field_validator("keeper_order", mode="after")
    @classmethod
    def _distinct(cls, value: list[KeeperRule]) -> list[KeeperRule]:
        if len(set(value)) != len(value):
            raise ValueError("keeper_order names a rule twice")
        return value


class TagSettings(BaseModel):
    """Zero-shot tags (`PIXSEEK_TAGS__<NAME>`); docs/search.md explains the calibration rule."""

    enabled: bool = Field(
        default=True,
        description="Tag new images when an ingest is published, and the whole catalog when the vocabulary "
        "(or the model) changes. Tags are scored from the stored CLS vectors, never re-embedded.",
    )
    vocabulary_file: Path | None = Field(
        default=None,
        description="The user's own tag vocabulary (JSON, edited by `pixseek tags`). Unset: "
        "`<data_dir>/tags.json`. Set it to share one vocabulary between data dirs.",
    )
    batch_size: int = Field(
        default=2048,
        ge=1,
        le=1_000_000,
        description="Images scored per step: one (batch x prompts) matrix product and one commit. Lower it "
        "if tagging a large catalog uses too much memory.",
    )
    facet_limit: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="The most tags a search response lists in its facet counts.",
    )


class OcrSettings(BaseModel):
    """Text in images (`PIXSEEK_OCR__<NAME>`), read by an OCR engine after embedding."""

    enabled: bool = Field(
        default=False,
        description="Read the text in images after each ingest (an OCR job), so keyword search finds it. "
        "`pixseek ocr` reads a catalog's images on demand, whatever this says.",
    )
    engine: Literal["rapidocr", "tesseract"] = Field(
        default="rapidocr",
        description="`rapidocr`: PP-OCRv6 through RapidOCR on ONNX Runtime (models inside the `rapidocr` "
        "wheel): words on photographs (signs, captions) and documents, Latin scripts, Chinese and "
        "Japanese. `tesseract`: Tesseract with the language packs of `languages` (the `tesseract` binary "
        "and the `ocr` extra): pages, and the scripts RapidOCR lacks. Measured in docs/benchmarks.md.",
    )
    languages: str = Field(
        default="eng",
        pattern=r"^[A-Za-z_]{3,20}(\+[A-Za-z_]{3,20}){0,9}$",
        description="Tesseract only: language packs joined by `+`, e.g. `eng+deu` (each pack installed, "
        "Debian: `tesseract-ocr-deu`).",
    )
    tesseract_psm: int = Field(
        default=3,
        ge=0,
        le=13,
        description="Tesseract only: its page segmentation mode (3: automatic page layout, for documents; "
        "11 and 12: sparse text, which finds words on photos among much noise).",
    )
    detect_side: int = Field(
        default=736,
        ge=64,
        le=4096,
        description="RapidOCR only: pixels of the longest side the text detector sees (larger finds "
        "smaller text, slower). Chosen on the tuning half of the OCR benchmark.",
    )
    rapidocr_angle: bool = Field(
        default=False,
        description="RapidOCR only: run the angle classifier, which reads lines turned upside down "
        "(slower; text in photos is rarely upside down).",
    )
    queue: str = Field(
        default="pixseek-ocr",
        min_length=1,
        max_length=200,
        description="The Celery queue of OCR jobs, their own so that OCR never holds up embedding; `pixseek "
        "worker` consumes it when OCR is enabled.",
    )
    max_side: int = Field(
        default=2500,
        ge=64,
        le=20_000,
        description="Pixels: an image's longest side is scaled down to this before recognition. Raise it "
        "for small print in large scans (slower).",
    )
    timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Tesseract only: seconds it may spend on one image; past it the image gets no words "
        "(RapidOCR's time is bounded by `max_side` and `detect_side`).",
    )
    min_confidence: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Words the engine is less sure of than this (0-100) are dropped; unset: the floor "
        "chosen for each engine (RapidOCR 50, on the OCR benchmark's tuning half; Tesseract 60). Lower it "
        "to keep more words from poor pictures, at the cost of more garbage.",
    )
    batch_size: int = Field(
        default=16,
        ge=1,
        le=10_000,
        description="Images recognised between two commits.",
    )


class VideoSettings(BaseModel):
    """Videos and animated pictures (`PIXSEEK_VIDEO__<NAME>`): how they are sampled and bounded."""

    enabled: bool = Field(
        default=True,
        description="Ingest videos (MP4, MOV, M4V, WebM, MKV, AVI) and animated GIF and WebP files as "
        "segments that search returns as moments. Off: they are skipped, as before.",
    )
    max_bytes: int = Field(
        default=2 * 1024 * 1024 * 1024,
        ge=1,
        description="Bytes: larger videos are refused before they are read (a video is read whole into "
        "memory, so this bounds the memory of a decode thread).",
    )
    sample_fps: float = Field(
        default=4.0,
        gt=0,
        le=30,
        description="Frames sampled per second of video to find cuts and changes (on 32x32 signatures, "
        "without the model). The model runs once per piece, not per sampled frame.",
    )
    max_piece_seconds: float = Field(
        default=8.0,
        gt=0,
        le=3600,
        description="Seconds: a shot longer than this is embedded once every this many seconds (pieces "
        "whose embeddings stay close are merged back into one segment).",
    )
    cut_threshold: float = Field(
        default=0.09,
        gt=0,
        le=1,
        description="Mean absolute change of a 32x32 signature between two samples that counts as a cut.",
    )
    drift_threshold: float = Field(
        default=0.08,
        gt=0,
        le=1,
        description="Change from a piece's first frame that starts another piece (cross-fades, pans).",
    )
    merge_similarity: float = Field(
        default=0.97,
        ge=0,
        le=1,
        description="Cosine similarity above which consecutive pieces not separated by a cut are merged "
        "into one segment.",
    )
    max_seconds: float = Field(
        default=4 * 3600.0,
        gt=0,
        description="Seconds of video read at most per file; the rest is left out, with the reason.",
    )
    max_decode_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Wall-clock seconds one file may spend decoding; what was decoded by then is kept.",
    )
    max_segments: int = Field(
        default=600,
        ge=1,
        le=100_000,
        description="Pieces (model passes) per video at most: longer videos are sampled more sparsely "
        "and stop here, so a film costs at most this many passes.",
    )


class WatchSettings(BaseModel):
    """`pixseek ingest --watch` (`PIXSEEK_WATCH__<NAME>`); docs/ingest.md, "Folders that stay in sync"."""

    debounce_seconds: float = Field(
        default=2.0,
        ge=0.0,
        le=3600.0,
        description="Seconds the folder must be quiet after a file event before an ingest runs, so a burst "
        "of events gives one ingest. Raise it for folders that are written to slowly (network copies).",
    )
    rescan_seconds: float = Field(
        default=3600.0,
        gt=0.0,
        le=7 * 86400.0,
        description="Seconds between two ingests at most, whatever the events said: the safety net for "
        "missed events, and the only trigger for `s3://` buckets.",
    )
    events: bool = Field(
        default=True,
        description="Follow filesystem events (local folders only); `false`: the watcher only rescans (e.g. "
        "on network mounts that send no events).",
    )


WEBHOOK_EVENTS = ("job.finished", "job.failed", "duplicates.new_groups", "saved_search.new_matches", "ping")


class WebhookTarget(BaseModel):
    """One receiver of events."""

    url: str = Field(pattern=r"^https?://", description="Where events are POSTed.")
    secret: SecretStr = Field(description="Signs each body: `X-Pixseek-Signature: sha256=<HMAC>`.")
    events: list[str] = Field(
        default_factory=lambda: list(WEBHOOK_EVENTS), description="The events this receiver gets."
    )


class WebhookSettings(BaseModel):
    """Events POSTed to receivers (`PIXSEEK_WEBHOOKS__<NAME>`); docs/toolbox.md, "Webhooks"."""

    targets: list[WebhookTarget] = Field(
        default_factory=list,
        description='Receivers, as a JSON list: `[{"url": "https://hooks.example/pixseek", "secret": "...", '
        '"events": ["job.finished"]}]`. Events: job.finished, job.failed, duplicates.new_groups, '
        "saved_search.new_matches, ping.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="The only hosts (`host` or `host:port`) a delivery may go to: a target elsewhere is "
        "never requested (its deliveries are marked refused). Empty: no webhook is ever sent.",
    )
    max_attempts: int = Field(default=10, ge=1, le=100, description="Tries per delivery before it is failed.")
    backoff_seconds: float = Field(
        default=1.0,
        gt=0.0,
        le=3600.0,
        description="Wait after a first failure; doubles per try (at most 1 h).",
    )
    timeout_seconds: float = Field(default=10.0, gt=0.0, le=300.0, description="Per request.")


class RescanSettings(BaseModel):
    """Scheduled rescans in a cluster (`PIXSEEK_RESCAN__<NAME>`), sent by `pixseek beat`."""

    buckets: list[str] = Field(
        default_factory=list,
        description="Buckets (`s3://bucket/prefix`, or folders the workers see) that `pixseek beat` has the "
        'workers ingest again on a schedule, as a JSON list, e.g. `["s3://images/"]`.',
    )
    interval_seconds: int = Field(
        default=900,
        ge=10,
        le=7 * 86400,
        description="Seconds between two scheduled rescans of each bucket.",
    )


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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Secrets mounted as files (`PIXSEEK_<NAME>_FILE`) come after the environment itself.
        secret_files = SecretFiles(settings_cls, "PIXSEEK_", SECRET_FIELDS)
        return (init_settings, env_settings, secret_files, dotenv_settings, file_secret_settings)

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where pixseek keeps its files: the SQLite database (unless `database_url` is set), the "
        "FAISS index generations, the patch store, thumbnails and tags. In a cluster, one folder every "
        "worker and API process shares.",
    )
    database_url: str | None = Field(
        default=None,
        description="A SQLAlchemy URL of the catalog database, e.g. "
        "`postgresql+psycopg://user:password@host/db` (needs the `postgres` extra). Unset: SQLite in the "
        "data dir, which suits one machine; a cluster needs PostgreSQL. Or `PIXSEEK_DATABASE_URL_FILE`: "
        "a file holding it (a Docker or Kubernetes secret).",
    )
    auto_migrate: bool = Field(
        default=True,
        description="Apply database migrations when a process first opens the database (once per process). "
        "Set it to `false` where migrations are run by hand (`pixseek migrate`) before api and workers "
        "start.",
    )

    model: str = Field(
        default="ViT-B-32",
        description="The open_clip architecture (a ViT with a class token), e.g. `ViT-B-32`; docs/models.md "
        "lists recommended ones. Changing it on an indexed catalog needs `pixseek reindex`.",
    )
    pretrained: str = Field(
        default="laion2b_s34b_b79k",
        description="The open_clip pretrained tag, a local checkpoint path, or `none` (random weights: only "
        "for tests and benchmarks, results are meaningless).",
    )
    device: Literal["cpu", "cuda", "auto"] = Field(
        default="auto",
        description="Where the model runs: `auto` is CUDA when a GPU is available, else the CPU.",
    )
    precision: Literal["auto", "fp32", "bf16", "fp16", "int8"] = Field(
        default="auto",
        description="The towers' number format. With `runtime` `auto` too, on the CPU: chosen per tower "
        "by measuring this CPU once per model (the fastest of fp32, bf16 and int8 that passes the quality "
        "gate). "
        "Otherwise `auto` is fp16 autocast on CUDA, and on the CPU bf16 where it was measured faster than "
        "fp32, else fp32. `int8` runs on ONNX Runtime.",
    )
    runtime: Literal["auto", "torch", "openvino", "onnxruntime"] = Field(
        default="auto",
        description="What runs the image and text towers. `auto` with `precision` `auto` on the CPU: each "
        "tower on the runtime this CPU ran fastest among those that pass the quality gate against torch fp32 "
        "(torch, OpenVINO, ONNX Runtime int8; probed once per machine and model, docs/performance.md); "
        "torch on CUDA. Converted models are made once per machine and kept under the model cache dir.",
    )
    model_cache_dir: Path | None = Field(
        default=None,
        description="Where converted models and the runtime choice are kept, shared by every data dir and "
        "worker on this machine (and where downloaded weights go when set). Unset: "
        "`$XDG_CACHE_HOME/pixseek` (`~/.cache/pixseek`) for converted models, open_clip's own cache "
        "for weights.",
    )
    space: str = Field(
        default="",
        pattern=r"^(models/[a-z0-9][a-z0-9._-]{0,120})?$",
        description="The folder under the data dir holding the served model generation's `index/` and "
        '`patches/`: `""` (the data dir itself) until `pixseek reindex` switches to a new model, which '
        "records it in `<data_dir>/model.json`. Not meant to be set by hand.",
    )
    batch_size: int = Field(
        default=32,
        ge=1,
        le=4096,
        description="Images per model forward at ingest, and per commit. Raise it on a GPU with memory to "
        "spare.",
    )
    decode_workers: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Threads that read and decode images at ingest; `0`: one per core, at most 8. Raise it "
        "for object stores with high latency.",
    )
    torch_threads: int = Field(
        default=0,
        ge=0,
        le=512,
        description="Threads torch uses on the CPU; `0` keeps torch's default (one per core). Lower it when "
        "pixseek shares the machine.",
    )

    max_image_pixels: int = Field(
        default=64_000_000,
        ge=1,
        description="Pixels: larger images are refused as decompression bombs, checked from the header "
        "before decoding. Raise it only for trusted collections of very large images.",
    )
    max_file_bytes: int = Field(
        default=100 * 1024 * 1024,
        ge=1,
        description="Bytes: larger files are refused before they are read (100 MiB by default).",
    )
    task_batch_size: int = Field(
        default=256,
        ge=1,
        le=100_000,
        description="Images per Celery task in a cluster: smaller batches spread a job over more workers "
        "and lose less work when one dies; larger ones cost fewer task round trips.",
    )
    sidecar_suffixes: list[str] = Field(
        default_factory=lambda: [".txt", ".caption"],
        description="Caption files beside an image (`photo.txt` for `photo.jpg`), read at ingest for "
        "keyword search. `[]` saves those reads (each is one extra request on object stores).",
    )
    searchable_first: bool = Field(
        default=True,
        description="An ingest embeds each picture once, centre crop (its CLS vector and centre patches), "
        "and publishes: the collection is searchable after one model pass per picture. Patches over the "
        "whole picture, thumbnails and duplicate signatures follow in an `enrich` job (its own progress, "
        "resumable, after new embedding work; region search answers meanwhile from what is covered). "
        "`false` does everything in the ingest's one pass: one read per file, searchable later.",
    )
    enrich_queue: str = Field(
        default="pixseek-enrich",
        min_length=1,
        max_length=200,
        description="The Celery queue of enrich jobs (cluster mode): workers take them when no embedding "
        "work is waiting. `pixseek worker` consumes it by default.",
    )
    enrich_publish_seconds: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="An enrich job publishes the patch index at most this often (and when it ends), so "
        "region search covers more of the collection as the job goes; each publish writes the patch index "
        "again, which costs more the larger it is.",
    )

    index_flat_max: int = Field(
        default=50_000,
        ge=1,
        description="Images: collections this large or larger get a tuned IVF index instead of exact (flat) "
        "search (docs/benchmarks.md).",
    )

    broker_url: str | None = Field(
        default=None,
        description="The Redis URL of the Celery broker, e.g. `redis://host:6379/0`. Unset: every task runs "
        "in-process (one machine); set: `pixseek worker` processes do the work (docs/distributed.md). Or "
        "`PIXSEEK_BROKER_URL_FILE`: a file holding it.",
    )
    queue: str = Field(
        default="pixseek",
        min_length=1,
        max_length=200,
        description="The Celery queue of the plan and batch tasks.",
    )
    index_queue: str | None = Field(
        default=None,
        description="The index writer's queue; unset: the same as `queue`. On several machines, point it at "
        "a queue that only workers sharing the data dir consume (`pixseek worker --queues`).",
    )
    broker_visibility_timeout: int = Field(
        default=3600,
        ge=1,
        description="Seconds after which Redis redelivers an unacknowledged task. It must exceed the "
        "longest batch, or a batch still running is started a second time (leases act far sooner on a dead "
        "worker).",
    )
    task_max_retries: int = Field(
        default=3,
        ge=0,
        le=100,
        description="How many times a batch that raises (database or bucket outage) is retried; then its "
        "remaining images are recorded failed so the job can finish.",
    )
    task_max_redeliveries: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="How many times a batch's worker may die while running it (a file that crashes the "
        "decoder, an out-of-memory kill) before it is given up and its remaining images are recorded "
        "failed.",
    )
    task_lease_seconds: int = Field(
        default=30,
        ge=3,
        le=3600,
        description="Seconds of a running task's lease in SQL, renewed by its process every third of it. "
        "Live workers send a task whose lease lapsed again, so a killed worker's batch is back in work "
        "within about this plus a third of it.",
    )
    reconcile_seconds: int = Field(
        default=30,
        ge=3,
        le=86_400,
        description="Work the broker lost (a Redis restarted without persistence, a failover, an eviction) "
        "is sent again once it sat this long untouched: a job with pending images, or a publish, that no "
        "task holds (no lease) and no queue carries. Each worker looks every third of it "
        "(docs/operations.md).",
    )
    database_retry_seconds: float = Field(
        default=120.0,
        ge=0,
        le=86_400,
        description="How long a task whose database is unreachable (a restart, a failover) keeps retrying, "
        "with backoff up to 5 s, before it gives up like any other failing task.",
    )
    worker_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="The port a worker serves its Prometheus metrics on (a prefork worker with `-c N`: this "
        "port and the next N-1, one per pool process). Unset: no metrics server.",
    )

    s3_endpoint_url: str | None = Field(
        default=None,
        description="The endpoint of an S3-compatible store for `s3://bucket/prefix` (MinIO, Ceph, ...). "
        "Unset: the AWS chain (`AWS_ENDPOINT_URL`, `~/.aws/config`, else AWS itself).",
    )
    s3_region: str | None = Field(
        default=None,
        description="The S3 region. Unset: the AWS chain (`AWS_DEFAULT_REGION`, `~/.aws/config`).",
    )
    s3_access_key_id: str | None = Field(
        default=None,
        description="The S3 access key id. Unset: the AWS chain (`AWS_ACCESS_KEY_ID`, `~/.aws/credentials`, "
        "instance roles).",
    )
    s3_secret_access_key: SecretStr | None = Field(
        default=None,
        description="The S3 secret access key (never shown). Unset: the AWS chain, as for the key id. Or "
        "`PIXSEEK_S3_SECRET_ACCESS_KEY_FILE`: a file holding it.",
    )

    host: str = Field(
        default="127.0.0.1",
        description="The address `pixseek serve` listens on (`--host` overrides it). Anything but loopback "
        "needs an API key first: the API refuses to start open to the network.",
    )
    port: int = Field(
        default=8000,
        ge=1,
        le=65535,
        description="The port `pixseek serve` listens on (`--port` overrides it).",
    )
    preload_model: bool = Field(
        default=True,
        description="`pixseek serve` loads the model and index in the background at start-up, so the first "
        "query does not wait for them; `/v1/ready` says `loading` meanwhile (api/warmup.py). `false` loads "
        "them on the first query instead.",
    )
    shutdown_grace_seconds: float = Field(
        default=20.0,
        ge=0,
        le=3600,
        description="`pixseek serve` on SIGTERM stops accepting connections at once and gives the requests "
        "in flight this long to finish before it closes them (keep it under the orchestrator's own "
        "grace, 30 s in Kubernetes, 10 s in `docker stop`).",
    )
    max_upload_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1,
        description="Bytes: the largest uploaded image a request may carry (20 MiB by default).",
    )
    max_json_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Bytes: the largest body of any request that is not an upload (1 MiB by default); "
        "larger ones are refused with 413 before they are read.",
    )
    max_results: int = Field(
        default=1000,
        ge=1,
        description="The largest `k` / `limit` a search, region or duplicates query may ask for.",
    )

    ingest_roots: list[Path] = Field(
        default_factory=list,
        description='Folders `POST /v1/jobs` may ingest from, as a JSON list, e.g. `["/photos"]`. With '
        "`ingest_buckets` also empty (the default) the API ingests nothing and says which setting to set. "
        "`pixseek ingest` is not limited by it.",
    )
    ingest_buckets: list[str] = Field(
        default_factory=list,
        description="S3 bucket names (no prefix) `POST /v1/jobs` may ingest, as a JSON list, e.g. "
        '`["images"]`.',
    )
    rate_limit_per_second: float = Field(
        default=50.0,
        gt=0,
        le=1_000_000,
        description="Requests per second refilled into each API key's token bucket (per client address "
        "while no key exists); past the bucket, 429.",
    )
    rate_limit_burst: int = Field(
        default=100,
        ge=1,
        le=1_000_000,
        description="Requests one API key (or client address) may send at once before "
        "`rate_limit_per_second` applies.",
    )
    bootstrap_api_key: SecretStr | None = Field(
        default=None,
        description="Created as the admin key `bootstrap` when the API starts, if no key has that value yet "
        "(docker-compose's first key): 32 to 256 characters of letters, digits and `. _ ~ + / = -`; "
        "generate one with `openssl rand -hex 32`. Empty means unset. Or `PIXSEEK_BOOTSTRAP_API_KEY_FILE`: a "
        "file holding it.",
    )

    prompt_templates: list[str] = Field(
        default_factory=lambda: ["a photo of {}."],
        description="Templates short text queries are wrapped in, each with exactly one `{}`; the "
        "embeddings are averaged (CLIP's prompt ensembling). `[]` turns templates off (docs/search.md).",
    )
    prompt_max_words: int = Field(
        default=4,
        ge=0,
        le=100,
        description="Texts of at most this many words get the prompt templates; longer ones are embedded as "
        "written.",
    )
    max_query_parts: int = Field(
        default=16,
        ge=1,
        le=1000,
        description="The most parts (texts, uploaded images, cataloged images) one query may combine; every "
        "text and template is a forward of the text tower.",
    )
    max_text_chars: int = Field(
        default=2000,
        ge=1,
        description="Characters: the longest text a query part may have.",
    )
    max_prompt_templates: int = Field(
        default=16,
        ge=0,
        le=1000,
        description="The most prompt templates one request may bring in place of `prompt_templates`.",
    )
    max_template_chars: int = Field(
        default=200,
        ge=3,
        description="Characters: the longest prompt template a request may bring.",
    )
    search_exact_max: int = Field(
        default=5_000,
        ge=0,
        description="Images: a filter that keeps at most this many is scored exactly from stored vectors; "
        "larger ones search the index with an id selector (docs/benchmarks.md).",
    )
    fusion_k: int = Field(
        default=60,
        ge=1,
        description="The `k` of reciprocal rank fusion in hybrid mode: larger values flatten the weight of "
        "the top ranks.",
    )
    fusion_depth: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="How deep each ranked list goes before fusing, and so the deepest page (`offset + "
        "limit`) of keyword and hybrid modes.",
    )
    max_offset: int = Field(
        default=10_000,
        ge=0,
        description="The largest `offset` a query may ask for.",
    )
    # Capped, as Elasticsearch's track_total_hits: an exact count of a million-row catalog
    # costs a full scan per query, far more than the search itself (docs/benchmarks.md).
    search_count_max: int = Field(
        default=10_000,
        ge=0,
        description="An unfiltered page's `total` counts matching images up to this many and says \"at "
        'least" beyond (`total_exact: false`). Raising it makes every such query slower on a large catalog.',
    )

    # The mode is recorded in the patch store and the patch index: cells of two modes are
    # not comparable, so a mismatch is refused rather than mixed.
    patch_mode: Literal["clearclip", "maskclip", "sclip", "plain"] | None = Field(
        default=None,
        description="How patch tokens are made so that they localise (docs/regions.md). Unset: the mode the "
        "data dir's store records, and for a new data dir the model's best measured mode (`clearclip` for "
        "pretrained CLIPs). Changing it needs a fresh data dir.",
    )
    patch_index_min_train: int = Field(
        default=50_000,
        ge=1_000,
        description="Patches: below this many the patch index is exact (fp16 flat); above, IVF-PQ.",
    )
    patch_pq_bytes: int = Field(
        default=32,
        ge=4,
        le=128,
        description="Bytes of PQ code per patch in the IVF-PQ patch index: more is more accurate and larger.",
    )
    patch_nprobe: int = Field(
        default=32,
        ge=1,
        le=65_536,
        description="IVF lists visited per region query: more finds more of the true best patches, slower.",
    )
    patch_candidates: int = Field(
        default=256,
        ge=1,
        le=100_000,
        description="Candidate patches the compressed index proposes per region query; their images are "
        "then re-scored exactly.",
    )
    region_coverage: Literal["tiles", "full", "centre"] = Field(
        default="tiles",
        description="How patch cells cover a picture (docs/regions.md): `tiles` of the model's input over "
        "the whole picture, one `full` pass with interpolated position embeddings, or the `centre` square "
        "only (as before issue 17). Recorded per image; `pixseek regions upgrade` re-embeds the patches of "
        "older images.",
    )
    region_tiles: int = Field(
        default=1,
        ge=1,
        le=4,
        description="Tiles along the shorter side, the region resolution. 1 gives cells as large as the "
        "centre crop's, at 2-3x the model time of a centre-crop ingest; 2 gives cells half as wide (about "
        "4x as many) that find small things, at about 5x the model time and 3-4x the patch memory, but "
        "boxes around normal-sized things are worse (docs/regions.md).",
    )
    region_max_tiles: int = Field(
        default=8,
        ge=1,
        le=64,
        description="At most this many tiles per image: a panorama wider than that gets cells wider than "
        "tall.",
    )

    duplicates: DuplicateSettings = Field(
        default_factory=DuplicateSettings,
        description="Duplicate detection: when two images are copies (`near`) or variants (`similar`), and "
        "which one a group keeps (docs/duplicates.md).",
    )
    tags: TagSettings = Field(
        default_factory=TagSettings,
        description="Zero-shot tags scored from the stored vectors, and their facet counts (docs/search.md).",
    )
    video: VideoSettings = Field(
        default_factory=VideoSettings,
        description="Videos: sampled into pieces, embedded once per piece, searched as moments "
        "(docs/video.md).",
    )
    ocr: OcrSettings = Field(
        default_factory=OcrSettings,
        description="Text in images, recognised by Tesseract after embedding, for keyword search.",
    )

    thumbnail_sizes: list[int] = Field(
        default_factory=lambda: [256, 768],
        max_length=4,
        description="Pixels: thumbnails served (WebP, longest side at most each size, 32-2048, at most 4 "
        "sizes) from `<data_dir>/thumbs`; `[]`: none. The web UI asks for the smallest (grids) and the "
        "largest (an image's page).",
    )
    thumbnail_ingest_sizes: list[int] = Field(
        default_factory=lambda: [256],
        max_length=4,
        description="Those of `thumbnail_sizes` made at ingest, from the picture already decoded; the "
        "others are made from the original the first time they are asked for (a 768 px WebP costs ingest "
        'twice a 256 one: docs/benchmarks.md, "Thumbnails at ingest").',
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="Signs the web UI's session cookie: at least 32 characters (`openssl rand -hex 32`). "
        "Unset (or empty): a random secret generated once into `<data_dir>/session.secret` (mode 0600); set "
        "the same one on every API process when several serve one UI. Or `PIXSEEK_SESSION_SECRET_FILE`: a "
        "file holding it.",
    )
    session_hours: float = Field(
        default=12.0,
        gt=0,
        le=24 * 30,
        description="Hours a web UI sign-in lasts.",
    )

    watch: WatchSettings = Field(
        default_factory=WatchSettings,
        description="`pixseek ingest --watch`: when a watched folder is ingested again (docs/ingest.md, "
        '"Folders that stay in sync").',
    )
    webhooks: WebhookSettings = Field(
        default_factory=WebhookSettings,
        description="Webhooks: events POSTed, signed, to receivers on an allow-list, from the API process.",
    )
    rescan: RescanSettings = Field(
        default_factory=RescanSettings,
        description="Scheduled rescans in a cluster, sent to the workers by `pixseek beat` (run exactly "
        "one).",
    )

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
    def runtime_cache_dir(self) -> Path:
        """Where converted models and the runtime choice live: one place per user and machine."""
        if self.model_cache_dir is not None:
            return self.model_cache_dir
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base).expanduser().resolve() / "pixseek"

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


# The sections of docs/configuration.md, in order: every field of Settings in exactly one
# (tests/core/test_configuration.py). A nested model's fields make their own section.
SETTINGS_GROUPS: dict[str, tuple[str, ...]] = {
    "Storage and database": ("data_dir", "database_url", "auto_migrate"),
    "Model and runtime": (
        "model",
        "pretrained",
        "device",
        "precision",
        "runtime",
        "model_cache_dir",
        "space",
        "batch_size",
        "decode_workers",
        "torch_threads",
    ),
    "Ingest": (
        "max_image_pixels",
        "max_file_bytes",
        "task_batch_size",
        "sidecar_suffixes",
        "searchable_first",
        "enrich_queue",
        "enrich_publish_seconds",
    ),
    "Index": ("index_flat_max",),
    "Cluster (Celery and Redis)": (
        "broker_url",
        "queue",
        "index_queue",
        "broker_visibility_timeout",
        "task_max_retries",
        "task_max_redeliveries",
        "task_lease_seconds",
        "reconcile_seconds",
        "database_retry_seconds",
        "worker_metrics_port",
    ),
    "S3": ("s3_endpoint_url", "s3_region", "s3_access_key_id", "s3_secret_access_key"),
    "HTTP API": (
        "host",
        "port",
        "preload_model",
        "shutdown_grace_seconds",
        "max_upload_bytes",
        "max_json_bytes",
        "max_results",
    ),
    "Access": (
        "ingest_roots",
        "ingest_buckets",
        "rate_limit_per_second",
        "rate_limit_burst",
        "bootstrap_api_key",
    ),
    "Search": (
        "prompt_templates",
        "prompt_max_words",
        "max_query_parts",
        "max_text_chars",
        "max_prompt_templates",
        "max_template_chars",
        "search_exact_max",
        "fusion_k",
        "fusion_depth",
        "max_offset",
        "search_count_max",
    ),
    "Region search": (
        "patch_mode",
        "patch_index_min_train",
        "patch_pq_bytes",
        "patch_nprobe",
        "patch_candidates",
        "region_coverage",
        "region_tiles",
        "region_max_tiles",
    ),
    "Web UI and thumbnails": ("thumbnail_sizes", "thumbnail_ingest_sizes", "session_secret", "session_hours"),
    "Duplicates": ("duplicates",),
    "Tags": ("tags",),
    "OCR": ("ocr",),
    "Video": ("video",),
    "Watch": ("watch",),
    "Rescans": ("rescan",),
    "Webhooks": ("webhooks",),
}


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment, following a model switch.

    Long-running processes re-read the switch with `follow_switch` (pixseek/core/active_model.py).
    """
    return follow_switch(Settings())
