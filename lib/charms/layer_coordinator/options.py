# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""The layer's options (``options.coordinator`` in ``layer.yaml``) and its logger.

:func:`load` parses and checks every option once per hook process and returns
one immutable :class:`Options`; an invalid option raises :class:`OptionError`
after logging it at ERROR, with a hint saying what to write instead.
:func:`log` sends the layer's messages to ``juju-log``, filtered by the
``log_level`` option.
"""

import re
from dataclasses import dataclass

from charmhelpers.core import hookenv

__all__ = [
    "DEFAULT_CLASS",
    "DEFAULT_LOG_LEVEL",
    "LEVELS",
    "OptionError",
    "Options",
    "load",
    "log",
    "option_error",
    "parse_concurrency",
]

DEFAULT_CLASS = "charms.coordinator.SimpleCoordinator"
DEFAULT_LOG_LEVEL = "info"

#: Juju log levels in increasing severity.
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_LOG_PREFIX = "coordinator: "

ORDERS = ("fifo", "leader-last")


class OptionError(ValueError):
    """A ``coordinator`` layer option in ``layer.yaml`` is invalid."""


@dataclass(frozen=True)
class Options:
    """The checked ``coordinator`` layer options.

    ``class_path`` is checked only when the class is imported
    (`charms.coordinator.coordinator_class`); ``concurrency`` keeps the
    option's own value (a count, or a percentage string that needs the
    application's size).
    """

    class_path: object
    log_threshold: int  # index in LEVELS below which messages are dropped
    order: str
    concurrency: object
    concurrency_config: str  # name of a charm config option, or ""
    waiting_status: bool

    @property
    def leader_last(self):
        return self.order == "leader-last"


# One hook process reads the options once.
_loaded = {}


def _section():
    """The ``coordinator`` section of the built charm's layer options."""
    from charms.layer import options  # layer:options, brought by layer:basic

    section = options.get("coordinator") or {}
    if not isinstance(section, dict):
        raise OptionError(f"layer.yaml options.coordinator must be a mapping, got {section!r}")
    return section


def option_error(option, value, problem, hint):
    """Log an invalid option at ERROR and return the exception to raise."""
    text = f"layer.yaml option coordinator.{option} = {value!r} is invalid: {problem}. {hint}"
    hookenv.log(_LOG_PREFIX + text, level=hookenv.ERROR)
    return OptionError(text)


def load():
    """Return the layer's :class:`Options`, checking each option the first time."""
    if "options" in _loaded:
        return _loaded["options"]
    section = _section()
    if "protocol" in section:
        # Earlier revisions of this layer could run charmhelpers' own
        # protocol instead, only to compare costs; that baseline moved to
        # the layer's tests.
        raise option_error(
            "protocol",
            section["protocol"],
            "the option was removed: the layer always runs its own protocol",
            "Delete it from layer.yaml; any charmhelpers.coordinator.BaseCoordinator "
            "subclass still works as the class option.",
        )
    level = section.get("log_level", DEFAULT_LOG_LEVEL)
    name = level.upper() if isinstance(level, str) else None
    if name not in LEVELS:
        raise option_error(
            "log_level",
            level,
            "not a log level",
            "Use one of debug, info, warning, error, critical (any case).",
        )
    order = section.get("order", "fifo")
    if order not in ORDERS:
        raise option_error("order", order, "not an order", "Use fifo or leader-last.")
    concurrency = section.get("concurrency", 1)
    parse_concurrency(concurrency, 1)
    config_name = section.get("concurrency_config") or ""
    if not isinstance(config_name, str):
        raise option_error(
            "concurrency_config", config_name, "not a string", "Name a charm config option."
        )
    _loaded["options"] = Options(
        class_path=section.get("class", DEFAULT_CLASS),
        log_threshold=LEVELS.index(name),
        order=order,
        concurrency=concurrency,
        concurrency_config=config_name,
        waiting_status=bool(section.get("waiting_status")),
    )
    return _loaded["options"]


def log(message, level="INFO"):
    """Send a layer message to juju-log if ``level`` passes the ``log_level`` option."""
    if LEVELS.index(level) >= load().log_threshold:
        hookenv.log(_LOG_PREFIX + message, level=level)


# A unit count or a percentage: ASCII digits only (str.isdigit() accepts "²").
_COUNT = re.compile(r"\s*([0-9]+)\s*(%?)\s*\Z")


def parse_concurrency(value, units, source=None):
    """Return the number of units allowed at once for ``value``.

    ``value`` is a count (>= 1) or a percentage string like ``"25%"`` of
    ``units`` (rounded down, at least 1). An invalid layer option raises
    OptionError; an invalid value from ``source`` (a config option) counts
    as 1 with a WARNING.
    """
    count = None
    if isinstance(value, bool):
        count = None
    elif isinstance(value, int):
        count = value if value >= 1 else None
    elif isinstance(value, str):
        match = _COUNT.match(value)
        number = 0
        if match:
            try:
                number = int(match.group(1))
            except ValueError:  # more digits than int() converts (Python 3.11+)
                pass
        if number >= 1:
            count = max(1, units * number // 100) if match.group(2) else number
    if count is not None:
        return count
    if source is None:
        raise option_error(
            "concurrency",
            value,
            "not a unit count or percentage",
            'Use an integer >= 1 or a percentage such as "25%".',
        )
    log(
        f"{source} = {value!r} is not a unit count (>= 1) or percentage such as "
        f'"25%"; granting to 1 unit at a time',
        "WARNING",
    )
    return 1
