"""The regression (control-variate) estimator of a mean under importance sampling, against
a one-factor Vasicek pool whose expected loss is known exactly: the estimator's error
against its reported standard error, and its variance against the weighted mean's on the
same paths. The sampler here is NumPy's, written out (no kernel): a defensive mixture of
the factor's law and a shifted one, and regimes drawn with tilted probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from riskengine.measures import (
    Controls,
    LossSample,
    mean_with_stderr,
    regression_mean,
    regression_terms,
)

N_OBLIGORS, PD, RHO = 200, 0.1, 0.1
P_REGIME = np.array([0.6, 0.3, 0.1])  # the model's
Q_REGIME = np.array([0.2, 0.7, 0.1])  # the sampler's
PD_MULT = np.array([1.0, 2.0, 0.5])
SHIFT, SHARE = 1.5, 0.1  # the factor's shift toward defaults, the defensive share
EXACT_EL = float(P_REGIME @ (PD * PD_MULT))  # loss per obligor 1 / N: EL = E[PD]


def _draw(rng, n):
    """One importance-sampled run of ``n`` paths: losses, weights, regimes, the factor's
    normal as drawn."""
    regime = rng.choice(3, size=n, p=Q_REGIME)
    tilted = rng.random(n) >= SHARE
    z = rng.standard_normal(n) + np.where(tilted, SHIFT, 0.0)
    log_g_over_f = SHIFT * z - 0.5 * SHIFT**2
    weight = (P_REGIME / Q_REGIME)[regime] / (SHARE + (1 - SHARE) * np.exp(log_g_over_f))
    threshold = special.ndtri(PD * PD_MULT[regime])
    p_z = special.ndtr((threshold + np.sqrt(RHO) * z) / np.sqrt(1 - RHO))
    loss = rng.binomial(N_OBLIGORS, p_z) / N_OBLIGORS
    return loss, weight, regime, z


def _factor(z):
    """Features of mean zero under the model: the normal and its square less one."""
    return np.stack([z, z * z - 1.0], axis=1)


@pytest.fixture(scope="module")
def replications():
    """40 independent runs of 20,000 paths: each estimator's value and reported error."""
    rng = np.random.default_rng(20261208)
    out: dict[str, list] = {"weighted": [], "w": [], "regime": [], "factor": []}
    for _ in range(40):
        loss, weight, regime, z = _draw(rng, 20_000)
        y = weight * loss
        out["weighted"].append(mean_with_stderr(y))
        out["w"].append(regression_mean(y, Controls(weight)))
        out["regime"].append(regression_mean(y, Controls(weight, regime, P_REGIME)))
        out["factor"].append(regression_mean(y, Controls(weight, regime, P_REGIME,
                                                         _factor(z))))
    return {k: np.array(v) for k, v in out.items()}


@pytest.mark.parametrize("name", ["w", "regime", "factor"])
def test_the_regression_estimate_is_the_exact_el_within_its_error(replications, name):
    """Each run's error against the exact EL, in its own reported standard errors: mean
    near 0 and spread near 1 (the reported error is the estimator's)."""
    value, se = replications[name].T
    z = (value - EXACT_EL) / se
    assert abs(z.mean()) < 3 / np.sqrt(len(z)), z.mean()
    assert 0.7 < z.std(ddof=1) < 1.4, z.std(ddof=1)


def test_the_controls_cut_the_variance_of_the_weighted_mean(replications):
    """Over the 40 runs, the regression estimates vary less than the weighted means of the
    same paths, more with each set of controls; and each run reports the smaller error.
    With the factor's terms they vary less than plain Monte Carlo's means of as many paths
    (exact variance here: the pool's, by quadrature)."""
    var = {k: v[:, 0].var(ddof=1) for k, v in replications.items()}
    assert var["w"] < var["weighted"] / 1.5, var
    assert var["regime"] < var["w"] and var["factor"] < var["regime"] / 1.5, var
    assert (replications["regime"][:, 1] < replications["weighted"][:, 1]).all()
    assert (replications["factor"][:, 1] < replications["regime"][:, 1]).all()
    assert var["factor"] < _plain_variance() / 20_000, (var, _plain_variance() / 20_000)


def _plain_variance():
    """The loss's variance under the model: Gauss-Hermite quadrature over the factor of
    the binomial pool's conditional moments, mixed over the regimes."""
    x, h = np.polynomial.hermite_e.hermegauss(120)
    h = h / h.sum()
    m1 = m2 = 0.0
    for p_r, mult in zip(P_REGIME, PD_MULT):
        p = special.ndtr((special.ndtri(PD * mult) + np.sqrt(RHO) * x) / np.sqrt(1 - RHO))
        m1 += p_r * h @ p
        m2 += p_r * h @ (p * p + p * (1 - p) / N_OBLIGORS)
    assert m1 == pytest.approx(EXACT_EL, rel=1e-9)
    return m2 - m1 * m1


def test_the_controls_have_mean_zero_and_sum_to_w_minus_one():
    rng = np.random.default_rng(3)
    loss, weight, regime, z = _draw(rng, 400_000)
    controls = Controls(weight, regime, P_REGIME, _factor(z))
    c = controls.block(0, controls.n)
    assert c.shape == (400_000, 9)
    np.testing.assert_allclose(c[:, [0, 3, 6]].sum(axis=1), weight - 1.0, atol=1e-12)
    mean, se = c.mean(axis=0), c.std(axis=0) / np.sqrt(len(c))
    assert (np.abs(mean) < 4 * se).all(), (mean, se)
    np.testing.assert_array_equal(Controls(weight).block(0, 10)[:, 0], weight[:10] - 1.0)
    # a block of paths at a time, by stratum: the least squares on the whole columns
    small = Controls(weight[:1000], regime[:1000], P_REGIME, _factor(z[:1000]))
    small.BLOCK = 64
    y = weight[:1000] * loss[:1000]
    full = np.c_[np.ones(1000), c[:1000]]
    want = np.linalg.lstsq(full, y, rcond=None)[0]
    np.testing.assert_allclose(small.fit(y), want[1:], rtol=1e-6)
    np.testing.assert_allclose(small.terms(y, small.fit(y)), y - c[:1000] @ want[1:],
                               rtol=1e-9, atol=1e-12)


def test_loss_sample_el_takes_the_controls_and_only_the_el():
    rng = np.random.default_rng(4)
    loss, weight, regime, z = _draw(rng, 5_000)
    c = Controls(weight, regime, P_REGIME, _factor(z))
    with_c, without = LossSample(loss, weight, c), LossSample(loss, weight)
    assert with_c.el().value == regression_mean(weight * loss, c)[0]
    assert without.el().value == mean_with_stderr(weight * loss)[0]
    for a in (0.99, 0.999):
        assert with_c.es(a) == without.es(a) and with_c.var(a) == without.var(a)
    assert with_c.sd() == without.sd()


def test_unit_weights_and_small_samples():
    """With unit weights the controls are zero and the estimate is the sample mean; with
    fewer paths than controls plus two, the plain mean."""
    x = np.arange(10.0)
    value, se = regression_mean(x, Controls(np.ones(10)))
    assert value == pytest.approx(4.5) and se == pytest.approx(np.std(x, ddof=2) / np.sqrt(10))
    three = Controls(np.ones(3), np.array([0, 1, 0]), np.array([0.5, 0.5]))
    assert regression_mean(x[:3], three) == mean_with_stderr(x[:3])
    np.testing.assert_array_equal(regression_terms(x[:3], three), x[:3])
