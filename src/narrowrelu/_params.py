"""Declared parameter constraints, checked in one place at the start of ``fit``.

Each estimator lists its parameters once, in a class attribute ``_parameter_constraints``
mapping a name to a constraint (or a tuple of constraints, any of which may hold).
:func:`check_parameters` tests every entry and raises ``ValueError`` quoting the parameter,
the value and what is allowed. The style follows scikit-learn's ``_parameter_constraints``
without depending on its private module.

Examples
--------
>>> class Model:
...     _parameter_constraints = {"tol": Real(0, 1, closed="left"), "verbose": Boolean()}
...     tol, verbose = 2.0, False
>>> check_parameters(Model())
Traceback (most recent call last):
...
ValueError: tol must be a real number in [0, 1), got 2.0
"""

import math
import numbers
from abc import ABC, abstractmethod

import numpy as np


class Constraint(ABC):
    """A set of allowed values; ``describe`` names it in error messages."""

    @abstractmethod
    def holds(self, value):
        """Whether ``value`` is allowed."""

    @abstractmethod
    def describe(self):
        """The allowed values, as a phrase: "an integer >= 1"."""


class Integer(Constraint):
    """An ``int`` (not ``bool``) in ``[low, high]``; ``high=None`` for no upper bound."""

    def __init__(self, low, high=None):
        self.low, self.high = low, high

    def holds(self, value):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            return False
        return value >= self.low and (self.high is None or value <= self.high)

    def describe(self):
        if self.high is None:
            return f"an integer >= {self.low}"
        return f"an integer in [{self.low}, {self.high}]"


class Real(Constraint):
    """A finite real number (not ``bool``) in an interval; ``closed`` is ``"both"``, ``"left"``,
    ``"right"`` or ``"neither"``; a bound of ``None`` is unbounded."""

    def __init__(self, low=None, high=None, closed="both"):
        self.low, self.high, self.closed = low, high, closed

    def holds(self, value):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
            return False
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                return False
        return True

    def describe(self):
        if self.low is None and self.high is None:
            return "a finite real number"
        if self.high is None:
            return f"a real number {'>=' if self.closed in ('both', 'left') else '>'} {self.low:g}"
        if self.low is None:
            return f"a real number {'<=' if self.closed in ('both', 'right') else '<'} {self.high:g}"
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        return f"a real number in {left}{self.low:g}, {self.high:g}{right}"


class Options(Constraint):
    """One of a fixed set of values (strings, integers or ``None``)."""

    def __init__(self, *values):
        self.values = values

    def holds(self, value):
        if isinstance(value, bool) or not isinstance(value, (str, type(None), numbers.Integral)):
            return False
        return value in self.values

    def describe(self):
        if len(self.values) == 1:
            return repr(self.values[0])
        return "one of " + ", ".join(repr(v) for v in self.values)


class Boolean(Constraint):
    """``True`` or ``False`` (also numpy's bools)."""

    def holds(self, value):
        return isinstance(value, (bool, np.bool_))

    def describe(self):
        return "True or False"


class Sequence(Constraint):
    """A non-empty tuple or list whose items all satisfy ``item``."""

    def __init__(self, item, unique=False):
        self.item, self.unique = item, unique

    def holds(self, value):
        if not isinstance(value, (tuple, list)) or not value:
            return False
        if self.unique and len(set(value)) != len(value):
            return False
        return all(self.item.holds(v) for v in value)

    def describe(self):
        return f"a non-empty sequence{' of distinct items' if self.unique else ''}, each {self.item.describe()}"


class InstanceOf(Constraint):
    """An instance of one of ``types`` (its fields are checked where it is used)."""

    def __init__(self, *types):
        self.types = types

    def holds(self, value):
        return isinstance(value, self.types)

    def describe(self):
        return "a " + " or a ".join(t.__name__ for t in self.types)


class RandomState(Constraint):
    """``None``, a non-negative int (a seed), a ``SeedSequence``, a ``RandomState`` or a ``Generator``."""

    def holds(self, value):
        if isinstance(value, bool):
            return False
        if isinstance(value, numbers.Integral):
            return value >= 0
        return value is None or isinstance(value, (np.random.SeedSequence, np.random.RandomState, np.random.Generator))

    def describe(self):
        return "None, a non-negative int (a seed), a numpy SeedSequence, RandomState or Generator"


def check_parameters(estimator, prefix=""):
    """Check every entry of ``estimator._parameter_constraints`` against the estimator's
    attribute of that name; raise ``ValueError`` naming the first one that fails (after
    ``prefix``, for the fields of a settings object)."""
    for name, allowed in estimator._parameter_constraints.items():
        options = allowed if isinstance(allowed, tuple) else (allowed,)
        value = getattr(estimator, name)
        if not any(c.holds(value) for c in options):
            what = " or ".join(c.describe() for c in options)
            raise ValueError(f"{prefix}{name} must be {what}, got {value!r}")
