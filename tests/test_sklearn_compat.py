"""scikit-learn conventions for both estimators: the common checks, and the declared parameter
constraints (``narrowrelu._params``) naming exactly the ``__init__`` arguments (tensorly-style:
the class declares, stores and checks every argument it takes)."""

import inspect

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from narrowrelu._params import Constraint, check_parameters
from narrowrelu.baseline.estimator import GDReLURegressor
from narrowrelu.learner.estimator import MomentReLURegressor

ESTIMATORS = [
    MomentReLURegressor(random_state=0, settings={"max_rounds": 2, "n_contraction_pairs": 16}),
    GDReLURegressor(random_state=0),
]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: {})
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("cls", [MomentReLURegressor, GDReLURegressor], ids=lambda c: c.__name__)
def test_parameter_constraints_name_exactly_the_init_arguments(cls):
    signature = inspect.signature(cls.__init__)
    arguments = [name for name in signature.parameters if name != "self"]
    assert sorted(cls._parameter_constraints) == sorted(arguments)
    for name, allowed in cls._parameter_constraints.items():
        options = allowed if isinstance(allowed, tuple) else (allowed,)
        assert options and all(isinstance(c, Constraint) for c in options), name
    # every default is allowed, and __init__ stores every argument under its own name
    defaults = cls()
    check_parameters(defaults)
    assert defaults.get_params() == {name: signature.parameters[name].default for name in arguments}
