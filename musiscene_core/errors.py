"""Errors a user can act on: the CLI prints their message as one sentence, without a traceback."""


class UserError(Exception):
    """A bad argument, path, model or request; the message is the whole explanation."""
