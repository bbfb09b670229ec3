"""The `yilian` command line (Typer): the composition root of the application."""
