"""Claim 18's cells: one autoencoder run (a loss, a rate, a seed) and the measurements the parts and controls use.

Every measurement the parts read (per-pixel MAE, the linear probe, the
residuals' excess kurtosis) is a function here, and the planted controls go
through the same functions, on planted reconstructions, codes and residuals
built inside the same cell from the run's own outputs (so no reconstruction
has to be stored).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import train_val_split
from ..rules import claim_rules

P = claim_rules("autoencoder-reconstruction").params
LOSSES = ("mse", "bce")


def digits01(seed: int) -> dict[str, np.ndarray]:
    """Digits' pixels scaled to [0, 1] (the raw 0..16 over 16), split like every lab dataset: stratified, seeded."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X, y = (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=P["test_size"], random_state=seed, stratify=y)
    X_fit, X_val, y_fit, y_val = train_val_split(X_tr, y_tr, seed=seed, fraction=P["val_fraction"])
    return {"X_fit": X_fit, "X_val": X_val, "X_train": X_tr, "y_train": y_tr, "X_test": X_te, "y_test": y_te}


class Autoencoders:
    """One autoencoder per seed, trained side by side: d_in-32-16 (ReLU, a linear code), 16-32-d_in (ReLU, logits).

    The seeds' weights are stacked along a leading axis and applied with batched matrix
    products, so five seeds cost about one run's Python overhead; nothing is shared between
    them (each has its own initialisation from its seed, its own split and batch order, and
    Adam's update is elementwise), so every seed is still an independent replication.
    """

    def __init__(self, d_in: int, seeds: list[int]) -> None:
        import torch
        from torch import nn

        h, k = P["widths"]
        sizes = [(d_in, h), (h, k), (k, h), (h, d_in)]
        per_seed = []
        for seed in seeds:
            torch.manual_seed(seed)
            per_seed.append([nn.Linear(a, b) for a, b in sizes])  # PyTorch's default initialisation, per seed
        self.weights = [nn.Parameter(torch.stack([layers[i].weight.detach().T for layers in per_seed]))
                        for i in range(len(sizes))]  # fmt: skip
        self.biases = [nn.Parameter(torch.stack([layers[i].bias.detach()[None, :] for layers in per_seed]))
                       for i in range(len(sizes))]  # fmt: skip

    def parameters(self) -> list[Any]:
        return [*self.weights, *self.biases]

    def encode(self, x: Any) -> Any:
        import torch

        h = torch.relu(torch.baddbmm(self.biases[0], x, self.weights[0]))
        return torch.baddbmm(self.biases[1], h, self.weights[1])

    def __call__(self, x: Any) -> Any:
        """Logits (seeds, n, d_in) of inputs (seeds, n, d_in)."""
        import torch

        h = torch.relu(torch.baddbmm(self.biases[2], self.encode(x), self.weights[2]))
        return torch.baddbmm(self.biases[3], h, self.weights[3])

    def snapshot(self, i: int) -> list[Any]:
        return [p[i].detach().clone() for p in self.parameters()]

    def restore(self, i: int, state: list[Any]) -> None:
        import torch

        with torch.no_grad():
            for p, v in zip(self.parameters(), state, strict=True):
                p[i] = v


def reconstruction_loss(name: str) -> Any:
    """``(logits, pixels) -> per-seed loss (seeds,)``: MSE on the sigmoid output, or BCE on the logits (soft targets).

    Each seed's loss is its own mean, and the training objective is their sum, so every seed's
    gradient is the one it would get alone.
    """
    import torch

    import losslab

    if name == "mse":
        return lambda z, x: losslab.mse(torch.sigmoid(z), x, reduction="none").mean(dim=(1, 2))
    if name == "bce":
        return lambda z, x: losslab.binary_cross_entropy_with_logits(z, x, reduction="none").mean(dim=(1, 2))
    raise ValueError(f"`loss` must be one of {LOSSES}; got {name!r}")


