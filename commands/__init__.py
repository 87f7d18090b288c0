"""The subcommands of cli.py, one module per family; each module's ``register(sub)`` adds its parsers."""
