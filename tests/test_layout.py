"""The layout of the package and of its tests: every module of ``src/narrowrelu`` is imported by
at least one test file; no module has over 400 lines of code (docstrings, comments and blank
lines do not count); no line of the source, tests or benchmarks is over 120 characters; the
modules of the package import each other without a cycle; ``tests/`` mirrors the package.

A module counts as imported by a test file when one of its ``import``/``from`` lines reads
``import narrowrelu.x``, ``from narrowrelu.x import ...``, or ``from narrowrelu.p import x`` with
``narrowrelu.p.x`` a module; a package also counts when one of its modules is imported (that
runs its ``__init__``). The docstring-example test, which imports every module, does not count.
"""

import ast
import io
import pkgutil
import re
import tokenize
from pathlib import Path

import pytest

import narrowrelu

TESTS = Path(__file__).parent
PACKAGE = Path(narrowrelu.__file__).parent
ROOT = TESTS.parent
MAX_LINES = 400
MAX_LINE_LENGTH = 120
NOT_COUNTED = {"test_docstring_examples.py", "test_layout.py"}

MODULES = sorted(["narrowrelu"] + [info.name for info in pkgutil.walk_packages(narrowrelu.__path__,
                                                                               prefix="narrowrelu.")])

IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(narrowrelu[\w.]*)[ \t]+import[ \t]+(?:\(([^)]*)\)|([\w \t,]*))"
    r"|import[ \t]+(narrowrelu[\w.]*))",
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
    for path in sorted(TESTS.rglob("*.py")):
        if path.name in NOT_COUNTED:
            continue
        for module in imported_modules(path.read_text()):
            seen.setdefault(module, []).append(path.name)
    return seen


def test_import_patterns_are_recognised():
    text = (
        "from narrowrelu.learner.candidates.cluster import a, b\nimport narrowrelu.moments._kernels as k\n"
        "from narrowrelu.bench import perf\nfrom narrowrelu.learner import (\n    sources,\n    passes,\n)\n"
    )
    found = imported_modules(text)
    assert {"narrowrelu.learner.candidates.cluster", "narrowrelu.moments._kernels", "narrowrelu.bench.perf",
            "narrowrelu.learner.sources", "narrowrelu.learner.passes"} <= found
    assert {"narrowrelu", "narrowrelu.learner", "narrowrelu.moments", "narrowrelu.bench"} <= found
    assert "narrowrelu.learner.refine" not in found


@pytest.mark.parametrize("module", MODULES)
def test_every_module_is_imported_by_a_test(module):
    assert module in imported_by_tests(), f"no test file imports {module} (the docstring-example test does not count)"


def code_lines(text):
    """Lines holding code: not blank, not only a comment, not part of a docstring."""
    docstrings = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
    lines = set()
    skip = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type not in skip:
            lines.update(n for n in range(tok.start[0], tok.end[0] + 1) if n not in docstrings)
    return len(lines)


def test_code_lines_count_code_only():
    text = ('"""Module.\n\nMore."""\n\n# a comment\nimport os\n\n\n'
            'def f(x):\n    """Doc."""\n    return (x +\n            1)\n')
    assert code_lines(text) == 4


@pytest.mark.parametrize("module", MODULES)
def test_no_module_is_over_400_code_lines(module):
    lines = code_lines(module_path(module).read_text())
    assert lines <= MAX_LINES, f"{module} has {lines} lines of code (at most {MAX_LINES})"


def python_files():
    return sorted(p for folder in ("src", "tests", "benchmarks") for p in (ROOT / folder).rglob("*.py"))


def test_no_line_is_over_120_characters():
    long = [f"{path.relative_to(ROOT)}:{i}" for path in python_files()
            for i, line in enumerate(path.read_text().splitlines(), 1) if len(line) > MAX_LINE_LENGTH]
    assert not long, f"lines over {MAX_LINE_LENGTH} characters: {', '.join(long)}"


def imports_of(module):
    """The package's modules that ``module`` imports (at any depth of its code, functions included)."""
    path = module_path(module)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m != module}


def test_the_package_has_no_import_cycle():
    graph = {m: imports_of(m) for m in MODULES}
    state, cycles = {}, []

    def visit(m, path):
        state[m] = "open"
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                cycles.append(" -> ".join(path[path.index(n):] + [n]))
            elif n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in MODULES:
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles: " + "; ".join(cycles)


def test_import_cycles_are_found():
    assert imports_of("narrowrelu.learner.rounds") >= {"narrowrelu.learner.candidates", "narrowrelu.learner.passes"}
    assert "narrowrelu.learner.directions" in imports_of("narrowrelu.learner.candidates.cp_polish")
    assert not imports_of("narrowrelu.learner.directions")


def test_tests_mirror_the_package():
    """Every test folder below tests/ is a folder of the package (tests/learner/refine for
    narrowrelu.learner.refine, ...)."""
    for folder in sorted(p for p in TESTS.rglob("*") if p.is_dir() and not p.name.startswith((".", "_"))):
        package = PACKAGE / folder.relative_to(TESTS)
        assert (package / "__init__.py").exists(), f"{folder.relative_to(ROOT)} mirrors no package folder"