def mae(recon: np.ndarray, x: np.ndarray) -> float:
    """Mean absolute error per pixel."""
    return float(np.mean(np.abs(np.asarray(recon, dtype=np.float64) - x)))


def probe(codes_train: np.ndarray, y_train: np.ndarray, codes_test: np.ndarray, y_test: np.ndarray) -> float:
    """Test accuracy of a linear probe on the codes: linear discriminant analysis, closed form (no tuning).

    Code units that are constant on the training split (dead ReLUs upstream, a collapsed run)
    carry nothing and are dropped; with none left the probe predicts the majority class.
    """
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    c_tr, c_te = (np.nan_to_num(np.asarray(a, dtype=np.float64)) for a in (codes_train, codes_test))
    keep = c_tr.std(axis=0) > 1e-12 * max(1.0, float(np.abs(c_tr).max()))
    if not keep.any():
        return float(np.mean(y_test == np.bincount(y_train).argmax()))
    lda = LinearDiscriminantAnalysis().fit(c_tr[:, keep], y_train)
    return float(lda.score(c_te[:, keep], y_test))


def excess_kurtosis(residuals: np.ndarray) -> float:
    """Fisher's excess kurtosis of the pooled residuals (0 for a Gaussian, 3 for a Laplace)."""
    from scipy import stats

    return float(stats.kurtosis(np.asarray(residuals, dtype=np.float64).ravel(), fisher=True))


def fit(params: dict[str, Any]) -> dict[str, Any]:
    """Train one autoencoder per seed with early stopping on its validation MAE; per seed, the test measurements.

    ``params``: loss, lr, epochs (the most), seeds. A seed stops counting once its validation MAE
    has not improved for ``patience`` epochs and is rolled back to its best epoch, exactly as a
    run of its own would be; training ends when every seed has stopped.
    """
    import torch

    seeds = [int(s) for s in params["seeds"]]
    data = [digits01(s) for s in seeds]
    stack = lambda key: torch.from_numpy(np.stack([d[key] for d in data]))  # noqa: E731
    X_fit, X_val, X_train, X_test = (stack(k) for k in ("X_fit", "X_val", "X_train", "X_test"))
    model = Autoencoders(X_fit.shape[-1], seeds)
    loss_fn = reconstruction_loss(params["loss"])
    opt = torch.optim.Adam(model.parameters(), lr=float(params["lr"]))
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    S, n = X_fit.shape[:2]
    rows = torch.arange(S)[:, None]
    val: list[list[float]] = [[] for _ in seeds]
    best: list[dict[str, Any]] = [{"epoch": 0, "mae": np.inf, "state": None} for _ in seeds]
    active = [True] * S

    def evaluate(epoch: int) -> None:
        with torch.no_grad():
            v = (torch.sigmoid(model(X_val)) - X_val).abs().mean(dim=(1, 2)).double().numpy()
        for i in range(S):
            if not active[i]:
                continue
            val[i].append(float(v[i]))
            if v[i] < best[i]["mae"]:
                best[i].update(epoch=epoch, mae=float(v[i]), state=model.snapshot(i))
            elif epoch - best[i]["epoch"] >= int(P["patience"]):
                active[i] = False

    evaluate(0)
    bs = int(P["batch_size"])
    for epoch in range(1, int(params["epochs"]) + 1):
        perm = torch.stack([torch.randperm(n, generator=g) for g in gens])
        for start in range(0, n, bs):
            xb = X_fit[rows, perm[:, start : start + bs]]
            loss = loss_fn(model(xb), xb).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        evaluate(epoch)
        if not any(active):
            break
    for i in range(S):
        model.restore(i, best[i]["state"])
    with torch.no_grad():
        z = model(X_test).double()
        codes_tr, codes_te = model.encode(X_train).double().numpy(), model.encode(X_test).double().numpy()
    return {"runs": [measure(seed, d, z[i], codes_tr[i], codes_te[i], val[i], best[i])
                     for i, (seed, d) in enumerate(zip(seeds, data, strict=True))]}  # fmt: skip


