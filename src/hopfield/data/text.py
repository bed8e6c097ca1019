"""An offline text corpus and a byte-level tokenizer for small language-model studies.

Nothing is downloaded. The corpus is text that ships with the Python interpreter:

* ``"pydoc"`` (default): the *Python Language Reference* topics bundled as
  :mod:`pydoc_data.topics` (the text behind ``help("if")`` etc.; ~465 kB of English
  prose with code examples, © Python Software Foundation, PSF licence). Topics are
  joined in sorted key order, so the corpus is identical for a given Python version.
* ``"zen"``: *The Zen of Python* (the :mod:`this` module, decoded; ~0.8 kB), for
  unit tests.

Tokenisation is byte level: ``encode(text) = list(text.encode("utf-8"))``, vocabulary
size 256, ``decode`` inverts it exactly (invalid UTF-8 is replaced). A byte-level
model's perplexity is ``exp(mean NLL per byte)``.
"""

from __future__ import annotations

import codecs

import torch

__all__ = [
    "BYTE_VOCAB_SIZE",
    "CORPORA",
    "ByteTokenizer",
    "load_corpus",
    "random_windows",
    "train_val_split",
]

BYTE_VOCAB_SIZE = 256
"""Vocabulary size of :class:`ByteTokenizer`."""

CORPORA = ("pydoc", "zen")
"""Names accepted by :func:`load_corpus`."""


def _zen() -> str:
    import this  # the Zen, ROT13-encoded in this.s (printed once on first import)

    return codecs.decode(this.s, "rot13")


def _pydoc() -> str:
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key].strip() for key in sorted(topics))


def load_corpus(name: str = "pydoc") -> str:
    """The text of corpus ``name`` (one of :data:`CORPORA`; see the module docstring)."""
    if name == "pydoc":
        return _pydoc()
    if name == "zen":
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            return _zen()
    raise ValueError(f"name must be one of {CORPORA}, got {name!r}")


class ByteTokenizer:
    """UTF-8 byte tokenizer: token ids are byte values ``0…255``."""

    vocab_size: int = BYTE_VOCAB_SIZE

    def encode(self, text: str) -> torch.Tensor:
        """``(N,)`` ``torch.long`` byte ids of ``text`` (UTF-8)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return torch.tensor(list(text.encode("utf-8")), dtype=torch.long)

    def decode(self, ids: torch.Tensor) -> str:
        """Inverse of :meth:`encode` (``ids`` of shape ``(N,)`` with values in ``[0, 256)``)."""
        if not isinstance(ids, torch.Tensor) or ids.ndim != 1:
            raise ValueError("ids must be a 1-D tensor of byte ids (N,)")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= BYTE_VOCAB_SIZE):
            raise ValueError("ids must lie in [0, 256)")
        return bytes(ids.tolist()).decode("utf-8", errors="replace")


def train_val_split(
    ids: torch.Tensor, val_fraction: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Contiguous split: the first ``1 − val_fraction`` of ``ids`` trains, the rest validates."""
    if not isinstance(ids, torch.Tensor) or ids.ndim != 1:
        raise ValueError("ids must be a 1-D tensor (N,)")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    cut = round(ids.numel() * (1.0 - val_fraction))
    return ids[:cut], ids[cut:]


def random_windows(
    ids: torch.Tensor, batch_size: int, context: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of next-token pairs: inputs ``ids[s:s+T]`` and targets ``ids[s+1:s+T+1]``
    for ``batch_size`` start offsets ``s`` drawn with ``generator``; each ``(B, T)``."""
    if not isinstance(ids, torch.Tensor) or ids.ndim != 1:
        raise ValueError("ids must be a 1-D tensor (N,)")
    if batch_size < 1 or context < 1:
        raise ValueError(f"batch_size and context must be ≥ 1, got {batch_size}, {context}")
    if ids.numel() < context + 2:
        raise ValueError(f"ids must hold more than context + 1 = {context + 1} tokens")
    starts = torch.randint(0, ids.numel() - context - 1, (batch_size,), generator=generator)
    offsets = torch.arange(context)
    inputs = ids[starts[:, None] + offsets]
    targets = ids[starts[:, None] + offsets + 1]
    return inputs, targets
