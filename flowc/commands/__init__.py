"""CLI subcommands, one module each (see flowc/cli.py)."""
