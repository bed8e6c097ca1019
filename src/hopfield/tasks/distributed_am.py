"""Distributed associative memory by online convex optimisation over routing trees.

Wang, Zecchin & Simeone (2025), "Distributed Associative Memory via Online Convex
Optimization", arXiv 2509.22321 (ICASSP 2026). Only the abstract was available; the
formulation below is the reconstruction marked [I] in the reference notes, made
explicit here.

Setting. ``K`` agents on an undirected communication graph. At round ``t = 1…T``
agent ``j`` observes one association ``(κ_{j,t}, ν_{j,t}) ∈ ℝ^{d_k} × ℝ^{d_v}``.
Agent ``k`` keeps a linear memory ``W_k ∈ ℝ^{d_v×d_k}`` (read ``W_k κ``) and must
recall the associations of the agents ``j`` with ``c_kj > 0`` in the *interest
matrix* ``C ∈ ℝ_{≥0}^{K×K}``.

Routing. Every source ``j`` spreads its associations over a breadth-first
shortest-path tree rooted at ``j`` (:func:`routing_trees`), one hop per round, so
agent ``k`` receives ``(κ_{j,t}, ν_{j,t})`` at round ``t + δ_kj`` with
``δ_kj = hops(j → k)`` (``δ_kk = 0``).

Loss and update. The local loss of agent ``k`` at round ``t`` is over the data it
holds then,

    f_{k,t}(W) = Σ_{j : c_kj > 0, t − δ_kj ≥ 1} c_kj ½ ‖W κ_{j,t−δ_kj} − ν_{j,t−δ_kj}‖²,

and every agent takes one online gradient step (a gradient evaluated at its current
memory on delayed data, so the *information* is delayed by ``δ_kj`` rounds):

    W_{k,t+1} = W_{k,t} − η_t ∇f_{k,t}(W_{k,t}),
    ∇f_{k,t}(W) = Σ_j c_kj (W κ_j − ν_j) κ_jᵀ,     η_t = η₀/√t  (or η₀).

With one agent, ``c = 1`` and no delay this is the delta rule (DeltaNet) with
``β = η_t``: ``W ← W − η_t (W κ_t − ν_t) κ_tᵀ``.

Recall loss. What agent ``k`` is asked at round ``t`` is the *current* associations of
the agents it is interested in,

    g_{k,t}(W) = Σ_j c_kj ½ ‖W κ_{j,t} − ν_{j,t}‖²,

evaluated at the memory ``W_{k,t}`` held before the round's update (the tree protocol
learns from ``f``, i.e. its feedback on ``g`` arrives ``δ_kj`` rounds late: online
learning with delayed feedback). ``OCOResult.recall_losses`` records ``g_{k,t}(W_{k,t})``;
it is the loss on which :mod:`hopfield.tasks.distributed_am_baselines` compares this
protocol with the consensus baseline (static and dynamic regret).

Regret. ``R_T = Σ_k Σ_{t≤T} [f_{k,t}(W_{k,t}) − f_{k,t}(W_k^*(T))]`` with the best
fixed memory in hindsight ``W_k^*(T) = argmin_W Σ_{t≤T} f_{k,t}(W) = A_k B_k^+`` in
closed form, ``A_k = Σ c_kj ν κᵀ``, ``B_k = Σ c_kj κ κᵀ`` (least squares). The
paper states ``R_T = O(√T)`` with a delay-dependent constant.

:func:`simulate` runs all agents in one process; :func:`run_agent` is the same
protocol for one agent per process on a ``torch.distributed`` (gloo) group: every
round the new associations are exchanged with ``all_gather`` and each agent keeps a
history, from which it reads the association of ``j`` sent ``δ_kj`` rounds ago
(the tree delay is realised by the receiver's buffer; the arithmetic is identical
to the simulation, so both give the same memories).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from hopfield._validation import check_finite, check_positive, check_rank, check_tensor

__all__ = [
    "OCOResult",
    "RoutingTrees",
    "association_stream",
    "hindsight_losses",
    "log_checkpoints",
    "loglog_slope",
    "recall_losses",
    "routing_trees",
    "run_agent",
    "simulate",
    "step_sizes",
]

_SCHEDULES = ("inv_sqrt", "constant")


@dataclass(frozen=True)
class RoutingTrees:
    """BFS shortest-path trees, one per source.

    Attributes:
        parents: ``(K, K)`` long; ``parents[j, k]`` is ``k``'s parent in the tree of
            source ``j`` (``-1`` for the root ``k = j`` and for unreachable nodes).
        delays: ``(K, K)`` long; ``delays[k, j] = δ_kj``, hops from ``j`` to ``k``
            (``-1`` if unreachable).
    """

    parents: torch.Tensor
    delays: torch.Tensor


@dataclass(frozen=True)
class OCOResult:
    """Output of :func:`simulate`.

    Attributes:
        memories: final ``W_k``, ``(K, d_v, d_k)``.
        losses: ``f_{k,t}(W_{k,t})`` per round and agent, ``(T, K)``.
        checkpoints: horizons ``T'`` at which regret was evaluated, ``(P,)`` long.
        regret: ``R_{T'}`` summed over agents at each checkpoint, ``(P,)``.
        recall_losses: ``g_{k,t}(W_{k,t})`` (current, undelayed associations), ``(T, K)``.
    """

    memories: torch.Tensor
    losses: torch.Tensor
    checkpoints: torch.Tensor
    regret: torch.Tensor
    recall_losses: torch.Tensor


def _check_square(matrix: torch.Tensor, name: str) -> int:
    check_tensor(matrix, name)
    check_rank(matrix, name, 2, "(K, K)")
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{name} must have shape (K, K), got {tuple(matrix.shape)}")
    return int(matrix.shape[0])


def routing_trees(adjacency: torch.Tensor, interest: torch.Tensor | None = None) -> RoutingTrees:
    """Breadth-first shortest-path trees of an undirected graph, one per source agent.

    Args:
        adjacency: ``(K, K)`` symmetric 0/1 (or bool) adjacency matrix.
        interest: optional ``(K, K)`` interest matrix ``C``; every ``c_kj > 0`` must
            have ``j`` reachable from ``k`` (else ``ValueError``).

    Neighbours are visited in increasing index order, so the trees are deterministic.
    """
    num_agents = _check_square(adjacency, "adjacency")
    adj = adjacency.to(torch.bool)
    if not torch.equal(adj, adj.T):
        raise ValueError("adjacency must be symmetric (undirected graph)")
    parents = torch.full((num_agents, num_agents), -1, dtype=torch.long)
    delays = torch.full((num_agents, num_agents), -1, dtype=torch.long)
    for source in range(num_agents):
        delays[source, source] = 0
        queue = deque([source])
        while queue:
            node = queue.popleft()
            for neighbour in torch.nonzero(adj[node]).flatten().tolist():
                if neighbour != source and delays[neighbour, source] < 0:
                    delays[neighbour, source] = delays[node, source] + 1
                    parents[source, neighbour] = node
                    queue.append(neighbour)
    if interest is not None:
        if _check_square(interest, "interest") != num_agents:
            raise ValueError(f"interest must have shape ({num_agents}, {num_agents})")
        unreachable = (interest > 0) & (delays < 0)
        if bool(unreachable.any()):
            k, j = (int(i) for i in torch.nonzero(unreachable)[0])
            raise ValueError(f"interest[{k}, {j}] > 0 but agent {j} cannot reach agent {k}")
    return RoutingTrees(parents, delays)


def step_sizes(num_rounds: int, eta0: float, schedule: str = "inv_sqrt") -> torch.Tensor:
    """``η_t`` for ``t = 1…T``: ``η₀/√t`` (``"inv_sqrt"``) or ``η₀`` (``"constant"``), float64."""
    eta0 = check_positive(eta0, "eta0")
    if schedule not in _SCHEDULES:
        raise ValueError(f"schedule must be one of {_SCHEDULES}, got {schedule!r}")
    rounds = torch.arange(1, num_rounds + 1, dtype=torch.float64)
    return eta0 / rounds.sqrt() if schedule == "inv_sqrt" else torch.full_like(rounds, eta0)


def association_stream(
    num_rounds: int,
    num_agents: int,
    key_dim: int,
    value_dim: int,
    *,
    noise: float = 0.1,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A stationary stream: unit-norm Gaussian keys ``κ_{j,t}``, values
    ``ν = W_j^true κ + noise·ε`` with one Gaussian ``W_j^true/√d_k`` per agent.

    Returns keys ``(T, K, d_k)`` and values ``(T, K, d_v)`` (float64).
    """
    shape = (num_rounds, num_agents)
    keys = torch.randn(*shape, key_dim, generator=generator, dtype=torch.float64)
    keys = keys / keys.norm(dim=-1, keepdim=True)
    truth = torch.randn(num_agents, value_dim, key_dim, generator=generator, dtype=torch.float64)
    values = torch.einsum("kvd,tkd->tkv", truth / math.sqrt(key_dim), keys)
    values = values + noise * torch.randn(
        *shape, value_dim, generator=generator, dtype=torch.float64
    )
    return keys, values


def _check_stream(
    keys: torch.Tensor, values: torch.Tensor, interest: torch.Tensor
) -> tuple[int, int]:
    for tensor, name, shape in ((keys, "keys", "(T, K, d_k)"), (values, "values", "(T, K, d_v)")):
        check_tensor(tensor, name)
        check_rank(tensor, name, 3, shape)
        check_finite(tensor, name)
    if keys.shape[:2] != values.shape[:2]:
        raise ValueError(
            f"values must have shape ({keys.shape[0]}, {keys.shape[1]}, d_v) like keys, "
            f"got {tuple(values.shape)}"
        )
    num_agents = _check_square(interest, "interest")
    if keys.shape[1] != num_agents:
        raise ValueError(f"keys must have K = {num_agents} agents (interest), got {keys.shape[1]}")
    if bool((interest < 0).any()):
        raise ValueError("interest must be non-negative")
    return int(keys.shape[0]), num_agents


def _available(
    agent: int, round_index: int, interest: torch.Tensor, delays: torch.Tensor
) -> tuple[list[int], list[int]]:
    """Sources ``j`` and their sending rounds ``t − δ_kj`` (0-based) held by ``agent``."""
    sources, rounds = [], []
    for j in range(interest.shape[1]):
        sent = round_index - int(delays[agent, j])
        if float(interest[agent, j]) > 0 and sent >= 0:
            sources.append(j)
            rounds.append(sent)
    return sources, rounds


def _local_step(
    memory: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    weights: torch.Tensor,
    eta: float,
) -> tuple[torch.Tensor, float]:
    """``(W − η ∇f(W), f(W))`` for ``f(W) = Σ_i w_i ½‖W κ_i − ν_i‖²`` (rows ``i``)."""
    if keys.shape[0] == 0:
        return memory, 0.0
    errors = keys @ memory.T - values
    loss = 0.5 * float((weights * errors.square().sum(dim=1)).sum())
    gradient = (errors * weights[:, None]).T @ keys
    return memory - eta * gradient, loss


def recall_losses(
    memories: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, interest: torch.Tensor
) -> torch.Tensor:
    """``g_{k,t}(W_k) = Σ_j c_kj ½‖W_k κ_{j,t} − ν_{j,t}‖²`` for every agent ``k``, ``(K,)``.

    ``memories`` ``(K, d_v, d_k)``; ``keys`` ``(K, d_k)`` and ``values`` ``(K, d_v)`` are
    the associations of round ``t`` (row ``j`` observed by agent ``j``).
    """
    errors = torch.einsum("kvd,jd->kjv", memories, keys) - values[None]
    return 0.5 * (interest.to(errors.dtype) * errors.square().sum(dim=-1)).sum(dim=-1)


def hindsight_losses(
    keys: torch.Tensor,
    values: torch.Tensor,
    interest: torch.Tensor,
    delays: torch.Tensor,
    checkpoints: torch.Tensor,
) -> torch.Tensor:
    """``min_W Σ_{t≤T'} f_{k,t}(W)`` per checkpoint ``T'`` and agent, ``(P, K)``.

    Uses the sufficient statistics ``A = Σ c ν κᵀ``, ``B = Σ c κκᵀ``, ``s = Σ c‖ν‖²``
    of the data each agent held up to ``T'``: the minimum is
    ``½ (s − tr(A B⁺ Aᵀ))`` at ``W* = A B⁺``.
    """
    num_agents = keys.shape[1]
    out = torch.zeros(len(checkpoints), num_agents, dtype=torch.float64)
    for k in range(num_agents):
        for p, horizon in enumerate(checkpoints.tolist()):
            a = torch.zeros(values.shape[2], keys.shape[2], dtype=torch.float64)
            b = torch.zeros(keys.shape[2], keys.shape[2], dtype=torch.float64)
            s = 0.0
            for j in range(num_agents):
                c = float(interest[k, j])
                last = horizon - int(delays[k, j])
                if c <= 0 or last <= 0:
                    continue
                kj, vj = keys[:last, j].double(), values[:last, j].double()
                a += c * vj.T @ kj
                b += c * kj.T @ kj
                s += c * float(vj.square().sum())
            optimum = a @ torch.linalg.pinv(b, hermitian=True)
            out[p, k] = 0.5 * (s - float((optimum * a).sum()))
    return out


def log_checkpoints(num_rounds: int, count: int = 24) -> torch.Tensor:
    """About ``count`` log-spaced distinct rounds in ``[1, T]`` (long), ending at ``T``."""
    grid = torch.logspace(0, math.log10(num_rounds), count, dtype=torch.float64)
    return torch.unique(grid.round().long().clamp(1, num_rounds))


def simulate(
    keys: torch.Tensor,
    values: torch.Tensor,
    interest: torch.Tensor,
    delays: torch.Tensor,
    *,
    eta0: float = 0.5,
    schedule: str = "inv_sqrt",
    checkpoints: torch.Tensor | None = None,
) -> OCOResult:
    """Run the distributed OGD protocol of the module docstring in one process.

    Args:
        keys: ``(T, K, d_k)`` keys ``κ_{j,t}`` observed by agent ``j`` at round ``t``.
        values: ``(T, K, d_v)`` values ``ν_{j,t}``.
        interest: ``(K, K)`` non-negative interest matrix ``C``.
        delays: ``(K, K)`` hop delays ``δ_kj`` (``RoutingTrees.delays``; entries with
            ``c_kj > 0`` must be ≥ 0).
        eta0, schedule: step sizes (:func:`step_sizes`).
        checkpoints: horizons at which to evaluate the regret (default: ~24
            log-spaced rounds up to ``T``), integers in ``[1, T]``.

    Memories start at zero; arithmetic is float64.
    """
    num_rounds, num_agents = _check_stream(keys, values, interest)
    if tuple(delays.shape) != (num_agents, num_agents):
        raise ValueError(f"delays must have shape ({num_agents}, {num_agents})")
    if bool(((interest > 0) & (delays < 0)).any()):
        raise ValueError("delays must be ≥ 0 wherever interest > 0")
    etas = step_sizes(num_rounds, eta0, schedule)
    keys, values = keys.double(), values.double()
    memories = [torch.zeros(values.shape[2], keys.shape[2], dtype=torch.float64)] * num_agents
    losses = torch.zeros(num_rounds, num_agents, dtype=torch.float64)
    recall = torch.zeros(num_rounds, num_agents, dtype=torch.float64)
    for t in range(num_rounds):
        recall[t] = recall_losses(torch.stack(memories), keys[t], values[t], interest)
        for k in range(num_agents):
            sources, rounds = _available(k, t, interest, delays)
            memories[k], losses[t, k] = _local_step(
                memories[k],
                keys[rounds, sources],
                values[rounds, sources],
                interest[k, sources].double(),
                float(etas[t]),
            )
    points = log_checkpoints(num_rounds) if checkpoints is None else checkpoints.long()
    if points.ndim != 1 or int(points.min()) < 1 or int(points.max()) > num_rounds:
        raise ValueError(f"checkpoints must be a 1-D tensor of rounds in [1, {num_rounds}]")
    best = hindsight_losses(keys, values, interest, delays, points)
    cumulative = losses.cumsum(dim=0)[points - 1]
    regret = (cumulative - best).sum(dim=1)
    return OCOResult(torch.stack(memories), losses, points, regret, recall)


def loglog_slope(horizons: torch.Tensor, regret: torch.Tensor, start: int = 10) -> float:
    """Least-squares slope of ``log R`` against ``log T`` over horizons ``≥ start``."""
    mask = (horizons >= start) & (regret > 0)
    if int(mask.sum()) < 2:
        raise ValueError("need at least two positive regret values at horizons ≥ start")
    x = horizons[mask].double().log()
    y = regret[mask].double().log()
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / x.square().sum())


