"""The hook tools, one function each: ``tool(ctx, argv, stdin) -> (rc, stdout, stderr)``.

`argv` includes the tool name as argv[0]; `stdin` is bytes (only sent for
``--file -``); stdout/stderr are bytes. `ctx` is a `jujusim.context.HookContext`,
which holds the semantics (buffering, caches, snapshots); this module only
parses arguments and formats output the way Juju's jujuc commands do:

* argument errors (unknown flag, missing or extra arguments, bad values) exit 2
  with ``ERROR <message>`` on stderr;
* runtime errors exit 1 with ``ERROR <message>``;
* ``--format`` accepts smart (default), json and yaml; json is Go's
  ``json.Marshal`` (compact, sorted keys, <, > and & escaped).
"""

from __future__ import annotations

import json
import os
import re

import yaml


class ArgError(Exception):
    """Bad command line: exit code 2."""


class ToolError(Exception):
    """The command ran and failed: exit code 1."""


STATUSES = ("maintenance", "blocked", "waiting", "active")
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_ACTION_KEY = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_PORT = re.compile(r"^(?:(\d+)(?:-(\d+))?(?:/(tcp|udp))?|icmp)$")


# ---------------------------------------------------------------------------
# Parsing and formatting helpers


def parse_args(argv, flags):
    """Parse gnuflag-style arguments.

    `flags` maps each accepted spelling (without dashes) to (dest, takes_value).
    Returns (options dict, positional list). Flags and positionals may be
    interspersed; ``--`` ends flag parsing.
    """
    opts = {}
    positional = []
    args = list(argv[1:])
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            positional.extend(args[i + 1 :])
            break
        if arg.startswith("-") and arg != "-":
            name, eq, value = arg.lstrip("-").partition("=")
            if name not in flags:
                raise ArgError("flag provided but not defined: %s" % arg.split("=", 1)[0])
            dest, takes_value = flags[name]
            if takes_value:
                if not eq:
                    i += 1
                    if i >= len(args):
                        raise ArgError("flag needs an argument: %s" % arg)
                    value = args[i]
                opts[dest] = value
            else:
                if eq and value.lower() not in ("true", "false", "1", "0"):
                    raise ArgError("invalid boolean value %r for -%s" % (value, name))
                opts[dest] = (not eq) or value.lower() in ("true", "1")
        else:
            positional.append(arg)
        i += 1
    return opts, positional


def _go_json(value) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def format_value(value, fmt) -> bytes:
    """Render a value as jujuc's --format does, newline-terminated."""
    fmt = fmt or "smart"
    if fmt == "json":
        text = _go_json(value)
    elif fmt == "yaml":
        if value is None:
            text = ""
        else:
            text = yaml.safe_dump(value, default_flow_style=False).rstrip("\n")
            if text.endswith("\n..."):
                text = text[:-4]
    elif fmt == "smart":
        if value is None:
            text = ""
        elif isinstance(value, bool):
            text = "True" if value else "False"
        elif isinstance(value, (str, int, float)):
            text = str(value)
        elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            text = "\n".join(value)
        else:
            text = yaml.safe_dump(value, default_flow_style=False).rstrip("\n")
    else:
        raise ArgError('invalid value "%s" for flag --format: unknown format "%s"' % (fmt, fmt))
    if not text:
        return b""
    return (text + "\n").encode("utf-8")


def _check_format(opts):
    fmt = opts.get("format", "smart")
    if fmt not in ("smart", "json", "yaml"):
        raise ArgError('invalid value "%s" for flag --format: unknown format "%s"' % (fmt, fmt))
    return fmt


def _no_extra(positional, allowed):
    if len(positional) > allowed:
        extra = positional[allowed:]
        raise ArgError("unrecognized args: [%s]" % " ".join('"%s"' % a for a in extra))


def _key_values(pairs, what="key=value"):
    result = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise ArgError('expected "%s", got "%s"' % (what, pair))
        result[key] = value if value != "" else None
    return result


def _relation_id(ctx, opts):
    text = opts.get("relation")
    if text is None:
        rid = ctx.relation_id
        if rid is None:
            raise ArgError("no relation id specified")
        return rid
    rid = ctx.resolve_relation(text)
    if rid is None:
        raise ArgError('invalid value "%s" for option -r: relation not found' % text)
    return rid


