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
    "c19_mse_formula",
    "c20_mse_minimisers",
    "c13_mse_decomposition",
    "c15_regression_normality",
    "c16_beta_convergence",
    "c17_brier_training",
    "c18_autoencoder_reconstruction",
    "c14_calibration_ce_vs_mse",
)
