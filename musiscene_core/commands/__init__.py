"""One module per command group of the `musiscene` CLI; each defines a typer app or commands."""