FORMAT = {"format": ("format", True)}
RELATION = {"r": ("relation", True), "relation": ("relation", True)}
HELP = {"h": ("help", False), "help": ("help", False)}


# ---------------------------------------------------------------------------
# Relation tools


def relation_get(ctx, argv, stdin):
    opts, pos = parse_args(
        argv,
        dict(FORMAT, **RELATION, app=("app", False), o=("output", True), output=("output", True)),
    )
    fmt = _check_format(opts)
    _no_extra(pos, 2)
    rid = _relation_id(ctx, opts)
    key = pos[0] if pos else "-"
    # The target, as jujuc/relation-get.go @2365bb25 determineUnitOrAppName:
    # a name given wins (with --app a unit name means its application);
    # else --app takes JUJU_REMOTE_APP ("no unit or application specified"
    # without one); else the remote unit, or, in an application-level hook
    # (no remote unit), the remote application as if --app were given.
    app = None
    if len(pos) > 1:
        if opts.get("app"):
            app = pos[1].split("/", 1)[0]
        else:
            unit = pos[1]
    elif opts.get("app"):
        app = ctx.remote_app
        if app is None:
            raise ArgError("no unit or application specified")
    else:
        unit = ctx.remote_unit
        if unit is None:
            app = ctx.remote_app if ctx.spec.remote_app else None
            if app is None:
                raise ArgError("no unit id specified")
    if app is not None:
        settings = ctx.app_settings(rid, app)
    else:
        settings = ctx.relation_settings(rid, unit)
    value = settings if key in ("-", "") else settings.get(key)
    return 0, format_value(value, fmt), b""


RELATION_SET_HELP = b"""Usage: relation-set [options] key=value [key=value ...]

Summary:
set relation settings

Options:
--app  (= false)
    pick whether you are setting "application" settings or "unit" settings
--file  (= )
    file containing key-value pairs
--format (= "")
    deprecated format flag
-r, --relation  (= %s)
    specify a relation by id

Details:
"relation-set" writes the local unit's settings for some relation.
If no relation is specified then the current relation is used. The
setting values are not inspected and are stored as strings. Setting
an empty string causes the setting to be removed. Supplying the
--file flag reads settings from a YAML file ("-" means stdin); pairs
given as arguments take precedence over the file.
"""


def relation_set(ctx, argv, stdin):
    opts, pos = parse_args(
        argv,
        dict(RELATION, **HELP, file=("file", True), format=("format", True), app=("app", False)),
    )
    if opts.get("help"):
        current = ctx.relation_id or ""
        return 0, RELATION_SET_HELP.replace(b"%s", current.encode()), b""
    rid = _relation_id(ctx, opts)
    settings = {}
    if "file" in opts:
        path = opts["file"]
        if path == "-":
            data = stdin
        else:
            try:
                with open(os.path.join(ctx.cwd, path), "rb") as f:
                    data = f.read()
            except OSError as e:
                raise ToolError("open %s: %s" % (path, e.strerror)) from None
        try:
            loaded = yaml.safe_load(data) if data.strip() else {}
        except yaml.YAMLError as e:
            raise ToolError("cannot parse settings file: %s" % e) from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ToolError("expected YAML map in settings file, got %s" % type(loaded).__name__)
        for key, value in loaded.items():
            if value is None or value == "":
                settings[str(key)] = None
            elif isinstance(value, bool):
                settings[str(key)] = "true" if value else "false"
            else:
                settings[str(key)] = str(value)
    settings.update(_key_values(pos))
    if opts.get("app"):
        # Settings parsed first, then the leadership check (jujuc/relation-set.go Run).
        ctx.app_relation_set(rid, settings)
    else:
        ctx.relation_set(rid, settings)
    return 0, b"", b""


def relation_ids(ctx, argv, stdin):
    opts, pos = parse_args(argv, FORMAT)
    fmt = _check_format(opts)
    _no_extra(pos, 1)
    name = pos[0] if pos else ctx.relation_name
    if name is None:
        raise ArgError("no endpoint name specified")
    return 0, format_value(ctx.relation_ids(name), fmt), b""


def relation_list(ctx, argv, stdin):
    opts, pos = parse_args(argv, dict(FORMAT, **RELATION, app=("app", False)))
    fmt = _check_format(opts)
    _no_extra(pos, 0)
    rid = _relation_id(ctx, opts)
    if opts.get("app"):
        return 0, format_value(ctx.application, fmt), b""
    return 0, format_value(ctx.relation_list(rid), fmt), b""


