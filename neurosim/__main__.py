import sys

try:
    from neurosim.cli import main
except KeyboardInterrupt:   # Ctrl-C before the command line has started
    print("neurosim: interrupted", file=sys.stderr)
    raise SystemExit(130)

raise SystemExit(main())
