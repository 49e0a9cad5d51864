"""One library function per `benchlab` command: typed arguments in, a typed record out.

`benchlab.cli` and `benchlab.cli_nightly` parse the command line, turn the arguments into these
functions' arguments, call one, render what it returns through `benchlab.views` and choose the exit
code; everything else a command does is here (or in `benchlab.pipeline`, for the pipeline's own
commands: run, calibrate). One module per command (a command's subcommands, such as `tools fetch`
and `tools add`, share their command's module). Nothing of benchlab imports this package but the
command line (tests/test_layers.py).
"""
