"""Every parameter of both estimators, and of their public methods, is documented in the
numpydoc ``Parameters`` section of its docstring, with a type line and a description; every
fitted attribute a fit sets is documented under ``Attributes``."""

import inspect
import re

import pytest

from narrowrelu import GDReLURegressor, MomentReLURegressor, Teacher

ESTIMATORS = [MomentReLURegressor, GDReLURegressor]


def section(doc, title):
    """``{name: description}`` of a numpydoc section (``name : type`` lines, indented text below)."""
    doc = inspect.cleandoc(doc)
    match = re.search(rf"^{title}\n-+\n(.*?)(?=^\w[\w ]*\n-+\n|\Z)", doc, re.M | re.S)
    assert match, f"no {title} section"
    entries, name = {}, None
    for line in match.group(1).splitlines():
        head = re.match(r"^(\w+)(?:, (\w+))* : ", line) or re.match(r"^(\w+)$", line)
        if head and not line.startswith(" "):
            names = [n.strip() for n in line.split(" : ")[0].split(",")]
            for name in names:
                entries[name] = ""
        elif name is not None and line.strip():
            for n in names:
                entries[n] += line.strip() + " "
    return entries


def test_section_reader():
    doc = """Title.

    Parameters
    ----------
    a : int, default=1
        The a.
    b, c : float
        Both.

    Returns
    -------
    self
    """
    assert section(doc, "Parameters") == {"a": "The a. ", "b": "Both. ", "c": "Both. "}


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_init_parameter_is_documented(cls):
    documented = section(cls.__doc__, "Parameters")
    for name in inspect.signature(cls.__init__).parameters:
        if name == "self":
            continue
        assert name in documented, f"{cls.__name__}: parameter {name} is not documented"
        assert documented[name].strip(), f"{cls.__name__}: parameter {name} has no description"


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_public_method_parameter_is_documented(cls):
    for method_name, method in inspect.getmembers(cls, inspect.isfunction):
        if method_name.startswith("_") or method.__qualname__.split(".")[0] != cls.__name__:
            continue
        params = [p for p in inspect.signature(method).parameters if p != "self"]
        if not params:
            continue
        documented = section(method.__doc__, "Parameters") if "Parameters\n" in (method.__doc__ or "") else {}
        for name in params:
            assert documented.get(name, "").strip(), f"{cls.__name__}.{method_name}: {name} is not documented"


def test_every_fitted_attribute_is_documented():
    teacher = Teacher.random(n_features=4, n_neurons=1, random_state=0)
    X, y = teacher.sample(3000, random_state=1)
    for model in (MomentReLURegressor(n_neurons=1, random_state=0, settings={"max_rounds": 1}),
                  GDReLURegressor(n_neurons=1, random_state=0, max_iter=5)):
        model.fit(X, y)
        documented = section(type(model).__doc__, "Attributes")
        fitted = [a for a in vars(model) if a.endswith("_") and not a.startswith("_")]
        missing = [a for a in fitted if not documented.get(a, "").strip()]
        assert not missing, f"{type(model).__name__}: undocumented attributes {missing}"
