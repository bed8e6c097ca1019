"""When a β schedule pays: steps to a fixed point, fixed β versus annealed β.

:func:`schedule_speedup_case` measures the documented case where annealing reaches the
fixed point in fewer steps than the fixed target β: 64 Gaussian memories in
``R^16`` (seed 0), the Euclidean log-sum-exp energy at target ``β = 0.7/λ_max``
(``λ_max`` the largest eigenvalue of the memories' covariance: below ``1/λ_max``
the CCCP map contracts near the memories' mean and the energy has one minimum
there) and 16 queries 20 units away from the mean. At fixed β the first CCCP step
saturates the softmax and jumps to an extreme memory, from which the state creeps
to the minimum at the linear rate ``≈ β λ_max``. Annealing ``β`` geometrically from
``β/100`` to the target over 3 steps keeps the softmax soft: at small β the update
contracts at rate ``≈ β_t λ_max`` and lands next to the minimum. Measured (float64,
``tol = 1e-6``): 27 steps at fixed β versus 20 with the schedule, both runs ending
at the same minimum (states within 2e-6); ``schedule_speedup_case(verbose=True)``
prints the numbers and ``tests/experiments/test_schedule_speedup.py`` checks them.
"""

from __future__ import annotations

import torch

from hopfield.models.modern import ModernHopfield
from hopfield.models.schedules import geometric

__all__ = ["schedule_speedup_case"]


def schedule_speedup_case(
    *, tol: float = 1e-6, max_steps: int = 500, verbose: bool = False
) -> dict[str, float]:
    """Steps to a fixed point with a fixed target β versus a geometric β schedule.

    See the module docstring for the setting (Euclidean log-sum-exp, 64 memories in
    ``R^16``, target ``β = 0.7/λ_max``, 16 queries 20 units from the memories;
    schedule ``geometric(β/100, β, 3)``). Returns ``steps_fixed``,
    ``steps_annealed`` (steps until every query reached ``max |Δx| < tol``),
    ``beta``, the fraction converged in each run and the largest distance between
    the two runs' final states (both reach the same minimum).
    """
    generator = torch.Generator().manual_seed(0)
    memories = torch.randn(64, 16, generator=generator, dtype=torch.float64)
    centred = memories - memories.mean(dim=0)
    lambda_max = float(torch.linalg.eigvalsh(centred.T @ centred / memories.shape[0]).max())
    beta = 0.7 / lambda_max
    directions = torch.randn(16, 16, generator=generator, dtype=torch.float64)
    queries = memories.mean(dim=0) + 20.0 * directions / directions.norm(dim=1, keepdim=True)
    model = ModernHopfield(beta, similarity="euclidean")
    model.store(memories)
    fixed = model.recall(queries, max_steps=max_steps, tol=tol)
    annealed = model.recall(
        queries,
        max_steps=max_steps,
        tol=tol,
        beta_schedule=geometric(beta / 100.0, beta, 3),
    )
    numbers = {
        "beta": beta,
        "steps_fixed": float(fixed.steps),
        "steps_annealed": float(annealed.steps),
        "converged_fixed": fixed.converged_fraction,
        "converged_annealed": annealed.converged_fraction,
        "final_state_gap": float((fixed.states - annealed.states).abs().max()),
    }
    if verbose:
        print(f"target beta = {beta:.4f} (0.7 / lambda_max)")
        print(f"fixed beta:     {fixed}")
        print(f"beta schedule:  {annealed}")
        print(f"max |x_fixed - x_annealed| = {numbers['final_state_gap']:.2e}")
    return numbers
