"""Errors a user can act on: the CLI prints their message as one sentence, without a traceback."""


class UserError(Exception):
    """A bad argument, path, model or request; the message is the whole explanation."""


class RunInterrupted(Exception):
    """A job stopped by Ctrl-C or SIGTERM after recording what it committed; the message says what."""


def checkpoint_load_reason(exc: BaseException) -> str:
    """Why torch.load(weights_only=True) refused or failed, without PyTorch's advice to load unsafely."""
    import re

    text = str(exc)
    if "Weights only load failed" in text:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        what = f" ({found.group(1)})" if found else ""
        return f"it holds Python objects other than tensors{what}, which are never unpickled because that could run code"
    return " ".join(text.split())[:200].rstrip(".")
