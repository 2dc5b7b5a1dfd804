"""What a moment fit returns (narrowrelu.learner.units): the map of a LearnerFit from standard
units back to the data's units, checked against the same fit on rescaled data."""

import numpy as np

from narrowrelu import MomentReLURegressor, Teacher
from narrowrelu.conditioning.standard_units import condition
from narrowrelu.learner.units import LearnerFit, scaling_of, to_original_units


def test_a_fit_in_standard_units_maps_back_to_the_data_units():
    teacher = Teacher.random(n_features=4, n_neurons=2, random_state=0)
    X, y = teacher.sample(5000, random_state=1)
    c, s = 7.0, 3.0
    data = condition(s * X, c * y + 2.0)
    model = MomentReLURegressor(n_neurons=2, random_state=0, settings={"max_rounds": 2}).fit(X, y)
    fit = LearnerFit(network=model.network_, raw_network=model.raw_network_, n_neurons=2,
                     candidates=model.candidates_, subspace=model.subspace_, validation_mse=1.5, rounds=[],
                     refinement={"train_mse": 2.0, "start_losses": {"final round": 2.0}}, timings={}, n_passes=1)
    mapped = to_original_units(fit, data)
    scale2 = data.y_scale ** 2
    assert mapped.validation_mse == 1.5 * scale2
    assert mapped.refinement["train_mse"] == 2.0 * scale2
    assert mapped.refinement["start_losses"] == {"final round": 2.0 * scale2}
    assert fit.refinement["train_mse"] == 2.0  # the input is not modified
    # g(x) = m_y + s_y g'(x / s_x): the mapped network on the original rows is the standard-unit
    # network on the standardised rows, rescaled
    expected = data.y_shift + data.y_scale * model.network_(data.X[:50])
    np.testing.assert_allclose(mapped.network(s * X[:50]), expected, rtol=1e-10, atol=1e-10)
    assert data.x_scale != 1.0
    assert set(scaling_of(data)) == {"y_shift", "y_scale", "x_scale", "whitener", "x_mean"}
    assert scaling_of(data)["x_mean"] is None


def test_without_refinement_the_network_is_the_raw_one():
    teacher = Teacher.random(n_features=4, n_neurons=1, random_state=3)
    X, y = teacher.sample(3000, random_state=4)
    model = MomentReLURegressor(n_neurons=1, random_state=0, refine=False).fit(X, 5.0 * y)
    assert model.network_ is model.raw_network_ and model.refinement_ is None
