"""The Energy Transformer (Hoover et al. 2023, "Energy Transformer", NeurIPS).

One recurrent block whose tokens ``x: (B, T, D)`` are neurons with the energy
LayerNorm Lagrangian (activation ``ĝ = γ(x − x̄)/√(var + ε) + δ``). The block
energy is::

    E(x) = E_LN(x) + E_ATT(ĝ) + E_HN(ĝ)
    E_LN  = Σ_A (x_A·ĝ_A − L(x_A)) = −Σ_A D γ ε / √(var_A + ε)
    E_ATT = −(1/β) Σ_h Σ_C log Σ_{B≠C} exp(β K_{hB}·Q_{hC})         (EnergyAttention)
    E_HN  = −Σ_A Σ_μ F(ξ_μ·ĝ_A),  F(z) = ½ ReLU(z)²                (DenseMemorySynapse)

and the dynamics is the explicit Euler step of ``dx/dt = −∂E/∂ĝ``::

    x ← x − α ∂(E_ATT + E_HN)/∂ĝ

(no leak term: a HAM of the same parts, :class:`hopfield.core.graph.HAM`, has the
same energy and the force ``∂E/∂ĝ = x + ∂(E_ATT + E_HN)/∂ĝ``; the ET drops ``x``,
which for the LayerNorm Lagrangian changes ``ĝ`` only at order ``ε``, since
``(∂²L/∂x²) x = ε ĝ₀/σ²`` with ``ĝ₀`` the bias-free activation). In continuous time
``d(E_ATT + E_HN)/dt = −fᵀ (∂²L/∂x²) f ≤ 0`` with ``f = ∂(E_ATT + E_HN)/∂ĝ``, and
``E_LN`` is constant up to that ``O(ε)`` term.

Finite steps. An explicit Euler step of size ``α`` has no general guarantee. When
the synapse energy is concave in ``ĝ`` (``E_HN`` with ``F = ½ReLU²`` is; attention
is not in general) and ``δ = 0``, the step only moves ``ĝ`` along the great circle
towards ``−f`` and cannot raise it for any ``α``; in float64 sweeps of random
models (attention weights up to std 1, ``α`` up to 50) no rise was observed, and
the tests check ``α = 0.5``. A convex synapse energy does overshoot (tested), so
:meth:`EnergyTransformerBlock.descend` offers a guarded step (``guarded=True``)
that halves ``α`` per sample whenever a step would raise the energy.

The fast path uses the closed-form gradients of both synapses (no autograd);
``use_autograd=True`` differentiates the energy instead (reference). Both are
differentiable wrt the parameters, so training backpropagates through the ``T``
unrolled steps.

Float32. Tokens have no leak term and grow without bound (|x| ~ 1e5 after 3,000
steps); ``E_LN`` is evaluated in closed form, so the float32 energy trace follows
the float64 one (~1e-7 relative) and the guard halves only real rises.

Inputs. Tokens and images follow the module's dtype: a real floating input of
another dtype (float16, bfloat16, float64) is cast to the dtype of the parameters
(outside :func:`torch.autocast`; inside, autocast decides); complex, integer and
bool inputs raise ``TypeError`` naming the argument. An empty batch (``B = 0``) or,
for the block, an empty token set (``T = 0``) gives an empty result. NaN and ±inf
propagate like in PyTorch and are never turned into finite values: a non-finite
token makes its sample's tokens, energies and patches NaN (other samples are not
affected). Pixels of masked patches are never read, so they may hold anything.

:class:`EnergyTransformer` wraps the block in the masked-image-modelling front
end of :mod:`hopfield.models.energy_transformer_patches` (patch embedding, position embeddings,
CLS and MASK tokens) and a linear patch decoder of the final activations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hopfield._deprecated import moved_attribute
from hopfield._validation import check_int, check_positive, floating_in_dtype
from hopfield.core.dynamics import ROUNDING_ULPS
from hopfield.core.lagrangians import EnergyLayerNorm
from hopfield.core.separation import ReLUSquared, Separation
from hopfield.core.synapses.attention import EnergyAttention
from hopfield.core.synapses.memory import DenseMemorySynapse
from hopfield.models.energy_transformer_patches import (
    ImageTokenizer,
    PatchDecoder,
    patchify,
    unpatchify,
)

__all__ = ["ETDescentResult", "ETOutput", "EnergyTransformer", "EnergyTransformerBlock"]


def __getattr__(name: str) -> Any:
    """``DescentResult`` is the deprecated name of :class:`ETDescentResult`."""
    return moved_attribute(__name__, name)


@dataclass
class ETDescentResult:
    """Outcome of :meth:`EnergyTransformerBlock.descend`.

    Attributes:
        tokens: final token states ``x_T``, shape ``(B, T, D)``.
        energies: energy trace ``(steps + 1, B)``; row 0 is ``E(x_0)``.
        states: ``[x_0, …, x_T]`` when requested, else ``None``.
        step_sizes: ``(steps, B)`` step size taken by each sample at each step (``α``
            unguarded; ``α/2^k`` after ``k`` halvings, 0 for a held sample, guarded).
    """

    tokens: torch.Tensor
    energies: torch.Tensor
    states: list[torch.Tensor] | None = None
    step_sizes: torch.Tensor | None = None


class EnergyTransformerBlock(nn.Module):
    """The recurrent Energy Transformer block ``E = E_LN + E_ATT + E_HN`` (Hoover et al. 2023).

    Tokens ``x: (B, T, D)``; update ``x ← x − α ∂(E_ATT + E_HN)/∂ĝ`` with
    ``ĝ = EnergyLayerNorm(x)``; see the module docstring for the energies.

    Args:
        num_features: token width ``D``.
        num_heads: attention heads ``H``.
        head_dim: query/key size ``Y`` per head.
        num_memories: Hopfield memories ``M`` (rows of ``Ξ``).
        beta: attention inverse temperature (default ``1/√Y``).
        exclude_self: drop the ``B = C`` attention term (the paper's energy).
        separation: the Hopfield module's ``F`` (default ``ReLUSquared``: ``½ReLU²``),
            or ``"lse"`` for ``−Σ log Σ_μ exp(ξ_μ·ĝ)``.
        gamma, eps: the energy LayerNorm's initial scalar γ and ε.
        attention_init_std: init std of ``W_Q``, ``W_K``.
        memory_init_std: init std of ``Ξ`` (default ``1/√D``).

    Submodules: ``norm`` (:class:`EnergyLayerNorm`), ``attention``
    (:class:`EnergyAttention`), ``hopfield`` (:class:`DenseMemorySynapse`).
    """

    def __init__(
        self,
        num_features: int,
        num_heads: int,
        head_dim: int,
        num_memories: int,
        *,
        beta: float | None = None,
        exclude_self: bool = True,
        separation: Separation | str | None = None,
        gamma: float = 1.0,
        eps: float = 1e-5,
        attention_init_std: float = 0.02,
        memory_init_std: float | None = None,
    ) -> None:
        super().__init__()
        self.norm = EnergyLayerNorm(num_features, gamma=gamma, eps=eps)
        self.attention = EnergyAttention(
            num_features,
            num_heads,
            head_dim,
            beta=beta,
            exclude_self=exclude_self,
            init_std=attention_init_std,
        )
        self.hopfield = DenseMemorySynapse(
            num_memories,
            num_features,
            separation=ReLUSquared() if separation is None else separation,
            std=memory_init_std,
        )
        self.num_features = num_features

    # ----------------------------------------------------------------- checks
    def check_tokens(self, x: object, name: str = "x") -> torch.Tensor:
        """Validate tokens: a real floating tensor ``(B, T, D)``, returned in the block's
        dtype (see the module docstring for the input policy)."""
        x = floating_in_dtype(x, name, self.norm.gamma.dtype)
        if x.ndim != 3 or x.shape[-1] != self.num_features:
            raise ValueError(
                f"{name} must have shape (B, T, {self.num_features}), got shape {tuple(x.shape)}"
            )
        return x

    # --------------------------------------------------------------- energies
    def activation(self, x: torch.Tensor) -> torch.Tensor:
        """``ĝ = γ(x − x̄)/√(var + ε) + δ``, shape of ``x``."""
        return self.norm.activation(x)

    def energy_terms(
        self, x: torch.Tensor, *, mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """``{"norm": E_LN, "attention": E_ATT, "hopfield": E_HN}``, each ``(B,)``."""
        x = self.check_tokens(x)
        g, e_norm = self.norm.activation_and_energy(x)
        return {
            "norm": e_norm,
            "attention": self.attention.energy(g, mask=mask),
            "hopfield": self.hopfield.energy(g),
        }

    def energy(self, x: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Total block energy ``E(x)``, shape ``(B,)``."""
        return torch.stack(list(self.energy_terms(x, mask=mask).values())).sum(dim=0)

    def token_energies(self, x: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Energy per token ``(B, T)`` (LN + Hopfield of token ``A`` + attention of query
        ``A``); sums to :meth:`energy` over tokens."""
        x = self.check_tokens(x)
        g = self.activation(x)
        var = (x - x.mean(dim=-1, keepdim=True)).square().mean(dim=-1)
        gamma = self.norm.gamma.to(x.dtype)
        norm = -self.num_features * gamma * self.norm.eps * torch.rsqrt(var + self.norm.eps)
        overlaps = self.hopfield.overlaps(g)
        if self.hopfield.separation is None:
            beta = self.hopfield.beta
            hopfield = -torch.logsumexp(beta * overlaps, dim=-1) / beta
        else:
            hopfield = -self.hopfield.separation(overlaps).sum(dim=-1)
        return norm + hopfield + self.attention.query_energies(g, mask=mask)

    # -------------------------------------------------------------- gradients
    def energy_and_grad(
        self, x: torch.Tensor, *, mask: torch.Tensor | None = None, use_autograd: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(E(x) (B,), ∂(E_ATT + E_HN)/∂ĝ (B, T, D))``; closed form unless ``use_autograd``."""
        g, e_norm = self.norm.activation_and_energy(x)
        if use_autograd:
            with torch.enable_grad():
                g_in = g if g.requires_grad else g.detach().requires_grad_(True)
                e_syn = self.attention.energy(g_in, mask=mask) + self.hopfield.energy(g_in)
                (grad,) = torch.autograd.grad(
                    e_syn.sum(), [g_in], create_graph=torch.is_grad_enabled()
                )
            if not torch.is_grad_enabled():
                e_syn = e_syn.detach()
            return e_norm + e_syn, grad
        e_att, grad_att = self.attention.energy_and_grad(g, mask=mask)
        e_hn, grad_hn = self._hopfield_energy_and_grad(g)
        return e_norm + e_att + e_hn, grad_att + grad_hn

    def _hopfield_energy_and_grad(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``E_HN`` and ``∂E_HN/∂ĝ = −F'(Ξĝ)ᵀΞ`` from one overlap matrix ``Ξĝ``."""
        hopfield = self.hopfield
        memories = hopfield.memories.to(g.dtype)
        overlaps = g @ memories.T
        if isinstance(hopfield.separation, ReLUSquared):  # F = ½ReLU², F' = ReLU: one pass
            weights = torch.relu(overlaps)
            energy = -0.5 * weights.square().sum(dim=(1, 2))
        elif hopfield.separation is None:
            beta = hopfield.beta
            energy = -torch.logsumexp(beta * overlaps, dim=-1).sum(dim=-1) / beta
            weights = torch.softmax(beta * overlaps, dim=-1)
        else:
            energy = -hopfield.separation(overlaps).sum(dim=(1, 2))
            weights = hopfield.separation.derivative(overlaps)
        return energy, -(weights @ memories)

    def step(
        self,
        x: torch.Tensor,
        alpha: float = 0.1,
        *,
        mask: torch.Tensor | None = None,
        use_autograd: bool = False,
    ) -> torch.Tensor:
        """One plain Euler step ``x − α ∂E/∂ĝ``."""
        x = self.check_tokens(x)
        alpha = check_positive(alpha, "alpha")
        _, grad = self.energy_and_grad(x, mask=mask, use_autograd=use_autograd)
        return x - alpha * grad

    def descend(
        self,
        x: torch.Tensor,
        *,
        steps: int = 12,
        alpha: float = 0.1,
        mask: torch.Tensor | None = None,
        use_autograd: bool = False,
        guarded: bool = False,
        max_halvings: int = 30,
        return_states: bool = False,
    ) -> ETDescentResult:
        """Run ``steps`` updates ``x ← x − α ∂E/∂ĝ`` and record the energy trace.

        ``guarded=False`` (default): plain Euler steps (differentiable; used in
        training). ``guarded=True``: per sample, a step that would raise ``E`` or make
        it non-finite is retried with ``α/2, α/4, …`` (at most ``max_halvings``
        times, then skipped); a rise within rounding noise (``ROUNDING_ULPS`` ulps of
        ``|E|``) holds the sample without halving. The returned trace is then
        non-increasing by construction. A sample whose energy is already NaN takes the
        plain step without retries (and stays NaN).
        """
        x = self.check_tokens(x)
        steps = check_int(steps, "steps", 0)
        alpha = check_positive(alpha, "alpha")
        energy, grad = self.energy_and_grad(x, mask=mask, use_autograd=use_autograd)
        energies, sizes = [energy], []
        states = [x] if return_states else None
        for _ in range(steps):
            if guarded:
                x, energy, grad, size = self._guarded_step(
                    x, energy, grad, alpha, mask, use_autograd, max_halvings
                )
            else:
                x = x - alpha * grad
                energy, grad = self.energy_and_grad(x, mask=mask, use_autograd=use_autograd)
                size = torch.full_like(energy.detach(), alpha)
            energies.append(energy)
            sizes.append(size)
            if states is not None:
                states.append(x)
        step_sizes = torch.stack(sizes) if sizes else energy.new_zeros(0, x.shape[0]).detach()
        return ETDescentResult(x, torch.stack(energies), states, step_sizes)

    def _guarded_step(
        self,
        x: torch.Tensor,
        energy: torch.Tensor,
        grad: torch.Tensor,
        alpha: float,
        mask: torch.Tensor | None,
        use_autograd: bool,
        max_halvings: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-sample backtracking: accept ``x − α_b ∂E/∂ĝ`` only where ``E`` stays finite
        and does not rise; returns ``(x, E, ∂E/∂ĝ, step size taken (B,))``."""
        old = energy.detach()
        noise_scale = ROUNDING_ULPS * torch.finfo(old.dtype).eps
        step_size = torch.full_like(old, alpha)
        taken = torch.zeros_like(old)
        pending = torch.ones_like(old, dtype=torch.bool)
        broken = ~torch.isfinite(old)  # a NaN sample takes the plain step: it stays NaN
        new_x, new_e, new_g = x, energy, grad
        for _ in range(max_halvings + 1):
            if not bool(pending.any()):
                break
            cand = x - step_size.view(-1, 1, 1) * grad
            cand_e, cand_g = self.energy_and_grad(cand, mask=mask, use_autograd=use_autograd)
            trial = cand_e.detach()
            finite = torch.isfinite(trial)
            ok = pending & ((finite & (trial <= old)) | broken)
            noise = finite & (trial - old <= noise_scale * (old.abs() + trial.abs()))
            new_x = torch.where(ok.view(-1, 1, 1), cand, new_x)
            new_e = torch.where(ok, cand_e, new_e)
            new_g = torch.where(ok.view(-1, 1, 1), cand_g, new_g)
            taken = torch.where(ok, step_size, taken)
            pending = pending & ~ok & ~noise
            step_size = torch.where(pending, step_size / 2, step_size)
        return new_x, new_e, new_g, taken


@dataclass
class ETOutput:
    """Outcome of :meth:`EnergyTransformer.forward`.

    Attributes:
        patches: decoded patches of the final state in pixel units, ``(B, N, P)``.
        energies: block energy trace ``(steps + 1, B)``.
        tokens: final token states ``(B, T, D)`` (CLS first when present).
        states: every token state ``x_0 … x_T`` when requested.
    """

    patches: torch.Tensor
    energies: torch.Tensor
    tokens: torch.Tensor
    states: list[torch.Tensor] | None = None


class EnergyTransformer(nn.Module):
    """Energy Transformer for masked-image modelling (Hoover et al. 2023).

    ``images (B, C, H, W)`` and a patch mask ``(B, N)`` → tokens
    ``x_0 = [CLS; MASK or W_E·patch + e]`` (:class:`ImageTokenizer`) → ``steps`` updates
    ``x ← x − α ∂E/∂ĝ`` of one :class:`EnergyTransformerBlock` → patches
    ``W_D ĝ_A`` (:class:`~hopfield.models.energy_transformer_patches.PatchDecoder`) of the
    final activations.

    Args:
        image_size: ``H`` or ``(H, W)``, divisible by ``patch_size``.
        patch_size: ``p``.
        in_channels: 1 or 3.
        num_features, num_heads, head_dim, num_memories: block sizes ``D, H, Y, M``.
        steps: default number of updates ``T``.
        alpha: default step size ``α``.
        beta, exclude_self, separation: see :class:`EnergyTransformerBlock`
            (``separation`` is ``"relu_squared"`` or ``"lse"`` here, to stay serialisable).
        position_embedding, cls_token: front-end switches.
        attention_init_std: init std of ``W_Q`` and ``W_K``.
    """

    def __init__(
        self,
        image_size: int | Sequence[int],
        patch_size: int,
        in_channels: int = 1,
        num_features: int = 64,
        num_heads: int = 4,
        head_dim: int = 16,
        num_memories: int = 256,
        *,
        steps: int = 12,
        alpha: float = 0.1,
        beta: float | None = None,
        exclude_self: bool = True,
        separation: str = "relu_squared",
        position_embedding: bool = True,
        cls_token: bool = True,
        attention_init_std: float = 0.02,
    ) -> None:
        super().__init__()
        if separation not in ("relu_squared", "lse"):
            raise ValueError(f"separation must be 'relu_squared' or 'lse', got {separation!r}")
        self.tokenizer = ImageTokenizer(
            image_size,
            patch_size,
            in_channels,
            num_features,
            position_embedding=position_embedding,
            cls_token=cls_token,
        )
        self.block = EnergyTransformerBlock(
            num_features,
            num_heads,
            head_dim,
            num_memories,
            beta=beta,
            exclude_self=exclude_self,
            separation=ReLUSquared() if separation == "relu_squared" else "lse",
            attention_init_std=attention_init_std,
        )
        self.decoder = PatchDecoder(num_features, self.tokenizer.patch_dim)
        self.steps = check_int(steps, "steps", 0)
        self.alpha = check_positive(alpha, "alpha")
        self._config: dict[str, Any] = {
            "image_size": list(self.tokenizer.image_size),
            "patch_size": patch_size,
            "in_channels": in_channels,
            "num_features": num_features,
            "num_heads": num_heads,
            "head_dim": head_dim,
            "num_memories": num_memories,
            "steps": steps,
            "alpha": alpha,
            "beta": beta,
            "exclude_self": exclude_self,
            "separation": separation,
            "position_embedding": position_embedding,
            "cls_token": cls_token,
            "attention_init_std": attention_init_std,
        }

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable); ``EnergyTransformer(**cfg)`` rebuilds it."""
        return dict(self._config)

    @property
    def num_patches(self) -> int:
        return self.tokenizer.num_patches

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Patches in pixel units ``(B, N, P)`` decoded from token states ``(B, T, D)``."""
        g = self.block.activation(tokens)[:, self.tokenizer.num_prefix_tokens :]
        return self.tokenizer.denormalize(self.decoder(g))

    def forward(
        self,
        images: torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        steps: int | None = None,
        alpha: float | None = None,
        use_autograd: bool = False,
        guarded: bool = False,
        return_states: bool = False,
    ) -> ETOutput:
        """Encode, descend the energy for ``steps`` (default :attr:`steps`) and decode."""
        images = floating_in_dtype(images, "images", self.block.norm.gamma.dtype)
        tokens = self.tokenizer(images, mask)
        result = self.block.descend(
            tokens,
            steps=self.steps if steps is None else steps,
            alpha=self.alpha if alpha is None else alpha,
            use_autograd=use_autograd,
            guarded=guarded,
            return_states=return_states,
        )
        return ETOutput(
            patches=self.decode(result.tokens),
            energies=result.energies,
            tokens=result.tokens,
            states=result.states,
        )

    def to_images(self, patches: torch.Tensor) -> torch.Tensor:
        """``(B, N, P) -> (B, C, H, W)``."""
        t = self.tokenizer
        return unpatchify(patches, t.patch_size, t.image_size, t.in_channels)

    def inpaint(
        self, images: torch.Tensor, mask: torch.Tensor, patches: torch.Tensor
    ) -> torch.Tensor:
        """Images with masked patches replaced by ``patches`` (visible ones kept), clamped to
        ``[0, 1]``; shape ``(B, C, H, W)``."""
        images = floating_in_dtype(images, "images", self.block.norm.gamma.dtype)
        original = patchify(self.tokenizer.check_images(images), self.tokenizer.patch_size)
        mask = self.tokenizer.check_mask(mask, images.shape[0])
        if patches.shape != original.shape:
            raise ValueError(
                f"patches must have shape {tuple(original.shape)}, got {tuple(patches.shape)}"
            )
        mixed = torch.where(mask.unsqueeze(-1), patches, original)
        return self.to_images(mixed).clamp(0.0, 1.0)
