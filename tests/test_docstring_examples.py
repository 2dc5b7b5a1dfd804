"""The Examples sections of the installed package's docstrings run and print what they say."""

import doctest
import importlib
import pkgutil

import pytest

import narrowrelu

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(narrowrelu.__path__, prefix="narrowrelu.")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
