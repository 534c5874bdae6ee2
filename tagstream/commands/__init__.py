"""One module per `tagstream` subcommand (see tagstream/cli.py)."""
