"""The ``narrowrelu`` command line."""

import argparse
import importlib
import sys

from .bench import BENCH_MODULES


def build_parser():
    parser = argparse.ArgumentParser(
        prog="narrowrelu",
        description="Learn narrow one-hidden-layer ReLU networks by the method of moments; compare with GD.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    from .bench import demo

    _remember(demo.add_parser(commands))
    bench = commands.add_parser("bench", help="benchmarks and reproductions",
                                description="Benchmarks and reproductions.")
    bench_commands = bench.add_subparsers(dest="bench_command", metavar="BENCHMARK")
    bench_commands.required = True
    for name in BENCH_MODULES:
        _remember(importlib.import_module(f".bench.{name}", __package__).add_parser(bench_commands))
    return parser


def _remember(subparser):
    """Let the command report errors with its own usage line, not the top-level one."""
    subparser.set_defaults(command_parser=subparser)


def _version():
    import importlib.metadata

    try:
        return importlib.metadata.version("narrowrelu")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def main(argv=None):
    """Entry point of the ``narrowrelu`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args, args.command_parser) or 0


if __name__ == "__main__":
    sys.exit(main())
