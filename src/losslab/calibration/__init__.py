"""Calibration: metrics (ECE, reliability, Brier decomposition, intervals, streaming) and calibrators."""

from .binning import HistogramBinning, IsotonicCalibration
from .bootstrap import bootstrap_ci
from .metrics import BrierDecomposition, ReliabilityCurve, brier_decomposition, ece, reliability_curve
from .scaling import (
    CalibrationWarning,
    DirichletCalibration,
    MatrixScaling,
    PlattScaling,
    TemperatureScaling,
    VectorScaling,
)
from .state import CalibrationState

__all__ = [
    "CalibrationWarning",
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
