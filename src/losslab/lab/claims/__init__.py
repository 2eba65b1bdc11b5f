"""One module per claim of the literature; each defines ``CLAIM`` (a :class:`losslab.lab.registry.Claim`).

To add a claim: write ``cNN_slug.py`` with its cell functions (top-level, so
worker processes can run them), its ``run(ctx)`` and ``CLAIM``, and list it here.
"""

MODULES = (
    "c01_likelihood",
    "c02_decomposition",
    "c03_error_signals",
    "c04_saturation",
    "c05_training_speed",
    "c06_convexity",
    "c07_outliers",
    "c08_confident_mistakes",
    "c09_label_noise",
    "c10_calibration",
    "c11_proper_scoring",
    "c12_distillation",
)
