"""Errors a user can act on: the CLI prints their message as one sentence, without a traceback."""


class UserError(Exception):
    """A bad argument, path, model or request; the message is the whole explanation."""


class RunInterrupted(Exception):
    """A job stopped by Ctrl-C or SIGTERM after recording what it committed; the message says what."""
