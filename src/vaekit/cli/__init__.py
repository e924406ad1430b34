"""Command-line interface: parses flags, calls one function of the Python API, prints the result.

Known errors become one line on stderr and exit code 2; an interrupt exits with 130. One module per group of
verbs: train.py (train, sweep), runverbs.py (the verbs that open a run), measure.py (bench, tiny, study), data.py.
"""

from __future__ import annotations

import os
import sys

from ..errors import VaekitError
from .data import cmd_data
from .measure import cmd_bench, cmd_study, cmd_tiny
from .parser import apply_verb_settings, build_parser
from .runverbs import EXPLORE_VERBS, cmd_evaluate, cmd_explore, cmd_export, cmd_prior, cmd_sample, cmd_tokenize
from .train import cmd_sweep, cmd_train

COMMANDS = {
    "bench": cmd_bench,
    "train": cmd_train,
    "sweep": cmd_sweep,
    "export": cmd_export,
    "evaluate": cmd_evaluate,
    "sample": cmd_sample,
    "prior": cmd_prior,
    "data": cmd_data,
    "tiny": cmd_tiny,
    "study": cmd_study,
    "tokenize": cmd_tokenize,
    "detokenize": cmd_tokenize,
    **{v: cmd_explore for v in EXPLORE_VERBS},
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        apply_verb_settings(args)
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # inside the try: a closed pipe shows up here
        return code
    except VaekitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `vaekit diagnose RUN | head`: the reader has had enough; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
