"""The CLT's ``mturk.properties``: credentials, service URL and retry settings.

Keys (SDK 1.6.2 ``PropertiesClientConfig``): ``access_key``, ``secret_key``, ``service_url``,
``log_level``, ``retry_attempts``, ``retry_delay_millis``, ``retriable_errors``. A value of
the form ``[insert …]`` (the shipped placeholders) counts as unset, and so does an empty one.
An unknown key is an error naming it (the CLT ignored it, so a misspelt ``acces_key`` or
``service_ulr`` silently sent the run elsewhere), and so is a repeated key
(:func:`~mturkmake.formats.javaprops.parse`). Secrets never appear in ``repr`` or in error
messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from mturkmake.errors import FormatError
from mturkmake.formats import javaprops
from mturkmake.formats.javaprops import Property

#: The CLT's defaults when a key is absent (``PropertiesClientConfig``); applied by callers.
DEFAULT_RETRY_ATTEMPTS = 3
DEFAULT_RETRY_DELAY_MILLIS = 500

KNOWN_KEYS = (
    "access_key",
    "secret_key",
    "service_url",
    "log_level",
    "retry_attempts",
    "retry_delay_millis",
    "retriable_errors",
)


def is_placeholder(value: str) -> bool:
    """``[insert your access key here]`` and blank values mean "not set"."""
    text = value.strip()
    return not text or (text.startswith("[insert") and text.endswith("]"))


@dataclass(frozen=True)
class MturkProperties:
    """The settings of one ``mturk.properties`` file; ``None`` means unset.

    :param access_key: the AWS access key id (hidden in ``repr``).
    :param secret_key: the AWS secret key (hidden in ``repr``).
    :param service_url: the CLT-era endpoint URL, as written.
    :param retry_attempts: ``retry_attempts`` (the CLT default is 3).
    :param retry_delay_millis: ``retry_delay_millis`` (the CLT default is 500).
    :param retriable_errors: the comma list of ``retriable_errors``, trimmed.
    :param log_level: ``log_level`` as written.
    :param source: the file name.
    :param lines: the line of each key present, for error messages by the config loader.
    :param extra: keys the CLT did not know (always empty: they are refused when read).
    """

    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    service_url: str | None = None
    retry_attempts: int | None = None
    retry_delay_millis: int | None = None
    retriable_errors: tuple[str, ...] = ()
    log_level: str | None = None
    source: str = ""
    lines: Mapping[str, int] = field(default_factory=dict)
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def has_credentials(self) -> bool:
        """Both keys are set to real values (not placeholders)."""
        return self.access_key is not None and self.secret_key is not None

    @property
    def is_sandbox_url(self) -> bool | None:
        """The CLT's rule: a URL containing "sandbox" is the sandbox; ``None`` if unset."""
        if self.service_url is None:
            return None
        return "sandbox" in self.service_url.lower()

    def __repr__(self) -> str:
        hidden = {True: "<hidden>", False: "None"}
        return (
            f"MturkProperties(source={self.source!r}, "
            f"access_key={hidden[self.access_key is not None]}, "
            f"secret_key={hidden[self.secret_key is not None]}, "
            f"service_url={self.service_url!r}, retry_attempts={self.retry_attempts!r}, "
            f"retry_delay_millis={self.retry_delay_millis!r}, "
            f"retriable_errors={self.retriable_errors!r}, log_level={self.log_level!r})"
        )


def _int_value(prop: Property, *, source: str, minimum: int) -> int:
    text = prop.value.strip()
    try:
        number = int(text, 10)
    except ValueError:
        raise FormatError(
            f"{prop.key} must be a whole number, not '{text}'",
            file=source,
            line=prop.line,
            hint=f"write e.g. '{prop.key}={'6' if prop.key == 'retry_attempts' else '500'}'",
        ) from None
    if number < minimum:
        raise FormatError(
            f"{prop.key} must be at least {minimum}, not {number}",
            file=source,
            line=prop.line,
            hint=f"set {prop.key} to {minimum} or more",
        )
    return number


def _unknown_key(prop: Property, source: str) -> FormatError:
    import difflib

    near = difflib.get_close_matches(prop.key, KNOWN_KEYS, n=1)
    hint = f"did you mean '{near[0]}'?" if near else "remove the line"
    return FormatError(
        f"unknown key '{prop.key}'",
        file=source,
        line=prop.line,
        hint=f"{hint} (known keys: {', '.join(KNOWN_KEYS)})",
    )


def parse_mturk_properties(props: Iterable[Property], *, source: str) -> MturkProperties:
    """Build :class:`MturkProperties` from parsed pairs (see :func:`load_mturk_properties`)."""
    values: dict[str, Property] = {}
    for prop in props:
        if prop.key not in KNOWN_KEYS:
            raise _unknown_key(prop, source)
        values[prop.key] = prop

    def text(key: str) -> str | None:
        prop = values.get(key)
        if prop is None or is_placeholder(prop.value):
            return None
        return prop.value.strip()

    attempts = values.get("retry_attempts")
    delay = values.get("retry_delay_millis")
    errors = text("retriable_errors") or ""
    return MturkProperties(
        access_key=text("access_key"),
        secret_key=text("secret_key"),
        service_url=text("service_url"),
        retry_attempts=(
            _int_value(attempts, source=source, minimum=0)
            if attempts is not None and attempts.value.strip()
            else None
        ),
        retry_delay_millis=(
            _int_value(delay, source=source, minimum=0)
            if delay is not None and delay.value.strip()
            else None
        ),
        retriable_errors=tuple(code.strip() for code in errors.split(",") if code.strip()),
        log_level=text("log_level"),
        source=source,
        lines=MappingProxyType({key: prop.line for key, prop in values.items()}),
        extra=MappingProxyType(
            {key: prop.value for key, prop in values.items() if key not in KNOWN_KEYS}
        ),
    )


def load_mturk_properties(path: str | Path) -> MturkProperties:
    """Read a CLT ``mturk.properties`` file.

    :raises FormatError: unreadable or non-regular file, bytes that are not UTF-8, a malformed
        escape, an unknown or repeated key, or a non-numeric ``retry_attempts`` /
        ``retry_delay_millis`` (naming file, line and key).
    """
    source = str(path)
    return parse_mturk_properties(javaprops.load(path), source=source)


__all__ = [
    "DEFAULT_RETRY_ATTEMPTS",
    "DEFAULT_RETRY_DELAY_MILLIS",
    "KNOWN_KEYS",
    "MturkProperties",
    "is_placeholder",
    "load_mturk_properties",
    "parse_mturk_properties",
]
