"""One-pass log-sum-exp kernels for few queries (the bandwidth-bound case).

With few queries ``B`` a retrieval step ``x ← Ξᵀ softmax(β Ξ x)`` (Ramsauer et al.
2020) does ``4·B·D`` FLOP per key read, so its floor is the time to read the keys
once. The chunk loop of :mod:`hopfield.ops.lse` reaches it poorly on CPUs: each
chunk runs about eight separate operations (each a parallel region with its own
barrier, which stalls whenever another process holds a core), and a matrix-vector
product is not the fastest way to read memory on every CPU. Two fused paths read
every key once, scores, online log-sum-exp and value sum from the same
cache-resident rows:

* ``"native"``: the optional C kernel of :mod:`hopfield.ops.native` (one parallel
  region per step, tasks taken from a shared counter: robust under load);
* ``"sdpa"``: PyTorch's own fused CPU attention kernel
  (``aten._scaled_dot_product_flash_attention_for_cpu``, which also returns the
  log-sum-exp), with the keys viewed as ``H`` "heads" of ``K/H`` rows each so that the
  threads split the keys; the ``H`` partial results merge exactly as in
  :func:`hopfield.ops.lse.combine_partials`. Needs no compiler; requires ``Dv = D``.

:func:`plan_kernel` picks the kernel for a call (``"auto"``: native if it can be
built, else sdpa, else the chunk loop); :func:`fused_partials` runs it.
"""

from __future__ import annotations

import torch

from hopfield.ops.native import native_available, native_lse_partials, native_simd

__all__ = [
    "FEW_QUERIES",
    "KERNELS",
    "NATIVE_MAX_QUERIES",
    "fused_partials",
    "native_max_queries",
    "plan_kernel",
    "plan_threads",
]

KERNELS: tuple[str, ...] = ("auto", "native", "sdpa", "chunked")
"""Kernels of :func:`hopfield.ops.lse.lse_partials`: ``"auto"`` chooses."""

NATIVE_MAX_QUERIES = 64
"""Up to this many queries ``"auto"`` prefers the native kernel (equal to
:data:`FEW_QUERIES`: its AVX-512 build widens each key once for four queries at a
time, and its threads take tasks from a shared counter, so a core shared with
another process slows it less than sdpa's static split. Measured single-thread CPU
time (``time.thread_time``) at K=1e5, D=256, fp32, interleaved: B=4 native 10.8 ms,
sdpa 13.2 ms; B=16 23.9 / 27.2 ms; B=64 72.4 / 72.6 ms. The portable build, without
intrinsics, is slower than sdpa from B≈8 on: CPUs without AVX-512 use sdpa there)."""

FEW_QUERIES = 64
"""Up to this many queries ``"auto"`` uses a fused one-pass kernel (measured 1-thread
CPU time at K=1e5, D=256, B=64: sdpa 104 ms, chunk loop 134 ms; more queries make the
step compute-bound, where the chunk loop's large matrix products are as fast)."""

_BYTES_PER_THREAD = 4 * 2**20
"""Each thread gets at least this many bytes of keys (smaller work runs on fewer threads)."""

_SDPA_HEADS_PER_THREAD = 4


def _sdpa_op() -> object | None:
    return getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


def native_max_queries() -> int:
    """Queries up to which ``"auto"`` uses the native kernel: :data:`NATIVE_MAX_QUERIES`
    with the AVX-512 build, 4 with the portable one."""
    return NATIVE_MAX_QUERIES if native_simd() else 4


