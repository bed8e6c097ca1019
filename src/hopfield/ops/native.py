"""Optional native one-pass kernel for few-query log-sum-exp retrieval.

The kernel (``csrc/lse_few.c`` and ``csrc/lse_few_avx512.h``, C99 + pthreads, no
PyTorch headers) reads
each block of 16 keys once and, from the same cache-resident rows, computes the
scores ``β ξ_μ·x (+ b_μ)``, the online log-sum-exp state ``(m, σ)`` and the
weighted value sum ``w`` (Ramsauer et al. 2020, "Hopfield Networks is All You
Need"; the partials are those of :class:`hopfield.ops.lse.LSEPartials`). Worker
threads take 1024-row tasks from a shared counter, so a thread whose core is
shared with another process takes fewer tasks instead of holding the others at a
barrier; the helper threads are started once and sleep between calls (a woken
thread runs at once on a busy machine, a new one waited ~2.5 ms; concurrent calls
are serialised, a forked child starts its own), or, while no more threads are
runnable than cores, the workers run as a team of PyTorch's own OpenMP threads
(:class:`NativeTeam`: after a parallel PyTorch operation those keep spinning and
would otherwise share a core with a helper); each task sums its own rows before
folding them into the thread's partials (two-level sums: ~1e-7 relative error at
K = 1e6).

On CPUs with AVX-512 the blocks run on intrinsics that widen bfloat16 and int8 keys
in registers (two integer operations per 32 bfloat16 keys), so low-precision stores
are read at close to their own, halved or quartered, memory floor; elsewhere (or
built with ``portable=True``) portable C loops that the compiler vectorises. One query
over low-precision keys has its own AVX-512 block, which keeps memory streaming
through both passes over each block (prefetching the keys ahead in address order,
half during the scores and half during the weighted sum).

The C file is compiled on first use with the system C compiler (``$CC`` or ``cc``,
``-O3 -march=native``) into a per-user cache directory
(``$HOPFIELD_CACHE_DIR``, else ``$XDG_CACHE_HOME/hopfield``, else
``~/.cache/hopfield``), keyed by the source, compiler and CPU; later processes load
the cached library. Without a compiler (or with ``HOPFIELD_NATIVE=0``)
:func:`native_library` returns ``None`` and the callers use their portable paths.
"""

from __future__ import annotations

import ctypes
import enum
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

__all__ = [
    "NATIVE_DTYPES",
    "NativeTeam",
    "native_available",
    "native_library",
    "native_lse_partials",
    "native_simd",
]

_SOURCE = Path(__file__).with_name("csrc") / "lse_few.c"
_FLAGS = ("-O3", "-march=native", "-fopenmp-simd", "-fno-math-errno", "-fPIC", "-shared")
_PORTABLE_FLAGS = ("-DHOPFIELD_PORTABLE",)  # the portable C loops even where AVX-512 exists
_COMPILE_TIMEOUT_S = 120

NATIVE_DTYPES: dict[torch.dtype, int] = {torch.float32: 0, torch.bfloat16: 1, torch.int8: 2}
"""Key dtypes of the native kernel and their codes (int8 keys need one scale per row)."""


class NativeTeam(enum.IntEnum):
    """Which threads run the native kernel's workers when it uses several.

    After a parallel PyTorch operation the threads of PyTorch's OpenMP runtime keep
    spinning for a while; on a machine with as many cores as threads a thread of the
    kernel's own then shares a core with one of them, where that spinning thread can
    take the work itself (measured on 2 cores, fp32 K=1e5 B=1 right after
    ``keys.sum()``: own threads 5.1 ms, OpenMP team 3.7 ms, the sum itself 4.1 ms). With
    another process running, the own threads were faster (6.3 vs 6.9 ms): their waits
    sleep and free a core, the runtime's spin.
    """

    OWN = 0
    """The kernel's own threads (started once, asleep between calls)."""
    AUTO = 1
    """An OpenMP team while no more threads are runnable than the machine has cores
    (Linux's ``/proc/loadavg`` count, read at each call), else the own threads."""
    OPENMP = 2
    """Always an OpenMP team (the own threads where PyTorch does not run on OpenMP)."""


