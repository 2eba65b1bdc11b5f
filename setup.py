"""The C extensions (the rest is in pyproject.toml).

- losslab.kernels._native: one-pass kernels for top-label ECE, log loss and Brier.
- losslab.kernels._ce: the fused softmax cross-entropy loss and gradient (one read of the logits,
  POSIX threads, AVX-512/AVX2 chosen at run time, never -march=native, so the wheel runs anywhere).

Both are optional: without a C compiler the install goes on, and
losslab.kernels.native / losslab.kernels.fused_ce fall back to the NumPy
paths, which compute the same numbers.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "losslab.kernels._native",
            sources=["src/losslab/kernels/_native.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(
            "losslab.kernels._ce",
            sources=["src/losslab/kernels/_ce.c"],
            extra_compile_args=["-O3", "-pthread"],
            extra_link_args=["-pthread"],
            optional=True,
        ),
    ]
)
