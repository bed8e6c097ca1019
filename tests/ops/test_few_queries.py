"""The one-pass few-query kernels (native C and PyTorch's fused attention) agree with
the chunk loop and a float64 reference, and "auto" falls back where they do not apply."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hopfield.ops import lse_partials, lse_retrieve
from hopfield.ops import native as native_module
from hopfield.ops.few_queries import FEW_QUERIES, KERNELS, plan_kernel, plan_threads
from hopfield.ops.native import NativeTeam, native_available, native_lse_partials

NATIVE = native_available()
needs_native = pytest.mark.skipif(
    not NATIVE, reason="no C compiler here: the native kernel cannot be built (fallbacks tested)"
)


def _reference(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    beta: float,
    similarity: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Explicit float64 softmax over the full score matrix."""
    q, k = queries.double(), keys.double()
    v = k if values is None else values.double()
    dot = beta * q @ k.T
    scores = dot if similarity == "dot" else -0.5 * beta * torch.cdist(q, k).square()
    return torch.softmax(scores, dim=1) @ v, torch.logsumexp(scores, dim=1)


def _close(got: tuple[torch.Tensor, torch.Tensor], want: tuple[torch.Tensor, torch.Tensor]) -> None:
    output, logsumexp = got
    scale = want[0].abs().max().clamp_min(1e-30)
    assert float((output.double() - want[0]).abs().max() / scale) < 1e-5
    torch.testing.assert_close(logsumexp.double(), want[1], rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("kernel", ["native", "sdpa", "auto"])
@pytest.mark.parametrize("similarity", ["dot", "euclidean"])
@pytest.mark.parametrize(
    ("num_memories", "dim", "value_dim", "batch"),
    [(1, 4, 4, 1), (37, 8, 8, 3), (1037, 16, 5, 2), (4099, 32, 32, 5), (20000, 64, 64, 1)],
)
def test_fused_kernels_match_the_explicit_reference(
    kernel: str, similarity: str, num_memories: int, dim: int, value_dim: int, batch: int
) -> None:
    if kernel == "native" and not NATIVE:
        pytest.skip("no C compiler here: the native kernel cannot be built")
    gen = torch.Generator().manual_seed(num_memories + batch)
    keys = torch.randn(num_memories, dim, generator=gen)
    queries = torch.randn(batch, dim, generator=gen)
    values = None if value_dim == dim else torch.randn(num_memories, value_dim, generator=gen)
    got = lse_retrieve(queries, keys, values, 0.7, similarity=similarity, kernel=kernel)
    _close(got, _reference(queries, keys, values, 0.7, similarity))


@pytest.mark.parametrize("kernel", ["native", "sdpa"])
def test_fused_kernels_separate_values_and_energy_only_pass(kernel: str) -> None:
    if kernel == "native" and not NATIVE:
        pytest.skip("no C compiler here: the native kernel cannot be built")
    gen = torch.Generator().manual_seed(1)
    keys = torch.randn(3000, 16, generator=gen)
    values = torch.randn(3000, 16, generator=gen)
    queries = torch.randn(2, 16, generator=gen)
    fused = lse_partials(queries, keys, values, 0.5, kernel=kernel)
    chunked = lse_partials(queries, keys, values, 0.5, kernel="chunked", chunk_size=128)
    assert fused.weighted is not None and chunked.weighted is not None
    torch.testing.assert_close(
        fused.weighted / fused.sumexp[:, None], chunked.weighted / chunked.sumexp[:, None]
    )
    energy_only = lse_partials(queries, keys, None, 0.5, kernel=kernel)
    assert energy_only.weighted is None
    torch.testing.assert_close(
        energy_only.max + energy_only.sumexp.log(), chunked.max + chunked.sumexp.log()
    )


@needs_native
@pytest.mark.parametrize("threads", [1, 2, 3, 7])
def test_native_threads_give_the_same_result(threads: int) -> None:
    gen = torch.Generator().manual_seed(threads)
    keys = torch.randn(10_000, 32, generator=gen)
    queries = torch.randn(2, 32, generator=gen)
    run_max, run_sum, weighted = native_lse_partials(
        queries, keys, None, 0.9, floor=-69.0, num_threads=threads
    )
    want = _reference(queries, keys, None, 0.9, "dot")
    _close((weighted / run_sum[:, None], run_max + run_sum.log()), want)


def _dequantised(keys: torch.Tensor, store: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``keys`` stored as ``store`` (int8: symmetric, one scale per row) and their scales."""
    if store == "fp32":
        return keys, None
    if store == "bf16":
        return keys.to(torch.bfloat16), None
    scales = keys.abs().amax(dim=1).clamp_min(1e-12) / 127.0
    return (keys / scales[:, None]).round().to(torch.int8), scales


@needs_native
@pytest.mark.parametrize("portable", [False, True])
@pytest.mark.parametrize("store", ["fp32", "bf16", "int8"])
@pytest.mark.parametrize(
    ("num_memories", "dim", "value_dim", "batch"),
    [(1, 4, 4, 1), (45, 40, 40, 3), (2051, 64, 7, 2), (3000, 256, 256, 1), (777, 96, 96, 5)],
)
def test_native_builds_match_the_explicit_reference_on_every_store(
    portable: bool, store: str, num_memories: int, dim: int, value_dim: int, batch: int
) -> None:
    """Both builds (AVX-512 intrinsics where the CPU has them, and the portable loops)
    give the explicit float64 softmax over the dequantised keys to 1e-5 relative, for
    dims that are and are not multiples of 32, blocks cut short, biases and values."""
    gen = torch.Generator().manual_seed(num_memories + dim + batch)
    keys = torch.randn(num_memories, dim, generator=gen)
    codes, scales = _dequantised(keys, store)
    plain = codes.float() if scales is None else codes.float() * scales[:, None]
    values = None if value_dim == dim else torch.randn(num_memories, value_dim, generator=gen)
    queries = torch.randn(batch, dim, generator=gen) / dim**0.25
    bias = torch.randn(num_memories, generator=gen) if batch == 2 else None
    beta = 0.8
    got_max, got_sum, got_weighted = native_lse_partials(
        queries, codes, values, beta, bias=bias, key_scales=scales, floor=-87.0,
        num_threads=2, portable=portable,
    )  # fmt: skip
    scores = beta * queries.double() @ plain.double().T
    if bias is not None:
        scores = scores + bias.double()
    want_lse = torch.logsumexp(scores, dim=1)
    want = torch.softmax(scores, dim=1) @ (plain if values is None else values).double()
    got = got_weighted.double() / got_sum.double()[:, None]
    assert float((got - want).abs().max() / want.abs().max()) < 1e-5
    lse = got_max.double() + got_sum.double().log()
    assert float((lse - want_lse).abs().max() / want_lse.abs().max().clamp_min(1.0)) < 1e-6


@needs_native
@pytest.mark.parametrize("store", ["bf16", "int8"])
@pytest.mark.parametrize(
    ("num_memories", "dim", "value_dim", "biased"),
    [(16, 32, 32, False), (1037, 96, 96, True), (2051, 256, 256, False), (530, 64, 40, True),
     (300, 256, 7, False), (48, 64, 64, True)],
)  # fmt: skip
def test_one_query_block_matches_the_general_block_and_the_reference(
    store: str, num_memories: int, dim: int, value_dim: int, biased: bool
) -> None:
    """One query over bf16 / int8 keys with D a multiple of 32 runs its own block (scores
    of sixteen rows in registers, the keys prefetched in both passes): it gives the float64
    softmax to 1e-5 relative and the same result as the general block (two copies of the
    query) and the portable build, with and without separate values and biases, on full
    blocks and on the rows past the last one, on 1 and 3 threads."""
    gen = torch.Generator().manual_seed(num_memories + dim + value_dim)
    codes, scales = _dequantised(torch.randn(num_memories, dim, generator=gen), store)
    plain = codes.float() if scales is None else codes.float() * scales[:, None]
    values = None if value_dim == dim else torch.randn(num_memories, value_dim, generator=gen)
    bias = torch.randn(num_memories, generator=gen) if biased else None
    query = torch.randn(1, dim, generator=gen) / dim**0.25

    def run(queries: torch.Tensor, threads: int, portable: bool = False) -> torch.Tensor:
        run_max, run_sum, weighted = native_lse_partials(
            queries, codes, values, 0.8, bias=bias, key_scales=scales, floor=-87.0,
            num_threads=threads, portable=portable,
        )  # fmt: skip
        return torch.cat([weighted / run_sum[:, None], (run_max + run_sum.log())[:, None]], 1)

    scores = 0.8 * query.double() @ plain.double().T + (0.0 if bias is None else bias.double())
    want = torch.softmax(scores, dim=1) @ (plain if values is None else values).double()
    for threads in (1, 3):
        got = run(query, threads)
        assert float((got[:, :-1] - want).abs().max() / want.abs().max()) < 1e-5
        lse = float(torch.logsumexp(scores, dim=1))
        assert abs(float(got[0, -1]) - lse) < 1e-6 * max(1.0, abs(lse))
        general = run(query.expand(2, dim).contiguous(), threads)  # B=2: the general block
        torch.testing.assert_close(got[0], general[1], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got, run(query, threads, portable=True), rtol=1e-5, atol=1e-6)


@needs_native
@pytest.mark.parametrize("store", ["fp32", "bf16", "int8"])
@pytest.mark.parametrize("batch", [1, 3])
def test_native_thread_teams_match_the_reference_and_the_portable_build(
    store: str, batch: int
) -> None:
    """Several workers run on the kernel's own threads or as a team of PyTorch's OpenMP
    runtime (always, or while no more threads are runnable than cores): right after a
    parallel PyTorch operation (its threads still spinning), on 1, 2 and 3 threads, every
    team gives the float64 softmax to 1e-5 relative and the portable build's result, on
    the one-query block (B=1, D a multiple of 32) and the general one."""
    import os

    gen = torch.Generator().manual_seed(17 + batch)
    codes, scales = _dequantised(torch.randn(30_000, 64, generator=gen), store)  # 30 tasks
    plain = codes.float() if scales is None else codes.float() * scales[:, None]
    bias = torch.randn(30_000, generator=gen)
    queries = torch.randn(batch, 64, generator=gen) / 8**0.5
    square = torch.randn(512, 512, generator=gen)
    if "parallel backend: OpenMP" in torch.__config__.parallel_info():
        assert native_module._openmp_parallel(os.getpid()) is not None  # a team really runs

    def run(team: NativeTeam, threads: int, portable: bool = False) -> torch.Tensor:
        (square @ square).sum()  # a parallel PyTorch operation just before
        run_max, run_sum, weighted = native_lse_partials(
            queries, codes, None, 0.7, bias=bias, key_scales=scales, floor=-87.0,
            num_threads=threads, portable=portable, team=team,
        )  # fmt: skip
        return torch.cat([weighted / run_sum[:, None], (run_max + run_sum.log())[:, None]], 1)

    scores = 0.7 * queries.double() @ plain.double().T + bias.double()
    want = torch.softmax(scores, dim=1) @ plain.double()
    want_lse = torch.logsumexp(scores, dim=1)
    portable = run(NativeTeam.OWN, 1, portable=True)
    for team in NativeTeam:
        for threads in (1, 2, 3):
            got = run(team, threads)
            assert float((got[:, :-1] - want).abs().max() / want.abs().max()) < 1e-5
            torch.testing.assert_close(got[:, -1].double(), want_lse, rtol=1e-6, atol=1e-5)
            torch.testing.assert_close(got, portable, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(got, run(team, threads, portable=True), rtol=1e-5, atol=1e-6)


@needs_native
def test_native_portable_build_is_the_portable_path() -> None:
    """The portable build really runs without intrinsics; the default one uses them
    exactly where the compiler targets AVX-512."""
    assert not native_module.native_simd(portable=True)
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    assert native_module.native_simd() == (" avx512f " in flags.replace("\n", " "))


@needs_native
def test_native_reads_bfloat16_and_int8_keys() -> None:
    gen = torch.Generator().manual_seed(3)
    keys = torch.randn(5000, 16, generator=gen)
    queries = torch.randn(2, 16, generator=gen)
    low = keys.to(torch.bfloat16)
    got = native_lse_partials(queries, low, None, 0.8, floor=-69.0, num_threads=2)
    want = _reference(queries, low.float(), None, 0.8, "dot")
    _close((got[2] / got[1][:, None], got[0] + got[1].log()), want)
    scales = keys.abs().amax(dim=1) / 127.0
    quantised = (keys / scales[:, None]).round().to(torch.int8)
    got = native_lse_partials(
        queries, quantised, None, 0.8, key_scales=scales, floor=-69.0, num_threads=2
    )
    want = _reference(queries, quantised.float() * scales[:, None], None, 0.8, "dot")
    _close((got[2] / got[1][:, None], got[0] + got[1].log()), want)


@pytest.mark.parametrize("kernel", ["native", "sdpa"])
def test_fused_kernels_are_stable_at_huge_beta(kernel: str) -> None:
    if kernel == "native" and not NATIVE:
        pytest.skip("no C compiler here: the native kernel cannot be built")
    gen = torch.Generator().manual_seed(4)
    keys = torch.randn(2000, 8, generator=gen)
    queries = keys[:2] + 0.01 * torch.randn(2, 8, generator=gen)
    output, logsumexp = lse_retrieve(queries, keys, None, 1e6, kernel=kernel)
    assert torch.isfinite(output).all() and torch.isfinite(logsumexp).all()
    torch.testing.assert_close(output, keys[(queries @ keys.T).argmax(dim=1)])


def test_plan_falls_back_where_fused_kernels_do_not_apply() -> None:
    keys = torch.randn(100, 8)
    queries = torch.randn(2, 8)
    assert plan_kernel("chunked", queries, keys, None, grad=False) == "chunked"
    assert plan_kernel("auto", queries, keys, None, grad=True) == "chunked"
    assert plan_kernel("native", queries.double(), keys.double(), None, grad=False) == "chunked"
    many = torch.randn(FEW_QUERIES + 1, 8)
    assert plan_kernel("auto", many, keys, None, grad=False) == "chunked"
    odd_values = torch.randn(100, 3)
    assert plan_kernel("sdpa", queries, keys, odd_values, grad=False) == "chunked"
    assert plan_kernel("auto", queries, keys, None, grad=False) in ("native", "sdpa")
    assert set(KERNELS) == {"auto", "native", "sdpa", "chunked"}
    with pytest.raises(ValueError, match="kernel must be one of"):
        plan_kernel("fast", queries, keys, None, grad=False)
    assert plan_threads(1) == 1
    assert plan_kernel("native", queries[:0], keys, None, grad=False) == "chunked"
    output, logsumexp = lse_retrieve(queries[:0], keys, None, 1.0, kernel="native")
    assert output.shape == (0, 8) and logsumexp.shape == (0,)


def test_autograd_still_flows_with_the_auto_kernel() -> None:
    keys = torch.randn(50, 4)
    queries = torch.randn(1, 4, requires_grad=True)
    output, logsumexp = lse_retrieve(queries, keys, None, 1.0)
    (output.sum() + logsumexp.sum()).backward()
    assert queries.grad is not None and torch.isfinite(queries.grad).all()


def test_without_a_compiler_auto_uses_the_portable_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default install needs no compiler: with the native kernel disabled, "auto"
    picks PyTorch's fused kernel and gives the same result."""
    gen = torch.Generator().manual_seed(5)
    keys = torch.randn(3000, 16, generator=gen)
    queries = torch.randn(1, 16, generator=gen)
    want = _reference(queries, keys, None, 0.6, "dot")
    monkeypatch.setenv("HOPFIELD_NATIVE", "0")
    native_module.native_library.cache_clear()
    try:
        assert not native_available()
        assert plan_kernel("auto", queries, keys, None, grad=False) == "sdpa"
        assert plan_kernel("native", queries, keys, None, grad=False) == "chunked"
        _close(lse_retrieve(queries, keys, None, 0.6), want)
        with pytest.raises(RuntimeError, match="not available"):
            native_lse_partials(queries, keys, None, 0.6, floor=-69.0, num_threads=1)
    finally:
        native_module.native_library.cache_clear()


def test_native_build_failure_is_not_fatal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A compiler that fails leaves the kernel unavailable (no exception, no file)."""
    monkeypatch.setenv("HOPFIELD_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "false")
    monkeypatch.setattr(native_module.shutil, "which", lambda name: "/bin/false")
    native_module.native_library.cache_clear()
    try:
        assert native_module.native_library() is None
        assert not any(p.suffix == ".so" for p in tmp_path.iterdir())
    finally:
        native_module.native_library.cache_clear()


@pytest.mark.parametrize("storage", ["bf16", "int8"])
def test_low_precision_stores_without_the_native_kernel(
    monkeypatch: pytest.MonkeyPatch, storage: str
) -> None:
    """With ``HOPFIELD_NATIVE=0`` a bf16 / int8 memory widens its codes block by block
    and gives the same step (1e-5) as the native kernel reading the codes directly."""
    from hopfield.models.modern import ModernHopfield

    gen = torch.Generator().manual_seed(8)
    patterns = torch.randn(3000, 64, generator=gen)
    queries = patterns[:3] + 0.3 * torch.randn(3, 64, generator=gen)
    memory = ModernHopfield(0.125, storage=storage)
    memory.store(patterns)
    with torch.no_grad():
        native = memory.step(queries)
        monkeypatch.setenv("HOPFIELD_NATIVE", "0")
        native_module.native_library.cache_clear()
        try:
            assert not native_available()
            portable = memory.step(queries)
        finally:
            monkeypatch.delenv("HOPFIELD_NATIVE")
            native_module.native_library.cache_clear()
    torch.testing.assert_close(native, portable, rtol=1e-5, atol=1e-5)


def _wait_for_child(pid: int, timeout: float) -> int:
    """The child's wait status; a child still running after ``timeout`` s is killed and the
    test fails (a deadlock must fail the suite, not hang it)."""
    import os
    import signal
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"the forked child did not finish within {timeout} s (deadlock?)")


@needs_native
def test_native_helper_threads_survive_fork_and_concurrent_calls() -> None:
    """The kernel keeps helper threads between calls: a forked child (which has none)
    starts its own, and calls from several Python threads at once (serialised inside)
    give the same result."""
    import os
    import threading

    gen = torch.Generator().manual_seed(9)
    keys = torch.randn(20_000, 32, generator=gen)
    queries = torch.randn(2, 32, generator=gen)
    want = native_lse_partials(queries, keys, None, 0.5, floor=-69.0, num_threads=2)
    pid = os.fork()
    if pid == 0:  # child: only the native call, then leave without pytest's teardown
        got = native_lse_partials(queries, keys, None, 0.5, floor=-69.0, num_threads=2)
        os._exit(0 if torch.allclose(got[2], want[2], rtol=1e-5, atol=1e-6) else 1)
    status = _wait_for_child(pid, timeout=120.0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    results: list[torch.Tensor] = []

    def call() -> None:
        for _ in range(5):
            results.append(
                native_lse_partials(queries, keys, None, 0.5, floor=-69.0, num_threads=3)[2]
            )

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 15  # (threads take tasks in any order: equal up to rounding)
    for result in results:
        torch.testing.assert_close(result, want[2], rtol=1e-5, atol=1e-6)
