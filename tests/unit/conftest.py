"""Unit-test harness: the layer's real code against a fake at the hookenv boundary.

``FakeModel`` holds what Juju would hold for one application (the peer
relation's application databag, each unit's peer relation settings, who
leads) and replaces the
``charmhelpers.core.hookenv`` functions that call hook tools. ``Hook`` runs
one hook on one unit the way charms.reactive.main() does: it loads the
layer's reactive module (registering its start and end callbacks), runs the
start callbacks, the charm's handler code, and on success the end callbacks,
then flushes unitdata and commits buffered relation settings, unit and
application data in one commit, which Juju refuses whole when the unit wrote
application data and no longer leads (``Hook.commit_refused``). The layer
must never call leader-get or leader-set (Juju 4 has neither): the fakes
fail the test if it does, unless the model serves leader settings
(``leader_settings_tools = True``, for the stand-in of the original layer,
which keeps its grants there; written at once, as in Juju 3.6). Every hook
starts from fresh process-global state (charmhelpers' callback lists, caches
and singletons, the layer's module), as a new hook process would.

This is deliberately small: scheduling, coalescing and real hook processes
belong to the simulator under tests/functional.
"""

import json
import os
import pathlib
import runpy
import subprocess
import sys
import types

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lib"))

# charmhelpers 1.2.1 refuses to import charmhelpers.core.host on Debian (its
# platform check compares "debian" case-sensitively; charm-helpers fixed the
# comparison after the 1.2.1 release). Juju machines run Ubuntu, so tell it
# so. Test setup only: the layer never does this.
import charmhelpers.osplatform  # noqa: E402

charmhelpers.osplatform.get_platform = lambda: "ubuntu"

from charmhelpers import coordinator as ch_coordinator  # noqa: E402
from charmhelpers.core import hookenv, unitdata  # noqa: E402
from charms.reactive import flags  # noqa: E402

RELATION_ID = "coordinator:0"
REACTIVE_MODULE = ROOT / "reactive" / "coordinator.py"


class ToolError(Exception):
    """A fake hook tool failed (as CalledProcessError would report)."""


class FakeModel:
    """What Juju holds for one application, seen through hookenv.

    Every unit is a member of the ``coordinator`` peer relation from the
    start (as after Juju's startup sequence), and by default a unit's
    relation-get of another unit reads that unit's committed settings as they
    are now.

    ``peer_cache=True`` adds the unit agent's cache of peer settings
    (shared/docs/juju-semantics.md, section 2), as Juju's RelationCache and
    the simulator under tests/functional keep it: a unit's relation-get of
    another unit X returns the copy of X's committed settings this unit
    cached, and a relation-joined or relation-changed hook with remote X is
    the only thing that drops that copy (at the start of the hook). The
    first read of X after that, in that hook or a later one, fetches X's
    committed settings and caches them across hooks. Before any joined or
    changed hook for X the cache holds nothing, so the first read fetches
    and caches, as if the unit had joined X earlier and not read it since.
    Units no longer in ``units`` (departed) are dropped from the cache at the
    start of each hook and read afresh, as Juju does for non-members. A
    unit's own settings are always read fresh, plus its pending writes.
    ``cache`` holds the copies: ``{unit: {remote unit: settings}}``.

    ``not_joined[unit]`` is a set of units that ``unit``'s agent has not run
    relation-joined for yet: its relation-list leaves them out, though their
    settings stay readable (they are in the relation's scope). A unit removed
    from ``units`` has left; its settings stay readable, as Juju keeps them
    for the relation's lifetime. A unit in ``dying`` is being removed: the
    others' relation-list no longer shows it (Juju reports it departed at
    once) and goal-state shows it as ``dying``. ``goal-state`` lists
    ``units``, or ``goal_units`` when set (a subordinate sees only its
    principal's units); with ``goal_state_available = False`` it fails, as
    on Juju before 2.4.
    """

    def __init__(
        self, tmp_path, units=("app/0",), leader="app/0", relation=True, peer_cache=False
    ):
        self.tmp_path = tmp_path
        self.units = list(units)
        self.leader = leader
        self.relation = relation
        self.app_data = {}  # the peer relation's application databag, committed
        self.leader_settings = {}  # served only with leader_settings_tools
        self.leader_settings_tools = False
        # JUJU_VERSION in every hook: Juju 4 by default (no leader settings);
        # "3.6.12" with leader_settings_tools for a model with an older layer.
        self.juju_version = "4.0.1"
        # A unit that takes the lease after the next hook's process exits and
        # before Juju commits that hook's writes (None: nobody).
        self.lease_lapses_before_commit = None
        self.settings = {unit: {} for unit in self.units}  # committed peer data
        self.options = {}  # layer.yaml options.coordinator
        self.config = {}  # charm config
        self.status = {}  # unit -> (workload status, message)
        self.logs = []  # (unit, level, message)
        self.calls = []  # (unit, tool, args) for cost assertions
        self.unreadable = set()  # units whose relation settings relation-get refuses
        self.app_unreadable = False  # relation-get --app fails
        self.app_read_gives_none = False  # charmhelpers' answer to exit 2 or non-JSON output
        self.peer_cache = peer_cache
        self.cache = {}  # with peer_cache: {unit: {remote unit: cached settings}}
        self.not_joined = {}  # {unit: units its agent has not joined yet}
        self.goal_state_available = True
        self.goal_units = None  # what goal-state lists instead of ``units``
        self.dying = set()  # units being removed

    def add_unit(self, unit):
        self.units.append(unit)
        self.settings[unit] = {}

    def requests_of(self, unit):
        raw = self.settings[unit].get("coordinator")
        return json.loads(raw) if raw else {}

    def grants(self):
        raw = self.app_data.get("coordinator")
        return json.loads(raw) if raw else {}

    def hook(self, unit, name="update-status", remote=None, departing=None):
        return Hook(self, unit, name, remote, departing=departing)

    def run(self, unit, name="update-status", handler=None, remote=None, departing=None):
        """Run one successful hook; return its Hook (flags seen by the handler, etc.).

        ``departing`` sets JUJU_DEPARTING_UNIT (relation-departed hooks).
        """
        with self.hook(unit, name, remote, departing) as h:
            if handler is not None:
                h.result = handler()
        return h

    def action(self, on_unit, name, **params):
        """Run one of the layer's actions on ``on_unit``; return (results, failure message)."""
        hook = Hook(self, on_unit, name, None, action_params=params)
        with hook:
            import charms.coordinator

            charms.coordinator.run_action(name)
        return hook.action_results, hook.action_failed

    def messages(self, unit=None):
        return [m for u, _, m in self.logs if unit is None or u == unit]


