"""jujusim reproduces Juju's hook semantics, rule by rule (shared/docs/juju-semantics.md)."""

import json

import pytest

from jujusim import SimulationError


def finished(sim, unit):
    """(hook, remote unit) of each hook the unit finished, in order."""
    return [(h, r) for u, h, r, e in sim.hooks(unit)]


def logged(sim, unit=None, hook=None):
    return [
        r.message
        for r in sim.logs
        if (unit is None or r.unit == unit) and (hook is None or r.hook == hook)
    ]


# -- startup ------------------------------------------------------------------------------


def test_a_new_unit_runs_install_created_leadership_config_start_then_peer_hooks(make_sim):
    sim = make_sim(units=3)
    sim.run_until_quiet()
    for unit in sim.units:
        hooks = [h for h, _ in finished(sim, unit)]
        leadership = "leader-elected" if unit == sim.leader else "leader-settings-changed"
        assert hooks[:5] == [
            "install",
            "coordinator-relation-created",
            leadership,
            "config-changed",
            "start",
        ]
        assert set(hooks[5:]) == {"coordinator-relation-joined", "coordinator-relation-changed"}


def test_each_peer_is_joined_then_changed(make_sim):
    sim = make_sim(units=3)
    sim.run_until_quiet()
    for unit in sim.units:
        peer_hooks = [(h, r) for h, r in finished(sim, unit) if r]
        for peer in sim.units:
            if peer == unit:
                continue
            joined = peer_hooks.index(("coordinator-relation-joined", peer))
            changed = peer_hooks.index(("coordinator-relation-changed", peer))
            assert joined < changed


def test_every_non_leader_gets_one_leader_settings_changed_after_install(make_sim):
    sim = make_sim(units=4)
    sim.run_until_quiet()
    for unit in sim.units:
        count = [h for h, _ in finished(sim, unit)].count("leader-settings-changed")
        assert count == (0 if unit == sim.leader else 1)


def test_the_remote_unit_is_in_relation_list_during_joined(make_sim):
    sim = make_sim(
        """
        def coordinator_relation_joined(h):
            h.log('list=%s' % ','.join(h.rlist()))
    """,
        units=2,
    )
    sim.run_until_quiet()
    assert logged(sim, "scripted/0", "coordinator-relation-joined") == ["list=scripted/1"]


def test_a_unit_is_in_scope_with_its_address_settings_during_relation_created(make_sim):
    # Juju joins the relation (EnterScope) before it can run relation-created:
    # the unit's own settings are readable there, and it stays in scope even
    # if that hook fails.
    sim = make_sim(
        """
        import os, sys
        def coordinator_relation_created(h):
            h.log('own=%s' % h.rget('private-address', h.unit, rid='coordinator:0'))
            marker = os.path.join(h.env['CHARM_DIR'], 'failed-once')
            if h.unit == 'scripted/1' and not os.path.exists(marker):
                open(marker, 'w').close()
                sys.exit(1)
    """,
        units=2,
    )
    sim.run_until_quiet()
    for unit in sim.units:
        (line,) = set(logged(sim, unit, "coordinator-relation-created"))
        assert line == "own=" + sim.relation_settings(unit)["private-address"]
    hooks = sim.hooks()
    failed = hooks.index(("scripted/1", "coordinator-relation-created", None, "fail"))
    retried = hooks.index(("scripted/1", "coordinator-relation-created", None, "commit"))
    joined = hooks.index(("scripted/0", "coordinator-relation-joined", "scripted/1", "commit"))
    assert failed < joined < retried


def test_a_missing_hook_file_counts_as_success(make_sim):
    sim = make_sim(units=1, remove_hooks=["start"])
    sim.run_until_quiet()
    assert ("scripted/0", "start", None, "commit") in sim.hooks()


# -- relation data ----------------------------------------------------------------------


