"""StreamingMemory: disk-streamed modern Hopfield equals the in-memory model,
exact top-k, bounded peak RSS (measured in a fresh subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from hopfield.io.pattern_store import PatternWriter, open_store, write_patterns
from hopfield.models.modern import ModernHopfield
from hopfield.models.streaming_memory import StreamingMemory

SUFFIXES = (".npy", ".safetensors")
SIMILARITIES = ("dot", "euclidean")


def _patterns(num: int, dim: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(num, dim, generator=torch.Generator().manual_seed(seed))


def _pair(
    tmp_path: Path, patterns: torch.Tensor, suffix: str, similarity: str, beta: float, chunk: int
) -> tuple[StreamingMemory, ModernHopfield]:
    path = tmp_path / f"p{suffix}"
    write_patterns(path, [patterns[i : i + 333] for i in range(0, patterns.shape[0], 333)])
    streamed = StreamingMemory(path, beta, similarity=similarity, chunk_size=chunk)
    reference = ModernHopfield(beta, similarity=similarity)
    reference.store(patterns)
    return streamed, reference


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_energy_step_recall_equal_the_in_memory_model(
    tmp_path: Path, suffix: str, similarity: str
) -> None:
    patterns = _patterns(3001, 24)
    streamed, reference = _pair(tmp_path, patterns, suffix, similarity, beta=0.4, chunk=500)
    queries = patterns[:9] + 0.6 * _patterns(9, 24, seed=1)
    torch.testing.assert_close(
        streamed.energy(queries), reference.energy(queries), rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(
        streamed.step(queries), reference.step(queries), rtol=1e-5, atol=1e-5
    )
    got, want = streamed.recall(queries, steps=3), reference.recall(queries, steps=3)
    torch.testing.assert_close(got.states, want.states, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got.energies, want.energies, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        streamed.energy_grad(queries), reference.energy_grad(queries), rtol=1e-5, atol=1e-5
    )


def test_result_does_not_depend_on_chunk_size_in_float64(tmp_path: Path) -> None:
    patterns = _patterns(1000, 8).double()
    path = tmp_path / "p.npy"
    write_patterns(path, [patterns], dtype=torch.float64)
    queries = _patterns(5, 8, seed=2).double()
    outputs = [StreamingMemory(path, 2.0, chunk_size=c).step(queries) for c in (1, 7, 256, 1000)]
    for out in outputs[1:]:
        torch.testing.assert_close(out, outputs[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_energy_grad_matches_autograd_in_float64(tmp_path: Path, similarity: str) -> None:
    patterns = _patterns(300, 6).double()
    path = tmp_path / "p.safetensors"
    write_patterns(path, [patterns], dtype=torch.float64)
    memory = StreamingMemory(path, 1.3, similarity=similarity, chunk_size=64)
    states = _patterns(4, 6, seed=3).double().requires_grad_(True)
    (autograd,) = torch.autograd.grad(memory.energy(states).sum(), states)
    torch.testing.assert_close(
        memory.energy_grad(states.detach()), autograd, rtol=1e-10, atol=1e-10
    )


def test_energy_never_increases_along_recall(tmp_path: Path) -> None:
    patterns = _patterns(800, 16)
    streamed, _ = _pair(tmp_path, patterns, ".npy", "dot", beta=0.2, chunk=100)
    trace = streamed.recall(_patterns(6, 16, seed=4), steps=6).energies
    assert bool((trace[1:] <= trace[:-1] + 1e-5).all())


def test_large_beta_does_not_overflow(tmp_path: Path) -> None:
    patterns = _patterns(600, 16)
    streamed, reference = _pair(tmp_path, patterns, ".npy", "dot", beta=1e4, chunk=64)
    queries = patterns[:4] + 0.1 * _patterns(4, 16, seed=5)
    energy = streamed.energy(queries)
    assert bool(torch.isfinite(energy).all())
    torch.testing.assert_close(energy, reference.energy(queries), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_topk_equals_masked_softmax_over_the_full_scores(tmp_path: Path, similarity: str) -> None:
    patterns = _patterns(2000, 12)
    streamed, _ = _pair(tmp_path, patterns, ".safetensors", similarity, beta=1.5, chunk=300)
    queries = _patterns(7, 12, seed=6)
    if similarity == "dot":
        scores = 1.5 * queries @ patterns.T
    else:
        scores = -0.75 * torch.cdist(queries.double(), patterns.double()).square().float()
    result = streamed.retrieve_topk(queries, 25)
    top = scores.topk(25, dim=1)
    assert torch.equal(result.indices, top.indices)
    masked = torch.full_like(scores, float("-inf")).scatter(1, top.indices, top.values)
    torch.testing.assert_close(
        result.values, torch.softmax(masked, 1) @ patterns, rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(result.weights, torch.softmax(top.values, 1), rtol=1e-5, atol=1e-6)


def test_topk_with_k_equal_to_all_memories_is_the_full_update(tmp_path: Path) -> None:
    patterns = _patterns(500, 10)
    streamed, reference = _pair(tmp_path, patterns, ".npy", "dot", beta=0.7, chunk=128)
    queries = _patterns(4, 10, seed=7)
    torch.testing.assert_close(
        streamed.retrieve_topk(queries, 500).values, reference.step(queries), rtol=1e-5, atol=1e-5
    )


def test_inputs_are_validated(tmp_path: Path) -> None:
    streamed, _ = _pair(tmp_path, _patterns(50, 4), ".npy", "dot", beta=1.0, chunk=8)
    with pytest.raises(ValueError, match=r"queries must have shape \(B, 4\)"):
        streamed.recall(torch.zeros(2, 5))
    with pytest.raises(TypeError, match="floating-point"):
        streamed.step(torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"k must lie in \[1, 50\]"):
        streamed.retrieve_topk(torch.zeros(1, 4), 51)
    with pytest.raises(TypeError, match="PatternWriter"):
        streamed.store(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="similarity"):
        StreamingMemory(tmp_path / "p.npy", 1.0, similarity="cosine")
    with pytest.raises(TypeError, match="store must be a PatternStore or a path"):
        StreamingMemory(42, 1.0)  # type: ignore[arg-type]


def test_config_rebuilds_an_equivalent_memory(tmp_path: Path) -> None:
    streamed, _ = _pair(tmp_path, _patterns(90, 6), ".safetensors", "euclidean", 0.5, 40)
    clone = StreamingMemory(**streamed.get_config())
    queries = _patterns(3, 6, seed=8)
    assert torch.equal(clone.step(queries), streamed.step(queries))
    assert json.loads(json.dumps(streamed.get_config())) == streamed.get_config()


# --------------------------------------------------------------------------- peak RSS

_RSS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import torch
    from hopfield.models.streaming_memory import StreamingMemory

    def status(field):
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(field)

    path, warm, out, chunk, access = sys.argv[1:6]
    torch.set_num_threads(2)
    queries = torch.from_numpy(np.load(out + "/queries.npy"))
    # Warm-up on a tiny store: library code pages and thread pools become resident now.
    small = StreamingMemory(warm, 0.05, chunk_size=int(chunk), access=access)
    small.recall(queries, steps=1)
    memory = StreamingMemory(path, 0.05, chunk_size=int(chunk), access=access)
    before = status("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # reset VmHWM to the current RSS
        reset = True
    except OSError:
        reset = False  # then VmHWM only over-estimates the peak
    result = memory.recall(queries, steps=1)
    peak = status("VmHWM")
    np.save(out + "/states.npy", result.states.numpy())
    np.save(out + "/energies.npy", result.energies.numpy())
    print(json.dumps({"before": before, "peak": peak, "reset": reset}))
    """
)


