"""One sentence for the ways an S3 (or S3-compatible) store fails: credentials, endpoint, bucket, network."""

from __future__ import annotations

from musiscene_core.errors import UserError

# How long a client waits for an endpoint before a request counts as failed; with botocore's default
# retries this bounds a dead endpoint to well under a minute instead of hanging a run.
S3_CLIENT_CONFIG = {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2, "mode": "standard"}}


def _service_codes(exc: BaseException) -> set[str]:
    """The S3 error codes along the exception's chain: s3fs turns botocore's ClientError (which carries
    the code) into a PermissionError holding only the message, with the ClientError as its cause."""
    codes, seen = set(), set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        error = getattr(exc, "response", None)
        if isinstance(error, dict):
            codes.add(str(error.get("Error", {}).get("Code", "")))
        exc = exc.__cause__ or exc.__context__
    return codes


def s3_reason(exc: BaseException) -> str:
    """What went wrong, in words a user can act on."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else name
    codes = _service_codes(exc) | {code for code in ("InvalidAccessKeyId", "SignatureDoesNotMatch") if code in text}
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return "no S3 credentials were found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile)"
    if "InvalidAccessKeyId" in codes:
        return "the S3 endpoint refused the credentials: it does not accept the access key id (check AWS_ACCESS_KEY_ID)"
    if "SignatureDoesNotMatch" in codes:
        return (
            "the S3 endpoint refused the credentials: the secret key does not match the access key id "
            "(check AWS_SECRET_ACCESS_KEY)"
        )
    if isinstance(exc, PermissionError) or any(code in text for code in ("AccessDenied", "Forbidden")):
        return "access denied (check the S3 credentials and their permissions)"
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError") or isinstance(
        exc, (ConnectionError, TimeoutError)
    ):
        return "the S3 endpoint does not answer"
    if name == "InvalidEndpointError" or (isinstance(exc, ValueError) and "endpoint" in text.lower()):
        return "the endpoint URL is not valid (use http(s)://host:port)"
    if name == "NoSuchBucket" or "NoSuchBucket" in text:
        return "the bucket does not exist"
    return text.rstrip(".")


def is_remote_store_failure(exc: BaseException) -> bool:
    """An error raised by the S3 client stack itself (an endpoint gone, refused credentials, a dropped
    connection) rather than by the file's content: botocore's and aiohttp's exceptions are not OSErrors."""
    return type(exc).__module__.split(".", 1)[0] in ("botocore", "aiobotocore", "aiohttp")


def s3_user_error(url: str, exc: BaseException) -> UserError:
    return UserError(f"cannot use {url}: {s3_reason(exc)}")