def test_relation_set_is_committed_only_when_the_hook_succeeds(make_sim):
    sim = make_sim(
        """
        import os, sys
        def config_changed(h):
            if h.unit != 'scripted/0':
                return
            marker = os.path.join(h.env['CHARM_DIR'], 'failed-once')
            if not os.path.exists(marker):
                open(marker, 'w').close()
                h.rset(rid='coordinator:0', attempt='first')
                h.log('own=%s' % h.rget('attempt', h.unit, rid='coordinator:0'))
                sys.exit(1)
            h.rset(rid='coordinator:0', retried='yes')
    """,
        units=2,
    )
    sim.run_until_quiet()
    assert logged(sim, "scripted/0", "config-changed") == ["own=first"]
    data = sim.relation_settings("scripted/0")
    assert "attempt" not in data
    assert data["retried"] == "yes"


def test_other_units_see_nothing_before_the_commit(make_sim):
    sim = make_sim(
        """
        def echo(h):
            if h.unit == 'scripted/0':
                h.rset(rid='coordinator:0', value='new')
                h.journal('start', 'slow', duration=30)
                h.journal('end', 'slow')
            else:
                h.journal('start', 'wait', duration=10)
                h.journal('end', 'wait')
                h.log('seen=%s' % h.rget('value', 'scripted/0', rid='coordinator:0'))
    """,
        units=2,
    )
    sim.run_until_quiet()
    sim.run_action("scripted/0", "echo")
    sim.run_action("scripted/1", "echo")
    sim.run_until_quiet()
    assert logged(sim, "scripted/1", "echo") == ["seen=None"]
    assert sim.relation_settings("scripted/0")["value"] == "new"


def test_a_commit_that_changes_nothing_triggers_no_hook(make_sim):
    sim = make_sim(
        """
        def config_changed(h):
            h.rset(rid='coordinator:0', fixed='same')
            if h.is_leader():
                h.lset(fixed='same')
    """,
        units=3,
    )
    sim.run_until_quiet()
    before = len(sim.trace)
    sim.set_config(generation=1)
    sim.run_until_quiet()
    later = [r.hook for r in sim.trace[before:] if r.event == "commit"]
    assert sorted(later) == ["config-changed"] * 3


def test_a_real_change_runs_relation_changed_on_every_other_unit_with_the_writer_as_remote(
    make_sim,
):
    sim = make_sim(
        """
        def config_changed(h):
            if h.unit == 'scripted/1' and h.json('config-get', 'generation') == 1:
                h.rset(rid='coordinator:0', value='changed')
    """,
        units=3,
    )
    sim.run_until_quiet()
    start = len(sim.trace)
    sim.set_config(generation=1)
    sim.run_until_quiet()
    changed = [
        (r.unit, r.remote_unit)
        for r in sim.trace[start:]
        if r.event == "commit" and r.hook == "coordinator-relation-changed"
    ]
    assert sorted(changed) == [("scripted/0", "scripted/1"), ("scripted/2", "scripted/1")]


def test_several_changes_by_one_peer_collapse_into_one_relation_changed(make_sim):
    sim = make_sim(
        """
        def echo(h):
            if h.unit == 'scripted/1':
                h.journal('start', 'busy', duration=100)
                h.journal('end', 'busy')
            else:
                h.rset(rid='coordinator:0', n=h.json('action-get', 'text'))
    """,
        units=2,
    )
    sim.run_until_quiet()
    start = len(sim.trace)
    sim.run_action("scripted/1", "echo")
    for n in range(3):
        sim.run_action("scripted/0", "echo", {"text": str(n)})
    sim.run_until_quiet()
    changed = [
        r
        for r in sim.trace[start:]
        if r.event == "commit" and r.unit == "scripted/1" and r.remote_unit
    ]
    assert [(r.hook, r.remote_unit) for r in changed] == [
        ("coordinator-relation-changed", "scripted/0")
    ]