def _cache_dir() -> Path:
    explicit = os.environ.get("HOPFIELD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hopfield"


def _cpu_signature() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return platform.machine() + flags


def _compile(compiler: str, flags: tuple[str, ...], target: Path) -> bool:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        built = Path(scratch) / target.name
        command = [compiler, *flags, "-o", str(built), str(_SOURCE), "-lpthread"]
        try:
            done = subprocess.run(
                command, capture_output=True, timeout=_COMPILE_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return False
        if done.returncode != 0 or not built.exists():
            return False
        os.replace(built, target)  # atomic: concurrent builders never see a partial file
    return True


def _bind(library: ctypes.CDLL) -> ctypes.CDLL:
    pointer, size = ctypes.c_void_p, ctypes.c_int64
    function = library.hopfield_lse_few
    function.argtypes = [
        pointer, size, size, pointer, ctypes.c_int, pointer, size, pointer, size, pointer,
        ctypes.c_float, ctypes.c_float, ctypes.c_int, pointer, ctypes.c_int, pointer, pointer,
        pointer,
    ]  # fmt: skip
    function.restype = ctypes.c_int
    library.hopfield_lse_few_simd.argtypes = []
    library.hopfield_lse_few_simd.restype = ctypes.c_int
    return library


@functools.cache
def native_library(portable: bool = False) -> ctypes.CDLL | None:
    """The compiled kernel (built on first call, then cached on disk), or ``None`` when
    disabled (``HOPFIELD_NATIVE=0``), without a C compiler, or if the build fails.
    ``portable=True``: the build without intrinsics (what CPUs without AVX-512 run)."""
    if os.environ.get("HOPFIELD_NATIVE", "1") == "0" or platform.system() != "Linux":
        return None
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None or not _SOURCE.exists():
        return None
    flags = _FLAGS + (_PORTABLE_FLAGS if portable else ())
    key = hashlib.sha256()
    for part in sorted(_SOURCE.parent.iterdir()):  # the .c file and the headers it includes
        key.update(part.read_bytes())
    key.update(" ".join((compiler, *flags, _cpu_signature())).encode())
    target = _cache_dir() / f"lse_few-{key.hexdigest()[:16]}.so"
    try:
        if not target.exists() and not _compile(compiler, flags, target):
            return None
        return _bind(ctypes.CDLL(str(target)))
    except OSError:
        return None


@functools.cache
def _openmp_parallel(pid: int) -> int | None:
    """Address of ``GOMP_parallel`` of the OpenMP runtime PyTorch's threads run on, in
    process ``pid`` (a forked child looks again: it uses the kernel's own threads), or
    ``None`` when PyTorch does not run on OpenMP or the symbol is not found."""
    if pid != _PARENT_PID or "parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return None
    function = getattr(ctypes.CDLL(None), "GOMP_parallel", None)  # loaded globally by torch
    return None if function is None else ctypes.cast(function, ctypes.c_void_p).value


_PARENT_PID = os.getpid()


def native_available() -> bool:
    """Whether the native kernel can be used in this process (compiles it if needed)."""
    return native_library() is not None


def native_simd(portable: bool = False) -> bool:
    """Whether the (``portable``) build runs its blocks on AVX-512 intrinsics."""
    library = native_library(portable)
    return library is not None and bool(library.hopfield_lse_few_simd())


def native_lse_partials(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None,
    beta: float,
    *,
    bias: torch.Tensor | None = None,
    key_scales: torch.Tensor | None = None,
    floor: float,
    num_threads: int,
    portable: bool = False,
    team: NativeTeam = NativeTeam.AUTO,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(max (B,), sumexp (B,), weighted (B, Dv))`` of the scores ``β ξ_μ·x + b_μ`` in one
    pass over ``keys`` with the native kernel (``values=None``: the keys are the values).

    Requirements (checked by the caller, :func:`hopfield.ops.lse.lse_partials`): CPU,
    contiguous; queries, values, bias and key_scales float32; keys float32, bfloat16 or
    int8 (then ``key_scales`` ``(K,)``: row ``μ`` is ``key_scales[μ] · keys[μ]``).
    Exponents below ``floor`` are clamped there. ``portable=True`` runs the build
    without intrinsics. ``team``: which threads run the workers when ``num_threads > 1``
    (:class:`NativeTeam`; a forked child uses the own threads). Raises ``RuntimeError``
    if the kernel is unavailable or fails.
    """
    library = native_library(portable)
    if library is None:
        raise RuntimeError("the native kernel is not available (no C compiler, or disabled)")
    num_queries, dim = queries.shape
    value_dim = dim if values is None else values.shape[1]
    out_max = queries.new_empty(num_queries)
    out_sum = queries.new_empty(num_queries)
    out_weighted = queries.new_empty(num_queries, value_dim)

    def address(tensor: torch.Tensor | None) -> int | None:
        return None if tensor is None else tensor.data_ptr()

    status = library.hopfield_lse_few(
        address(queries), num_queries, dim, address(keys), NATIVE_DTYPES[keys.dtype],
        address(key_scales), keys.shape[0], address(values), value_dim, address(bias),
        float(beta), float(floor), int(num_threads),
        None if team == NativeTeam.OWN else _openmp_parallel(os.getpid()),
        int(team == NativeTeam.OPENMP), address(out_max), address(out_sum), address(out_weighted),
    )  # fmt: skip
    if status != 0:
        raise RuntimeError(f"native lse kernel failed with status {status}")
    return out_max, out_sum, out_weighted
