"""The deep models nest the cross-validated elastic net they must beat.

``cnn`` and ``cnn_annot`` fit, per gene and on training individuals only:

0. **The core**: the elastic net of ``enet`` (``cnn``) or of ``enet_annot`` (``cnn_annot``), with
   lambda by the same inner K-fold CV on the same folds and solver. Alone, it *is* the model.
1. **Terms**: dominance deviations and variant-pair products screened against the core's residual
   (:func:`twasnet.models.terms.screen_terms`), fitted to that residual by least squares.
2. **Encoder**: the conv network (:mod:`.networks`) over the candidate variants, fitted to what
   the core and the accepted terms leave, for an epoch count chosen by the K-fold CV.

Each addition is kept only when the K-fold inner CV -- every fold redoes the screen and the fit
on its own training part and is scored on the fold -- lowers the squared error of the training
individuals by more than ``n_se`` standard errors of the paired per-individual difference
(:func:`one_se_better`); otherwise the prediction is the core's, exactly. The kept additions are
then refitted on every training individual. ``cnn_annot`` also uses its annotations where a
penalty factor cannot: the across-gene nonlinear prior (:mod:`.prior`) weights the screen's
levels and brings annotated variants into the candidate sets, at a strength ``tau`` chosen by the
same CV (``tau = 0``, no weighting, unless a larger one is better by ``n_se`` SE).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import torch

from twasnet.adjust import standardisation
from twasnet.models.deep.additions import (
    EncoderFit,
    Fold,
    LinearCore,
    TermFit,
    as_tensor,
    encoder_data,
    encoder_folds,
    fit_terms,
    one_se_better,
    smallest_within_se,
)
from twasnet.models.deep.config import (
    ARCHITECTURE_DEFAULTS,
    TERMS_DEFAULTS,
    TRAINING_DEFAULTS,
    check_section,
)
from twasnet.models.deep.loop import CVPlan, RefitPlan, cv_epoch_errors, train_epochs
from twasnet.models.deep.networks import EncoderStack
from twasnet.models.terms import ScreenGenotypes, Terms, marginal_ranking, term_matrix

__all__ = [
    "AnnotatedCNNModel",
    "CNNModel",
    "batch_size",
    "fit_encoders",
    "fit_together",
    "load_model",
]


@dataclasses.dataclass
class _Pending:
    """A gene between the terms stage and the encoder's: its encoder CV, the encoder it would
    refit (candidates and statistics from every training row) with that refit's plan (epochs
    to be chosen), and the device. Only (n, candidates) arrays: a batch of genes waiting for
    their encoders holds no dosage matrix."""

    plan: CVPlan
    encoder: EncoderFit
    refit: RefitPlan
    device: torch.device


_NO_DROPOUT = (
    "needs architecture.dropout 0 (a stack draws its dropout masks together, so one gene's "
    "would depend on the others); set batch_genes: 1"
)


def batch_size(params: dict, n_genes: int) -> int:
    """How many of a chunk's ``n_genes`` genes train their encoders together under the model's
    config ``params``: ``batch_genes``, ``auto`` being the chunk on CUDA and 1 on a CPU. With
    ``architecture.dropout`` above 0 a stack would draw its genes' masks together, so ``auto`` is
    1 and a number above 1 is refused (``ValueError``) before anything is fitted."""
    from twasnet.device import resolve_device

    value = params.get("batch_genes", "auto")
    arch = check_section("architecture", params.get("architecture"), ARCHITECTURE_DEFAULTS)
    if value == "auto":
        cuda = resolve_device(params.get("device", "auto")).type == "cuda"
        return max(n_genes, 1) if cuda and arch["dropout"] == 0 else 1
    if int(value) > 1 and arch["dropout"] > 0:
        raise ValueError(f"batch_genes {value} {_NO_DROPOUT}")
    return max(int(value), 1)


def fit_together(models: Sequence[CNNModel], inputs: Sequence) -> None:
    """Fit ``models[i]`` (one configuration, fresh estimators) on ``inputs[i]`` (each gene's
    :class:`twasnet.models.registry.TrainingInputs`): the core and terms gene by gene
    (:meth:`CNNModel.fit_before_encoder`), then the encoders of all genes together
    (:func:`fit_encoders`). A gene's fit is the same alone or among others
    (``tests/test_batched.py``)."""
    fit_encoders(models, [m.fit_before_encoder(i) for m, i in zip(models, inputs, strict=True)])


def fit_encoders(models: Sequence[CNNModel], pending: Sequence[_Pending | None]) -> None:
    """The encoder stage of each model after :meth:`CNNModel.fit_before_encoder` (None: no
    encoder): the CV and the refits as stacks (:mod:`.loop`), genes of one shape per stack."""
    if len({(m.kind, repr(m.arch), repr(m.training), m.device) for m in models}) > 1:
        raise ValueError("genes fitted together need one model configuration")
    if len(models) > 1 and models[0].arch["dropout"] > 0:
        raise ValueError(f"genes fitted together: {_NO_DROPOUT}")
    todo = [g for g, p in enumerate(pending) if p is not None]
    if not todo:
        return
    device = pending[todo[0]].device
    common = {"arch": models[0].arch, "training": models[0].training, "device": device}

    def cv_shape(g):
        folds = pending[g].plan.folds
        return (folds[0][1].shape[1], max(len(f[2]) for f in folds), max(len(f[4]) for f in folds))

    refits = {}
    for (m, *_), genes in _groups(todo, cv_shape).items():
        curves = cv_epoch_errors([pending[g].plan for g in genes], n_variants=m, **common)
        for g, err in zip(genes, curves, strict=True):
            refits[g] = models[g]._encoder_refit(pending[g], err)
    used = [g for g in todo if refits[g] is not None]
    for (m, _), genes in _groups(used, lambda g: tuple(refits[g].x.shape[::-1])).items():
        nets = train_epochs([refits[g] for g in genes], n_variants=m, **common)
        for g, net in zip(genes, nets, strict=True):
            models[g].encoder_.net = net


def _groups(items: Sequence[int], key) -> dict:
    """``items`` grouped by ``key(item)``, in order of first appearance."""
    out: dict = {}
    for i in items:
        out.setdefault(key(i), []).append(i)
    return out


class CNNModel:
    """``cnn``: the elastic net, plus screened terms and the conv encoder where the K-fold CV
    keeps them (module docstring). Registry protocol: ``fit``, ``predict``, ``importance``,
    ``hyperparameters``, ``n_nonzero``, ``state``.

    ``alpha``/``n_lambda``/``lambda_min_ratio``: the core elastic net (as ``enet``); ``terms``,
    ``architecture``, ``training``: :mod:`.config`; ``n_se``: the margin an addition must beat;
    ``device``: "auto"/"cpu"/"cuda".
    """

    kind = "cnn"

    def __init__(
        self,
        *,
        alpha: float = 0.5,
        n_lambda: int = 100,
        lambda_min_ratio=None,
        terms: dict | None = None,
        architecture: dict | None = None,
        training: dict | None = None,
        n_se: float = 1.0,
        device: str = "auto",
        **ignored,
    ) -> None:
        self.core_params = {
            "alpha": alpha,
            "n_lambda": n_lambda,
            "lambda_min_ratio": lambda_min_ratio,
        }
        self.terms_cfg = check_section("terms", terms, TERMS_DEFAULTS)
        self.arch = check_section("architecture", architecture, ARCHITECTURE_DEFAULTS)
        self.training = check_section("training", training, TRAINING_DEFAULTS)
        self.n_se = float(n_se)
        self.device = str(device)
        self.core_ = None

    # hooks for cnn_annot
    def _fit_core(self, inputs):
        from twasnet.models.enet import ElasticNetCV

        return ElasticNetCV(**self.core_params, n_threads=inputs.threads).fit(
            inputs.x, inputs.y, folds=inputs.folds
        )

    def _screen_weights(self, inputs) -> list[tuple[float, np.ndarray | None]]:
        """``(tau, per-variant weights)`` options of the nonlinear search, the reference first."""
        return [(0.0, None)]

    def _core_hyperparameters(self) -> dict:
        c = self.core_
        return {
            "alpha": self.core_params["alpha"],
            "lambda": float(c.lambda_),
            "lambda_index": int(c.lambda_index_),
        }

    def fit(self, inputs) -> CNNModel:
        """Fit on :class:`twasnet.models.registry.TrainingInputs` (x, y, folds, features): this
        gene alone, as :func:`fit_together` fits each gene of several."""
        fit_together([self], [inputs])
        return self

    def fit_before_encoder(self, inputs) -> _Pending | None:
        """The core and the terms stage; then what the encoder stage needs (None: no encoder)."""
        from twasnet.device import resolve_device

        torch.set_num_threads(max(1, int(inputs.threads)))
        device = resolve_device(self.device)
        self.device_name = device.type
        x, y = np.asarray(inputs.x, np.float64), np.asarray(inputs.y, np.float64)
        core = self.core_ = self._fit_core(inputs)
        sd = standardisation(x)[1]
        self.x_sd_ = np.where(np.isfinite(sd), sd, 0.0)
        folds = [
            Fold(
                val,
                x[~val] @ core.fold_coef_[i] + core.fold_intercept_[i],
                core.cv_predictions_[val].copy(),
            )
            for i, val in enumerate(np.asarray(inputs.folds)[None, :] == core.fold_labels_[:, None])
        ]
        fitted = core.predict(x)
        self.weights_ = None  # the nonlinear search's weights, once the terms stage chose them
        self.terms_, self.terms_info_ = self._terms_stage(x, y, folds, fitted, inputs)
        fitted = fitted + self.terms_.predict(x)
        self.encoder_ = EncoderFit.unused()
        self.encoder_info_ = {
            "encoder_used": False,
            "encoder_epochs": 0,
            "encoder_gain": 0.0,
            "encoder_gain_se": 0.0,
        }
        if self.training["max_epochs"] < 1:
            return None
        size = self.arch["candidates"]
        plan = encoder_folds(
            x, y, folds, weights=self.weights_, size=size, device=device, seed=inputs.seed
        )
        enc = encoder_data(x, marginal_ranking(x, y), y - fitted, weights=self.weights_, size=size)
        target = as_tensor((y - fitted - enc.t_mean) / enc.t_sd, device)
        return _Pending(plan, enc, RefitPlan(enc.inputs(x, device), target, 0, plan.seed), device)

    def _terms_stage(self, x, y, folds, fitted, inputs):
        """Stage 1: per option of :meth:`_screen_weights`, every fold screens and fits terms on
        its training part; the option and then the addition are kept by :func:`one_se_better`."""
        y_val = np.concatenate([y[f.val] for f in folds])
        base = (y_val - np.concatenate([f.val_pred for f in folds])) ** 2
        options = self._screen_weights(inputs)
        fits = [[] for _ in options]  # per option, per fold
        for f in folds:  # one fold's standardised dosages at a time, shared by the options
            g = ScreenGenotypes(x[~f.val])
            f.order = g.ranking(y[~f.val])
            for k, (_tau, w) in enumerate(options):
                fits[k].append(
                    fit_terms(
                        g, f.order, y[~f.val] - f.fit_pred, weights=w, terms_cfg=self.terms_cfg
                    )
                )
        errors = [
            (
                y_val
                - np.concatenate(
                    [f.val_pred + t.predict(x[f.val]) for f, t in zip(folds, per_fold, strict=True)]
                )
            )
            ** 2
            for per_fold in fits
        ]
        self.terms_cv_errors_ = (base, errors)  # per training row: the core's, each option's
        chosen = 0  # the reference (tau = 0) unless a stronger weighting beats it by n_se SE
        for k in range(1, len(options)):
            if one_se_better(errors[chosen], errors[k], n_se=self.n_se)[0]:
                chosen = k
        used, gain, se = one_se_better(base, errors[chosen], n_se=self.n_se)
        tau, w = options[chosen]
        self.weights_ = w
        info = {
            "terms_used": used,
            "terms_gain": gain,
            "terms_gain_se": se,
            "screen_strength": float(tau),
        }
        if not used:
            return TermFit(Terms(), np.zeros(0), 0.0, np.zeros(0), np.zeros(0)), info
        for f, t in zip(folds, fits[chosen], strict=True):
            f.fit_pred = f.fit_pred + t.predict(x[~f.val])
            f.val_pred = f.val_pred + t.predict(x[f.val])
        g = ScreenGenotypes(x)
        final = fit_terms(g, g.ranking(y), y - fitted, weights=w, terms_cfg=self.terms_cfg)
        if len(final.terms):
            m = term_matrix(x, final.terms, x_mean=final.x_mean, x_sd=final.x_sd)
            final.term_sd = m.std(axis=0)
        return final, info

    def _encoder_refit(self, pending: _Pending, err: np.ndarray) -> RefitPlan | None:
        """Stage 2, once the encoder's CV errors ``err`` (epochs + 1, n) are in: the epoch count
        chosen from all folds, kept by :func:`one_se_better`; the refit on every row (None: the
        encoder is not kept)."""
        best = smallest_within_se(err, n_se=self.n_se)  # > 0: epoch 0 is clearly worse
        used, gain, se = one_se_better(err[0], err[best], n_se=self.n_se)  # and so is it here
        used = used and best > 0
        self.encoder_info_ = {
            "encoder_used": used,
            "encoder_epochs": best if used else 0,
            "encoder_gain": gain,
            "encoder_gain_se": se,
        }
        if not used:
            return None
        self.encoder_ = dataclasses.replace(pending.encoder)
        return dataclasses.replace(pending.refit, epochs=best)

    # protocol
    def _require_fit(self) -> None:
        if self.core_ is None:
            raise RuntimeError(f"{type(self).__name__} used before fit")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted expression (m,) for raw dosages ``x`` (m, p)."""
        self._require_fit()
        x = np.asarray(x, dtype=np.float64)
        return self.core_.predict(x) + self.terms_.predict(x) + self.encoder_.predict(x)

    def importance(self) -> np.ndarray:
        """(p,): each variant's standardised absolute core coefficient ``|b_j| sd_j``, plus
        ``|gamma_k| sd(term_k)`` of every kept term it is part of, plus, when the encoder is
        kept, its input scaling's share ``|s_j| / sum|s|`` of the encoder's CV gain (variance)."""
        self._require_fit()
        t = self.terms_
        imp = np.abs(self.core_.coef_) * self.x_sd_
        if len(t.terms):
            size = np.abs(t.coef) * t.term_sd
            for k, (a, b) in enumerate(zip(t.terms.a, t.terms.b, strict=True)):
                imp[a] += size[k]
                if b >= 0:
                    imp[b] += size[k]
        enc = self.encoder_
        if enc.net is not None:
            s = np.abs(enc.net.s[0].detach().cpu().numpy().astype(np.float64))
            if s.sum() > 0:
                imp[enc.candidates] += (
                    s / s.sum() * math.sqrt(max(self.encoder_info_["encoder_gain"], 0))
                )
        return imp

    def n_nonzero(self) -> int:
        return int(np.count_nonzero(self.importance() > 0))

    def hyperparameters(self) -> dict:
        """The core's lambda, and per addition whether the CV kept it, its CV gain (mean
        reduction of the squared error per individual) and SE; the kept terms and epochs."""
        self._require_fit()
        t = self.terms_.terms
        return {
            **self._core_hyperparameters(),
            **self.terms_info_,
            **self.encoder_info_,
            "terms": [[k, a, b] for k, a, b in zip(t.kind, t.a, t.b, strict=True)],
            "nonlinear_used": bool(
                self.terms_info_["terms_used"] or self.encoder_info_["encoder_used"]
            ),
        }

    def state(self) -> dict:
        """Everything needed to predict from new genotypes (plain tensors and Python values)."""
        self._require_fit()
        t, e = self.terms_, self.encoder_
        return {
            "model": self.kind,
            "kind": "nested",
            "core_coef": torch.from_numpy(np.asarray(self.core_.coef_, np.float64).copy()),
            "core_intercept": float(self.core_.intercept_),
            "terms": t.terms.as_dict(),
            "terms_coef": torch.from_numpy(np.asarray(t.coef, np.float64).copy()),
            "terms_intercept": float(t.intercept),
            "terms_x_mean": torch.from_numpy(np.asarray(t.x_mean, np.float64).copy()),
            "terms_x_sd": torch.from_numpy(np.asarray(t.x_sd, np.float64).copy()),
            "architecture": dict(self.arch),
            "encoder": None
            if e.net is None
            else {
                "candidates": torch.from_numpy(e.candidates.copy()),
                "x_mean": torch.from_numpy(e.x_mean.copy()),
                "x_sd": torch.from_numpy(e.x_sd.copy()),
                "t_mean": e.t_mean,
                "t_sd": e.t_sd,
                "state_dict": {k: v.detach().cpu().clone() for k, v in e.net.state_dict().items()},
            },
            "hyperparameters": self.hyperparameters(),
        }