# ---------------------------------------------------------------------------
# Leadership


def leader_get(ctx, argv, stdin):
    opts, pos = parse_args(argv, FORMAT)
    fmt = _check_format(opts)
    _no_extra(pos, 1)
    key = pos[0] if pos else "-"
    settings = ctx.leader_get()
    value = settings if key == "-" else settings.get(key)
    return 0, format_value(value, fmt), b""


def leader_set(ctx, argv, stdin):
    opts, pos = parse_args(argv, {})
    changes = _key_values(pos)
    ctx.leader_set(changes)
    return 0, b"", b""


def goal_state(ctx, argv, stdin):
    opts, pos = parse_args(argv, FORMAT)
    fmt = opts.get("format") or "yaml"  # goal-state's default format is yaml
    if fmt not in ("json", "yaml"):
        raise ArgError('invalid value "%s" for flag --format: unknown format "%s"' % (fmt, fmt))
    _no_extra(pos, 0)
    return 0, format_value(ctx.goal_state(), fmt), b""


def is_leader(ctx, argv, stdin):
    opts, pos = parse_args(argv, FORMAT)
    fmt = _check_format(opts)
    _no_extra(pos, 0)
    return 0, format_value(ctx.is_leader(), fmt), b""


# ---------------------------------------------------------------------------
# Logging, status, config, unit data


def juju_log(ctx, argv, stdin):
    opts, pos = parse_args(
        argv,
        {
            "l": ("level", True),
            "log-level": ("level", True),
            "debug": ("debug", False),
            "format": ("format", True),
        },
    )
    if not pos:
        raise ArgError("no message specified")
    level = opts.get("level", "DEBUG" if opts.get("debug") else "INFO").upper()
    if level not in LOG_LEVELS:
        level = "INFO"
    ctx.log(level, " ".join(pos))
    return 0, b"", b""


def status_set(ctx, argv, stdin):
    opts, pos = parse_args(argv, {"application": ("application", False)})
    if not pos:
        raise ArgError("invalid args, require <status> [message] [data]")
    status = pos[0]
    if status not in STATUSES:
        raise ArgError('invalid status "%s", expected one of [%s]' % (status, " ".join(STATUSES)))
    _no_extra(pos, 2)
    message = pos[1] if len(pos) > 1 else ""
    ctx.status_set(status, message, bool(opts.get("application")))
    return 0, b"", b""


def status_get(ctx, argv, stdin):
    opts, pos = parse_args(
        argv,
        dict(
            FORMAT,
            **{"include-data": ("include_data", False), "application": ("application", False)},
        ),
    )
    fmt = _check_format(opts)
    _no_extra(pos, 1)
    status, message = ctx.status_get(bool(opts.get("application")))
    if opts.get("include_data") or pos:
        value = {"status": status, "message": message, "status-data": {}}
        if pos:
            value = value.get(pos[0])
    else:
        value = status
    return 0, format_value(value, fmt), b""


def config_get(ctx, argv, stdin):
    opts, pos = parse_args(argv, dict(FORMAT, a=("all", False), all=("all", False)))
    fmt = _check_format(opts)
    _no_extra(pos, 1)
    config = ctx.config()
    if pos:
        if opts.get("all"):
            raise ArgError('cannot use argument --all together with key "%s"' % pos[0])
        value = config.get(pos[0])
    elif opts.get("all"):
        value = config
    else:
        value = {k: v for k, v in config.items() if v is not None}
    return 0, format_value(value, fmt), b""


def unit_get(ctx, argv, stdin):
    opts, pos = parse_args(argv, FORMAT)
    fmt = _check_format(opts)
    if not pos:
        raise ArgError("no setting specified")
    _no_extra(pos, 1)
    if pos[0] not in ("private-address", "public-address"):
        raise ArgError('unknown setting "%s"' % pos[0])
    return 0, format_value(ctx.unit_address(), fmt), b""


def application_version_set(ctx, argv, stdin):
    opts, pos = parse_args(argv, {})
    if not pos:
        raise ArgError("no version specified")
    _no_extra(pos, 1)
    ctx.set_workload_version(pos[0])
    return 0, b"", b""