def measure(seed: int, d: dict[str, np.ndarray], z: Any, codes_tr: np.ndarray, codes_te: np.ndarray,
            val: list[float], best: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """One seed's test measurements: the neutral criteria, each loss's own value, the residuals, the controls."""
    import torch

    import losslab

    x = d["X_test"].astype(np.float64)
    x_t = torch.from_numpy(x)
    recon = torch.sigmoid(z).numpy()
    resid = x - recon
    out = {
        "val_mae": val, "best_epoch": best["epoch"], "best_val_mae": best["mae"],
        "test": {"mae": mae(recon, x), "mse": float(losslab.mse(torch.sigmoid(z), x_t)),
                 "bce": float(losslab.binary_cross_entropy_with_logits(z, x_t)),
                 "probe": probe(codes_tr, d["y_train"], codes_te, d["y_test"]),
                 "kurtosis": excess_kurtosis(resid), "skewness": float(_skew(resid)),
                 "resid_sd": float(resid.std())},
        "pixels": {"at_0": float(np.mean(x == 0.0)), "at_1": float(np.mean(x == 1.0)),
                   "levels": int(np.unique(x).size)},
        "controls": planted(seed, recon, x, codes_tr, d["y_train"], codes_te, d["y_test"]),
    }  # fmt: skip
    if seed == 0:
        out["examples"] = {"x": x[:6].tolist(), "recon": recon[:6].tolist()}
        hist, edges = np.histogram(resid, bins=61, range=(-0.6, 0.6))
        out["residual_histogram"] = {"counts": hist.tolist(), "edges": edges.tolist()}
    return out


def _skew(r: np.ndarray) -> float:
    from scipy import stats

    return float(stats.skew(r.ravel()))


def planted(seed: int, recon: np.ndarray, x: np.ndarray, codes_tr: np.ndarray, y_tr: np.ndarray,
            codes_te: np.ndarray, y_te: np.ndarray) -> dict[str, float]:  # fmt: skip
    """The run's own outputs, planted: worse or identical reconstructions and codes, Gaussian or Laplace residuals.

    Each value goes through the measurement the part uses (MAE, the probe, the kurtosis), so a
    control decides with the same code: reconstruction + N(0, noise^2) clipped to [0, 1] has a
    larger MAE; the codes drowned in noise lose the probe's accuracy, the codes times 2 keep it
    exactly (LDA is affine invariant); residuals drawn N(0, s^2) or Laplace(0, b) are Gaussian or not.
    """
    c = P["control"]
    rng = np.random.default_rng([18, seed])
    noisy = np.clip(recon + c["noise"] * rng.standard_normal(recon.shape), 0.0, 1.0)
    jitter = np.clip(recon + 1e-4 * rng.standard_normal(recon.shape), 0.0, 1.0)
    sd = codes_tr.std(axis=0, keepdims=True)
    drown = lambda a: a + c["code_noise"] * sd * rng.standard_normal(a.shape)  # noqa: E731
    return {
        "mae_noisy": mae(noisy, x), "mae_jitter": mae(jitter, x), "mae": mae(recon, x),
        "probe": probe(codes_tr, y_tr, codes_te, y_te),
        "probe_drowned": probe(drown(codes_tr), y_tr, drown(codes_te), y_te),
        "probe_scaled": probe(2.0 * codes_tr, y_tr, 2.0 * codes_te, y_te),
        "kurtosis_gaussian": excess_kurtosis(c["laplace_scale"] * rng.standard_normal(x.shape)),
        "kurtosis_laplace": excess_kurtosis(rng.laplace(0.0, c["laplace_scale"], x.shape)),
    }


__all__ = ["LOSSES", "Autoencoders", "digits01", "excess_kurtosis", "fit", "mae", "measure", "planted", "probe"]
