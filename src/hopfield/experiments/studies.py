"""The ``hopfield study <name>`` command: a registry of studies, each writing to ``runs/``.

A study is a module with

* ``run(args: argparse.Namespace) -> int`` — does the work, writes figures and tables
  under ``args.out`` (default ``runs/study-<name>``) and prints a summary;
* optionally ``add_arguments(parser)`` — its own options besides the common ones
  (``--quick``, ``--out``, ``--seed``).

Add a study by adding ``name: "module.path"`` to :data:`STUDIES`. Modules are imported
when the parser is built, so keep heavy imports (matplotlib) inside functions.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

__all__ = ["STUDIES", "add_common_arguments", "default_out_dir", "register"]

STUDIES: dict[str, str] = {
    "kernel": "hopfield.experiments.kernel_study",
    "bw": "hopfield.experiments.study_bw",
    "sparse-recovery": "hopfield.experiments.study_sparse_recovery",
    "spherical": "hopfield.experiments.study_spherical",
    "kuramoto": "hopfield.experiments.study_kuramoto",
    "sedam": "hopfield.experiments.study_sedam",
    "capacity": "hopfield.experiments.study_capacity",
    "delta": "hopfield.experiments.study_delta",
    "camformer": "hopfield.experiments.study_camformer",
    "muon": "hopfield.experiments.study_muon",
    "gam": "hopfield.experiments.study_gam",
    "distributed-am": "hopfield.experiments.study_distributed_am",
    "reframe": "hopfield.experiments.study_reframe",
    "diffusion": "hopfield.experiments.study_diffusion",
    "classify": "hopfield.experiments.study_classify",
    "cluster": "hopfield.experiments.study_cluster",
    "et-vs-mae": "hopfield.experiments.study_et_vs_mae",
}
"""Study name → module exposing ``run(args)`` (and optionally ``add_arguments(parser)``)."""


def default_out_dir(name: str) -> Path:
    """``runs/study-<name>``, relative to the working directory."""
    return Path("runs") / f"study-{name}"


def add_common_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """``--quick``, ``--out`` (default ``runs/study-<name>``) and ``--seed``."""
    parser.add_argument("--quick", action="store_true", help="small, fast version of the study")
    parser.add_argument(
        "--out",
        type=Path,
        default=default_out_dir(name),
        help=f"output folder (default: {default_out_dir(name)})",
    )
    parser.add_argument("--seed", type=int, default=0, help="base random seed (default: 0)")


def _summary(module: Any) -> str:
    doc = (module.__doc__ or "").strip()
    # argparse %-formats help strings: a literal "1 %" in a docstring must be escaped.
    return doc.splitlines()[0].replace("%", "%%") if doc else ""


def register(subparsers: Any) -> None:
    """Add ``study`` with one sub-command per entry of :data:`STUDIES`."""
    parser = subparsers.add_parser(
        "study", help="run a study (experiment) and write figures and tables to runs/"
    )
    studies = parser.add_subparsers(dest="study", metavar="STUDY")

    def missing_study(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=missing_study)
    for name, module_name in STUDIES.items():
        module = importlib.import_module(module_name)
        summary = _summary(module)
        study_parser = studies.add_parser(name, help=summary, description=summary)
        add_common_arguments(study_parser, name)
        add_arguments = getattr(module, "add_arguments", None)
        if add_arguments is not None:
            add_arguments(study_parser)
        study_parser.set_defaults(func=module.run)
