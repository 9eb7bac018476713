"""jujusim's application databag and its Juju 2.9 / 3.6 / 4 profiles, rule by rule.

The rules and their sources in Juju are cited where they are implemented
(jujusim/context.py, agent.py, profile.py, tools.py); the research behind them is
docs/juju4-research.md.
"""

import dataclasses

import pytest

from jujusim import JUJU_2_9, JUJU_3_6, JUJU_4, SimulationError, by_name

RID = "coordinator:0"

# Helpers every plan below uses: read and write the application databag the
# way charmhelpers does (relation-get --format=json --app -r RID - APP;
# relation-set --app -r RID --file -).
HELPERS = """
import json, os, subprocess, sys

def app_get(h, key='-'):
    return h.json('relation-get', '--app', '-r', 'coordinator:0', key, 'scripted')

def app_set(h, **kv):
    p = subprocess.run(
        ['relation-set', '--app', '-r', 'coordinator:0', '--file', '-'],
        input=json.dumps(kv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    return p.returncode, p.stderr.strip()

def once(h, name):
    marker = os.path.join(h.env['CHARM_DIR'], name)
    if os.path.exists(marker):
        return False
    open(marker, 'w').close()
    return True
"""


def logged(sim, unit=None, hook=None):
    return [
        r.message
        for r in sim.logs
        if (unit is None or r.unit == unit) and (hook is None or r.hook == hook)
    ]


def app_changed(sim, start=0):
    """(unit, event) of each application-level relation-changed since trace index `start`."""
    return [
        (r.unit, r.event)
        for r in sim.trace[start:]
        if r.hook == "coordinator-relation-changed"
        and r.remote_unit is None
        and r.event in ("commit", "fail")
    ]


def others(sim):
    return [u for u in sim.units if u != sim.leader]


# -- profiles ----------------------------------------------------------------------------


def test_profiles_are_found_by_name():
    assert by_name("2.9") is JUJU_2_9
    assert by_name("3.6") is JUJU_3_6
    assert by_name("4") is JUJU_4
    assert by_name("juju-4") is JUJU_4
    with pytest.raises(ValueError, match="no Juju profile '5'"):
        by_name("5")


@pytest.mark.parametrize(
    ("profile", "version"), [(JUJU_2_9, "2.9.49"), (JUJU_3_6, "3.6.12"), (JUJU_4, "4.0.1")]
)
def test_juju_version_is_the_profiles(make_sim, profile, version):
    sim = make_sim("def install(h):\n    h.log(h.env['JUJU_VERSION'])\n", units=1, profile=profile)
    sim.run_until_quiet()
    assert logged(sim, "scripted/0", "install") == [version]


def test_on_juju_4_leader_get_is_missing_as_an_executable_is(make_sim):
    sim = make_sim(
        """
        import shutil, subprocess
        def install(h):
            try:
                subprocess.run(['leader-get', '--format=json'])
                h.log('ran')
            except FileNotFoundError:
                h.log('FileNotFoundError')
            rc = subprocess.run('leader-set a=b', shell=True).returncode
            h.log('sh=%d which=%s' % (rc, shutil.which('leader-get')))
        """,
        units=1,
        profile=JUJU_4,
    )
    sim.run_until_quiet()
    assert logged(sim, "scripted/0", "install") == ["FileNotFoundError", "sh=127 which=None"]
    assert sim.leader_settings() == {}


def test_on_juju_4_no_leader_settings_changed_runs_not_even_on_a_deposed_leader(make_sim):
    sim = make_sim(units=3, profile=JUJU_4)
    sim.run_until_quiet()
    old = sim.expire_lease(successor=others(sim)[0])
    sim.run_until_quiet()
    hooks = [h for _, h, _, _ in sim.hooks()]
    assert "leader-settings-changed" not in hooks
    assert hooks.count("leader-elected") == 2
    assert sim.state.units[old].local_leader is False  # resigned without a hook
    with pytest.raises(SimulationError, match="no leader settings"):
        sim.write_leader_settings({"a": "b"})


def test_on_juju_2_9_and_3_6_non_leaders_still_get_leader_settings_changed(make_sim):
    for profile in (JUJU_2_9, JUJU_3_6):
        sim = make_sim(units=2, profile=profile)
        sim.run_until_quiet()
        hooks = [(u, h) for u, h, _, _ in sim.hooks()]
        assert (others(sim)[0], "leader-settings-changed") in hooks


