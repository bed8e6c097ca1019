"""Multiple-instance learning on digit bags with :class:`hopfield.nn.HopfieldPooling`.

A bag is a set of 5–15 digit images (scikit-learn digits); its label is 1 when it
contains the target digit (default 9) and 0 otherwise — the instance labels are
never seen. Bags are padded to a common length and the padding is masked
(``key_padding_mask``). Model (Ramsauer et al. 2020, §3 "Hopfield pooling" for MIL;
Ilse et al. 2018 attention MIL)::

    instances (B, L, 64) → MLP φ (B, L, E) → HopfieldPooling → linear → logit,

where the pooling's learnable state pattern ``ξ`` retrieves from the instance
embeddings ``Y = φ(x_1..x_L)`` with the LSE energy
``E(ξ) = −β⁻¹ log Σ_l exp(β k_l·ξ) + ½‖ξ‖²``, i.e. ``softmax(β ξ Kᵀ) V``
(``--normalizer sparsemax|entmax15`` uses the sparse, Tsallis-regularised energy;
``--top-k`` keeps only the best-matching instances). A mean-pooling model with the
same encoder is trained alongside as a baseline. Training bags are drawn from the
digits training split, test bags from the test split.

Run: ``python examples/multiple_instance_learning.py [--quick]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hopfield.data import load_dataset
from hopfield.nn import HopfieldPooling

__all__ = ["MILModel", "main", "make_bags", "run"]


def make_bags(
    images: torch.Tensor,
    labels: torch.Tensor,
    num_bags: int,
    target: int,
    gen: torch.Generator,
    *,
    min_size: int = 5,
    max_size: int = 15,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Balanced bags: ``(instances (N, L, D), padding (N, L) True = pad, bag labels (N,))``.

    Positive bags get 1–3 images of ``target`` among other digits; negative bags
    contain no ``target``.
    """
    positives = torch.nonzero(labels == target).squeeze(1)
    negatives = torch.nonzero(labels != target).squeeze(1)
    dim = images.shape[1]
    bags = torch.zeros(num_bags, max_size, dim, dtype=images.dtype)
    padding = torch.ones(num_bags, max_size, dtype=torch.bool)
    bag_labels = torch.arange(num_bags) % 2
    for b in range(num_bags):
        size = int(torch.randint(min_size, max_size + 1, (1,), generator=gen))
        count = int(torch.randint(1, 4, (1,), generator=gen)) if bag_labels[b] else 0
        pos = positives[torch.randint(len(positives), (count,), generator=gen)]
        neg = negatives[torch.randint(len(negatives), (size - count,), generator=gen)]
        index = torch.cat([pos, neg])[torch.randperm(size, generator=gen)]
        bags[b, :size] = images[index]
        padding[b, :size] = False
    return bags, padding, bag_labels.float()


class MILModel(nn.Module):
    """Instance MLP, set pooling (Hopfield or mean), linear bag classifier."""

    def __init__(
        self, in_dim: int, embed_dim: int, *, pooling: str = "hopfield", **options: Any
    ) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(in_dim, embed_dim), nn.ReLU(),
                                     nn.Linear(embed_dim, embed_dim))  # fmt: skip
        self.pooling = pooling
        self.pool = HopfieldPooling(embed_dim, **options) if pooling == "hopfield" else None
        self.head = nn.Linear(embed_dim, 1)

    def forward(self, bags: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """Bag logits ``(N,)`` for ``bags`` ``(N, L, D)`` with ``padding`` ``(N, L)``."""
        embedded = self.encoder(bags)
        if self.pool is not None:
            pooled = self.pool(embedded, key_padding_mask=padding)[:, 0]
        else:
            keep = (~padding).unsqueeze(-1).to(embedded.dtype)
            pooled = (embedded * keep).sum(1) / keep.sum(1)
        return self.head(pooled).squeeze(-1)


def _train(
    model: MILModel,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    epochs: int,
    gen: torch.Generator,
    *,
    batch_size: int = 32,
    lr: float = 3e-3,
) -> None:
    bags, padding, targets = data
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(bags), generator=gen)
        for start in range(0, len(bags), batch_size):
            index = order[start : start + batch_size]
            loss = F.binary_cross_entropy_with_logits(
                model(bags[index], padding[index]), targets[index]
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    model.eval()


def _accuracy(model: MILModel, data: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> float:
    bags, padding, targets = data
    with torch.no_grad():
        predicted = (model(bags, padding) > 0).float()
    return float((predicted == targets).float().mean())


def run(
    *,
    target: int = 9,
    train_bags: int = 400,
    test_bags: int = 400,
    epochs: int = 40,
    normalizer: str = "softmax",
    top_k: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Train Hopfield-pooling and mean-pooling MIL models; return test accuracies."""
    gen = torch.Generator().manual_seed(seed)
    train_x, train_y = load_dataset("digits", split="train")
    test_x, test_y = load_dataset("digits", split="test")
    train_x, test_x = train_x.flatten(1), test_x.flatten(1)
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(0.1)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    train = make_bags(train_x, train_y, train_bags, target, gen)
    test = make_bags(test_x, test_y, test_bags, target, gen)
    metrics: dict[str, float] = {}
    for pooling in ("hopfield", "mean"):
        torch.manual_seed(seed)  # same encoder initialisation for both models
        options: dict[str, Any] = {}
        if pooling == "hopfield":
            options = {"num_heads": 4, "normalizer": normalizer, "top_k": top_k}
        model = MILModel(64, 32, pooling=pooling, **options)
        _train(model, train, epochs, gen)
        metrics[f"{pooling}_train_accuracy"] = _accuracy(model, train)
        metrics[f"{pooling}_test_accuracy"] = _accuracy(model, test)
    return metrics


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=int, default=9, help="digit that makes a bag positive")
    parser.add_argument("--normalizer", choices=("softmax", "sparsemax", "entmax15"),
                        default="softmax")  # fmt: skip
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="200 bags, 15 epochs")
    args = parser.parse_args(argv)
    size = 200 if args.quick else 400
    metrics = run(
        target=args.target,
        train_bags=size,
        test_bags=size,
        epochs=15 if args.quick else args.epochs,
        normalizer=args.normalizer,
        top_k=args.top_k,
        seed=args.seed,
    )
    print(f"bags of 5–15 digits, positive iff they contain a {args.target}; {size} train/test bags")
    print(f"{'pooling':<28}{'train acc':>10}{'test acc':>10}")
    label = f"Hopfield ({args.normalizer}" + (f", top-{args.top_k})" if args.top_k else ")")
    for name, key in ((label, "hopfield"), ("mean (baseline)", "mean")):
        print(
            f"{name:<28}{metrics[f'{key}_train_accuracy']:>10.4f}"
            f"{metrics[f'{key}_test_accuracy']:>10.4f}"
        )
    return metrics


if __name__ == "__main__":
    main()
