"""The layout of the package and of its tests: every module of ``src/narrowrelu`` is imported by
at least one test file, and no module is over 400 lines.

A module counts as imported by a test file when one of its ``import``/``from`` lines reads
``import narrowrelu.x``, ``from narrowrelu.x import ...``, or ``from narrowrelu.p import x`` with
``narrowrelu.p.x`` a module; a package also counts when one of its modules is imported (that
runs its ``__init__``). The docstring-example test, which imports every module, does not count.
"""

import pkgutil
import re
from pathlib import Path

import pytest

import narrowrelu

TESTS = Path(__file__).parent
PACKAGE = Path(narrowrelu.__file__).parent
MAX_LINES = 400
NOT_COUNTED = {"test_docstring_examples.py", "test_layout.py"}

MODULES = sorted(["narrowrelu"] + [info.name for info in pkgutil.walk_packages(narrowrelu.__path__, prefix="narrowrelu.")])

IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(narrowrelu[\w.]*)[ \t]+import[ \t]+(?:\(([^)]*)\)|([\w \t,]*))|import[ \t]+(narrowrelu[\w.]*))",
    re.M,
)


def module_path(name):
    relative = Path(*name.split(".")[1:])
    package = PACKAGE / relative / "__init__.py"
    return package if package.exists() else PACKAGE / relative.with_suffix(".py")


def imported_modules(text):
    found = set()
    for source, parenthesised, names, plain in IMPORT.findall(text):
        names = parenthesised or names
        if plain:
            found.add(plain)
            continue
        found.add(source)
        for name in re.split(r"[\s,]+", names.strip()):  # "x as y": x is checked, y never is a module
            if f"{source}.{name}" in MODULES:
                found.add(f"{source}.{name}")
    # importing a module imports the packages above it
    return found | {".".join(m.split(".")[:i]) for m in found for i in range(1, m.count(".") + 1)}


def imported_by_tests():
    seen = {}
    for path in sorted(TESTS.glob("*.py")):
        if path.name in NOT_COUNTED:
            continue
        for module in imported_modules(path.read_text()):
            seen.setdefault(module, []).append(path.name)
    return seen


def test_import_patterns_are_recognised():
    text = (
        "from narrowrelu.learner.cluster import a, b\nimport narrowrelu.moments._kernels as k\n"
        "from narrowrelu.bench import perf\nfrom narrowrelu.learner import (\n    sources,\n    passes,\n)\n"
    )
    found = imported_modules(text)
    assert {"narrowrelu.learner.cluster", "narrowrelu.moments._kernels", "narrowrelu.bench.perf",
            "narrowrelu.learner.sources", "narrowrelu.learner.passes"} <= found
    assert {"narrowrelu", "narrowrelu.learner", "narrowrelu.moments", "narrowrelu.bench"} <= found
    assert "narrowrelu.learner.refine" not in found


@pytest.mark.parametrize("module", MODULES)
def test_every_module_is_imported_by_a_test(module):
    assert module in imported_by_tests(), f"no test file imports {module} (the docstring-example test does not count)"


@pytest.mark.parametrize("module", MODULES)
def test_no_module_is_over_400_lines(module):
    lines = len(module_path(module).read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines (at most {MAX_LINES})"