def test_private_address_is_kept_in_relation_data_before_juju_4_only(make_sim):
    for profile, expected in ((JUJU_3_6, True), (JUJU_4, False)):
        sim = make_sim(units=2, profile=profile)
        sim.run_until_quiet()
        for unit in sim.units:
            data = sim.relation_settings(unit)
            assert ("private-address" in data) is expected
            assert data["ingress-address"].startswith("10.1.")


# -- the tools ----------------------------------------------------------------------------


def test_a_non_leaders_app_write_is_refused_when_relation_set_runs(make_sim):
    sim = make_sim(
        HELPERS
        + """
def config_changed(h):
    if not h.is_leader():
        rc, err = app_set(h, k='v')
        h.log('rc=%d err=%s' % (rc, err))
""",
        units=2,
        profile=JUJU_4,
    )
    sim.run_until_quiet()
    (follower,) = others(sim)
    assert logged(sim, follower, "config-changed") == [
        "rc=1 err=ERROR cannot write relation settings"
    ]
    assert sim.app_data() == {}
    assert sim.app_data_history == []
    assert sim.in_error(follower) is None


def test_relation_get_app_needs_a_target_outside_relation_hooks(make_sim):
    sim = make_sim(
        """
def install(h):
    h.log('%d %s' % h.run('relation-get', '--app', '-r', 'coordinator:0', '-')[::2])
def coordinator_relation_created(h):
    h.log(json.dumps(h.json('relation-get', '--app', '-')))
import json
""",
        units=1,
        profile=JUJU_4,
    )
    sim.run_until_quiet()
    # install sees no relation yet; relation-created defaults to JUJU_REMOTE_APP.
    assert logged(sim, "scripted/0", "install")[0].startswith("2 ERROR ")
    assert logged(sim, "scripted/0", "coordinator-relation-created") == ["{}"]
    sim2 = make_sim(
        "def update_status(h):\n"
        "    h.log('%d %s' % h.run('relation-get', '--app', '-r', 'coordinator:0', '-')[::2])\n",
        units=1,
        profile=JUJU_4,
        update_status=True,
    )
    sim2.run_for(400)
    assert logged(sim2, "scripted/0", "update-status")[0] == (
        "2 ERROR no unit or application specified\n"
    )


def test_app_writes_are_buffered_until_the_commit(make_sim):
    # The leader writes, then works for 30 s inside the hook; a follower
    # reading meanwhile sees nothing; the leader reads its own write back.
    sim = make_sim(
        HELPERS
        + """
def echo(h):
    if h.is_leader():
        app_set(h, k='new')
        h.log('leader reads %s' % app_get(h, 'k'))
        h.journal('start', 'slow', duration=30)
        h.journal('end', 'slow')
    else:
        h.journal('start', 'wait', duration=10)
        h.journal('end', 'wait')
        h.log('follower reads %s' % app_get(h, 'k'))
""",
        units=2,
        profile=JUJU_4,
    )
    sim.run_until_quiet()
    (follower,) = others(sim)
    sim.run_action(sim.leader, "echo")
    sim.run_action(follower, "echo")
    sim.run_until_quiet()
    assert logged(sim, sim.leader, "echo") == ["leader reads new"]
    assert logged(sim, follower, "echo") == ["follower reads None"]
    assert sim.app_data() == {"k": "new"}


def test_a_non_leaders_app_read_is_one_snapshot_for_the_whole_hook(make_sim):
    sim = make_sim(
        HELPERS
        + """
def echo(h):
    first = app_get(h, 'k')
    h.journal('start', 'wait', duration=20)
    h.journal('end', 'wait')
    h.log('%s %s' % (first, app_get(h, 'k')))
""",
        units=2,
        profile=JUJU_4,
    )
    sim.run_until_quiet()
    (follower,) = others(sim)
    sim.write_app_data({"k": "one"})
    sim.run_until_quiet()
    sim.run_action(follower, "echo")
    sim.schedule(sim.now + 5, "write_app_data", {"k": "two"})
    sim.run_until_quiet()
    # The commit landed mid-hook: the hook still read "one"; its next hook reads "two".
    assert logged(sim, follower, "echo") == ["one one"]
    sim.run_action(follower, "echo")
    sim.run_until_quiet()
    assert logged(sim, follower, "echo")[-1] == "two two"


