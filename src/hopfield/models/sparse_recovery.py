"""Associative memory via sparse recovery: learn the data's constraints, decode syndromes.

Mazumdar & Rawat (2015), "Associative Memory via a Sparse Recovery Model" (NeurIPS).
The stored set 𝓜 ⊂ Rⁿ is a (possibly exponentially large) subset of a k-dimensional
subspace, e.g. all bounded-integer combinations x = A u, u ∈ {−q, …, q}^k. The network
is bipartite: n variable nodes and m = n − k constraint nodes with weights B ∈ R^{m×n}.

* **Learning** finds constraints every stored vector satisfies, ``B x = 0`` for x ∈ 𝓜,
  i.e. a basis of the orthogonal complement of span 𝓜:
  ``method="svd"`` takes the right singular vectors of the data matrix with (relatively)
  zero singular values; ``method="neural"`` learns them with an anti-Hebbian
  minor-subspace rule (below).
* **Recall** of y = x + e with a sparse error e: the syndrome ``z = B y = B e`` depends
  on e only, and the error is decoded by basis pursuit

      ê = argmin ‖e‖₁  subject to  B e = z,      x̂ = y − ê,

  which returns e exactly when it is sparse enough for B's null-space property
  (the compressed-sensing phase transition). Solvers: ``"admm"`` (batched torch),
  ``"ista"`` (batched FISTA on ½‖Be − z‖² + λ‖e‖₁ with λ continuation), both followed
  by a least-squares "debias" step restricted to the detected support, and ``"lp"``
  (exact: the LP ``min 1ᵀ(p + q) s.t. B(p − q) = z, p, q ≥ 0`` with SciPy's HiGHS).

The paper's exact recall algorithm and theorem constants were not available to us
(see ``papers.md`` §1); the ℓ1 decoder is the formulation the paper describes ("solve
a sparse-recovery problem on the syndrome") and the iterative solvers are the
neurally-plausible analogues: each iteration is a pass through the bipartite graph
(``B e`` then ``Bᵀ r``) followed by a coordinate-wise threshold.

Neural learner: each constraint neuron c = b·x should stay silent on data; the
anti-Hebbian update ``B ← B − η (B x) xᵀ`` (averaged over a minibatch) shrinks the
components of B in the data span by ``(1 − η λ)`` per step, and symmetric
decorrelation ``B ← (B Bᵀ)^{−1/2} B`` keeps the m rows orthonormal, so B converges to
an orthonormal basis of the minor (null) subspace — Oja-type minor-subspace analysis
with lateral decorrelation.

Decoding is reported per sample, never raised: when ‖e‖₀ is beyond the threshold the
ℓ1 solution is a dense vector; ``decoded`` is False when the constraint residual is
large or the decoded error is not sparse enough to be the unique sparsest solution
(2‖ê‖₀ > m, beyond which B's spark no longer guarantees uniqueness).
"""

from __future__ import annotations

import warnings
from typing import Any, Literal, get_args

import numpy as np
import torch
from torch import nn

from hopfield._deprecated import moved_attribute
from hopfield._validation import (
    EmptyMemoryError,
    check_finite,
    check_floating,
    check_int,
    check_positive,
    check_rank,
)
from hopfield.data.constrained import bounded_integer_dataset, sparse_corruption
from hopfield.data.generators import make_generator
from hopfield.models.base import MemorySpec, RecallResult, check_mask, iterate_recall

__all__ = [
    "Solver",
    "SparseRecoveryMemory",
    "bounded_integer_dataset",
    "sparse_corruption",
]


def __getattr__(name: str) -> Any:
    """``SparseRecoveryResult`` is the deprecated name of :class:`RecallResult`."""
    return moved_attribute(__name__, name)


Solver = Literal["admm", "ista", "lp"]
_SOLVERS: tuple[str, ...] = get_args(Solver)


def _legacy_solver(legacy: tuple[Any, ...], solver: Solver | None) -> Solver | None:
    if len(legacy) > 1 or solver is not None:
        raise TypeError("recall() takes the solver once, as solver=…")
    warnings.warn(
        "recall(states, solver) is deprecated and will be removed in the next release; "
        "use recall(queries, solver=…)",
        DeprecationWarning,
        stacklevel=3,
    )
    return legacy[0]


def _soft_threshold(values: torch.Tensor, threshold: torch.Tensor | float) -> torch.Tensor:
    return values.sign() * (values.abs() - threshold).clamp_min(0)


