"""Post-hoc calibration: scikit-learn-style calibrators fitted on held-out predictions."""

from .binning import HistogramBinning, IsotonicCalibration
from .scaling import DirichletCalibration, MatrixScaling, PlattScaling, TemperatureScaling, VectorScaling

__all__ = [
    "DirichletCalibration",
    "HistogramBinning",
    "IsotonicCalibration",
    "MatrixScaling",
    "PlattScaling",
    "TemperatureScaling",
    "VectorScaling",
]
