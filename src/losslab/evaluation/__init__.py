"""``losslab evaluate``: score a file of model predictions (and optionally calibrate them).

One package, its modules in the order the data goes through them:

1. :mod:`~losslab.evaluation.read`: a file in (.csv / .tsv, plain or compressed, .parquet, .npy, .npz),
   chunks of (scores, class indices) out; which columns are the labels and scores, how labels (numbers,
   booleans, class names) become classes;
2. :mod:`~losslab.evaluation.interpret`: probabilities or logits, and the probabilities either way;
3. :mod:`~losslab.evaluation.score`: every metric and its interval, from sums updated chunk by chunk;
4. :mod:`~losslab.evaluation.calibrate`: ``--calibrate``, fitted on a held-out file;
5. :mod:`~losslab.evaluation.report`: the terminal summary and ``report.html``, written all or nothing
   by :mod:`~losslab.evaluation.outputs`.

:mod:`~losslab.evaluation.pipeline` runs them (:func:`evaluate`, and :func:`run` for the command).
Every bad file or option is an :class:`EvaluateError` (exit code 2) naming the file, row, column or option
and the fix.
"""

from .calibrate import CALIBRATORS, calibrate, fit_calibrator
from .errors import EvaluateError
from .interpret import PROB_ROW_TOL, Interpretation, Interpreter, interpret
from .outputs import prepare_out, write_outputs
from .pipeline import DEFAULT_CHUNK_ROWS, STREAM_BYTES, auto_chunk_rows, evaluate, run
from .read import Predictions, ReadOptions, Source, open_source, read_predictions
from .report import METRIC_ROWS, metric_rows, render_html
from .score import CONFIDENCE, MetricAccumulator, compute_metrics, plan_memory

__all__ = [
    "CALIBRATORS", "CONFIDENCE", "DEFAULT_CHUNK_ROWS", "METRIC_ROWS", "PROB_ROW_TOL", "STREAM_BYTES",
    "EvaluateError", "Interpretation", "Interpreter", "MetricAccumulator", "Predictions", "ReadOptions", "Source",
    "auto_chunk_rows", "calibrate", "compute_metrics", "evaluate", "fit_calibrator", "interpret", "metric_rows",
    "open_source", "plan_memory", "prepare_out", "read_predictions", "render_html", "run", "write_outputs",
]  # fmt: skip
