"""The docs name only what exists: every page of ``docs/`` and the README.

- Paths: a path starting with ``src/``, ``tests/``, ``benchmarks/``, ``docs/`` or ``.ci/``, any
  other path ending in ``.py``, ``.md``, ``.csv``, ``.json``, ``.jsonl`` or ``.png``, and every
  relative link target, must exist, read from the repository root, the page's own folder,
  ``src/`` or ``src/narrowrelu/`` (so ``learner/rounds.py`` is ``src/narrowrelu/learner/rounds.py``).
  ``{a,b}`` is expanded and ``*`` globbed. A bare ``test_*.py`` must be a test file, another bare
  ``.py`` a file of ``src/``, ``tests/`` or ``benchmarks/``; other bare file names (``cells.csv``,
  ``perf.json``) are a command's outputs and are not checked. Absolute paths, URLs and ``./``
  paths (outputs in the working directory) are not checked either.
- Dotted names: ``narrowrelu.x.y`` (and ``learner.x``, ``moments.x``, ``baseline.x``, ``bench.x``,
  ``conditioning.x`` without the prefix) must import, the part after the last module read as
  attributes; ``from narrowrelu... import a, b`` must give ``a`` and ``b``.
- Commands: every ``narrowrelu ...`` line of a code block (after ``$ ``, ``&&``, ``;`` or ``|``,
  with ``\\`` continuations joined) and every inline ```narrowrelu ...``` span is parsed by
  ``narrowrelu.cli.build_parser().parse_args`` (nothing runs). A command written with
  placeholders (``DIR``, ``K``, ``...``, ``[--option X]``) is checked for its sub-commands and
  the names of its options only.

``CHANGELOG.md`` is not read: it names the old paths on purpose.
"""

import argparse
import contextlib
import glob
import importlib
import io
import re
import shlex
from pathlib import Path

import pytest

from narrowrelu.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
ROOTS = ("src/", "tests/", "benchmarks/", "docs/", ".ci/")
EXTENSIONS = (".py", ".md", ".csv", ".json", ".jsonl", ".png")
SUBPACKAGES = ("learner", "moments", "baseline", "bench", "conditioning")

TOKEN = re.compile(r"[\w.{},*~/:-]+")
LINK = re.compile(r"\]\(([^)\s]+)\)")
DOTTED = re.compile(r"(?<![\w./])(?:narrowrelu|" + "|".join(SUBPACKAGES) + r")(?:\.\w+)+")
FROM_IMPORT = re.compile(r"^[ \t]*from[ \t]+(narrowrelu[\w.]*)[ \t]+import[ \t]+(?:\(([^)]*)\)|([\w \t,]+))", re.M)
FENCE = re.compile(r"^([ \t]*)```[^\n]*\n(.*?)^\1```", re.M | re.S)
INLINE = re.compile(r"(?<!`)`(narrowrelu [^`]+)`(?!`)")
PLACEHOLDER = re.compile(r"^(?:\.\.\.|[A-Z][A-Z0-9_]*)$")
NUMBER = re.compile(r"^-?\d")


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def expand(path):
    """``a/{b,c}.py`` -> ``a/b.py``, ``a/c.py``."""
    match = re.search(r"\{([^{}]*)\}", path)
    if not match:
        return [path]
    return [q for part in match.group(1).split(",") for q in expand(path[: match.start()] + part + path[match.end():])]


def exists(path, page):
    bases = [ROOT, page.parent, ROOT / "src", ROOT / "src" / "narrowrelu"]
    for candidate in expand(path):
        candidate = candidate.rstrip("/")
        if "*" in candidate:
            if not any(glob.glob(str(base / candidate)) for base in bases):
                return False
        elif not any((base / candidate).exists() for base in bases):
            return False
    return True


def bare_file_exists(name, page):
    if name.endswith(".md"):
        return exists(name, page) or any((ROOT / "docs").rglob(name))
    folders = ("tests",) if name.startswith("test_") else ("src", "tests", "benchmarks")
    return any(any((ROOT / folder).rglob(n)) for folder in folders for n in expand(name))