def test_several_leader_settings_changes_collapse_into_one_leader_settings_changed(make_sim):
    sim = make_sim(
        """
        def echo(h):
            if h.is_leader():
                h.lset(n=h.json('action-get', 'text'))
            else:
                h.journal('start', 'busy', duration=100)
                h.journal('end', 'busy')
    """,
        units=2,
    )
    sim.run_until_quiet()
    other = [u for u in sim.units if u != sim.leader][0]
    start = len(sim.trace)
    sim.run_action(other, "echo")
    for n in range(3):
        sim.run_action(sim.leader, "echo", {"text": str(n)})
    sim.run_until_quiet()
    lsc = [
        r
        for r in sim.trace[start:]
        if r.event == "commit" and r.unit == other and r.hook == "leader-settings-changed"
    ]
    assert len(lsc) == 1
    assert sim.leader_settings() == {"n": "2"}


def test_a_peer_read_in_a_hook_about_another_unit_can_be_stale(make_sim):
    sim = make_sim(
        """
        def config_changed(h):
            h.rset(rid='coordinator:0', v=str(h.json('config-get', 'generation')))

        def echo(h):
            if h.unit == 'scripted/0':
                h.journal('start', 'wait', duration=20)
                h.journal('end', 'wait')
                h.log('v=%s' % h.rget('v', 'scripted/1', rid='coordinator:0'))
            elif h.unit == 'scripted/1':
                h.rset(rid='coordinator:0', v='fresh')

        def coordinator_relation_changed(h):
            if h.unit == 'scripted/0' and h.remote == 'scripted/1':
                h.log('in changed v=%s' % h.rget('v', 'scripted/1'))
    """,
        units=2,
    )
    sim.run_until_quiet()
    sim.run_action("scripted/0", "echo")
    sim.run_action("scripted/1", "echo")
    sim.run_until_quiet()
    assert logged(sim, "scripted/0", "echo") == ["v=0"]
    assert logged(sim, "scripted/0", "coordinator-relation-changed")[-1] == "in changed v=fresh"


def test_an_injected_peer_write_runs_relation_changed_elsewhere_with_the_new_value(make_sim):
    sim = make_sim(
        """
        def coordinator_relation_changed(h):
            h.log('%s junk=%s' % (h.remote, h.rget('junk')))
    """,
        units=3,
    )
    sim.run_until_quiet()
    start = len(sim.trace)
    at = sim.now + 5
    sim.schedule(at, "write_relation_settings", "scripted/1", {"junk": "not json"})
    sim.run_until_quiet()

    assert sim.relation_settings("scripted/1")["junk"] == "not json"
    changed = [
        (r.unit, r.hook, r.remote_unit, r.time >= at)
        for r in sim.trace[start:]
        if r.event == "begin"
    ]
    assert sorted(changed) == [
        ("scripted/0", "coordinator-relation-changed", "scripted/1", True),
        ("scripted/2", "coordinator-relation-changed", "scripted/1", True),
    ]
    for unit in ("scripted/0", "scripted/2"):
        assert logged(sim, unit, "coordinator-relation-changed")[-1] == (
            "scripted/1 junk=not json"
        )

    sim.write_relation_settings("scripted/1", {"junk": None}, relation="coordinator")
    sim.run_until_quiet()
    assert "junk" not in sim.relation_settings("scripted/1")
    assert logged(sim, "scripted/0", "coordinator-relation-changed")[-1] == "scripted/1 junk=None"


def test_an_injected_peer_write_that_changes_nothing_triggers_nothing(make_sim):
    sim = make_sim(units=3)
    sim.run_until_quiet()
    before = sim.relation_settings("scripted/1")
    start = len(sim.trace)

    assert not sim.write_relation_settings(
        "scripted/1", {"private-address": before["private-address"], "absent": None}
    )
    assert sim.run_until_quiet() == 0

    assert sim.trace[start:] == []
    assert sim.relation_settings("scripted/1") == before
    with pytest.raises(SimulationError):
        sim.write_relation_settings("scripted/1", {"n": 5})
    with pytest.raises(SimulationError):
        sim.write_relation_settings("scripted/9", {"n": "5"})


# -- leadership -----------------------------------------------------------------------------


