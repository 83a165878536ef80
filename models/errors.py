"""The one exception type a user of fqsr can hit."""


class FqsrError(Exception):
    """An error a user can hit (bad model name, corrupt file, missing tool).

    The CLI prints its message as one sentence and exits non-zero, never a
    traceback; the message should name the fix.
    """