class AnnotatedCNNModel(CNNModel):
    """``cnn_annot``: the core is ``enet_annot``'s (penalty factors ``r^-tau`` from the additive
    prior, tau by CV); the nonlinear search is weighted by the across-gene nonlinear prior
    (:mod:`.prior`), fitted on genes other than this one, at the strength chosen by the CV.

    ``prior_path``: the file of :func:`twasnet.models.deep.prior.save_prior`; ``strengths``: the
    core's penalty-factor strengths (as ``enet_annot``); the prior's ``screen_strengths``.
    """

    kind = "cnn_annot"

    def __init__(self, *, prior_path: str | None = None, strengths=(0, 1), **params) -> None:
        if prior_path is None:
            raise ValueError("cnn_annot needs prior_path (the workflow fits the prior first)")
        super().__init__(**params)
        self.prior_path = str(prior_path)
        self.strengths = list(strengths)
        self._prior = None

    def _load(self) -> dict:
        from twasnet.models.deep.prior import load_prior

        if self._prior is None:
            self._prior = load_prior(self.prior_path)
        return self._prior

    def _fit_core(self, inputs):
        from twasnet.models.enet_annot import AnnotatedElasticNetModel

        core = AnnotatedElasticNetModel(
            **self.core_params, strengths=self.strengths, prior_state=self._load()["additive"]
        )
        core.fit(inputs)
        self._annot_core = core
        return core.fit_

    def _core_hyperparameters(self) -> dict:
        return {**super()._core_hyperparameters(), "tau": float(self._annot_core.tau_)}

    def _screen_weights(self, inputs):
        from twasnet.models.deep.prior import screen_relevance

        prior = self._load()
        r = screen_relevance(prior, inputs.features, gene_id=inputs.gene_id)
        return [(0.0, None)] + [(float(t), r**t) for t in prior["screen_strengths"] if t > 0]


def load_model(state: dict) -> CNNModel:
    """A predictor rebuilt from :meth:`CNNModel.state` (on CPU); it predicts identically."""
    model = CNNModel.__new__(CNNModel)
    coef = state["core_coef"].numpy()
    model.core_ = LinearCore(coef, float(state["core_intercept"]))
    model.terms_ = TermFit(
        Terms.from_dict(state["terms"]),
        state["terms_coef"].numpy(),
        float(state["terms_intercept"]),
        state["terms_x_mean"].numpy(),
        state["terms_x_sd"].numpy(),
    )
    e = state["encoder"]
    model.encoder_ = EncoderFit.unused()
    if e is not None:
        net = EncoderStack.from_state(len(e["candidates"]), state["architecture"], e["state_dict"])
        model.encoder_ = EncoderFit(
            e["candidates"].numpy(),
            e["x_mean"].numpy(),
            e["x_sd"].numpy(),
            float(e["t_mean"]),
            float(e["t_sd"]),
            net.eval(),
        )
    return model
