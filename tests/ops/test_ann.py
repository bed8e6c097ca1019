"""Approximate top-k through faiss: with exact index settings it agrees with the
streamed exact top-k; options validate; missing faiss gives a clear error."""

from __future__ import annotations

import pytest
import torch

from hopfield.ops import topk_retrieve
from hopfield.ops.ann import (
    HNSW,
    IVF,
    AnnIndex,
    ApproximateTopK,
    Flat,
    approximate_topk_retrieve,
    faiss_available,
)

needs_faiss = pytest.mark.skipif(
    not faiss_available(),
    reason="faiss is not installed (pip install 'hopfield[faiss]'; `make test` installs it)",
)


def _memory(num: int = 600, dim: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    keys = torch.randn(num, dim, generator=gen)
    queries = keys[:5] + 0.2 * torch.randn(5, dim, generator=gen)
    return keys, queries


@needs_faiss
@pytest.mark.parametrize("similarity", ["dot", "euclidean"])
@pytest.mark.parametrize("normalizer", ["softmax", "sparsemax", "entmax15"])
@pytest.mark.parametrize("index", [Flat(), IVF(nlist=4, nprobe=4)])
def test_exact_index_settings_agree_with_exact_topk(
    similarity: str, normalizer: str, index: Flat | IVF
) -> None:
    keys, queries = _memory()
    option = ApproximateTopK(k=8, index=index)
    got = approximate_topk_retrieve(
        queries, keys, None, 0.8, option, normalizer=normalizer, similarity=similarity
    )
    want = topk_retrieve(queries, keys, None, 0.8, 8, normalizer=normalizer, similarity=similarity)
    assert torch.equal(got.indices.sort(dim=1).values, want.indices.sort(dim=1).values)
    torch.testing.assert_close(got.output, want.output)
    torch.testing.assert_close(got.max_value, want.max_value)


@needs_faiss
def test_hnsw_and_a_prebuilt_index_find_the_nearest_pattern() -> None:
    keys, queries = _memory(2000, 32, seed=1)
    built = AnnIndex.build(keys, HNSW(m=16, ef_search=64), "euclidean")
    assert built.build_seconds > 0
    option = ApproximateTopK(k=4, index=HNSW())
    result = approximate_topk_retrieve(
        queries, keys, None, 10.0, option, index=built, similarity="euclidean"
    )
    assert torch.equal(result.indices[:, 0], torch.arange(5))
    with pytest.raises(ValueError, match="built for similarity"):
        approximate_topk_retrieve(queries, keys, None, 1.0, option, index=built)


@needs_faiss
def test_rows_without_enough_candidates_fall_back_to_exact() -> None:
    keys, queries = _memory(300, 8, seed=2)
    option = ApproximateTopK(k=50, index=IVF(nlist=64, nprobe=1))  # cells hold ~5 patterns
    got = approximate_topk_retrieve(queries, keys, None, 1.0, option)
    want = topk_retrieve(queries, keys, None, 1.0, 50)
    assert torch.equal(got.indices.sort(dim=1).values, want.indices.sort(dim=1).values)


@needs_faiss
def test_gradients_flow_through_the_recomputed_scores() -> None:
    keys, queries = _memory()
    queries.requires_grad_(True)
    result = approximate_topk_retrieve(queries, keys, None, 1.0, ApproximateTopK(k=4, index=Flat()))
    result.max_value.sum().backward()
    assert queries.grad is not None and torch.isfinite(queries.grad).all()


def test_options_validate() -> None:
    with pytest.raises(ValueError, match="k must be an int"):
        ApproximateTopK(k=0)
    with pytest.raises(TypeError, match="index must be"):
        ApproximateTopK(k=4, index="ivf")  # type: ignore[arg-type]
    config = ApproximateTopK(k=3, index=IVF(nlist=8, nprobe=2)).get_config()
    assert config == {"k": 3, "index": "IVF", "nlist": 8, "nprobe": 2, "train_per_list": 40}
    keys, queries = _memory()
    with pytest.raises(ValueError, match="normalizer"):
        approximate_topk_retrieve(queries, keys, None, 1.0, ApproximateTopK(), normalizer="x")


def test_missing_faiss_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_faiss(name: str, *args: object, **kwargs: object) -> object:
        if name == "faiss":
            raise ImportError("No module named 'faiss'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_faiss)
    monkeypatch.setattr("importlib.import_module", lambda name: no_faiss(name))
    keys, _ = _memory()
    with pytest.raises(ImportError, match=r"hopfield\[faiss\]"):
        AnnIndex.build(keys, Flat())


@needs_faiss
def test_modern_hopfield_accepts_the_option_and_saves_it() -> None:
    from hopfield.models.modern import ModernHopfield

    keys, queries = _memory(500, 16, seed=3)
    exact = ModernHopfield(2.0, top_k=6)
    approx = ModernHopfield(2.0, top_k=ApproximateTopK(k=6, index=Flat()))
    for model in (exact, approx):
        model.store(keys)
    torch.testing.assert_close(approx.step(queries), exact.step(queries))
    torch.testing.assert_close(approx.energy(queries), exact.energy(queries))
    first = approx._ann_index()
    assert approx._ann_index() is first  # built once per stored patterns
    approx.store(keys[:300])
    assert approx._ann_index() is not first  # rebuilt after store
    config = approx.get_config()
    rebuilt = ModernHopfield(**config)
    assert rebuilt.top_k == approx.top_k
