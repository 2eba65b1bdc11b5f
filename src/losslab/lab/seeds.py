"""Every statement of the four seed documents, and where the lab tests it.

The seeds (``shared/seeds/000..003``) are the texts the lab was built to test.
Going through them sentence by sentence, each factual statement is mapped to
the claim (and, where it is one part of a claim, the rule) that tests it; a
sentence that defines a term, gives a formula the lab uses as its definition,
or expresses an opinion no experiment can settle is listed with that status
and the reason, so the report accounts for every sentence and a reader can see
what was left out and why.

``quote`` is a short excerpt, enough to find the sentence in its document.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SEED_DOCUMENTS", "STATEMENTS", "Statement", "statement_records"]

#: The seed documents by their number, as the report names them.
SEED_DOCUMENTS = {
    "000": "Stack Exchange answer: MSE and cross-entropy from a probability perspective",
    "001": "Blog post: Mean Squared Error vs Cross Entropy Loss Function (Kumar)",
    "002": "Overview: What each does, probabilistic interpretations, when each wins and fails",
    "003": "Blog post: Why do we use cross entropy and mean squared error?",
}

STATUSES = ("tested", "definition", "not tested")


@dataclass(frozen=True)
class Statement:
    """One statement of a seed: where it is, and the claim (and rule) that tests it, or why none does."""

    seed: str
    quote: str
    status: str
    claim: int | None = None
    rule: str | None = None
    why: str = ""

    def __post_init__(self) -> None:
        if self.seed not in SEED_DOCUMENTS:
            raise ValueError(f"`seed` must be one of {sorted(SEED_DOCUMENTS)}; got {self.seed!r}")
        if self.status not in STATUSES:
            raise ValueError(f"`status` must be one of {STATUSES}; got {self.status!r}")
        if (self.status == "tested") != (self.claim is not None):
            raise ValueError(f"statement {self.quote!r}: a tested statement names its claim, and only it does")
        if self.status != "tested" and not self.why:
            raise ValueError(f"statement {self.quote!r}: say why it is {self.status!r}")


def _t(seed: str, quote: str, claim: int, rule: str | None = None) -> Statement:
    return Statement(seed, quote, "tested", claim, rule)


def _d(seed: str, quote: str, why: str) -> Statement:
    return Statement(seed, quote, "definition", why=why)


def _n(seed: str, quote: str, why: str) -> Statement:
    return Statement(seed, quote, "not tested", why=why)


STATEMENTS: tuple[Statement, ...] = (
    # ---------------------------------------------------------------- seed 000
    _t("000", "Use MSE loss if (random) target variable is from Gaussian distribution", 1),
    _t("000", "categorical cross entropy loss if (random) target variable is from Multinomial distribution", 1),
    _t("000", "One of the assumptions of the linear regression is multi-variant normality", 15),
    _t("000", "From this it follows that the target variable is normally distributed", 15),
    _d("000", "Often in machine learning we deal with distribution with mean 0 and variance 1",
       "a remark about standardisation, not a claim about losses"),
    _d("000", "This is called standard normal distribution", "a definition"),
    _t("000", "Taking natural logarithm of left and right terms yields", 1),
    _t("000", "omitting the constant", 16),
    _d("000", "This is called squared error and taking the mean", "a definition"),
    _t("000", "The assumption of binary cross entropy is probability distribution of target variable is drawn from "
       "Bernoulli distribution", 1),
    _d("000", "Bernoulli distribution is the discrete probability distribution", "a definition (from Wikipedia)"),
    _t("000", "Taking negative natural logarithm of both sides yields", 1),
    _t("000", "Generalization of the cross entropy follows the general case", 1),
    # ---------------------------------------------------------------- seed 001
    _t("001", "Cross entropy loss, also known as log loss", 1),
    _t("001", "Cross entropy, on the other hand, quantifies the divergence between the two distributions", 2),
    _t("001", "Minimizing cross entropy loss represents the goal of minimizing the divergence", 2),
    _t("001", "the model is encouraged to produce probability estimates that closely match the true class "
       "distributions", 11),
    _t("001", "maximizes the likelihood of assigning the correct class labels", 1),
    _t("001", "The loss function penalizes the model more heavily when it assigns a low probability to the true class",
       8),
    _n("001", "comparing apples and oranges", "the example assigns probabilities to fruits, not to outcomes of a "
       "model, and states no testable relation"),
    _t("001", "finally divide this number by y again", 19),
    _t("001", "Root mean square error (RMSE) is a mean square error loss function that is normalized", 19),
    _t("001", "tries to fit a straight line that minimizes the MSE", 20),
    _d("001", "The objective function in both cases includes the MSE term along with the regularization term",
       "the definition of ridge and lasso"),
    _t("001", "decision trees and random forests can be trained to minimize the MSE at each node", 20),
    _t("001", "it can be sensitive to outliers", 7),
    _n("001", "simple, interpretable, and differentiable", "qualities, not measurable claims (differentiability is "
       "exercised by every gradient check of claim 3)"),
    _n("001", "Selecting the appropriate loss function for your model can significantly impact its performance",
       "too general to test; claims 5, 9, 12 and 17 measure specific cases"),
    # ---------------------------------------------------------------- seed 002
    _d("002", "MSE penalizes large errors quadratically", "the definition of squared error"),
    _t("002", "Minimizing MSE is equivalent to maximum likelihood estimation under Gaussian noise", 1),
    _t("002", "the negative log-likelihood is exactly the cross-entropy", 1),
    _t("002", "Cross-entropy decomposes into two terms", 2),
    _t("002", "minimizing cross-entropy is equivalent to minimizing KL divergence", 2),
    _t("002", "it measures how many extra bits (or nats) are needed", 2),
    _t("002", "MSE has no analogous decomposition", 13),
    _t("002", "the factor makes the gradient vanish", 4),
    _t("002", "The sigmoid derivative cancels with the log in cross-entropy", 3),
    _t("002", "This is why cross-entropy trains classification networks faster and more reliably", 5),
    _t("002", "MSE through softmax suffers the same vanishing gradient problem", 4),
    _t("002", "Sensitivity to outliers | Moderate (log penalty) | High (quadratic penalty)", 7),
    _t("002", "Calibration | Encourages calibrated probabilities | Does not directly optimize calibration", 14),
    _t("002", "Convexity (in logits) | Convex | Non-convex through sigmoid", 6),
    _n("002", "language modeling (next-token prediction)", "needs models and corpora beyond a 2-core CPU; the "
       "claim that cross-entropy is the default there is a usage fact, not an effect"),
    _n("002", "The Gaussian likelihood assumption is reasonable for many real-valued targets", "'many' has no test; "
       "claim 15 tests what the assumption is about"),
    _t("002", "MSE (or its normalized variant) is appropriate because pixel intensities are continuous", 18),
    _t("002", "When training a student network to match a teacher's soft probability distribution", 12),
    _t("002", "it does not properly weight the tails of the distribution", 12),
    _t("002", "A prediction of for a true label of 1 gets almost the same MSE loss", 8),
    _t("002", "Cross-entropy correctly assigns much higher loss", 8),
    _t("002", "With noisy or incorrect labels, this causes overfitting to noise", 9),
    _t("002", "Label smoothing (replacing hard targets with a mixture like ) mitigates this", 9),
    _t("002", "Robust alternatives include Huber loss", 7),
    _n("002", "Cross-entropy applies whenever you are comparing probability distributions", "a statement of scope; "
       "claim 12 uses it between two distributions"),
    _t("002", "it is a proper scoring rule", 11),
    _t("002", "using MSE as a training loss through a sigmoid still has the gradient saturation problem", 4),
    _t("002", "The Brier score is useful for evaluating calibration, not for training", 17),
    _t("002", "A model can achieve low cross-entropy while being poorly calibrated", 10),
    _t("002", "Post-hoc calibration methods like Platt scaling or temperature scaling are often needed", 10),
    _t("002", "log loss, binary cross-entropy, and negative log-likelihood of a Bernoulli model are all identical", 1),
    # ---------------------------------------------------------------- seed 003
    _n("003", "inexperienced engineers tend to undervalue simplicity", "an opinion"),
    _d("003", "differentiable, so we can find its derivative",
       "a property of the formula, exercised by claim 3's gradient checks"),
    _t("003", "the mean squared error is the loss function you get if you decide that your error signal should be "
       "equal to the difference", 3),
    _t("003", "Neither of the alternative functions mentioned above has such a simple derivative", 3),
    _t("003", "minimized if and only if", 11),
    _t("003", "its gradient is the difference between the output your model gives", 3),
    _n("003", "cross-entropy is the simplest loss function for classification", "'simplest' is a judgement; claim 3 "
       "tests the property it rests on"),
)


def statement_records(claim_records: list[dict]) -> list[dict]:
    """Every statement with the verdict of the claim that tests it (None when that claim did not run)."""
    verdicts = {c["number"]: c["verdict"] for c in claim_records}
    return [{"seed": s.seed, "quote": s.quote, "status": s.status, "claim": s.claim,
             "verdict": verdicts.get(s.claim) if s.claim is not None else None, "why": s.why}
            for s in STATEMENTS]  # fmt: skip