def test_leader_set_lands_at_once_and_survives_a_failed_hook(make_sim):
    sim = make_sim(
        """
        import os, sys
        def leader_elected(h):
            marker = os.path.join(h.env['CHARM_DIR'], 'failed-once')
            if not os.path.exists(marker):
                open(marker, 'w').close()
                h.lset(kept='yes')
                sys.exit(1)
    """,
        units=2,
    )
    sim.run_until_quiet()
    assert sim.leader_settings() == {"kept": "yes"}
    assert "fail" in [r.event for r in sim.trace if r.hook == "leader-elected"]


def test_leader_set_from_a_non_leader_fails_with_jujus_message(make_sim):
    sim = make_sim(
        """
        def config_changed(h):
            if not h.is_leader():
                rc, out, err = h.run('leader-set', 'x=1')
                h.log('%d %s' % (rc, err.strip()))
    """,
        units=2,
    )
    sim.run_until_quiet()
    other = [u for u in sim.units if u != sim.leader][0]
    assert logged(sim, other, "config-changed") == [
        "1 ERROR cannot write leadership settings: cannot write settings: not the leader"
    ]


def test_leader_settings_changed_runs_on_non_leaders_only(make_sim):
    sim = make_sim(
        """
        def config_changed(h):
            if h.is_leader() and h.json('config-get', 'generation') == 1:
                h.lset(generation='1')
    """,
        units=3,
    )
    sim.run_until_quiet()
    start = len(sim.trace)
    sim.set_config(generation=1)
    sim.run_until_quiet()
    lsc = sorted(
        r.unit
        for r in sim.trace[start:]
        if r.event == "commit" and r.hook == "leader-settings-changed"
    )
    assert lsc == sorted(u for u in sim.units if u != sim.leader)


def test_leader_get_is_a_snapshot_until_the_hooks_own_leader_set(make_sim):
    sim = make_sim(
        """
        def leader_elected(h):
            h.lset(x='1')

        def echo(h):
            if h.is_leader():
                h.lset(x='2')
                h.log('leader x=%s' % h.lget('x'))
            else:
                first = h.lget('x')
                h.journal('start', 'wait', duration=20)
                h.journal('end', 'wait')
                h.log('x=%s then %s missing=%s' % (first, h.lget('x'), h.lget('nope')))
    """,
        units=2,
    )
    sim.run_until_quiet()
    other = [u for u in sim.units if u != sim.leader][0]
    sim.run_action(other, "echo")
    sim.run_action(sim.leader, "echo")
    sim.run_until_quiet()
    assert logged(sim, other, "echo") == ["x=1 then 1 missing=None"]
    assert logged(sim, sim.leader, "echo") == ["leader x=2"]


def test_is_leader_once_false_stays_false_in_that_hook(make_sim):
    sim = make_sim(
        """
        def echo(h):
            first = h.is_leader()
            h.journal('start', 'wait', duration=200)
            h.journal('end', 'wait')
            h.log('%s %s' % (first, h.is_leader()))
    """,
        units=2,
    )
    sim.run_until_quiet()
    old = sim.leader
    other = [u for u in sim.units if u != old][0]
    sim.run_action(other, "echo")
    sim.schedule(sim.now + 1, "expire_lease")
    sim.run_until_quiet()
    assert sim.leader == other
    assert logged(sim, other, "echo") == ["False False"]


# The echo action logs what is-leader answers.
ECHO_IS_LEADER = """
    def echo(h):
        h.log('%s' % h.is_leader())
"""


def test_an_honoured_lease_expiry_keeps_every_is_leader_promise(make_sim):
    # Juju: is-leader true promises leadership for the next 30 s, and each
    # true answer is a renewal by the unit's leadership tracker. An expiry
    # that honours the promise is an agent that can no longer renew: its
    # is-leader says false from then on, and the lease lapses only when the
    # last true answer's 30 s have run out.
    sim = make_sim(ECHO_IS_LEADER, units=2)
    sim.run_until_quiet()
    old = sim.leader
    sim.run_action(old, "echo")
    sim.run_until_quiet()
    [asked] = begun(sim, old, "echo")
    [(answered, _, _)] = ended(sim, old, "echo")
    sim.expire_lease(honour_guarantee=True)
    sim.run_action(old, "echo")
    sim.run_for(5.0)

    assert logged(sim, old, "echo") == ["True", "False"]
    assert sim.leader == old  # the lease has not lapsed yet
    sim.run_until_quiet()
    [lapsed] = [t for t, name in sim.leader_history if name is None]
    assert asked + 30.0 <= lapsed <= answered + 30.0
    assert sim.leader not in (None, old)
    # Its agent resigned at once: leader-settings-changed, before the lapse.
    assert [t for t in begun(sim, old, "leader-settings-changed") if t >= answered][0] < lapsed


