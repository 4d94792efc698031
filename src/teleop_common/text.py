"""Text from messages and runtime parameters made safe to log: one line, no control characters,
bounded length.  Every node logs such strings through these two (a layout name, a task label, a
source path): a newline could otherwise forge whole log lines ("[FATAL] ...") and an ESC byte
could rewrite the operator's terminal.  ThrottledLog, ErrorReporter and run_nodes' FATAL line
pass whole lines through one_line as well."""
from __future__ import annotations

MAX_LOGGED = 200


def printable(value: object, limit: int = MAX_LOGGED) -> str:
    """`value` as a quoted, escaped, single-line string (a newline cannot forge a log line)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return repr(text)


def one_line(text: str, limit: int = 4 * MAX_LOGGED) -> str:
    """Free text (an error message that may quote message fields) with control characters escaped."""
    out = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return out if len(out) <= limit else out[:limit] + "…"