def _write_store(path: Path, num: int, dim: int, rows: int = 50_000) -> None:
    generator = torch.Generator().manual_seed(11)
    with PatternWriter(path, dim) as writer:
        for start in range(0, num, rows):
            writer.append(torch.randn(min(rows, num - start), dim, generator=generator))


def _streamed_recall_rss(
    tmp_path: Path, num: int, suffix: str, access: str, chunk: int, batch: int
) -> None:
    dim = 128
    path, warm = tmp_path / f"big{suffix}", tmp_path / f"warm{suffix}"
    _write_store(path, num, dim)
    _write_store(warm, 2 * chunk, dim)
    queries = _patterns(batch, dim, seed=12)
    np.save(tmp_path / "queries.npy", queries.numpy())
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _RSS_SCRIPT,
            str(path),
            str(warm),
            str(tmp_path),
            str(chunk),
            access,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rss = json.loads(done.stdout.strip().splitlines()[-1])
    itemsize = 4
    bound = 2 * (chunk * dim + batch * dim + batch * dim) * itemsize
    extra = rss["peak"] - rss["before"]
    print(
        f"peak extra RSS {extra / 2**20:.1f} MiB, bound {bound / 2**20:.1f} MiB, "
        f"store {num * dim * itemsize / 2**20:.0f} MiB"
    )
    assert extra < bound, (extra, bound)
    # Equality with the in-memory model (patterns read in full here, not in the child).
    reference = ModernHopfield(0.05)
    reference.store(open_store(path).read())
    want = reference.recall(queries, steps=1)
    torch.testing.assert_close(
        torch.from_numpy(np.load(tmp_path / "states.npy")), want.states, rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(
        torch.from_numpy(np.load(tmp_path / "energies.npy")), want.energies, rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize(
    ("suffix", "access"), [(".npy", "read"), (".npy", "mmap"), (".safetensors", "read")]
)
def test_peak_rss_is_bounded_by_chunk_not_store_2e5(
    tmp_path: Path, suffix: str, access: str
) -> None:
    _streamed_recall_rss(tmp_path, 200_000, suffix, access, chunk=65_536, batch=16)


@pytest.mark.slow
@pytest.mark.parametrize(("suffix", "access"), [(".npy", "read"), (".safetensors", "read")])
def test_peak_rss_is_bounded_by_chunk_not_store_2e6(
    tmp_path: Path, suffix: str, access: str
) -> None:
    _streamed_recall_rss(tmp_path, 2_000_000, suffix, access, chunk=65_536, batch=16)


def test_queries_checked_after_the_cast_and_empty_batches(tmp_path: Path) -> None:
    streamed, _ = _pair(tmp_path, _patterns(40, 4), ".npy", "dot", beta=1.0, chunk=16)
    with pytest.raises(ValueError, match="queries contains values outside the range"):
        streamed.recall(torch.full((1, 4), 1e39, dtype=torch.float64))
    with pytest.raises(TypeError, match="queries must have a floating-point dtype"):
        streamed.recall(torch.zeros(1, 4, dtype=torch.complex64))
    assert streamed.recall(torch.zeros(0, 4)).states.shape == (0, 4)
    assert streamed.energy(torch.zeros(0, 4)).shape == (0,)