def run_agent(
    rank: int,
    world_size: int,
    keys: torch.Tensor,
    values: torch.Tensor,
    interest: torch.Tensor,
    delays: torch.Tensor,
    eta0: float,
    schedule: str,
    out_path: str,
) -> None:
    """One agent (``rank``) of the protocol on an initialised ``torch.distributed`` group.

    Rank ``j`` reads only its own column ``keys[:, j]``, ``values[:, j]``; every round
    the ranks ``all_gather`` their new association, and agent ``k`` keeps the last
    ``max_j δ_kj + 1`` rounds to read ``(κ_{j,t−δ_kj}, ν_{j,t−δ_kj})``. Rank 0 gathers the
    final memories and losses and saves ``{"memories": (K, d_v, d_k), "losses": (T, K)}``
    to ``out_path`` (``torch.save``). Launch with
    :func:`hopfield.distributed.launch.launch_local`.
    """
    num_rounds, num_agents = _check_stream(keys, values, interest)
    if world_size != num_agents:
        raise ValueError(f"world_size must equal the number of agents {num_agents}")
    etas = step_sizes(num_rounds, eta0, schedule)
    own = torch.cat([keys[:, rank], values[:, rank]], dim=1).double()
    key_dim = keys.shape[2]
    horizon = int(delays[rank].clamp_min(0).max()) + 1
    history: deque[torch.Tensor] = deque(maxlen=horizon)  # history[-1 - δ]: sent δ rounds ago
    memory = torch.zeros(values.shape[2], key_dim, dtype=torch.float64)
    losses = torch.zeros(num_rounds, dtype=torch.float64)
    for t in range(num_rounds):
        gathered = [torch.empty_like(own[t]) for _ in range(world_size)]
        dist.all_gather(gathered, own[t].clone())
        history.append(torch.stack(gathered))
        sources, rounds = _available(rank, t, interest, delays)
        if not sources:
            continue
        rows = torch.stack([history[-1 - (t - r)][j] for j, r in zip(sources, rounds, strict=True)])
        weights = interest[rank, sources].double()
        memory, losses[t] = _local_step(
            memory, rows[:, :key_dim], rows[:, key_dim:], weights, float(etas[t])
        )
    all_memories = [torch.empty_like(memory) for _ in range(world_size)]
    dist.all_gather(all_memories, memory)
    all_losses = [torch.empty_like(losses) for _ in range(world_size)]
    dist.all_gather(all_losses, losses)
    if rank == 0:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {"memories": torch.stack(all_memories), "losses": torch.stack(all_losses, dim=1)},
            out_path,
        )