def _port_tool(opening):
    def tool(ctx, argv, stdin):
        opts, pos = parse_args(
            argv, {"endpoints": ("endpoints", True), "format": ("format", True)}
        )
        if not pos:
            raise ArgError("no port or range specified")
        _no_extra(pos, 1)
        spec = pos[0].lower()
        match = _PORT.match(spec)
        if not match:
            raise ArgError(
                "expected <port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp; "
                'got "%s"' % pos[0]
            )
        if spec != "icmp" and "/" not in spec:
            spec += "/tcp"
        ctx.port_change(opening, spec)
        return 0, b"", b""

    return tool


# ---------------------------------------------------------------------------
# Actions


def action_get(ctx, argv, stdin):
    opts, pos = parse_args(argv, FORMAT)
    fmt = _check_format(opts)
    params = ctx.action_params()
    value = params
    if pos:
        _no_extra(pos, 1)
        for part in pos[0].split("."):
            value = value.get(part) if isinstance(value, dict) else None
    return 0, format_value(value, fmt), b""


def action_set(ctx, argv, stdin):
    opts, pos = parse_args(argv, {})
    if not pos:
        raise ArgError("no key=value pairs specified")
    results = {}
    for pair in pos:
        key, eq, value = pair.partition("=")
        if not eq:
            raise ArgError('argument "%s" must be of the form key...=value' % pair)
        parts = key.split(".")
        for part in parts:
            if not _ACTION_KEY.match(part):
                raise ArgError(
                    'key "%s" must start and end with lowercase alphanumeric, and '
                    "contain only lowercase alphanumeric and hyphens" % part
                )
        results[key] = value
    ctx.action_set(results)
    return 0, b"", b""


def action_fail(ctx, argv, stdin):
    opts, pos = parse_args(argv, {})
    _no_extra(pos, 1)
    ctx.action_fail(
        pos[0] if pos else "action failed without reason given, check action for errors"
    )
    return 0, b"", b""


def action_log(ctx, argv, stdin):
    opts, pos = parse_args(argv, {})
    if not pos:
        raise ArgError("no message specified")
    ctx.action_log(" ".join(pos))
    return 0, b"", b""


# ---------------------------------------------------------------------------
# Simulator-only probe


def sim_journal(ctx, argv, stdin):
    """``sim-journal start|end LOCK [--duration SECONDS]``: record guarded work."""
    opts, pos = parse_args(argv, {"duration": ("duration", True)})
    if len(pos) != 2 or pos[0] not in ("start", "end"):
        raise ArgError("usage: sim-journal start|end LOCK [--duration SECONDS]")
    duration = 0.0
    if "duration" in opts:
        try:
            duration = float(opts["duration"])
        except ValueError:
            raise ArgError('invalid value "%s" for flag --duration' % opts["duration"]) from None
        if duration < 0 or pos[0] != "start":
            raise ArgError("--duration takes a non-negative number and only goes with start")
    ctx.journal(pos[0], pos[1], duration)
    return 0, b"", b""


TOOLS = {
    "relation-get": relation_get,
    "relation-set": relation_set,
    "relation-ids": relation_ids,
    "relation-list": relation_list,
    "leader-get": leader_get,
    "leader-set": leader_set,
    "is-leader": is_leader,
    "goal-state": goal_state,
    "juju-log": juju_log,
    "status-set": status_set,
    "status-get": status_get,
    "config-get": config_get,
    "unit-get": unit_get,
    "application-version-set": application_version_set,
    "open-port": _port_tool(True),
    "close-port": _port_tool(False),
    "action-get": action_get,
    "action-set": action_set,
    "action-fail": action_fail,
    "action-log": action_log,
    "sim-journal": sim_journal,
}

ACTION_ONLY = frozenset(("action-get", "action-set", "action-fail", "action-log"))


def run_tool(ctx, argv, stdin=b"", available=None):
    """Run one tool call; never raises for tool-level errors.

    `available` names the tools the Juju version has (`JujuProfile.tools`;
    default: all of `TOOLS`); any other name answers as an unknown tool.
    """
    name = argv[0] if argv else ""
    tool = TOOLS.get(name)
    if tool is None or (available is not None and name not in available):
        return 127, b"", ('ERROR unknown hook tool "%s"\n' % name).encode()
    try:
        if name in ACTION_ONLY and not ctx.in_action:
            raise ToolError("not running an action")
        return tool(ctx, list(argv), stdin)
    except ArgError as e:
        return 2, b"", ("ERROR %s\n" % e).encode()
    except ToolError as e:
        return 1, b"", ("ERROR %s\n" % e).encode()
