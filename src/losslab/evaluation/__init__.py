"""The pieces of ``losslab evaluate``: reading, interpretation, metrics, calibration, streaming, report.

The public entry point is :mod:`losslab.evaluate`.
"""
