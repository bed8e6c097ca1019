"""Command line of ``hopfield train et`` (training itself: :mod:`.train_et`).

Every :class:`~.train_et.TrainConfig` field is a flag (``--num-features``, ``--lr``, …)
validated by its argument type. With ``--resume CKPT`` the run's configuration comes
from the checkpoint; flags given on the command line override it, except those that
define the architecture or the data (``--dataset``, ``--image-size``, ``--patch-size``,
``--num-features``, …), which must agree with the checkpoint (one-line error otherwise).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

import torch

from hopfield.distributed.launch import destroy_distributed, init_distributed, is_main_process
from hopfield.experiments import cli_types as types
from hopfield.experiments.train_et import DATASETS, TrainConfig, train
from hopfield.experiments.train_et_checkpoint import MODEL_KEYS, read_training_meta

__all__ = ["config_from_args", "register"]

FIXED_ON_RESUME = ("dataset", "image_size", *MODEL_KEYS)
"""Fields a resumed run cannot change (they define the data or the architecture)."""


def _open_fraction(text: str) -> float:
    value = types.probability(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text!r}")
    return value


def _train_device(text: str) -> str:
    return text if text == "auto" else types.device_name(text)


FIELD_TYPES: dict[str, Callable[[str], Any]] = {
    "data_root": lambda text: str(types.existing_dir(text)),
    "image_size": types.positive_int,
    "patch_size": types.positive_int,
    "num_features": types.positive_int,
    "num_heads": types.positive_int,
    "head_dim": types.positive_int,
    "num_memories": types.positive_int,
    "et_steps": types.non_negative_int,
    "alpha": types.positive_float,
    "attention_init_std": types.positive_float,
    "mask_fraction": _open_fraction,
    "steps": types.positive_int,
    "batch_size": types.positive_int,
    "lr": types.positive_float,
    "weight_decay": types.non_negative_float,
    "warmup": types.non_negative_int,
    "grad_clip": types.positive_float,
    "eval_every": types.positive_int,
    "eval_images": types.positive_int,
    "checkpoint_every": types.positive_int,
    "seed": types.seed,
    "device": _train_device,
}
"""Argument type of each :class:`TrainConfig` field's flag (``dataset`` uses choices)."""

FIELD_HELP: dict[str, str] = {
    "data_root": "folder with local mnist/, cifar10/ (or $HOPFIELD_DATA)",
    "image_size": "image side in pixels (glyphs; others keep theirs)",
    "patch_size": "patch side in pixels",
    "num_features": "token dimension D",
    "num_heads": "attention heads H",
    "head_dim": "attention head dimension Y",
    "num_memories": "Hopfield memories M",
    "et_steps": "energy-descent steps T per forward pass",
    "alpha": "descent step size α",
    "attention_init_std": "initial std of W_Q and W_K",
    "mask_fraction": "fraction of patches masked (0 < f < 1)",
    "steps": "optimiser updates",
    "batch_size": "global batch size (divisible by the number of ranks)",
    "lr": "peak AdamW learning rate",
    "weight_decay": "AdamW weight decay",
    "warmup": "linear warm-up steps",
    "grad_clip": "max global gradient norm",
    "eval_every": "evaluate every this many steps",
    "eval_images": "held-out images per evaluation",
    "checkpoint_every": "write a checkpoint every this many steps",
    "seed": "seed of weights, batches and masks",
    "device": "auto (CUDA if available), cpu, cuda or cuda:i",
}


class _Explicit(argparse.Action):
    """Store the value and remember that the flag was given (``namespace.explicit``)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)
        explicit = set(getattr(namespace, "explicit", set()))
        explicit.add(self.dest)
        namespace.explicit = explicit


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    parser.add_argument(
        "--dataset", choices=DATASETS, default=defaults.dataset, action=_Explicit, help="images"
    )
    parser.add_argument(
        "--out", type=types.output_dir, default="runs/et", help="output folder (report, checkpoint)"
    )
    parser.add_argument(
        "--resume",
        type=types.existing_file,
        default=None,
        help="checkpoint to resume from; its configuration is used unless a flag overrides it",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    for item in fields(TrainConfig):
        if item.name in ("dataset", "amp"):
            continue
        parser.add_argument(
            "--" + item.name.replace("_", "-"),
            type=FIELD_TYPES[item.name],
            default=getattr(defaults, item.name),
            dest=item.name,
            action=_Explicit,
            help=FIELD_HELP[item.name],
        )
    parser.add_argument(
        "--no-amp",
        dest="amp",
        action=_Explicit,
        nargs=0,
        const=False,
        default=True,
        help="disable CUDA bfloat16 autocast",
    )
    parser.add_argument(
        "--threads", type=types.positive_int, default=None, help="torch CPU threads"
    )
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over the torch.distributed group set up by torchrun (env://)",
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's :class:`TrainConfig`: the flags, or with ``--resume`` the checkpoint's
    configuration overridden by the flags given explicitly (``ValueError`` naming the
    flag when one of :data:`FIXED_ON_RESUME` disagrees with the checkpoint)."""
    names = [f.name for f in fields(TrainConfig)]
    if args.resume is None:
        return TrainConfig(**{n: getattr(args, n) for n in names})
    saved = dict(read_training_meta(args.resume)["train"])
    explicit = set(getattr(args, "explicit", set()))
    for name in sorted(explicit & set(FIXED_ON_RESUME)):
        if getattr(args, name) != saved.get(name):
            flag = "--" + name.replace("_", "-")
            raise ValueError(
                f"argument {flag}: {getattr(args, name)!r} conflicts with the checkpoint "
                f"{args.resume} ({saved.get(name)!r}); a resumed run keeps the architecture"
            )
    settings = {n: saved[n] for n in names if n in saved}
    settings.update({n: getattr(args, n) for n in names if n in explicit or n not in saved})
    return TrainConfig(**settings)


def _run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        if args.distributed:
            init_distributed()  # env:// from torchrun; no-op inside an existing group
        main = is_main_process()
        try:
            result = train(
                config, out_dir=args.out, resume=args.resume, progress=not args.no_progress
            )
        except FileNotFoundError as error:  # the data set's files
            raise FileNotFoundError(f"argument --data-root: {error}") from error
        if args.distributed:
            destroy_distributed(barrier=True)  # all ranks done before any disconnects
    finally:
        if args.distributed:
            destroy_distributed()
    if main:
        from hopfield.experiments.et_viz import metrics_markdown

        print(metrics_markdown(result.metrics))
        print(f"report written to {args.out}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``train`` with the sub-command ``et`` to the ``hopfield`` CLI."""
    parser = subparsers.add_parser("train", help="train a model (et: Energy Transformer)")
    models = parser.add_subparsers(dest="model", metavar="MODEL")
    et = models.add_parser(
        "et",
        help="masked-image modelling with the Energy Transformer",
        description="Train the Energy Transformer on masked-image modelling.",
    )
    _add_arguments(et)
    et.set_defaults(func=_run)

    def missing_model(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=missing_model)
