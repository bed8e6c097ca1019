"""The ``hopfield study <name>`` command: a registry of studies, all run by one runner.

Each entry of :data:`STUDIES` names a module with a module-level ``STUDY``
(:class:`~hopfield.experiments.runner.Study`); :func:`register` adds one sub-command per
study with the common options (``--quick``, ``--out``, ``--seed``, ``--no-progress``) and
the study's own, and runs it through :func:`~hopfield.experiments.runner.run_study`,
which writes the same files for every study (see :mod:`hopfield.experiments.runner`).

Add a study by adding ``name: "module.path"`` to :data:`STUDIES`. Modules are imported
when the parser is built, so keep heavy imports (matplotlib, sklearn) inside functions.
"""

from __future__ import annotations

import argparse
import functools
import importlib
from typing import Any

from hopfield.experiments.runner import Study, add_common_arguments, default_out_dir, run_study

__all__ = ["STUDIES", "add_common_arguments", "default_out_dir", "load_study", "register"]

STUDIES: dict[str, str] = {
    "kernel": "hopfield.experiments.study_kernel",
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
"""Study name → module exposing ``STUDY`` (a :class:`~hopfield.experiments.runner.Study`)."""


def load_study(name: str) -> Study:
    """The :class:`Study` registered as ``name``."""
    study = importlib.import_module(STUDIES[name]).STUDY
    if not isinstance(study, Study) or study.name != name:
        raise TypeError(f"{STUDIES[name]}.STUDY must be a Study named {name!r}")
    return study


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
        study = load_study(name)
        summary = _summary(module)
        study_parser = studies.add_parser(name, help=summary, description=summary)
        add_common_arguments(study_parser, name)
        if study.add_arguments is not None:
            study.add_arguments(study_parser)
        study_parser.set_defaults(func=functools.partial(run_study, study))