def test_a_lapse_left_over_from_an_earlier_lease_does_not_depose_a_new_one(make_sim):
    sim = make_sim(ECHO_IS_LEADER, units=2)
    sim.run_until_quiet()
    first = sim.leader
    second = [u for u in sim.units if u != first][0]
    sim.run_action(first, "echo")
    sim.run_until_quiet()
    sim.expire_lease(honour_guarantee=True)  # would lapse 30 s after that answer
    sim.expire_lease(successor=second)
    sim.run_for(1.0)
    sim.expire_lease(successor=first)  # `first` leads again, under a new lease
    sim.run_for(1.0)
    sim.run_action(first, "echo")
    sim.run_for(60.0)

    assert logged(sim, first, "echo") == ["True", "True"]
    assert sim.leader == first


def test_a_dying_unit_still_runs_leader_settings_changed(make_sim):
    # Juju's leadership resolver refuses a dying unit leadership, but still
    # runs its leader-settings-changed when the settings change.
    sim = make_sim(
        """
        def echo(h):
            if h.is_leader():
                h.lset(x='1')
            else:
                h.journal('start', 'work', duration=30)
                h.journal('end', 'work')
        def leader_settings_changed(h):
            h.log('x=%s' % h.lget('x'))
    """,
        units=3,
    )
    sim.run_until_quiet()
    leader = sim.leader
    dying = [u for u in sim.units if u != leader][0]
    sim.run_action(dying, "echo")
    removed_at = sim.now + 5
    sim.schedule(removed_at, "remove_unit", dying)
    sim.schedule(removed_at + 5, "run_action", leader, "echo")
    sim.run_until_quiet()

    assert dying not in sim.units
    assert logged(sim, dying, "leader-settings-changed")[-1] == "x=1"
    assert max(begun(sim, dying, "leader-settings-changed")) > removed_at


def test_a_new_leader_runs_leader_elected_and_the_deposed_one_leader_settings_changed(make_sim):
    sim = make_sim(units=3)
    sim.run_until_quiet()
    old = sim.leader
    start = len(sim.trace)
    sim.expire_lease()
    sim.run_until_quiet()
    new = sim.leader
    assert new != old
    later = [(r.unit, r.hook) for r in sim.trace[start:] if r.event == "commit"]
    assert (new, "leader-elected") in later
    assert (old, "leader-settings-changed") in later


def test_removing_the_leader_elects_another_within_the_lease(make_sim):
    sim = make_sim(units=3)
    sim.run_until_quiet()
    removed_at = sim.now
    old = sim.remove_leader()
    sim.run_until_quiet()
    assert sim.leader not in (None, old)
    elected = [
        r
        for r in sim.trace
        if r.hook == "leader-elected" and r.event == "begin" and r.unit == sim.leader
    ]
    assert elected
    assert elected[-1].time - removed_at <= 60 + 5


# -- departure ------------------------------------------------------------------------------


