import sys


def _exit(status: int):
    """Exit with ``status``. An interrupt that ended a string ``exec`` (dataclasses and numba compile
    code that way) makes CPython's ``python -m`` end by SIGINT whatever the status, even once the
    interrupt was caught; a string eval clears that mark, so ``python -m neurosim`` exits 130 too."""
    exec("")
    raise SystemExit(status)


try:
    from neurosim.cli import main
except KeyboardInterrupt:   # Ctrl-C before the command line has started
    print("neurosim: interrupted", file=sys.stderr)
    _exit(130)

_exit(main())
