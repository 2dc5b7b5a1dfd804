"""``narrowrelu bench report``: the tables of a stored sample-complexity sweep, or two sweeps compared.

``narrowrelu bench report DIR`` prints, as markdown, the tables of the sweep stored in ``DIR``
(:mod:`.tables`); with ``--before OLD`` it prints instead the comparison of one method between
the sweep in ``OLD`` and the one in ``DIR``, against a reference method (:mod:`.compare`). The
n*(k) and slope tables are recomputed from ``per_n.csv`` by the sweep's own functions
(:mod:`.stored`).
"""

import sys

from ..sample_complexity.methods import METHODS
from ..sample_complexity.summary import mixed_versions_note
from .compare import comparison
from .stored import load_sweep, sweep_problem
from .tables import TABLES


def add_parser(commands):
    p = commands.add_parser(
        "report",
        help="the tables of a stored sample-complexity sweep directory, or the comparison of two sweeps",
        description=(
            "Print, as markdown, the tables of the sample-complexity sweep stored in DIR (a directory written by "
            "'narrowrelu bench sample-complexity --out DIR'): n* per family and k with one column per method, "
            "the slope of log n* on log k per family and method with the k used and left out, the excess MSE "
            "over the parametric rate of each seed of moment_raw and moment_refined at the largest n (from the "
            "stored cells), and the per-n successes and medians. n* and the slopes are recomputed from per_n.csv. "
            "With --before OLD, print instead one method's n* and successes per n in OLD and in DIR, each "
            "(family, k) judged against a reference method's n* (better, tie, worse), the counts of verdicts and "
            "any success count that falls as n grows."
        ),
    )
    p.add_argument("directory", metavar="DIR", help="the sweep's --out directory")
    p.add_argument("--tables", nargs="+", choices=list(TABLES), default=list(TABLES), metavar="TABLE",
                   help=f"the tables to print, in this order, from {', '.join(TABLES)} (default: all)")
    p.add_argument("--before", metavar="OLD", default=None,
                   help="an earlier sweep directory: print the comparison of --method between OLD and DIR")
    p.add_argument("--method", default="moment_refined", choices=list(METHODS), metavar="METHOD",
                   help="with --before: the method compared (default: moment_refined)")
    p.add_argument("--against", default="gd_2k", choices=list(METHODS), metavar="METHOD",
                   help="with --before: the reference method each n* is judged against (default: gd_2k)")
    p.add_argument("--reference", metavar="REF", default=None,
                   help="with --before: the sweep directory holding the --against method's cells (default: DIR)")
    p.set_defaults(func=run)
    return p


def run(args, parser):
    """Print the tables of DIR, or with ``--before`` the comparison; exit 2 on an unreadable directory."""
    names = [args.directory] + [d for d in (args.before, args.reference) if d is not None]
    for directory in names:
        if problem := sweep_problem(directory):
            parser.error(problem)
    after = load_sweep(args.directory)
    if note := mixed_versions_note(after.cells, after.directory):
        print(note, file=sys.stderr)
    if args.before is None:
        print("\n\n".join(TABLES[name](after) for name in dict.fromkeys(args.tables)))
        return 0
    before = load_sweep(args.before)
    reference = after if args.reference is None else load_sweep(args.reference)
    checks = [(before, args.method, "--before"), (after, args.method, "DIR"),
              (reference, args.against, "DIR" if args.reference is None else "--reference")]
    for sweep, method, flag in checks:
        if method not in sweep.methods:
            hint = "; pass --reference REF, a sweep that has them" if method == args.against else ""
            parser.error(f"{flag} {sweep.directory} has no {method} cells (it has {', '.join(sweep.methods)}){hint}")
    print(comparison(before, after, reference, args.method, args.against))
    return 0
