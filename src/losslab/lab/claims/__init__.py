"""One module per claim of the literature; each defines ``CLAIM`` (a :class:`losslab.lab.registry.Claim`).

To add a claim: write ``cNN_slug.py`` with its cell functions (top-level, so
worker processes can run them), its ``run(ctx)`` and ``CLAIM``, and list it here.
"""

MODULES = ("c01_likelihood",)
