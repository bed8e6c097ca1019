"""hopfield.analysis: time-series tools for the dynamics of associative memories."""

from hopfield.analysis.temporal import (
    DFAResult,
    ExponentialFit,
    PowerLawFit,
    detect_events,
    dfa,
    fit_exponential,
    fit_power_law,
    inter_event_times,
)

__all__ = [
    "DFAResult",
    "ExponentialFit",
    "PowerLawFit",
    "detect_events",
    "dfa",
    "fit_exponential",
    "fit_power_law",
    "inter_event_times",
]
