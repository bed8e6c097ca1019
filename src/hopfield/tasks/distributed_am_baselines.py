"""Consensus baseline, drifting associations and dynamic regret for distributed AM.

Companion of :mod:`hopfield.tasks.distributed_am` (Wang, Zecchin & Simeone 2025,
"Distributed Associative Memory via Online Convex Optimization", arXiv 2509.22321;
extended as "Distributed Dynamic Associative Memory via Online Convex Optimization",
arXiv 2511.23347, whose experiments compare the tree protocol with consensus-based
distributed online optimisation). Only the abstracts were available; what follows is
the standard form of each ingredient, stated so that it can be checked.

Consensus baseline (distributed online gradient descent with gossip, Nedić & Ozdaglar
2009; Yan et al. 2013). Agents exchange *memories*, not associations: with a doubly
stochastic mixing matrix ``A`` on the communication graph (:func:`metropolis_weights`:
``A_kl = 1/(1 + max(deg_k, deg_l))`` on edges, the rest on the diagonal), every round

    W_{k,t+1} = Σ_l A_kl W_{l,t} − η_t w_k ∇ℓ_{k,t}(W_{k,t}),
    ℓ_{k,t}(W) = ½ ‖W κ_{k,t} − ν_{k,t}‖²,    w_k = Σ_i c_ik,

i.e. each agent averages its neighbours' memories and takes a gradient step on its *own*
association, weighted by how many agents want it. The agents then agree on one memory,
the minimiser of ``Σ_k Σ_j c_kj ℓ_j`` — every agent's target when all rows of ``C`` are
equal (e.g. ``C = 1``), a compromise between targets otherwise.

Drifting associations (:func:`drifting_stream`). Agent ``j``'s true map moves by a
fixed Frobenius distance ``drift`` per round in a random direction,
``W_j(t+1) = W_j(t) + drift · E/‖E‖_F``, and ``ν_{j,t} = W_j(t) κ_{j,t} + noise·ε`` with
unit-norm Gaussian keys (``E[κκᵀ] = I/d_k``).

Regrets, both on the recall loss ``g_{k,t}(W) = Σ_j c_kj ½‖W κ_{j,t} − ν_{j,t}‖²``
(:func:`hopfield.tasks.distributed_am.recall_losses`), the same loss for both protocols:

* static: ``R_T = Σ_k [Σ_{t≤T} g_{k,t}(W_{k,t}) − min_W Σ_{t≤T} g_{k,t}(W)]``, against the
  best fixed memory in hindsight (:func:`static_regret`);
* dynamic: ``R^dyn_T = Σ_k Σ_{t≤T} [g_{k,t}(W_{k,t}) − g_{k,t}(U_{k,t})]`` against the
  moving comparator ``U_{k,t} = argmin_W E[g_{k,t}(W)] = Σ_j c_kj W_j(t) / Σ_j c_kj`` (the
  memory that best recalls round ``t``'s associations in expectation;
  :func:`comparator_memories`, :func:`dynamic_regret`). Online gradient descent
  guarantees ``R^dyn_T = O((1 + P_T)/η + η T)`` (Zinkevich 2003) with the path length
  ``P_T = Σ_k Σ_{t<T} ‖U_{k,t+1} − U_{k,t}‖_F`` (:func:`path_length`); the paper's bound is
  of this path-length-dependent kind, with delay terms. The per-round minimiser of the
  *realised* loss is not used: one noisy association per source is interpolated
  exactly when ``d_k`` ≥ the number of sources, so that comparator's loss is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hopfield._validation import check_finite, check_rank, check_tensor
from hopfield.tasks.distributed_am import (
    hindsight_losses,
    recall_losses,
    step_sizes,
)

__all__ = [
    "ConsensusResult",
    "DriftingStream",
    "comparator_memories",
    "consensus",
    "drifting_stream",
    "dynamic_regret",
    "metropolis_weights",
    "path_length",
    "static_regret",
]


@dataclass(frozen=True)
class DriftingStream:
    """Output of :func:`drifting_stream`: keys ``(T, K, d_k)``, values ``(T, K, d_v)``
    and the true maps ``truths`` ``(T, K, d_v, d_k)`` (``ν_{j,t} ≈ truths[t, j] κ_{j,t}``)."""

    keys: torch.Tensor
    values: torch.Tensor
    truths: torch.Tensor


@dataclass(frozen=True)
class ConsensusResult:
    """Output of :func:`consensus`: final memories ``(K, d_v, d_k)`` and the recall losses
    ``g_{k,t}(W_{k,t})`` ``(T, K)`` (before each round's update)."""

    memories: torch.Tensor
    recall_losses: torch.Tensor


def drifting_stream(
    num_rounds: int,
    num_agents: int,
    key_dim: int,
    value_dim: int,
    *,
    drift: float,
    noise: float = 0.1,
    generator: torch.Generator,
) -> DriftingStream:
    """Associations whose true maps move ``drift`` (Frobenius) per round (module docstring);
    ``drift = 0`` is a stationary stream. Float64."""
    if not drift >= 0:
        raise ValueError(f"drift must be ≥ 0, got {drift}")
    shape = (num_rounds, num_agents)
    start = torch.randn(num_agents, value_dim, key_dim, generator=generator, dtype=torch.float64)
    steps = torch.randn(num_rounds - 1, num_agents, value_dim, key_dim, generator=generator)
    steps = steps.double()
    steps = drift * steps / steps.flatten(2).norm(dim=-1)[..., None, None]
    truths = start[None] / key_dim**0.5 + torch.cat([torch.zeros_like(start[None]), steps]).cumsum(
        0
    )
    keys = torch.randn(*shape, key_dim, generator=generator, dtype=torch.float64)
    keys = keys / keys.norm(dim=-1, keepdim=True)
    values = torch.einsum("tkvd,tkd->tkv", truths, keys)
    values = values + noise * torch.randn(*shape, value_dim, generator=generator).double()
    return DriftingStream(keys, values, truths)


def metropolis_weights(adjacency: torch.Tensor) -> torch.Tensor:
    """Symmetric doubly stochastic gossip matrix of an undirected graph, ``(K, K)`` float64:
    ``A_kl = 1/(1 + max(deg_k, deg_l))`` for neighbours, ``A_kk = 1 − Σ_{l≠k} A_kl``."""
    check_tensor(adjacency, "adjacency")
    check_rank(adjacency, "adjacency", 2, "(K, K)")
    adj = adjacency.to(torch.bool)
    if adj.shape[0] != adj.shape[1] or not torch.equal(adj, adj.T):
        raise ValueError("adjacency must be a symmetric (K, K) matrix")
    adj = adj & ~torch.eye(adj.shape[0], dtype=torch.bool)
    degree = adj.sum(dim=1).double()
    weights = adj.double() / (1.0 + torch.maximum(degree[:, None], degree[None, :]))
    return weights + torch.diag(1.0 - weights.sum(dim=1))


def consensus(
    keys: torch.Tensor,
    values: torch.Tensor,
    interest: torch.Tensor,
    adjacency: torch.Tensor,
    *,
    eta0: float = 0.5,
    schedule: str = "inv_sqrt",
) -> ConsensusResult:
    """Run the consensus baseline (module docstring) with :func:`metropolis_weights`.

    Same arguments and step sizes as :func:`hopfield.tasks.distributed_am.simulate`
    (memories start at zero, float64), with the graph instead of the routing delays.
    """
    for tensor, name in ((keys, "keys"), (values, "values"), (interest, "interest")):
        check_tensor(tensor, name)
        check_finite(tensor, name)
    check_rank(keys, "keys", 3, "(T, K, d_k)")
    check_rank(values, "values", 3, "(T, K, d_v)")
    num_rounds, num_agents = keys.shape[:2]
    mixing = metropolis_weights(adjacency)
    if mixing.shape[0] != num_agents or tuple(interest.shape) != (num_agents, num_agents):
        raise ValueError(f"adjacency and interest must have shape ({num_agents}, {num_agents})")
    if values.shape[:2] != keys.shape[:2]:
        raise ValueError(f"values must have shape ({num_rounds}, {num_agents}, d_v)")
    if bool((interest < 0).any()):
        raise ValueError("interest must be non-negative")
    keys, values, interest = keys.double(), values.double(), interest.double()
    demand = interest.sum(dim=0)  # w_k = Σ_i c_ik
    etas = step_sizes(num_rounds, eta0, schedule).tolist()
    memories = torch.zeros(num_agents, values.shape[2], keys.shape[2], dtype=torch.float64)
    recall = torch.zeros(num_rounds, num_agents, dtype=torch.float64)
    for t in range(num_rounds):
        recall[t] = recall_losses(memories, keys[t], values[t], interest)
        errors = torch.einsum("kvd,kd->kv", memories, keys[t]) - values[t]
        gradient = demand[:, None, None] * errors[:, :, None] * keys[t][:, None, :]
        memories = torch.einsum("kl,lvd->kvd", mixing, memories) - etas[t] * gradient
    return ConsensusResult(memories, recall)


def comparator_memories(truths: torch.Tensor, interest: torch.Tensor) -> torch.Tensor:
    """``U_{k,t} = Σ_j c_kj W_j(t) / Σ_j c_kj``, ``(T, K, d_v, d_k)``: the minimiser of the
    expected recall loss at round ``t`` for isotropic keys (agents with no interest get 0)."""
    weights = interest.double()
    weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-300)
    return torch.einsum("kj,tjvd->tkvd", weights, truths.double())


