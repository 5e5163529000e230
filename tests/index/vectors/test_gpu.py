"""The CUDA paths: encoder under autocast, FAISS on the GPU, JPEG decoding with nvJPEG.

Marked `gpu`: skipped where torch sees no CUDA device (see conftest). The first test runs
everywhere and checks that asking for the GPU without one degrades cleanly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pixseek.evaluation.synthetic import clustered
from pixseek.index.vectors.factory import build_index, faiss_gpu_count, recall_at_k
from pixseek.index.vectors.manifest import Manifest
from pixseek.index.vectors.store import IndexStore
from pixseek.model.encoder import Encoder


def _publish(tmp_path: Path, flat_max: int) -> tuple[IndexStore, np.ndarray]:
    x = clustered(3_000, 32, seed=2)
    index, params = build_index(x, np.arange(3_000), flat_max=flat_max)
    store = IndexStore(tmp_path / "index")
    with store.lock():
        store.publish(
            index, Manifest("m", "none", 32, 0, 0, str(params.get("description", "flat")), params=params)
        )
    return store, x


def test_faiss_gpu_request_without_gpu_falls_back_to_cpu(tmp_path: Path) -> None:
    if faiss_gpu_count():
        pytest.skip("this machine has a GPU")
    store, x = _publish(tmp_path, flat_max=1_000)
    loaded = store.load(device="cuda")
    assert loaded is not None and loaded.gpu_index is None
    _, ids = loaded.search(x[:3], 1)
    assert ids[:, 0].tolist() == [0, 1, 2]


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_cuda_autocast_embeddings_agree_with_cpu_fp32(precision: str) -> None:
    cpu = Encoder("pixseek-tiny", "none", device="cpu", precision="fp32")
    gpu = Encoder("pixseek-tiny", "none", device="cuda", precision=precision)
    assert gpu.autocast and next(gpu.model.parameters()).dtype == torch.float32
    pixels = (
        np.random.default_rng(0).standard_normal((8, 3, cpu.image_size, cpu.image_size)).astype(np.float32)
    )
    a, b = cpu.encode_pixels(pixels).cls, gpu.encode_pixels(pixels).cls
    assert (a * b).sum(axis=1).min() >= 0.99
    ta, tb = cpu.encode_texts(["a dog"]), gpu.encode_texts(["a dog"])
    assert float((ta * tb).sum()) >= 0.99


@pytest.mark.gpu
@pytest.mark.parametrize("flat_max", [1_000_000, 1_000])
def test_faiss_index_on_gpu_matches_cpu(tmp_path: Path, flat_max: int) -> None:
    if not faiss_gpu_count():
        pytest.skip("this FAISS build sees no GPU")
    store, x = _publish(tmp_path, flat_max)
    cpu = store.load(device="cpu")
    gpu = store.load(device="cuda")
    assert cpu is not None and gpu is not None and gpu.gpu_index is not None
    _, expected = cpu.search(x[:50], 10)
    _, found = gpu.search(x[:50], 10)
    assert recall_at_k(found, expected) >= 0.95
