"""Calibration: metrics (ECE, reliability, Brier decomposition, intervals, streaming) and calibrators."""

from .binning import HistogramBinning, IsotonicCalibration
from .metrics import (
    BrierDecomposition,
    CalibrationState,
    ReliabilityCurve,
    bootstrap_ci,
    brier_decomposition,
    ece,
    reliability_curve,
)
from .scaling import DirichletCalibration, MatrixScaling, PlattScaling, TemperatureScaling, VectorScaling

__all__ = [
    "BrierDecomposition",
    "CalibrationState",
    "DirichletCalibration",
    "HistogramBinning",
    "IsotonicCalibration",
    "MatrixScaling",
    "PlattScaling",
    "ReliabilityCurve",
    "TemperatureScaling",
    "VectorScaling",
    "bootstrap_ci",
    "brier_decomposition",
    "ece",
    "reliability_curve",
]
