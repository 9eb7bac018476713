"""Handlers of the reactive-peer test charm."""

import subprocess

from charmhelpers.core import hookenv, unitdata
from charms.reactive import clear_flag, hook, set_flag, when, when_not


@when_not("peer.installed")
def install():
    hookenv.status_set("maintenance", "installing")
    set_flag("peer.installed")


@hook("leader-elected")
def elected():
    hookenv.leader_set(leader=hookenv.local_unit())


@hook("config-changed")
def config_changed():
    generation = hookenv.config("generation")
    kv = unitdata.kv()
    if kv.get("peer.generation") != generation:
        kv.set("peer.generation", generation)
        set_flag("peer.restart-needed")


@when("peer.installed", "peer.restart-needed")
def restart():
    subprocess.check_call(["sim-journal", "start", "restart", "--duration", "2"])
    subprocess.check_call(["sim-journal", "end", "restart"])
    clear_flag("peer.restart-needed")
    set_flag("peer.restarted")
    for rid in hookenv.relation_ids("coordinator"):
        hookenv.relation_set(rid, {"generation": str(hookenv.config("generation"))})
    hookenv.status_set("active", "generation %s" % hookenv.config("generation"))


@hook("coordinator-relation-changed")
def peer_changed():
    remote = hookenv.remote_unit()
    seen = hookenv.relation_get("generation", remote)
    unitdata.kv().set("peer.seen.%s" % remote, seen)