def test_departure_runs_departed_on_both_sides_with_the_departing_unit_named(make_sim):
    sim = make_sim(
        """
        def coordinator_relation_departed(h):
            h.log(json.dumps({'remote': h.remote, 'departing': h.env.get('JUJU_DEPARTING_UNIT'),
                              'list': h.rlist(),
                              'value': h.rget('private-address', h.remote)}))
        import json
    """,
        units=3,
    )
    sim.run_until_quiet()
    sim.remove_unit("scripted/2")
    sim.run_until_quiet()
    for unit in ("scripted/0", "scripted/1"):
        [entry] = [json.loads(m) for m in logged(sim, unit, "coordinator-relation-departed")]
        assert entry["remote"] == entry["departing"] == "scripted/2"
        assert "scripted/2" not in entry["list"]
        assert entry["value"] == "10.1.0.4"
    gone = [json.loads(m) for m in logged(sim, "scripted/2", "coordinator-relation-departed")]
    assert sorted(e["remote"] for e in gone) == ["scripted/0", "scripted/1"]
    assert all(e["departing"] == "scripted/2" for e in gone)
    assert [h for h, _ in finished(sim, "scripted/2")][-1] == "stop"
    assert sim.units == ["scripted/0", "scripted/1"]
    assert not any("broken" in r.hook for r in sim.trace)


def test_a_removed_units_settings_stay_readable_and_goal_state_stops_listing_it(make_sim):
    # Juju keeps a unit's relation settings for the relation's lifetime
    # (state.RelationUnit.ReadSettings); goal-state lists the application's
    # units, "dying" while one is being removed, and drops it once removed.
    sim = make_sim(
        """
        import json
        def _report(h):
            rc, out, err = h.run('goal-state', '--format=json')
            got = h.run('relation-get', '--format=json', '-r', 'coordinator:0', '-', 'scripted/2')
            h.log(json.dumps({'goal': json.loads(out), 'settings': got[1], 'rc': got[0]}))
        def config_changed(h):
            _report(h)
        def coordinator_relation_departed(h):
            _report(h)
    """,
        units=3,
    )
    sim.run_until_quiet()
    sim.set_config(generation=1)
    sim.run_until_quiet()
    [before] = [json.loads(m) for m in logged(sim, "scripted/0", "config-changed")][-1:]
    assert sorted(before["goal"]["units"]) == ["scripted/0", "scripted/1", "scripted/2"]
    assert before["goal"]["relations"] == {}  # Juju's goal-state leaves peer relations out

    sim.remove_unit("scripted/2")
    sim.run_until_quiet()
    [dying] = [json.loads(m) for m in logged(sim, "scripted/0", "coordinator-relation-departed")]
    assert dying["goal"]["units"]["scripted/2"] == {"status": "dying"}
    sim.set_config(generation=2)
    sim.run_until_quiet()
    after = [json.loads(m) for m in logged(sim, "scripted/0", "config-changed")][-1]
    assert sorted(after["goal"]["units"]) == ["scripted/0", "scripted/1"]
    assert after["rc"] == 0
    assert json.loads(after["settings"])["private-address"] == "10.1.0.4"


DEPARTURE_PLAN = """
    import json
    def echo(h):
        h.journal('start', 'work', duration=30)
        h.journal('end', 'work')
    def coordinator_relation_departed(h):
        h.log(json.dumps({'remote': h.remote, 'list': h.rlist(),
                          'value': h.rget('private-address', h.remote)}))
"""


def begun(sim, unit, hook, remote=None):
    return [
        r.time
        for r in sim.trace
        if r.event == "begin"
        and r.unit == unit
        and r.hook == hook
        and (remote is None or r.remote_unit == remote)
    ]


def ended(sim, unit, hook):
    return [
        (r.time, r.event, r.exit_code)
        for r in sim.trace
        if r.event in ("commit", "fail") and r.unit == unit and r.hook == hook
    ]