def test_relation_get_without_a_unit_in_an_app_level_hook_reads_the_app_bag(make_sim):
    sim = make_sim(
        """
import json
def coordinator_relation_changed(h):
    if not h.env['JUJU_REMOTE_UNIT']:
        h.log(json.dumps(h.json('relation-get', '-')))
""",
        units=2,
        profile=JUJU_4,
    )
    sim.run_until_quiet()
    sim.write_app_data({"k": "v"})
    sim.run_until_quiet()
    assert logged(sim, others(sim)[0]) == ['{"k": "v"}']


# -- the commit ---------------------------------------------------------------------------


def test_a_commit_after_leadership_was_lost_is_refused_whole_and_the_hook_retried(make_sim):
    # The leader writes app data and its own unit data, then loses the lease
    # mid-hook: Juju refuses the whole commit, the hook fails and is retried;
    # on the retry the unit is no longer leader, so relation-set --app fails
    # at once and the hook (which ignores that) succeeds with its unit write.
    sim = make_sim(
        HELPERS
        + """
def echo(h):
    rc, err = app_set(h, grant='me')
    h.rset(rid='coordinator:0', mine='yes')
    h.log('app rc=%d' % rc)
    h.journal('start', 'slow', duration=30)
    h.journal('end', 'slow')
""",
        units=2,
        profile=JUJU_4,
    )
    sim.run_until_quiet()
    leader = sim.leader
    sim.run_action(leader, "echo")
    sim.schedule(sim.now + 10, "expire_lease", successor=others(sim)[0])
    sim.run_until_quiet()
    action = sim.action("1")
    assert action.status == "failed"
    assert "lease not held" in action.message
    assert sim.app_data() == {}
    assert "mine" not in sim.relation_settings(leader)
    assert [(u, h) for _, u, h, _ in sim.commit_refusals] == [(leader, "echo")]

    # The same as a hook: it goes into error and its retry runs as a non-leader.
    sim2 = make_sim(
        HELPERS
        + """
def config_changed(h):
    if h.json('config-get', 'generation') == 1:
        rc, err = app_set(h, grant='me')
        h.rset(rid='coordinator:0', mine='yes')
        h.log('app rc=%d' % rc)
        h.journal('start', 'slow', duration=30)
        h.journal('end', 'slow')
""",
        units=2,
        profile=JUJU_4,
    )
    sim2.run_until_quiet()
    leader = sim2.leader
    sim2.set_config(generation=1)
    sim2.run_until(sim2.now + 1)
    sim2.expire_lease(successor=others(sim2)[0])
    sim2.run_until_quiet()
    mine = [(h, e) for u, h, r, e in sim2.hooks(leader) if h == "config-changed"]
    assert mine[-2:] == [("config-changed", "fail"), ("config-changed", "commit")]
    assert logged(sim2, leader, "config-changed")[-2:] == ["app rc=0", "app rc=1"]
    assert sim2.app_data() == {}
    assert sim2.relation_settings(leader)["mine"] == "yes"  # the retry's unit write


def test_an_app_write_that_changes_nothing_needs_no_leadership_at_commit(make_sim):
    sim = make_sim(
        HELPERS
        + """
def echo(h):
    app_set(h, k='same')
    h.journal('start', 'slow', duration=30)
    h.journal('end', 'slow')
""",
        units=2,
        profile=JUJU_4,
    )
    sim.run_until_quiet()
    sim.write_app_data({"k": "same"})
    sim.run_until_quiet()
    leader = sim.leader
    sim.run_action(leader, "echo")
    sim.schedule(sim.now + 10, "expire_lease", successor=others(sim)[0])
    sim.run_until_quiet()
    assert sim.action("1").status == "completed"
    assert sim.commit_refusals == []


# -- notification ---------------------------------------------------------------------------


LEADER_APP_HOOKS_3_6 = dataclasses.replace(JUJU_3_6, leader_app_hooks=True)  # e.g. 3.6.8


