"""REML estimate of cis-heritability with a likelihood-ratio test, as GCTA's single-component GREML.

Model: ``y = X b + g + e`` with ``g ~ N(0, sigma_g2 K)``, ``e ~ N(0, sigma_e2 I)`` and
``K = Z Z' / p`` built from the standardised genotypes ``Z`` (n, p) exactly as given (the caller
standardises with training-set statistics). ``X`` holds an intercept plus the covariates; REML
integrates the fixed effects out.

Log-likelihood convention: ``loglik = -0.5 [log|V| + log|X'V^-1 X| + y'Py]`` with
``V = sigma_g2 K + sigma_e2 I`` and ``P = V^-1 - V^-1 X (X'V^-1 X)^-1 X'V^-1``; the constant
``(n - k) log(2 pi)`` is left out. :func:`reml_loglik` evaluates it densely; :func:`reml_h2`
maximises the same quantity through an eigendecomposition.

Efficient path: with ``Q`` (n, n-k) an orthonormal basis of the complement of ``col(X)``,
``log|V| + log|X'V^-1 X| = log|Q'VQ| + log|X'X|`` and ``y'Py = y'Q (Q'VQ)^-1 Q'y``. One
eigendecomposition ``Q'KQ = U diag(lam) U'`` (through ``Z'QQ'Z`` when p < n - k) makes every
evaluation O(n): in ``(h2, s2)`` with ``sigma_g2 = h2 s2`` and ``sigma_e2 = (1 - h2) s2`` the
total variance ``s2`` is profiled out analytically and the profile log-likelihood is maximised over
``h2`` in [0, 1] by a coarse grid followed by bounded Brent refinement (scipy).

Standard error: from the observed information of the profile log-likelihood in ``h2`` (its
analytic second derivative), ``h2_se = 1 / sqrt(-d2 l / dh2^2)``. It is NaN when the estimate is on
the boundary (h2 = 0 or 1, where the quadratic approximation does not hold) or when the curvature
is not negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize, stats
from scipy.linalg import lapack

__all__ = ["RemlResult", "reml_h2", "reml_loglik"]

_GRID_SIZE = 101  # coarse grid over [0, 1] to avoid local optima before Brent refinement
_XATOL = 1e-9  # Brent tolerance on h2
_BOUNDARY_TOL = 1e-6  # h2 this close to 0 or 1 counts as a boundary estimate
_EIG_RTOL = 1e-10  # eigenvalues of Q'KQ below this fraction of the largest count as zero


@dataclass(frozen=True)
class RemlResult:
    """REML fit of one gene.

    ``h2 = sigma_g2 / (sigma_g2 + sigma_e2)``; ``loglik`` and ``loglik_null`` (h2 = 0) follow the
    module's convention; ``lrt_stat = 2 (loglik - loglik_null)`` and
    ``p_value = 0.5 * chi2_1.sf(lrt_stat)`` (1 when the statistic is 0); ``h2_se`` is NaN at the
    boundary; ``boundary`` is True when h2 is estimated at 0 or 1 (within 1e-6); ``converged`` is
    False when the bounded 1-D refinement did not report success or the likelihood is not finite
    (the best coarse-grid point is then reported).
    """

    h2: float
    h2_se: float
    sigma_g2: float
    sigma_e2: float
    loglik: float
    loglik_null: float
    lrt_stat: float
    p_value: float
    converged: bool
    boundary: bool


def _check_inputs(
    y: np.ndarray, genotypes: np.ndarray, covariates: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and return float64 ``y`` (n,), ``Z`` (n, p) and fixed effects ``X`` (n, 1 + k)."""
    y = np.asarray(y, dtype=np.float64)
    z = np.asarray(genotypes, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (n,), got shape {y.shape}")
    n = y.shape[0]
    if z.ndim != 2 or z.shape[0] != n:
        raise ValueError(f"genotypes must be 2-D (n={n}, p), got shape {z.shape}")
    if z.shape[1] == 0:
        raise ValueError("genotypes has no columns (p = 0): no cis variants to estimate h2 from")
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinite values; impute or drop those samples first")
    if not np.all(np.isfinite(z)):
        raise ValueError("genotypes contain NaN or infinite values; impute missing dosages first")
    if covariates is None:
        x = np.ones((n, 1))
    else:
        c = np.asarray(covariates, dtype=np.float64)
        if c.ndim == 1:
            c = c[:, None]
        if c.ndim != 2 or c.shape[0] != n:
            raise ValueError(f"covariates must be 2-D (n={n}, k), got shape {c.shape}")
        if not np.all(np.isfinite(c)):
            raise ValueError("covariates contain NaN or infinite values")
        x = np.column_stack([np.ones(n), c])
    rank = np.linalg.matrix_rank(x)
    if rank < x.shape[1]:
        raise ValueError(
            f"intercept + covariates ({x.shape[1]} columns) have rank {rank}: drop collinear or "
            "constant covariates"
        )
    if n - x.shape[1] < 2:
        raise ValueError(
            f"n = {n} samples leave {n - x.shape[1]} residual degrees of freedom after "
            f"{x.shape[1]} fixed effects; REML needs at least 2"
        )
    return y, z, x


def reml_loglik(
    y: np.ndarray,
    genotypes: np.ndarray,
    *,
    covariates: np.ndarray | None,
    sigma_g2: float,
    sigma_e2: float,
) -> float:
    """Dense REML log-likelihood ``-0.5 [log|V| + log|X'V^-1 X| + y'Py]`` (no 2 pi constant).

    ``y`` (n,), ``genotypes`` Z (n, p) standardised, ``covariates`` (n, k) or None (an intercept
    is always added). O(n^3); meant as a reference for :func:`reml_h2`, not for production.
    """
    y, z, x = _check_inputs(y, genotypes, covariates)
    n, p = z.shape
    v = sigma_g2 * (z @ z.T) / p + sigma_e2 * np.eye(n)
    cho = linalg.cho_factor(v, lower=True)
    logdet_v = 2.0 * np.sum(np.log(np.diag(cho[0])))
    vi_x = linalg.cho_solve(cho, x)
    vi_y = linalg.cho_solve(cho, y)
    xt_vi_x = x.T @ vi_x
    cho_x = linalg.cho_factor(xt_vi_x, lower=True)
    logdet_x = 2.0 * np.sum(np.log(np.diag(cho_x[0])))
    # y'Py = y'V^-1 y - y'V^-1 X (X'V^-1 X)^-1 X'V^-1 y
    xt_vi_y = x.T @ vi_y
    ypy = y @ vi_y - xt_vi_y @ linalg.cho_solve(cho_x, xt_vi_y)
    return float(-0.5 * (logdet_v + logdet_x + ypy))


class _Profile:
    """Profile REML log-likelihood in h2 from the spectrum of Q'KQ.

    ``lam`` (r,) positive eigenvalues and ``eta`` (r,) the rotated residual contrasts along them;
    ``rest_ss`` the squared norm of the contrasts in the remaining ``m - r`` null directions
    (eigenvalue 0); ``m = n - k``; ``const = log|X'X|``.
    """

    def __init__(
        self, lam: np.ndarray, eta2: np.ndarray, rest_ss: float, m: int, const: float
    ) -> None:
        self.lam = lam
        self.eta2 = eta2
        self.rest_ss = rest_ss
        self.m = m
        self.n_null = m - lam.shape[0]
        self.const = const

    def loglik(self, h2: float) -> float:
        """Profile log-likelihood at ``h2`` with s2 = y*'D^-1 y* / m; -inf where V is singular."""
        d = h2 * self.lam + (1.0 - h2)
        d_null = 1.0 - h2
        if np.any(d <= 0.0) or (self.n_null > 0 and d_null <= 0.0):
            return -np.inf
        q = np.sum(self.eta2 / d)
        logdet = np.sum(np.log(d))
        if self.n_null > 0:
            q += self.rest_ss / d_null
            logdet += self.n_null * np.log(d_null)
        s2 = q / self.m
        return float(-0.5 * (self.m * np.log(s2) + logdet + self.m + self.const))

    def s2(self, h2: float) -> float:
        d = h2 * self.lam + (1.0 - h2)
        q = np.sum(self.eta2 / d)
        if self.n_null > 0:
            q += self.rest_ss / (1.0 - h2)
        return float(q / self.m)

    def curvature(self, h2: float) -> float:
        """Analytic second derivative of the profile log-likelihood in h2."""
        a = self.lam - 1.0  # dD/dh2
        d = h2 * self.lam + (1.0 - h2)
        q = np.sum(self.eta2 / d)
        dq = -np.sum(self.eta2 * a / d**2)
        d2q = 2.0 * np.sum(self.eta2 * a**2 / d**3)
        d2logdet = -np.sum(a**2 / d**2)
        if self.n_null > 0:
            dn = 1.0 - h2
            q += self.rest_ss / dn
            dq += self.rest_ss / dn**2
            d2q += 2.0 * self.rest_ss / dn**3
            d2logdet -= self.n_null / dn**2
        return float(-0.5 * (self.m * (d2q / q - (dq / q) ** 2) + d2logdet))


def _profile(y: np.ndarray, z: np.ndarray, x: np.ndarray) -> _Profile:
    n, p = z.shape
    k = x.shape[1]
    m = n - k
    # Householder QR of X; Q' is applied with LAPACK ormqr in O(n k p) without forming Q (n, n).
    qr, tau, _, info = lapack.dgeqrf(x)
    if info != 0:
        raise ValueError(f"QR of the fixed effects failed (LAPACK info {info})")
    const = float(2.0 * np.sum(np.log(np.abs(np.diag(qr)[:k]))))  # log|X'X|

    def apply_qt(c: np.ndarray) -> np.ndarray:
        """Rows k: of Q'c, i.e. the residual contrasts of c, (m, ...)."""
        c2 = np.asfortranarray(c.reshape(n, -1))
        out, _, info = lapack.dormqr("L", "T", qr, tau, c2, lwork=max(1, 64 * c2.shape[1]))
        if info != 0:
            raise ValueError(f"applying Q' failed (LAPACK info {info})")
        return out[k:]

    y_star = apply_qt(y)[:, 0]  # (m,)
    yy = float(y_star @ y_star)
    if not yy > 1e-12 * max(float(y @ y), np.finfo(float).tiny):
        raise ValueError(
            "y has no variance left after removing the intercept and covariates (constant y?)"
        )
    w = apply_qt(z) / np.sqrt(p)  # (m, p); Q'KQ = W W'
    # Eigendecomposition of the smaller Gram matrix (eigh is faster than an SVD here).
    # When p < m: W'W = V diag(lam) V' and the left vectors are U = W V / sqrt(lam).
    if p < m:
        lam, v = linalg.eigh(w.T @ w, driver="evd")
    else:
        lam, u = linalg.eigh(w @ w.T, driver="evd")
    lam_max = float(np.max(lam)) if lam.size else 0.0
    trace_k = float(np.sum(z * z)) / p
    if not lam_max > 1e-12 * max(trace_k, np.finfo(float).tiny):
        raise ValueError("genotypes have no variation after removing the intercept and covariates")
    keep = lam > _EIG_RTOL * lam_max
    lam = lam[keep]
    if p < m:
        eta = (v[:, keep].T @ (w.T @ y_star)) / np.sqrt(lam)
    else:
        eta = u[:, keep].T @ y_star
    eta2 = eta**2
    rest_ss = max(yy - float(np.sum(eta2)), 0.0)
    return _Profile(lam, eta2, rest_ss, m, const)


def reml_h2(
    y: np.ndarray, genotypes: np.ndarray, *, covariates: np.ndarray | None = None
) -> RemlResult:
    """REML cis-heritability with an LRT against h2 = 0.

    ``y`` (n,) expression; ``genotypes`` Z (n, p) standardised dosages (taken as given);
    ``covariates`` (n, k) or None (an intercept is always included). Raises ``ValueError`` when
    the gene cannot be analysed (p = 0, constant y, no genotype variation, non-finite values,
    collinear covariates); boundary and non-converged fits are flagged, never raised.
    """
    y, z, x = _check_inputs(y, genotypes, covariates)
    prof = _profile(y, z, x)

    grid = np.linspace(0.0, 1.0, _GRID_SIZE)
    values = np.array([prof.loglik(h) for h in grid])
    loglik_null = values[0]
    best = int(np.argmax(values))
    lo = grid[max(best - 1, 0)]
    hi = grid[min(best + 1, _GRID_SIZE - 1)]
    converged = True
    h2, loglik = float(grid[best]), float(values[best])
    try:
        res = optimize.minimize_scalar(
            lambda h: -prof.loglik(h),
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": _XATOL, "maxiter": 500},
        )
        converged = bool(res.success) and np.isfinite(res.fun)
        if converged and -res.fun > loglik:
            h2, loglik = float(res.x), float(-res.fun)
    except (ValueError, FloatingPointError, ArithmeticError):
        converged = False
    if not np.isfinite(loglik):
        converged = False
    # Snap to an exact boundary when the end point is as good as the interior optimum.
    if h2 < _BOUNDARY_TOL or loglik_null >= loglik:
        h2, loglik = 0.0, float(loglik_null)
    elif h2 > 1.0 - _BOUNDARY_TOL and values[-1] >= loglik:
        h2, loglik = 1.0, float(values[-1])
    boundary = h2 <= _BOUNDARY_TOL or h2 >= 1.0 - _BOUNDARY_TOL

    s2 = prof.s2(h2) if h2 < 1.0 or prof.n_null == 0 else np.nan
    h2_se = np.nan
    if not boundary:
        curv = prof.curvature(h2)
        if np.isfinite(curv) and curv < 0.0:
            h2_se = float(1.0 / np.sqrt(-curv))

    lrt_stat = max(2.0 * (loglik - loglik_null), 0.0)
    p_value = 1.0 if lrt_stat <= 0.0 else float(0.5 * stats.chi2.sf(lrt_stat, df=1))
    return RemlResult(
        h2=float(h2),
        h2_se=float(h2_se),
        sigma_g2=float(h2 * s2),
        sigma_e2=float((1.0 - h2) * s2),
        loglik=float(loglik),
        loglik_null=float(loglik_null),
        lrt_stat=float(lrt_stat),
        p_value=p_value,
        converged=bool(converged),
        boundary=bool(boundary),
    )