class Hook:
    """One hook on one unit; a context manager that commits on success."""

    def __init__(self, model, unit, name, remote, action_params=None, departing=None):
        self.action_params = action_params
        self.departing = departing
        self.action_results = {}
        self.action_failed = None
        self.model = model
        self.unit = unit
        self.name = name
        self.remote = remote
        self.pending = {}
        self.pending_app = {}
        self.app_snapshot = None  # a non-leader's first read of the databag in this hook
        self.commit_refused = False
        self.result = None
        self.flags_in_handler = None
        self.leader_said_false = False

    # -- fake hook tools -----------------------------------------------------

    def _call(self, tool, *args):
        self.model.calls.append((self.unit, tool, args))

    def _is_leader(self):
        self._call("is-leader")
        leader = self.model.leader == self.unit and not self.leader_said_false
        if not leader:
            self.leader_said_false = True
        return leader

    def _leader_get(self, attribute=None):
        if not self.model.leader_settings_tools:
            raise AssertionError("the layer called leader-get (Juju 4 has no leader settings)")
        self._call("leader-get", attribute)
        if attribute is None:
            return dict(self.model.leader_settings)
        return self.model.leader_settings.get(attribute)

    def _leader_set(self, settings=None, **kwargs):
        if not self.model.leader_settings_tools:
            raise AssertionError("the layer called leader-set (Juju 4 has no leader settings)")
        self._call("leader-set", settings)
        if self.model.leader != self.unit:
            raise ToolError("cannot write leadership settings: not the leader")
        settings = dict(settings or {}, **kwargs)
        for key, value in settings.items():
            if value is None or value == "":
                self.model.leader_settings.pop(key, None)
            else:
                self.model.leader_settings[key] = str(value)

    def _app_get(self, attribute):
        """relation-get --app: the leader reads its writable copy, others a snapshot."""
        self._call("relation-get --app", attribute)
        if not self.model.relation or self.model.app_unreadable:
            raise ToolError("relation not found")
        if self.model.app_read_gives_none:
            return None
        if self.model.leader == self.unit:
            data = dict(self.model.app_data)
            data.update(self.pending_app)
            data = {k: v for k, v in data.items() if v != ""}
        else:
            if self.app_snapshot is None:
                self.app_snapshot = dict(self.model.app_data)
            data = dict(self.app_snapshot)
        return data.get(attribute) if attribute else data

    def _goal_state(self):
        self._call("goal-state")
        if not self.model.goal_state_available:
            raise FileNotFoundError("goal-state")
        m = self.model
        units = m.units if m.goal_units is None else m.goal_units
        return {"units": {u: {"status": "dying" if u in m.dying else "active"} for u in units}}

    def _relation_ids(self, reltype=None):
        self._call("relation-ids", reltype)
        return [RELATION_ID] if self.model.relation and reltype == "coordinator" else []

    def _related_units(self, relid=None):
        self._call("relation-list", relid)
        unjoined = self.model.not_joined.get(self.unit, ())
        return sorted(
            u
            for u in self.model.units
            if u != self.unit and u not in unjoined and u not in self.model.dying
        )

    def _relation_get(self, attribute=None, unit=None, rid=None, app=None):
        if app is not None:
            assert app == self.unit.split("/")[0], app
            return self._app_get(attribute)
        self._call("relation-get", attribute, unit)
        if unit not in self.model.settings or unit in self.model.unreadable:
            raise ToolError(f"cannot read settings for unit {unit!r}")
        if self.model.peer_cache and unit != self.unit and unit in self.model.units:
            cache = self.model.cache.setdefault(self.unit, {})
            if unit not in cache:
                cache[unit] = dict(self.model.settings[unit])
            return cache[unit].get(attribute) if attribute else dict(cache[unit])
        data = dict(self.model.settings[unit])
        if unit == self.unit:
            data.update(self.pending)
            data = {k: v for k, v in data.items() if v != ""}
        return data.get(attribute) if attribute else data

    def _relation_set(self, relation_id=None, relation_settings=None, app=False, **kwargs):
        settings = dict(relation_settings or {}, **kwargs)
        settings = {k: "" if v is None else str(v) for k, v in settings.items()}
        if app:
            self._call("relation-set --app", relation_settings)
            if self.model.leader != self.unit:
                raise ToolError("cannot write relation settings")
            self.pending_app.update(settings)
            return
        self._call("relation-set", relation_settings)
        self.pending.update(settings)

    def _check_call(self, argv, **kwargs):
        """subprocess.check_call in a hook: relation-set is this fake's tool."""
        if argv[0] != "relation-set":
            return self._real_check_call(argv, **kwargs)
        app = "--app" in argv
        rid = argv[argv.index("-r") + 1]
        with open(argv[argv.index("--file") + 1]) as f:
            settings = yaml.safe_load(f) or {}
        self._relation_set(rid, settings, app=app)
        return 0

    def _config(self, scope=None):
        self._call("config-get", scope)
        return dict(self.model.config) if scope is None else self.model.config.get(scope)

    def _status_get(self):
        self._call("status-get")
        return self.model.status.get(self.unit, ("unknown", ""))

    def _status_set(self, workload_state, message, application=False):
        self._call("status-set", workload_state, message)
        self.model.status[self.unit] = (workload_state, message)

    def _action_get(self, key=None):
        self._call("action-get", key)
        return (
            dict(self.action_params or {}) if key is None else (self.action_params or {}).get(key)
        )

    def _action_set(self, values):
        self._call("action-set", values)
        self.action_results.update(values)

    def _action_fail(self, message):
        self._call("action-fail", message)
        self.action_failed = message

    def _log(self, message, level=None):
        self.model.logs.append((self.unit, level, message))

    # -- lifecycle ------------------------------------------------------------

    def __enter__(self):
        m = self.model
        os.environ.update(
            JUJU_UNIT_NAME=self.unit,
            JUJU_HOOK_NAME=self.name,
            JUJU_VERSION=m.juju_version,
            CHARM_DIR=str(m.tmp_path / self.unit.replace("/", "-")),
            UNIT_STATE_DB=str(m.tmp_path / (self.unit.replace("/", "-") + ".db")),
        )
        pathlib.Path(os.environ["CHARM_DIR"]).mkdir(exist_ok=True)
        os.chdir(os.environ["CHARM_DIR"])
        for var in (
            "JUJU_REMOTE_UNIT",
            "JUJU_RELATION_ID",
            "JUJU_RELATION",
            "JUJU_DEPARTING_UNIT",
        ):
            os.environ.pop(var, None)
        if self.departing:
            os.environ["JUJU_DEPARTING_UNIT"] = self.departing
        if self.remote or self.name.startswith("coordinator-relation-"):
            # Without a remote unit: the hook Juju runs for a change of the
            # application databag (JUJU_REMOTE_UNIT set, empty).
            os.environ.update(
                JUJU_REMOTE_UNIT=self.remote or "",
                JUJU_RELATION_ID=RELATION_ID,
                JUJU_RELATION="coordinator",
            )
        if m.peer_cache:
            cache = m.cache.setdefault(self.unit, {})
            for unit in [u for u in cache if u not in m.units]:
                del cache[unit]
            if self.remote and self.name.endswith(("-relation-joined", "-relation-changed")):
                cache.pop(self.remote, None)
        _fresh_process_state()
        fakes = {
            "is_leader": self._is_leader,
            "leader_get": self._leader_get,
            "leader_set": self._leader_set,
            "relation_ids": self._relation_ids,
            "goal_state": self._goal_state,
            "related_units": self._related_units,
            "relation_get": self._relation_get,
            "relation_set": self._relation_set,
            "log": self._log,
            "config": self._config,
            "status_get": self._status_get,
            "status_set": self._status_set,
            "action_get": self._action_get,
            "action_set": self._action_set,
            "action_fail": self._action_fail,
        }
        self._saved = {name: getattr(hookenv, name) for name in fakes}
        for name, fake in fakes.items():
            setattr(hookenv, name, fake)
        self._real_check_call = subprocess.check_call
        subprocess.check_call = self._check_call
        options = types.ModuleType("charms.layer.options")
        options.get = lambda section=None, option=None: _options_get(m.options, section, option)
        layer = types.ModuleType("charms.layer")
        layer.options = options
        sys.modules["charms.layer"] = layer
        sys.modules["charms.layer.options"] = options
        if self.action_params is None:
            runpy.run_path(str(REACTIVE_MODULE))  # registers the layer's callbacks
            hookenv._run_atstart()
        return self

    def _commit(self):
        """Juju's one commit of the hook's relation writes (after the process exits 0)."""
        if self.model.lease_lapses_before_commit:
            self.model.leader = self.model.lease_lapses_before_commit
            self.model.lease_lapses_before_commit = None
        app = _applied(self.model.app_data, self.pending_app)
        if app != self.model.app_data and self.model.leader != self.unit:
            self.commit_refused = True  # the hook fails; nothing of it lands
            return
        self.model.app_data = app
        self.model.settings[self.unit] = _applied(self.model.settings[self.unit], self.pending)

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.flags_in_handler = set(flags.get_flags())
                if self.action_params is None:
                    hookenv._run_atexit()
                unitdata.kv().flush()
                self._commit()
        finally:
            for name, original in self._saved.items():
                setattr(hookenv, name, original)
            subprocess.check_call = self._real_check_call
            _close_kv()
        return False


