"""The claims lab: small models trained on real data, to test what losslab claims.

Submodules are imported explicitly (``from losslab.lab import data``); this
package imports nothing on its own, so ``import losslab`` stays light.
"""
