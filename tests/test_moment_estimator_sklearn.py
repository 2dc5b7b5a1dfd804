from sklearn.utils.estimator_checks import parametrize_with_checks

from narrowrelu import MomentReLURegressor


@parametrize_with_checks([MomentReLURegressor(random_state=0, n_contraction_pairs=16, max_rounds=2)], expected_failed_checks=lambda est: {})
def test_sklearn_compatible(estimator, check):
    check(estimator)