@pytest.mark.parametrize(
    ("profile", "leader_too"), [(JUJU_3_6, False), (JUJU_4, False), (LEADER_APP_HOOKS_3_6, True)]
)
def test_every_unit_gets_one_app_changed_with_an_empty_remote_unit_the_leader_if_the_profile_says(
    make_sim, profile, leader_too
):
    sim = make_sim(
        HELPERS
        + """
def config_changed(h):
    if h.is_leader() and h.json('config-get', 'generation') == 1:
        app_set(h, k='v1')
        app_set(h, k='v2', other='x')
def coordinator_relation_changed(h):
    h.log('unit=[%s] app=[%s] %s' % (
        h.env['JUJU_REMOTE_UNIT'], h.env['JUJU_REMOTE_APP'], json.dumps(app_get(h))))
""",
        units=3,
        profile=profile,
    )
    sim.run_until_quiet()
    assert app_changed(sim) == []  # never written: no app-level hook
    start, logs = len(sim.trace), len(sim.logs)
    sim.set_config(generation=1)
    sim.run_until_quiet()
    notified = sim.units if leader_too else others(sim)
    assert sorted(app_changed(sim, start)) == [(u, "commit") for u in notified]
    lines = [r.message for r in sim.logs[logs:] if r.hook == "coordinator-relation-changed"]
    assert lines == ['unit=[] app=[scripted] {"k": "v2", "other": "x"}'] * len(notified)


def test_a_leader_skipped_for_an_app_change_runs_it_once_it_no_longer_leads(make_sim):
    sim = make_sim(units=3, profile=JUJU_4)
    sim.run_until_quiet()
    old = sim.leader
    start = len(sim.trace)
    sim.write_app_data({"k": "v"})
    sim.run_until_quiet()
    assert sorted(app_changed(sim, start)) == [(u, "commit") for u in others(sim)]
    start = len(sim.trace)
    sim.expire_lease(honour_guarantee=True, successor=others(sim)[0])
    sim.run_until_quiet()
    assert sim.leader != old
    assert app_changed(sim, start) == [(old, "commit")]


def test_commits_before_a_unit_runs_collapse_into_one_app_changed(make_sim):
    sim = make_sim(units=2, profile=LEADER_APP_HOOKS_3_6)
    sim.run_until_quiet()
    start = len(sim.trace)
    for value in ("1", "2", "3"):
        sim.write_app_data({"k": value})
    sim.run_until_quiet()
    assert sorted(app_changed(sim, start)) == [(u, "commit") for u in sim.units]
    assert [s for _, s in sim.app_data_history] == [{"k": "1"}, {"k": "2"}, {"k": "3"}]


@pytest.mark.parametrize(("profile", "fires"), [(JUJU_3_6, True), (JUJU_4, False)])
def test_an_a_b_a_sequence_fires_on_3_6_revisions_but_not_on_4_content_hashes(
    make_sim, profile, fires
):
    sim = make_sim(units=2, profile=profile)
    sim.run_until_quiet()
    sim.write_app_data({"k": "a"})
    sim.run_until_quiet()
    start = len(sim.trace)
    sim.write_app_data({"k": "b"})
    sim.write_app_data({"k": "a"})
    sim.run_until_quiet()
    expected = [(u, "commit") for u in others(sim)] if fires else []
    assert sorted(app_changed(sim, start)) == expected
    # An identical rewrite changes nothing on either profile.
    start = len(sim.trace)
    assert sim.write_app_data({"k": "a"}) is False
    sim.run_until_quiet()
    assert app_changed(sim, start) == []


def test_a_new_unit_gets_the_app_changed_before_any_peer_joined(make_sim):
    sim = make_sim(units=2, profile=JUJU_4)
    sim.run_until_quiet()
    sim.write_app_data({"k": "v"})
    sim.run_until_quiet()
    new = sim.add_unit()
    sim.run_until_quiet()
    relation_hooks = [
        (h, r) for u, h, r, e in sim.hooks(new) if h.startswith("coordinator-relation-")
    ]
    assert relation_hooks[:2] == [
        ("coordinator-relation-created", None),
        ("coordinator-relation-changed", None),
    ]
    assert ("coordinator-relation-joined", "scripted/0") in relation_hooks


def test_app_data_appears_in_scenario_results(tmp_path):
    from jujusim import At, Scenario, run_scenario
    from jujusim.testing import scripted_charm

    charm = scripted_charm(tmp_path / "charm", "")
    result = run_scenario(
        Scenario(
            charm,
            units=2,
            profile=JUJU_4,
            events=[At(5.0, "write_app_data", ({"k": "v"},))],
        ),
        workdir=str(tmp_path / "w"),
    )
    assert result.app_data == {RID: {"k": "v"}}
