"""Subcommands of `pufa`, one module per area; each exposes register(subparsers)."""
