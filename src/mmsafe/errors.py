"""Errors a user can act on. The CLI prints them without a stack trace and exits with code 2."""

from __future__ import annotations


def printable(text: str) -> str:
    """Text from a file or a server made safe for a terminal: control characters and escape
    sequences (ESC, CR, bidi overrides…) become spaces; line breaks stay."""
    return "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in text)


def _rebuilt(cls: type, message: str, state: dict) -> Exception:
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


class MmsafeError(Exception):
    exit_code = 2

    def __reduce__(self):  # crosses to and from worker processes whole, whatever its constructor takes
        return _rebuilt, (type(self), str(self), dict(self.__dict__))


class UsageError(MmsafeError):
    """A bad flag or argument; the message names the flag and the allowed values."""


class InputError(MmsafeError):
    """A bad row in an input file: names the file, the line and the field."""

    def __init__(self, file: str, line: int | None, field: str | None, problem: str) -> None:
        self.file, self.line, self.field, self.problem = file, line, field, problem
        where = file + (f", line {line}" if line is not None else "")
        what = f"field {field!r}: " if field else ""
        super().__init__(f"{where}: {what}{problem}")


class MissingDependency(MmsafeError):
    def __init__(self, what: str, extra: str, module: str) -> None:
        super().__init__(f"{what} needs the {module!r} package: pip install 'mmsafe[{extra}]'")
