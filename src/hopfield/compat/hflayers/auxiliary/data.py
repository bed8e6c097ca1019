"""``BitPatternSet``: hopfield-layers' multiple-instance-learning toy data set.

Each bag holds ``num_instances`` random bit strings of ``num_bits`` bits (none all
zero). ``num_signals`` distinct non-zero *signal* patterns are drawn once; the first
``⌈fraction_targets · num_bags⌉`` bags are positive and carry ``num_signals_per_bag``
signals at distinct positions, every other instance (and every instance of a negative
bag) differs from all signals. A bag is positive iff it contains a signal: the task
of the bit-pattern demonstration of hopfield-layers (Ramsauer et al. 2020). Same
constructor and item format (``{"data": (num_instances, num_bits), "target": ()}``);
the random draws are this library's own.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import Dataset

from hopfield._validation import check_int, check_probability

__all__ = ["BitPatternSet"]


def _bits(count: int, num_bits: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 2, (count, num_bits), generator=generator)


class BitPatternSet(Dataset[dict[str, torch.Tensor]]):
    """Bags of bit patterns; positive bags contain one of the class-defining signals."""

    def __init__(
        self,
        num_bags: int,
        num_instances: int,
        num_signals: int,
        num_signals_per_bag: int = 1,
        fraction_targets: float = 0.5,
        num_bits: int = 8,
        dtype: torch.dtype = torch.float32,
        seed_signals: int = 43,
        seed_data: int = 44,
    ) -> None:
        self.num_bags = check_int(num_bags, "num_bags")
        self.num_instances = check_int(num_instances, "num_instances")
        self.num_signals = check_int(num_signals, "num_signals")
        self.num_signals_per_bag = check_int(num_signals_per_bag, "num_signals_per_bag", 0)
        self.num_bits = check_int(num_bits, "num_bits")
        fraction = check_probability(fraction_targets, "fraction_targets")
        if not 0 < fraction < 1:
            raise ValueError(f"fraction_targets must lie in (0, 1), got {fraction}")
        if self.num_signals_per_bag > self.num_instances:
            raise ValueError("num_signals_per_bag must be ≤ num_instances")
        if self.num_signals >= 2**self.num_bits - 1:
            raise ValueError("num_signals must be smaller than 2 ** num_bits - 1")
        self.num_targets_high = min(self.num_bags, max(1, math.ceil(self.num_bags * fraction)))
        self.num_targets_low = self.num_bags - self.num_targets_high
        self.dtype = dtype
        self.signals = self._draw_signals(torch.Generator().manual_seed(seed_signals))
        self.data, self.targets = self._draw_bags(torch.Generator().manual_seed(seed_data))

    def _draw_signals(self, generator: torch.Generator) -> torch.Tensor:
        """``num_signals`` distinct, non-zero bit patterns."""
        chosen = torch.randperm(2**self.num_bits - 1, generator=generator)[: self.num_signals] + 1
        powers = 2 ** torch.arange(self.num_bits - 1, -1, -1)
        return (chosen[:, None] // powers % 2).long()

    def _draw_bags(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        data = _bits(self.num_bags * self.num_instances, self.num_bits, generator)
        while True:  # redraw all-zero instances and accidental signals
            bad = (data.sum(1) == 0) | (data[:, None, :] == self.signals[None]).all(-1).any(1)
            if not bool(bad.any()):
                break
            data[bad] = _bits(int(bad.sum()), self.num_bits, generator)
        data = data.view(self.num_bags, self.num_instances, self.num_bits)
        targets = torch.zeros(self.num_bags, dtype=torch.long)
        targets[: self.num_targets_high] = 1
        for bag in range(self.num_targets_high):
            places = torch.randperm(self.num_instances, generator=generator)
            which = torch.randint(0, self.num_signals, (self.num_signals_per_bag,),
                                  generator=generator)  # fmt: skip
            data[bag, places[: self.num_signals_per_bag]] = self.signals[which]
        return data, targets

    def __len__(self) -> int:
        return self.num_bags

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {
            "data": self.data[index].to(self.dtype),
            "target": self.targets[index].to(self.dtype),
        }
