"""Teachers with hidden biases: the bias_scale of the families and the `biased` family
(narrowrelu.teacher), and the sweep's handling of it (narrowrelu.bench.sample_complexity)."""

import numpy as np
import pytest

from narrowrelu import Teacher
from narrowrelu.network import n_parameters
from narrowrelu.teacher import BIAS_FREE_FAMILIES, FAMILIES, make_teacher


@pytest.mark.parametrize("family", ["random", "close_pair", "clusters"])
def test_bias_scale_zero_keeps_every_draw_and_positive_adds_biases_last(family):
    build = {
        "random": lambda **kw: Teacher.random(6, 4, random_state=3, **kw),
        "close_pair": lambda **kw: Teacher.close_pair(6, 0.9, 4, random_state=3, **kw),
        "clusters": lambda **kw: Teacher.clusters(6, 2, 2, 0.9, random_state=3, **kw),
    }[family]
    plain, zero, biased = build(), build(bias_scale=0.0), build(bias_scale=2.0)
    for t in (zero, biased):
        np.testing.assert_array_equal(t.hidden_weights, plain.hidden_weights)
        np.testing.assert_array_equal(t.output_weights, plain.output_weights)
    assert not zero.has_biases and biased.has_biases
    # beta_i = bias_scale |u_i| N(0, 1), drawn after the rest: the same normals at every scale
    np.testing.assert_allclose(build(bias_scale=1.0).hidden_biases * 2.0, biased.hidden_biases, rtol=1e-15)
    assert len(set(biased.hidden_biases)) == 4
    with pytest.raises(ValueError, match="bias_scale must be >= 0"):
        build(bias_scale=-1.0)


def test_biased_family_and_its_noise():
    t = make_teacher("biased", 20, 4, 0)
    r = make_teacher("random", 20, 4, 0)
    np.testing.assert_array_equal(t.hidden_weights, r.hidden_weights)
    assert t.has_biases and t.hidden_biases.shape == (4,)
    noisy = t.with_noise(0.5)
    np.testing.assert_array_equal(noisy.hidden_biases, t.hidden_biases)
    X = np.random.default_rng(0).standard_normal((10, 20))
    np.testing.assert_array_equal(noisy(X), t(X))
    assert "biased" in repr(t)
    assert "biased" in FAMILIES and "biased" not in BIAS_FREE_FAMILIES


def test_sweep_rates_the_biased_family_with_its_parameter_count():
    from narrowrelu.bench.sample_complexity.options import FULL, QUICK
    from narrowrelu.bench.sample_complexity.sweep import Job, run_job

    assert FULL["families"] == list(BIAS_FREE_FAMILIES) and "biased" not in QUICK["families"]
    (record,) = run_job(Job("biased", 4, 1, 2000, 0, 0.1, "gd_2k", ("gd_2k",)))
    assert record["n_params"] == n_parameters(1, 4, biased=True) == 1 * 6 + 5
    assert record["error"] is None and record["scoring"] == "exact"
    # the GD baseline learns the biases: close to the noise level on a one-neuron teacher
    assert record["rel_mse"] < 0.05