def path_length(comparators: torch.Tensor) -> float:
    """``P_T = Σ_k Σ_{t<T} ‖U_{k,t+1} − U_{k,t}‖_F`` of comparators ``(T, K, d_v, d_k)``."""
    return float(comparators.diff(dim=0).flatten(2).norm(dim=-1).sum())


def _cumulative_at(losses: torch.Tensor, checkpoints: torch.Tensor) -> torch.Tensor:
    return losses.double().sum(dim=1).cumsum(dim=0)[checkpoints.long() - 1]


def static_regret(
    recall: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    interest: torch.Tensor,
    checkpoints: torch.Tensor,
) -> torch.Tensor:
    """``R_{T'}`` on the recall loss (summed over agents) at every checkpoint ``T'``, from
    the recall losses ``(T, K)`` of a run; the hindsight minimum is least squares on all
    associations up to ``T'`` (no delay)."""
    no_delay = torch.zeros_like(interest, dtype=torch.long)
    best = hindsight_losses(keys, values, interest, no_delay, checkpoints.long())
    return _cumulative_at(recall, checkpoints) - best.sum(dim=1)


def dynamic_regret(
    recall: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    interest: torch.Tensor,
    comparators: torch.Tensor,
    checkpoints: torch.Tensor,
) -> torch.Tensor:
    """``R^dyn_{T'} = Σ_k Σ_{t≤T'} [g_{k,t}(W_{k,t}) − g_{k,t}(U_{k,t})]`` at every checkpoint,
    from the recall losses ``(T, K)`` of a run and the comparators ``(T, K, d_v, d_k)``."""
    reference = torch.stack(
        [
            recall_losses(comparators[t], keys[t].double(), values[t].double(), interest)
            for t in range(keys.shape[0])
        ]
    )
    return _cumulative_at(recall, checkpoints) - _cumulative_at(reference, checkpoints)
