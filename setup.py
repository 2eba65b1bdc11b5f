"""The one C extension: one-pass kernels for top-label ECE, log loss and Brier (the rest is in pyproject.toml).

It is optional: without a C compiler the install goes on, and
losslab.kernels.native falls back to the NumPy path, which computes the
same numbers.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "losslab.kernels._native",
            sources=["src/losslab/kernels/_native.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