def plan_threads(num_bytes: int) -> int:
    """Threads for a pass over ``num_bytes`` of keys: at most ``torch.get_num_threads()``,
    one per 4 MiB (thread start-up and merging cost more than they save below that),
    and at most 256 (the native kernel's limit)."""
    return max(1, min(torch.get_num_threads(), num_bytes // _BYTES_PER_THREAD, 256))


def plan_kernel(
    kernel: str,
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    *,
    grad: bool,
) -> str:
    """The kernel that runs: ``kernel`` itself if it applies, ``"chunked"`` otherwise
    (``"auto"``: native for ``B ≤`` :data:`NATIVE_MAX_QUERIES` (4 without AVX-512) if
    it can be built, else sdpa for ``B ≤`` :data:`FEW_QUERIES`).

    Fused kernels need: no autograd, CPU tensors, float32 queries (and values), keys
    float32 (native also reads bfloat16 keys), ``values`` ``None``, the keys themselves
    or contiguous; sdpa also needs ``Dv = D``.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if kernel == "chunked" or grad or queries.device.type != "cpu" or queries.shape[0] == 0:
        return "chunked"
    if kernel == "auto" and queries.shape[0] > FEW_QUERIES:
        return "chunked"
    common = queries.dtype == torch.float32 and keys.is_contiguous()
    if values is not None and values is not keys:
        common = common and values.dtype == torch.float32 and values.is_contiguous()
    native_ok = common and keys.dtype in (torch.float32, torch.bfloat16)
    sdpa_ok = (
        common
        and keys.dtype == torch.float32
        and (values is None or values.shape[1] == keys.shape[1])
        and _sdpa_op() is not None
    )
    native_ok = native_ok and (kernel == "native" or queries.shape[0] <= native_max_queries())
    if kernel in ("auto", "native") and native_ok and native_available():
        return "native"
    if kernel in ("auto", "sdpa") and sdpa_ok:
        return "sdpa"
    return "chunked"


def fused_partials(
    kernel: str,
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    beta: float,
    bias: torch.Tensor | None,
    floor: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(max, sumexp, weighted)`` of ``s_μ = β ξ_μ·x + b_μ`` with a fused kernel
    (``kernel`` as returned by :func:`plan_kernel`; ``values=None``: keys are values)."""
    vals = None if values is None or values is keys else values
    queries = queries.contiguous()
    bias = None if bias is None else bias.to(torch.float32).contiguous()
    if kernel == "native":
        threads = plan_threads(keys.numel() * keys.element_size())
        return native_lse_partials(
            queries, keys, vals, beta, bias=bias, floor=floor, num_threads=threads
        )
    return _sdpa_partials(queries, keys, keys if vals is None else vals, beta, bias)


def _sdpa_partials(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    beta: float,
    bias: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    op = _sdpa_op()
    assert op is not None
    num_queries, dim = queries.shape
    num_memories = keys.shape[0]
    heads = max(1, min(num_memories, plan_threads(keys.numel() * 4) * _SDPA_HEADS_PER_THREAD))
    rows = num_memories // heads
    main = heads * rows
    head_view = (1, heads, rows, dim)
    mask = None if bias is None else bias[:main].view(1, heads, 1, rows)
    out, lse = op(  # type: ignore[operator]
        queries.view(1, 1, num_queries, dim).expand(1, heads, num_queries, dim),
        keys[:main].view(head_view),
        values[:main].view(head_view),
        attn_mask=mask,
        scale=beta,
    )
    part_max, part_weighted = lse[0], out[0]  # (H, B), (H, B, D): each head's σ is 1
    part_sum = torch.ones_like(part_max)
    if main < num_memories:  # the last K mod H rows, directly
        tail = beta * (queries @ keys[main:].T)
        if bias is not None:
            tail = tail + bias[main:]
        tail_max = tail.amax(dim=1)
        probs = (tail - tail_max[:, None]).exp()
        part_max = torch.cat([part_max, tail_max[None]])
        part_sum = torch.cat([part_sum, probs.sum(dim=1)[None]])
        part_weighted = torch.cat([part_weighted, (probs @ values[main:])[None]])
    total_max = part_max.amax(dim=0)
    safe_max = torch.where(torch.isfinite(total_max), total_max, torch.zeros_like(total_max))
    rescale = (part_max - safe_max).exp()
    total_sum = (rescale * part_sum).sum(dim=0)
    weighted = torch.einsum("hb,hbd->bd", rescale, part_weighted)
    return total_max, total_sum, weighted
