"""The simulated wall clock of a jujusim hook process.

Installed by sitecustomize.py (so it is in place before anything imports
`datetime`: in every exec'd hook process, in Python subprocesses of hooks, and
in the fork backend's zygote before it pre-imports anything). Test harness
only: nothing here is part of Juju.

The simulator tells a hook process its unit's simulated wall time (an epoch
base + the simulated time + the unit's clock skew, in integer nanoseconds):

* ``JUJU_SIM_CLOCK`` in the environment is the time at which the hook began;
* ``JUJU_SIM_CLOCK_FILE`` names the unit's clock file: 8 bytes, a big-endian
  signed count of nanoseconds, which the simulator rewrites with the unit's
  current time right before it answers each of the unit's tool calls (a tool
  call of the exec backend is a separate shim process whose answer the hook
  never sees, so the time travels beside the answer, not inside it).

The process's wall clock then reads "the last time it was told" plus 1 us per
read since it was told, never going backwards, so successive reads differ and
keep their order, and two runs with the same seed read the same values.
Patched: time.time, time.time_ns, and time.localtime/gmtime/ctime/asctime/
strftime without a time argument; datetime.datetime is replaced by a subclass
whose now(), utcnow() and today() follow that clock (datetime.date.today()
calls time.time(), so it follows too). Monotonic clocks (time.monotonic,
perf_counter, process_time) stay real. Without JUJU_SIM_CLOCK (the zygote
itself, or any process outside a simulation) everything is the real clock.
"""

import datetime as _datetime
import os
import struct
import sys
import time as _time

_TICK_NS = 1000  # per-read increment: 1 us, visible in datetime
_real_time_ns = _time.time_ns
_real_localtime = _time.localtime
_real_gmtime = _time.gmtime
_real_ctime = _time.ctime
_real_asctime = _time.asctime
_real_strftime = _time.strftime
_RealDateTime = _datetime.datetime


class _Clock(object):
    def __init__(self):
        self.loaded = False
        self.begin = None  # ns, or None for the real clock
        self.path = None
        self.fd = None
        self.told = None
        self.last = None

    def forget(self):
        """Drop all state; the next read looks at the environment again."""
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
        self.__init__()

    def _load(self):
        self.loaded = True
        text = os.environ.get("JUJU_SIM_CLOCK")
        try:
            self.begin = int(text) if text else None
        except ValueError:
            self.begin = None
        self.path = os.environ.get("JUJU_SIM_CLOCK_FILE") or None

    def _told(self):
        if self.path is not None:
            try:
                if self.fd is None:
                    self.fd = os.open(self.path, os.O_RDONLY)
                data = os.pread(self.fd, 8, 0)
                if len(data) == 8:
                    return struct.unpack(">q", data)[0]
            except OSError:
                pass
        return self.begin

    def now_ns(self):
        if not self.loaded:
            self._load()
        if self.begin is None:
            return _real_time_ns()
        told = self._told()
        if told != self.told:
            self.told = value = told
        else:
            value = self.last + _TICK_NS
        if self.last is not None and value <= self.last:
            value = self.last + _TICK_NS
        self.last = value
        return value


_clock = _Clock()


def reset():
    """Forget the clock state (the fork zygote calls this once a child has its env)."""
    _clock.forget()
    _start_logging_clock()


def _start_logging_clock():
    # logging reads the clock once, at import, for its relativeCreated. It is
    # imported (in install()) before the clock is patched, in every process, so
    # that no backend counts that read; here it gets the hook's begin time.
    logging = sys.modules.get("logging")
    if logging is None:
        return
    if not _clock.loaded:
        _clock._load()
    if _clock.begin is not None:
        logging._startTime = _clock.begin / 1e9


def time_ns():
    return _clock.now_ns()


def time():
    return _clock.now_ns() / 1e9


class _Function(object):
    """A module-level replacement that, like the builtin it replaces, never binds
    as a method (logging.Formatter keeps ``converter = time.localtime``)."""

    def __init__(self, func, like):
        self._func = func
        self.__name__ = self.__qualname__ = like.__name__
        self.__doc__ = like.__doc__
        self.__module__ = "time"

    def __call__(self, *args, **kwargs):
        return self._func(*args, **kwargs)

    def __repr__(self):
        return "<jujusim simulated time.%s>" % self.__name__


def _timed(real):
    def patched(secs=None):
        return real(time() if secs is None else secs)

    return _Function(patched, real)


def _struct_default(real):
    def patched(fmt_or_tuple=None, *args):
        if real is _real_strftime:
            return real(fmt_or_tuple, *(args or (_real_localtime(time()),)))
        return real(_real_localtime(time()) if fmt_or_tuple is None else fmt_or_tuple)

    return _Function(patched, real)


class _DateTimeType(type):
    """Lets isinstance/issubclass accept the real datetime type and its instances."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, _RealDateTime)

    def __subclasscheck__(cls, sub):
        return issubclass(sub, _RealDateTime)


class SimDateTime(_RealDateTime, metaclass=_DateTimeType):
    """datetime.datetime whose now/utcnow/today read the simulated clock."""

    __slots__ = ()

    @classmethod
    def now(cls, tz=None):
        seconds, rest = divmod(time_ns(), 1000000000)
        return cls.fromtimestamp(seconds, tz).replace(microsecond=rest // 1000)

    @classmethod
    def today(cls):
        return cls.now()

    @classmethod
    def utcnow(cls):
        if sys.version_info >= (3, 12):
            import warnings

            warnings.warn(
                "datetime.datetime.utcnow() is deprecated and scheduled for removal "
                "in a future version. Use timezone-aware objects to represent "
                "datetimes in UTC: datetime.datetime.now(datetime.UTC).",
                DeprecationWarning,
                stacklevel=2,
            )
        return cls.now(_datetime.timezone.utc).replace(tzinfo=None)

    def __repr__(self):
        real = _RealDateTime(
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.microsecond,
            self.tzinfo,
            fold=self.fold,
        )
        return repr(real)


SimDateTime.__name__ = SimDateTime.__qualname__ = "datetime"
SimDateTime.__module__ = "datetime"

_installed = False


def install():
    """Patch time and datetime in this process (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    import logging  # noqa: F401  (see _start_logging_clock)

    _time.time = _Function(time, _time.time)
    _time.time_ns = _Function(time_ns, _time.time_ns)
    for real in (_real_localtime, _real_gmtime, _real_ctime):
        setattr(_time, real.__name__, _timed(real))
    for real in (_real_asctime, _real_strftime):
        setattr(_time, real.__name__, _struct_default(real))
    _datetime.datetime = SimDateTime
    _start_logging_clock()
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=reset)