def test_a_removed_unit_finishes_its_hook_then_departs_while_the_others_depart_it_at_once(
    make_sim,
):
    # Juju's cleanup of a dying unit marks it departing in its relations: the
    # others' relation-departed is due at once, while the unit itself
    # finishes its hook, departs from each peer, leaves scope and stops.
    sim = make_sim(DEPARTURE_PLAN, units=3)
    sim.run_until_quiet()
    sim.run_action("scripted/2", "echo")
    removed_at = sim.now + 10
    sim.schedule(removed_at, "remove_unit", "scripted/2")
    sim.run_until_quiet()
    [(work_done, event, _)] = ended(sim, "scripted/2", "echo")
    assert event == "commit"
    assert work_done > removed_at
    assert [e.event for e in sim.journal if e.unit == "scripted/2"] == ["start", "end"]
    own_departs = begun(sim, "scripted/2", "coordinator-relation-departed")
    assert len(own_departs) == 2
    assert min(own_departs) >= work_done
    left_scope = max(t for t, _, _ in ended(sim, "scripted/2", "coordinator-relation-departed"))
    for unit in ("scripted/0", "scripted/1"):
        [departed] = begun(sim, unit, "coordinator-relation-departed", "scripted/2")
        assert removed_at <= departed < work_done
        [entry] = [json.loads(m) for m in logged(sim, unit, "coordinator-relation-departed")]
        assert entry["list"] == [u for u in ("scripted/0", "scripted/1") if u != unit]
        assert entry["value"] == "10.1.0.4"
    [stop] = begun(sim, "scripted/2", "stop")
    assert stop >= left_scope
    assert [h for h, _ in finished(sim, "scripted/2")][-1] == "stop"
    assert sim.units == ["scripted/0", "scripted/1"]


def test_a_dying_unit_still_in_its_hook_leaves_the_others_relation_list_at_once(make_sim):
    sim = make_sim(
        DEPARTURE_PLAN
        + """
    def config_changed(h):
        h.log('list=%s' % ','.join(h.rlist('coordinator:0')))
    """,
        units=3,
    )
    sim.run_until_quiet()
    sim.run_action("scripted/2", "echo")
    sim.schedule(sim.now + 10, "remove_unit", "scripted/2")
    sim.schedule(sim.now + 15, "set_config", generation=1)
    start = len(sim.logs)
    sim.run_until_quiet()
    seen = [(r.unit, r.message) for r in sim.logs[start:] if r.hook == "config-changed"]
    assert sorted(seen) == [("scripted/0", "list=scripted/1"), ("scripted/1", "list=scripted/0")]
    [(work_done, _, _)] = ended(sim, "scripted/2", "echo")
    for unit in ("scripted/0", "scripted/1"):
        [config] = begun(sim, unit, "config-changed")[-1:]
        assert config < work_done  # while scripted/2 was still in its hook


def test_a_forced_removal_kills_the_running_hook_and_the_others_depart_at_once(make_sim):
    sim = make_sim(DEPARTURE_PLAN, units=3)
    sim.run_until_quiet()
    sim.run_action("scripted/2", "echo")
    removed_at = sim.now + 10
    sim.schedule(removed_at, "remove_unit", "scripted/2", force=True)
    sim.run_until_quiet()
    [(_, event, rc)] = ended(sim, "scripted/2", "echo")
    assert (event, rc) == ("fail", -9)
    [start] = [e.time for e in sim.journal if e.unit == "scripted/2"]
    for unit in ("scripted/0", "scripted/1"):
        [departed] = begun(sim, unit, "coordinator-relation-departed", "scripted/2")
        assert removed_at <= departed < start + 30
        [entry] = [json.loads(m) for m in logged(sim, unit, "coordinator-relation-departed")]
        assert entry["value"] == "10.1.0.4"
    assert [h for h, _ in finished(sim, "scripted/2")][-1] == "echo"
    assert sim.units == ["scripted/0", "scripted/1"]
    assert "scripted/2" not in sim.relation_data()


def test_a_dying_unit_in_error_departs_no_further_until_forced_out(make_sim):
    # The others see it depart at once (Juju marks a dying unit departing);
    # the unit itself stays in scope, in error, until forced out.
    sim = make_sim(
        DEPARTURE_PLAN
        + """
    import sys
    def stop(h):
        pass
    def coordinator_relation_departed(h):
        if h.unit == 'scripted/1':
            sys.exit(1)
    """,
        units=2,
    )
    sim.run_until_quiet()
    sim.remove_unit("scripted/1")
    sim.run_for(200)
    assert sim.in_error("scripted/1") == "coordinator-relation-departed"
    assert "scripted/1" in sim.state.relations["coordinator:0"].scope
    assert len(begun(sim, "scripted/0", "coordinator-relation-departed", "scripted/1")) == 1
    assert sim.state.units["scripted/1"].alive
    sim.remove_unit("scripted/1", force=True)
    sim.run_until_quiet()
    assert len(begun(sim, "scripted/0", "coordinator-relation-departed", "scripted/1")) == 1
    assert sim.units == ["scripted/0"]