def _symmetric_orthonormalize(rows: torch.Tensor) -> torch.Tensor:
    """(B Bᵀ)^{−1/2} B: the orthonormal rows closest to B (symmetric decorrelation)."""
    eigenvalues, vectors = torch.linalg.eigh(rows @ rows.T)
    inverse_root = (vectors * eigenvalues.clamp_min(1e-300).rsqrt()) @ vectors.T
    return inverse_root @ rows


def _derive_pinv(module: SparseRecoveryMemory, _keys: object) -> None:
    """The pseudo-inverse of the constraints (not saved; rebuilt after ``load_state_dict``)."""
    if module.constraints.numel():
        rows = module.constraints
        module.constraints_pinv = torch.linalg.pinv(rows.to(torch.float64)).to(rows.dtype)


class SparseRecoveryMemory(nn.Module):
    """Sparse-recovery associative memory (Mazumdar & Rawat 2015).

    Constraints ``B x = 0`` on the stored set; recall ``x̂ = y − argmin{‖e‖₁ : B e = B y}``.
    See the module docstring for the learning rules and solvers.

    Args:
        solver: default decoder, ``"admm"``, ``"ista"`` or ``"lp"``.
        max_iterations: iterations of ADMM / FISTA.
        rho: ADMM penalty ρ (in units of the typical syndrome entry; ADMM is scale free).
        support_tol: relative threshold (of max |ê|) that defines the support for the
            debias step and ‖ê‖₀.
        residual_tol: relative constraint residual ‖Bx̂‖/max(‖y‖, 1) below which a
            sample counts as decoded.
        debias: refit ê by least squares on its support after ADMM / FISTA.

    Buffers: ``constraints`` B ``(m, n)`` and its pseudo-inverse ``constraints_pinv``.
    """

    registry = (
        MemorySpec(
            "sparse-recovery",
            "constrained",
            "E(x) = ½‖Bx‖², BΞᵀ = 0; recall decodes the sparsest error by ℓ1 minimisation",
            "Mazumdar & Rawat (2015)",
            beta_option=None,
        ),
    )

    constraints: torch.Tensor
    constraints_pinv: torch.Tensor

    def __init__(
        self,
        *,
        solver: Solver = "admm",
        max_iterations: int = 1000,
        rho: float = 1.0,
        support_tol: float = 1e-4,
        residual_tol: float = 1e-6,
        debias: bool = True,
    ) -> None:
        super().__init__()
        self.solver = self._check_solver(solver)
        self.max_iterations = check_int(max_iterations, "max_iterations", 1)
        self.rho = check_positive(rho, "rho")
        self.support_tol = check_positive(support_tol, "support_tol")
        self.residual_tol = check_positive(residual_tol, "residual_tol")
        self.debias = bool(debias)
        self.register_buffer("constraints", torch.empty(0))
        self.register_buffer("constraints_pinv", torch.empty(0), persistent=False)
        self.register_load_state_dict_post_hook(_derive_pinv)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable (used by :mod:`hopfield.io`)."""
        return {
            "solver": self.solver,
            "max_iterations": self.max_iterations,
            "rho": self.rho,
            "support_tol": self.support_tol,
            "residual_tol": self.residual_tol,
            "debias": self.debias,
        }

    @staticmethod
    def _check_solver(solver: object) -> str:
        if solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {_SOLVERS}, got {solver!r}")
        return str(solver)

    # --- learning ------------------------------------------------------------------------
    def fit(
        self,
        data: torch.Tensor,
        *,
        method: Literal["svd", "neural"] = "svd",
        num_constraints: int | None = None,
        rank_tol: float = 1e-9,
        steps: int = 2000,
        learning_rate: float | None = None,
        batch_size: int = 32,
        seed: int = 0,
    ) -> SparseRecoveryMemory:
        """Learn B with ``B x ≈ 0`` for every row x of ``data`` ``(M, n)``.

        ``"svd"``: rows of B are the right singular vectors whose singular value is
        ≤ ``rank_tol`` · σ_max (m = n − rank unless ``num_constraints`` is given, in which
        case the m smallest are taken). ``"neural"``: anti-Hebbian minor-subspace rule
        with symmetric decorrelation for ``steps`` minibatches of ``batch_size`` samples
        (seeded) and step size ``learning_rate`` (default 0.5/λ_max of the data's second
        moment XᵀX/M, the largest stable step); ``num_constraints`` is required.
        """
        x = check_floating(data, "data")
        check_rank(x, "data", 2, "(M, n)")
        check_finite(x, "data")
        x = x.detach().to(torch.float64)
        if method == "svd":
            rows = self._fit_svd(x, num_constraints, check_positive(rank_tol, "rank_tol"))
        elif method == "neural":
            if num_constraints is None:
                raise ValueError("num_constraints is required for method='neural'")
            rows = self._fit_neural(
                x,
                check_int(num_constraints, "num_constraints", 1),
                check_int(steps, "steps", 1),
                learning_rate,
                check_int(batch_size, "batch_size", 1),
                seed,
            )
        else:
            raise ValueError(f"method must be 'svd' or 'neural', got {method!r}")
        return self.set_constraints(rows.to(data.dtype))

    @staticmethod
    def _fit_svd(x: torch.Tensor, num_constraints: int | None, rank_tol: float) -> torch.Tensor:
        n = x.shape[1]
        _, singular, vh = torch.linalg.svd(x, full_matrices=True)
        padded = torch.zeros(n, dtype=x.dtype)
        padded[: singular.shape[0]] = singular
        if num_constraints is None:
            rank = int((padded > rank_tol * padded.max().clamp_min(1e-300)).sum())
            num_constraints = n - rank
            if num_constraints < 1:
                raise ValueError(
                    f"data has full rank {rank} = n: no linear constraint to learn "
                    "(the stored set must lie in a proper subspace)"
                )
        check_int(num_constraints, "num_constraints", 1)
        if num_constraints >= n:
            raise ValueError(f"num_constraints must be < n = {n}, got {num_constraints}")
        return vh[n - num_constraints :]

    @staticmethod
    def _fit_neural(
        x: torch.Tensor,
        num_constraints: int,
        steps: int,
        learning_rate: float | None,
        batch_size: int,
        seed: int,
    ) -> torch.Tensor:
        count, n = x.shape
        if num_constraints >= n:
            raise ValueError(f"num_constraints must be < n = {n}, got {num_constraints}")
        generator = make_generator(seed)
        eta = (
            0.5 * count / float(torch.linalg.matrix_norm(x, ord=2)) ** 2
            if learning_rate is None
            else check_positive(learning_rate, "learning_rate")
        )
        rows = torch.randn(num_constraints, n, generator=generator, dtype=x.dtype)
        rows = _symmetric_orthonormalize(rows)
        for _ in range(steps):
            batch = x[torch.randint(0, count, (batch_size,), generator=generator)]
            outputs = batch @ rows.T  # constraint-neuron activity c = B x, (batch, m)
            rows = rows - eta * outputs.T @ batch / batch_size  # anti-Hebbian: −η c xᵀ
            rows = _symmetric_orthonormalize(rows)
        return rows

    def set_constraints(self, constraints: torch.Tensor) -> SparseRecoveryMemory:
        """Use the given constraint matrix B ``(m, n)`` (m < n)."""
        rows = check_floating(constraints, "constraints")
        check_rank(rows, "constraints", 2, "(m, n)")
        check_finite(rows, "constraints")
        if rows.shape[0] >= rows.shape[1]:
            raise ValueError(f"constraints must have m < n rows, got shape {tuple(rows.shape)}")
        # Row-major like a loaded copy, so a saved model recalls bit for bit the same.
        self.constraints = rows.detach().clone(memory_format=torch.contiguous_format)
        _derive_pinv(self, None)
        return self

    @property
    def num_constraints(self) -> int:
        return int(self.constraints.shape[0]) if self.constraints.ndim == 2 else 0

    def syndrome(self, states: torch.Tensor) -> torch.Tensor:
        """z = B y ``(B, m)`` for ``states`` ``(B, n)``."""
        return self._check_states(states) @ self.constraints.T

    def _check_states(self, states: object) -> torch.Tensor:
        if self.num_constraints == 0:
            raise EmptyMemoryError("no constraints learned: call fit(data) first")
        y = check_floating(states, "states")
        check_rank(y, "states", 2, "(B, n)")
        n = self.constraints.shape[1]
        if y.shape[1] != n:
            raise ValueError(f"states must have shape (B, {n}), got {tuple(y.shape)}")
        check_finite(y, "states")
        return y

    # --- recall --------------------------------------------------------------------------
    def store(self, patterns: torch.Tensor) -> None:
        """Learn the constraints of the stored set from ``patterns`` ``(K, n)`` (rows
        spanning it): :meth:`fit` with ``method="svd"``; use :meth:`fit` for its options."""
        x = check_floating(patterns, "patterns")
        check_rank(x, "patterns", 2, "(K, n)")
        check_finite(x.to(torch.float64), "patterns")
        if x.shape[0] == 0:
            raise ValueError(f"patterns must have K ≥ 1 rows, got shape {tuple(x.shape)}")
        self.fit(x)

    def energy(self, states: torch.Tensor) -> torch.Tensor:
        """``E(x) = ½‖B x‖²`` ``(B,)``: zero exactly on the stored subspace."""
        y = self._check_states(states)
        return 0.5 * (y.to(torch.float64) @ self.constraints.to(torch.float64).T).square().sum(1)

    def step(self, states: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
        """One decoding ``x ← y − ê`` with the default solver. Entries where ``mask``
        ``(B, n)`` is True keep their value; a masked state whose energy would rise
        stays where it is, so the energy never rises."""
        y = self._check_states(states)
        return self._guarded(y, self._decode(y, self.solver)["states"], check_mask(mask, y))

    def _guarded(
        self, y: torch.Tensor, decoded: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        if mask is None:
            return decoded
        new = torch.where(mask, y, decoded)
        keep = (self.energy(new) > self.energy(y))[:, None]
        return torch.where(keep, y, new)

    def recall(
        self,
        queries: torch.Tensor,
        *legacy: Any,
        steps: int | None = None,
        max_steps: int = 4,
        tol: float = 0.0,
        mask: torch.Tensor | None = None,
        solver: Solver | None = None,
    ) -> RecallResult:
        """Decode ``queries`` y ``(B, n)``: ê = argmin ‖e‖₁ s.t. B e = B y, x̂ = y − ê.

        One decoding lands on the stored subspace (a fixed point: decoding it again
        changes nothing), so ``steps=None`` stops after the second update at the latest;
        ``solver`` overrides the default decoder. ``extras``: ``errors`` ê ``(B, n)``,
        ``residual`` ‖B x̂‖ ``(B,)``, ``support_size`` ‖ê‖₀ ``(B,)``, ``decoded`` ``(B,)``
        bool (residual within tolerance and 2‖ê‖₀ ≤ m), ``iterations`` of the solver.
        The former call ``recall(states, solver)`` still works, with a warning.
        """
        if legacy:
            solver = _legacy_solver(legacy, solver)
        y = self._check_states(queries)
        name = self.solver if solver is None else self._check_solver(solver)
        held = check_mask(mask, y)
        first = self._decode(y, name)

        def update(x: torch.Tensor) -> torch.Tensor:
            decoded = first["states"] if x is y else self._decode(x, name)["states"]
            return self._guarded(x, decoded, held)

        result = iterate_recall(
            update,
            self.energy,
            y,
            steps=None if steps is None else check_int(steps, "steps", 0),
            max_steps=check_int(max_steps, "max_steps"),
            tol=check_positive(tol, "tol", allow_zero=True),
            mask=held,
        )
        result.extras = {k: v for k, v in first.items() if k != "states"}
        return result

    def _decode(self, y: torch.Tensor, name: str) -> dict[str, Any]:
        """ê = argmin ‖e‖₁ s.t. B e = B y for checked ``y`` ``(B, n)``: the report fields."""
        b = self.constraints.to(torch.float64)
        syndrome = y.to(torch.float64) @ b.T
        iterations = 0
        if name == "lp":
            errors = self._solve_lp(b, syndrome)
        else:
            if name == "admm":
                errors, iterations = self._solve_admm(syndrome)
            else:
                errors, iterations = self._solve_fista(b, syndrome)
            if self.debias:
                errors = self._debias(b, syndrome, errors)
        # a (numerically) zero syndrome means y already satisfies every constraint
        scale = y.to(torch.float64).norm(dim=1, keepdim=True).clamp_min(1.0)
        consistent = syndrome.norm(dim=1, keepdim=True) <= self.residual_tol * 1e-3 * scale
        errors = torch.where(consistent, torch.zeros_like(errors), errors)
        return self._report(y, b, syndrome, errors, iterations)

    def _project(self, values: torch.Tensor, syndrome: torch.Tensor) -> torch.Tensor:
        """Euclidean projection onto {e : B e = z}: v − B⁺(B v − z)."""
        b = self.constraints.to(torch.float64)
        pinv = self.constraints_pinv.to(torch.float64)
        return values - (values @ b.T - syndrome) @ pinv.T

    def _solve_admm(self, syndrome: torch.Tensor) -> tuple[torch.Tensor, int]:
        """ADMM for basis pursuit (Boyd et al. 2011, §6.2): e ← Π(v − u), v ← S_{1/ρ}(e + u),
        u ← u + e − v; ρ scaled by the syndrome's rms so the iteration is scale free."""
        scale = syndrome.square().mean(1, keepdim=True).sqrt().clamp_min(1e-12)
        threshold = scale / self.rho
        sparse = torch.zeros(syndrome.shape[0], self.constraints.shape[1], dtype=torch.float64)
        dual = torch.zeros_like(sparse)
        for iteration in range(1, self.max_iterations + 1):
            feasible = self._project(sparse - dual, syndrome)
            previous = sparse
            sparse = _soft_threshold(feasible + dual, threshold)
            dual = dual + feasible - sparse
            if iteration % 50 == 0:
                primal = (feasible - sparse).norm(dim=1)
                change = (sparse - previous).norm(dim=1)
                if bool(((primal + change) <= 1e-10 * (1 + sparse.norm(dim=1))).all()):
                    return feasible, iteration
        return feasible, self.max_iterations

    def _solve_fista(self, b: torch.Tensor, syndrome: torch.Tensor) -> tuple[torch.Tensor, int]:
        """FISTA (Beck & Teboulle 2009) on ½‖Be − z‖² + λ‖e‖₁, λ decreased geometrically
        from ‖Bᵀz‖_∞ to 1e-6 of it (continuation), step 1/‖B‖₂²."""
        lipschitz = float(torch.linalg.matrix_norm(b, ord=2)) ** 2
        lam_start = (syndrome @ b).abs().amax(1, keepdim=True)
        lam_end = 1e-6 * lam_start
        decay = (lam_end / lam_start) ** (1.0 / max(1, self.max_iterations // 2))
        estimate = torch.zeros(syndrome.shape[0], b.shape[1], dtype=torch.float64)
        momentum, t = estimate, 1.0
        lam = lam_start
        for _ in range(self.max_iterations):
            gradient = (momentum @ b.T - syndrome) @ b
            updated = _soft_threshold(momentum - gradient / lipschitz, lam / lipschitz)
            t_next = 0.5 * (1 + (1 + 4 * t * t) ** 0.5)
            momentum = updated + ((t - 1) / t_next) * (updated - estimate)
            estimate, t = updated, t_next
            lam = torch.maximum(lam * decay, lam_end)
        return estimate, self.max_iterations

    def _support(self, errors: torch.Tensor) -> torch.Tensor:
        peak = errors.abs().amax(1, keepdim=True)
        return errors.abs() > self.support_tol * peak.clamp_min(1e-300)

    def _debias(
        self, b: torch.Tensor, syndrome: torch.Tensor, errors: torch.Tensor
    ) -> torch.Tensor:
        """Least squares on the detected support S: ê_S = B_S⁺ z (only where |S| ≤ m)."""
        support = self._support(errors)
        refit = torch.linalg.pinv(b[None] * support[:, None, :].to(b.dtype)) @ syndrome[..., None]
        usable = (support.sum(1) <= b.shape[0])[:, None]
        return torch.where(usable, refit[..., 0], errors)

    @staticmethod
    def _solve_lp(b: torch.Tensor, syndrome: torch.Tensor) -> torch.Tensor:
        """Exact basis pursuit as an LP (SciPy HiGHS), one sample at a time."""
        from scipy.optimize import linprog

        matrix = b.cpu().numpy()
        n = matrix.shape[1]
        equality = np.hstack([matrix, -matrix])
        cost = np.ones(2 * n)
        solutions = []
        for z in syndrome.cpu().numpy():
            result = linprog(cost, A_eq=equality, b_eq=z, bounds=(0, None), method="highs")
            if result.status != 0 or result.x is None:
                solutions.append(np.full(n, np.nan))
            else:
                solutions.append(result.x[:n] - result.x[n:])
        return torch.from_numpy(np.stack(solutions)).to(torch.float64)

    def _report(
        self,
        y: torch.Tensor,
        b: torch.Tensor,
        syndrome: torch.Tensor,
        errors: torch.Tensor,
        iterations: int,
    ) -> dict[str, Any]:
        failed = ~torch.isfinite(errors).all(1)
        errors = torch.nan_to_num(errors, nan=0.0)
        residual = (errors @ b.T - syndrome).norm(dim=1)
        residual = torch.where(failed, torch.inf, residual)
        support_size = self._support(errors).sum(1) * (errors.abs().amax(1) > 0)
        scale = y.to(torch.float64).norm(dim=1).clamp_min(1.0)
        decoded = (residual <= self.residual_tol * scale) & (2 * support_size <= b.shape[0])
        return {
            "states": (y.to(torch.float64) - errors).to(y.dtype),
            "errors": errors.to(y.dtype),
            "residual": residual,
            "support_size": support_size,
            "decoded": decoded,
            "iterations": iterations,
        }

    def extra_repr(self) -> str:
        return f"solver={self.solver!r}, constraints={tuple(self.constraints.shape)}"


# --- data ----------------------------------------------------------------------------------