def path_problems(text, page):
    """``(line, message)`` for every path of ``text`` (a page at ``page``) that does not exist."""
    problems = []
    fences = [m.span() for m in FENCE.finditer(text)]
    for match in LINK.finditer(text):
        if any(a <= match.start() < b for a, b in fences):  # no links inside code blocks
            continue
        target = match.group(1).split("#")[0]
        if target and "://" not in target and not target.startswith("mailto:") and not exists(target, page):
            problems.append((line_of(text, match.start()), f"link to {target}: no such file"))
    for match in TOKEN.finditer(text):
        token = match.group(0).strip("*").rstrip(".,;:")
        if text[max(match.start() - 2, 0): match.start()] == "](":  # a link target, checked above
            continue
        if text[match.end(): match.end() + 1] == "<":  # a path with a placeholder: test_<name>.py
            continue
        if "://" in token or token.startswith(("/", "./", "../", "~")) or not token.strip("."):
            continue
        if "/" in token:
            checked = token.startswith(ROOTS) or token.rstrip("/").endswith(EXTENSIONS)
            ok = checked and exists(token, page)
        else:
            checked = token.endswith((".py", ".md")) and not token.startswith(".")
            ok = checked and bare_file_exists(token, page)
        if checked and not ok:
            problems.append((line_of(text, match.start()), f"{token}: no such file"))
    return problems


def resolve(name):
    """Import the longest module prefix of a dotted name and read the rest as attributes; the
    error message, or ``None``."""
    parts = name.split(".")
    if parts[0] != "narrowrelu":
        parts = ["narrowrelu", *parts]
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for i, attr in enumerate(parts[cut:], start=cut):
            if not hasattr(obj, attr):
                return f"{name}: {'.'.join(parts[:i])} has no {attr}"
            obj = getattr(obj, attr)
        return None
    return f"{name}: no such module"


def name_problems(text):
    problems = []
    for match in DOTTED.finditer(text):
        if match.group(0).endswith(tuple(EXTENSIONS)):  # a file name (conditioning.py), checked as a path
            continue
        if problem := resolve(match.group(0)):
            problems.append((line_of(text, match.start()), problem))
    for match in FROM_IMPORT.finditer(text):
        for attr in re.split(r"[\s,]+", (match.group(2) or match.group(3)).strip()):
            attr = attr.split(" as ")[0]
            if attr and (problem := resolve(f"{match.group(1)}.{attr}")):
                problems.append((line_of(text, match.start()), problem))
    return problems


def command_lines(text):
    """``(line, command)`` for every ``narrowrelu ...`` command shown in ``text``."""
    found = []
    for block in FENCE.finditer(text):
        body, start = block.group(2), block.start(2)
        offset = 0
        for raw in re.split(r"(?<!\\)\n", body):  # a line ending in a backslash continues
            line = re.sub(r"\\\n\s*", " ", raw).strip()
            if line.startswith("$ "):
                line = line[2:]
            for part in re.split(r"&&|;|\|", line):
                part = re.sub(r"\s#.*$", "", part).strip()
                if part == "narrowrelu" or part.startswith("narrowrelu "):
                    found.append((line_of(text, start + offset), part))
            offset += len(raw) + 1
    for match in INLINE.finditer(text):
        found.append((line_of(text, match.start()), match.group(1).strip()))
    return found


def subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return None


def structure_problem(words):
    """``(problem, parser)``: the sub-commands of ``words`` exist and each option is one of its
    parser's (numbers, placeholders and brackets are values), with the parser reached."""
    parser = build_parser()
    for word in words:
        if word in ("[", "]") or NUMBER.match(word):
            continue
        if word.startswith("-"):
            if word.split("=")[0] not in parser._option_string_actions:
                return f"{parser.prog} has no option {word.split('=')[0]}", parser
        elif (choices := subparsers(parser)) is not None:
            if word not in choices:
                return f"{parser.prog} has no sub-command {word!r} (it has {', '.join(choices)})", parser
            parser = choices[word]
    return None, parser


def command_problem(command):
    """Why ``command`` (a ``narrowrelu ...`` line) does not parse, or ``None``. A command named
    alone (``narrowrelu bench``, ``narrowrelu bench report``) is a name, not a command line: its
    sub-commands must exist, its required arguments may be left out."""
    try:
        words = shlex.split(command.replace("[", " [ ").replace("]", " ] "))[1:]
    except ValueError as error:
        return f"cannot split: {error}"
    problem, parser = structure_problem(words)
    if problem:
        return problem
    options = [w for w in words if w.startswith("-") and not NUMBER.match(w)]
    if subparsers(parser) is not None and not options:
        return None
    if parser.prog.split()[1:] == words:  # the command's name alone (`narrowrelu bench report`)
        return None
    if any(PLACEHOLDER.match(w) for w in words) or "[" in words:
        return None
    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            build_parser().parse_args(words)
    except SystemExit as stop:
        if stop.code not in (0, None):
            return err.getvalue().strip().splitlines()[-1]
    return None