def test_removing_the_leader_with_force_elects_another(make_sim):
    sim = make_sim(units=3)
    sim.run_until_quiet()
    old = sim.remove_leader(force=True)
    sim.run_until_quiet()
    assert sim.leader not in (None, old)
    assert old not in sim.units


def test_an_added_unit_joins_everyone(make_sim):
    sim = make_sim(units=2)
    sim.run_until_quiet()
    new = sim.add_unit()
    sim.run_until_quiet()
    assert new == "scripted/2"
    for unit in ("scripted/0", "scripted/1"):
        assert ("coordinator-relation-joined", new) in finished(sim, unit)


# -- failure and priority -------------------------------------------------------------------


def test_a_failing_hook_blocks_the_unit_and_is_retried_with_backoff(make_sim):
    sim = make_sim(
        """
        import os, sys
        def start(h):
            path = os.path.join(h.env['CHARM_DIR'], 'attempts')
            n = int(open(path).read()) if os.path.exists(path) else 0
            open(path, 'w').write(str(n + 1))
            if n < 3:
                sys.exit(1)
        def echo(h):
            h.log('action ran')
    """,
        units=1,
    )
    sim.run_until_quiet()
    begins = [r.time for r in sim.trace if r.hook == "start" and r.event == "begin"]
    fails = [r.time for r in sim.trace if r.hook == "start" and r.event == "fail"]
    assert len(begins) == 4
    assert [round(b - f) for f, b in zip(fails, begins[1:])] == [5, 10, 20]


def test_a_unit_in_error_runs_only_actions_until_the_hook_succeeds(make_sim):
    sim = make_sim(
        """
        import sys
        def config_changed(h):
            if h.json('config-get', 'generation') == 1:
                sys.exit(1)
        def echo(h):
            h.tool('action-set', 'ok=yes')
    """,
        units=2,
    )
    sim.run_until_quiet()
    sim.set_config(generation=1)
    sim.run_until_quiet(retries=False)
    assert sim.in_error("scripted/0") == "config-changed"
    action = sim.run_action("scripted/0", "echo")
    sim.expire_lease()
    sim.run_until_quiet(retries=False)
    assert sim.action(action).results == {"ok": "yes"}
    after_fail = [h for h, _ in finished(sim, "scripted/0")]
    last_fail = len(after_fail) - 1 - after_fail[::-1].index("config-changed")
    assert set(after_fail[last_fail + 1 :]) <= {"echo"}


def test_leadership_hooks_run_before_config_changed_and_relation_hooks(make_sim):
    sim = make_sim(
        """
        def echo(h):
            if h.is_leader():
                h.lset(n='1')
                h.rset(rid='coordinator:0', n='1')
            else:
                h.journal('start', 'busy', duration=50)
                h.journal('end', 'busy')
    """,
        units=2,
    )
    sim.run_until_quiet()
    other = [u for u in sim.units if u != sim.leader][0]
    sim.run_action(other, "echo")
    sim.run_action(sim.leader, "echo")
    sim.schedule(sim.now + 10, "set_config", generation=5)
    start = len(sim.trace)
    sim.run_until_quiet()
    order = [r.hook for r in sim.trace[start:] if r.unit == other and r.event == "commit"]
    assert order == [
        "echo",
        "leader-settings-changed",
        "config-changed",
        "coordinator-relation-changed",
    ]


def test_update_status_runs_about_every_five_minutes_when_enabled(make_sim):
    sim = make_sim(units=2, update_status=True)
    sim.run_until_quiet()
    sim.run_for(1500)
    for unit in sim.units:
        times = [
            r.time
            for r in sim.trace
            if r.unit == unit and r.hook == "update-status" and r.event == "begin"
        ]
        assert 4 <= len(times) <= 7
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert all(240 - 1 <= g <= 360 + 1 for g in gaps)