def _applied(data, changes):
    new = dict(data)
    for key, value in changes.items():
        if value == "":
            new.pop(key, None)
        else:
            new[key] = value
    return new


def _options_get(options, section=None, option=None):
    data = {"coordinator": options}
    if section:
        data = data.get(section, {})
    if option:
        data = data.get(option)
    return data


def _close_kv():
    if unitdata._KV is not None:
        unitdata._KV.conn.close()
        unitdata._KV = None


def _fresh_process_state():
    """Reset what a new hook process would start without."""
    del hookenv._atstart[:]
    del hookenv._atexit[:]
    hookenv.cache.clear()
    ch_coordinator.Singleton._instances.clear()
    _close_kv()
    for name in list(sys.modules):
        if name == "charms.coordinator" or name.startswith("charms.layer_coordinator"):
            del sys.modules[name]
    sys.modules.pop("charms.layer.options", None)
    sys.modules.pop("charms.layer", None)


def _stored(model, unit, read):
    """``read(store)`` on ``unit``'s unitdata as kept between hooks, or None if it has none."""
    db = model.tmp_path / (unit.replace("/", "-") + ".db")
    if not db.exists():
        return None
    store = unitdata.Storage(str(db))
    try:
        return read(store)
    finally:
        store.conn.close()


def unit_flags(model, unit):
    """Return the reactive flags persisted for ``unit`` (between hooks)."""
    flags = _stored(model, unit, lambda store: store.getrange("reactive.states."))
    return {k[len("reactive.states.") :] for k in flags or {}}


def on_juju(model, version):
    """Set ``model`` to Juju ``version``: "4" (the fake's default) or "3.6", which keeps
    leader settings (read by a leader for an older layer's grants). Returns the model."""
    if version == "3.6":
        model.juju_version = "3.6.12"
        model.leader_settings_tools = True
    return model


def unit_memory(model, unit, key):
    """Return what ``unit``'s unitdata keeps under ``key`` between hooks (None: nothing)."""
    return _stored(model, unit, lambda store: store.get(key))


@pytest.fixture
def model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in list(os.environ):
        if var.startswith("JUJU_") or var in ("CHARM_DIR", "UNIT_STATE_DB"):
            monkeypatch.delenv(var)
    for var in ("JUJU_UNIT_NAME", "JUJU_HOOK_NAME", "JUJU_VERSION", "CHARM_DIR", "UNIT_STATE_DB"):
        monkeypatch.setenv(var, "")
    fake = FakeModel(tmp_path, units=("app/0", "app/1", "app/2"))
    yield fake
    _fresh_process_state()


@pytest.fixture
def coordinator_module():
    """The charms.coordinator module loaded in the current fake hook."""

    def get():
        import charms.coordinator

        return charms.coordinator

    return get