def page_problems(text, page):
    problems = path_problems(text, page) + name_problems(text)
    for line, command in command_lines(text):
        if problem := command_problem(command):
            problems.append((line, f"`{command}`: {problem}"))
    return sorted(problems)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_the_page_names_only_what_exists(page):
    problems = page_problems(page.read_text(), page)
    assert not problems, "\n".join(f"{page.relative_to(ROOT)}:{line}: {message}" for line, message in problems)


SOURCES = sorted((ROOT / "src" / "narrowrelu").rglob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
DOC_PATH = re.compile(r"(?<![\w/.-])docs/[\w./-]*\w")


def test_the_code_names_only_docs_that_exist():
    """Docstrings and comments of the package and the scripts point at pages that exist."""
    missing = [f"{path.relative_to(ROOT)}: {match.group(0)}" for path in SOURCES
               for match in DOC_PATH.finditer(path.read_text()) if not (ROOT / match.group(0)).exists()]
    assert not missing, "\n".join(missing)


def test_the_docs_are_read():
    assert (ROOT / "docs" / "design" / "developing.md") in PAGES and len(PAGES) >= 10
    commands = [c for page in PAGES for _, c in command_lines(page.read_text())]
    assert any(c.startswith("narrowrelu bench sample-complexity") for c in commands)


PLANTED = """
See [the guide](guide/nowhere.md), `src/narrowrelu/learner/no_such_module.py`, tests/learner/test_nothing.py,
benchmarks/no_such_script.py, learner/refine/dense.py, `narrowrelu.learner.no_such_module`,
`learner.rounds.no_such_function` and `test_no_such_test.py`.

```python
from narrowrelu import MomentReLURegressor, NoSuchEstimator
```

```bash
narrowrelu bench no-such-benchmark --k 3
$ narrowrelu bench perf --no-such-flag
pip install . && narrowrelu bench recovery --k 0
narrowrelu bench sample-complexity --n-min 1000 \\
    --no-such-option 3
```

Run `narrowrelu bench diagnose --families random --wrong DIR` or `narrowrelu bench nothing`.
"""

FINE = """
See [the API](api.md), `src/narrowrelu/cli.py`, tests/test_layout.py, learner/refine/gauss_newton.py,
docs/design/, `narrowrelu.learner.rounds.fit_moments`, `moments.contraction`, test_kernels.py and
the outputs cells.csv, perf.json, ./sample-complexity-out/, s3://bucket/X.zarr and 1/2 of σ²p/n.

```python
from narrowrelu import MomentReLURegressor, LearnerSettings
```

```bash
narrowrelu bench perf --check       # a comment
pip install . && narrowrelu bench sample-complexity
narrowrelu bench sample-complexity --k 1 2 --n-min 1000 \\
    --n-max 3000 --seeds 2
narrowrelu bench recovery --help
```

Run `narrowrelu bench diagnose --families FAMILY --k K`, `narrowrelu --version` or `narrowrelu demo`.
"""


def test_the_checker_finds_planted_problems():
    page = ROOT / "docs" / "guide" / "planted.md"
    found = "\n".join(message for _, message in page_problems(PLANTED, page))
    for bad in ("guide/nowhere.md", "learner/no_such_module.py", "test_nothing.py", "no_such_script.py",
                "learner/refine/dense.py", "narrowrelu.learner.no_such_module", "has no no_such_function",
                "test_no_such_test.py", "has no NoSuchEstimator", "no-such-benchmark", "--no-such-flag",
                "--k: must be an integer >= 1", "--no-such-option", "has no option --wrong",
                "no sub-command 'nothing'"):
        assert bad in found, f"{bad!r} was not reported:\n{found}"
    assert len(page_problems(PLANTED, page)) == 15
    assert page_problems(FINE, page) == []
    assert len(command_lines(FINE)) == 7
