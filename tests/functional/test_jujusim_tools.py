"""jujusim's hook tools print, fail and exit as Juju's do, through the real shim."""

import json

import pytest

from jujusim import Simulation
from jujusim.testing import scripted_charm

PLAN = """
import json

CALLS = {
    'install': [
        ['relation-get', '--format=json', '-', 'scripted/1'],
        ['relation-ids', '--format=json', 'coordinator'],
        ['status-set', 'bogus', 'msg'],
        ['status-set', 'active', 'ready'],
        ['status-get', '--format=json', '--include-data'],
        ['is-leader', '--format=json'],
        ['is-leader'],
        ['config-get', '--all', '--format=json'],
        ['config-get', 'generation'],
        ['unit-get', 'private-address'],
        ['juju-log', '--bogus', 'x'],
        ['juju-log', '-l', 'WARNING', 'two', 'words'],
        ['leader-get', '--format=json', 'missing'],
        ['action-get'],
        ['relation-list', '--format=json'],
    ],
    'coordinator-relation-changed': [
        ['relation-get', '--format=json', '-', 'scripted/1'],
        ['relation-get', '--format=json', 'missing', 'scripted/1'],
        ['relation-get', '--format=json', '-', 'scripted/9'],
        ['relation-get', '-r', 'coordinator:7', '-', 'scripted/1'],
        ['relation-get', 'private-address'],
        ['relation-set', '--help'],
        ['relation-set', 'a=1', 'b=2'],
        ['relation-set', 'b='],
        ['relation-set', 'novalue'],
        ['relation-get', '--format=json', '-', 'scripted/0'],
        ['relation-list', '--format=json'],
        ['relation-ids', '--format=json'],
    ],
}


def run_all(h):
    results = []
    for argv in CALLS.get(h.name, []):
        rc, out, err = h.run(*argv)
        results.append([argv, rc, out, err])
    h.log(json.dumps(results))


def install(h):
    if h.unit == 'scripted/0':
        run_all(h)


def coordinator_relation_changed(h):
    if h.unit == 'scripted/0' and h.remote == 'scripted/1':
        run_all(h)
        rc, out, err = h.run('relation-set', '--file', '-', stdin='c: 3\\nd: null\\n')
        h.log(json.dumps([rc, h.rget('-', h.unit)]))
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    base = tmp_path_factory.mktemp("tools")
    charm = scripted_charm(base / "charm", PLAN)
    with Simulation(charm, units=2, seed=3, workdir=str(base / "work")) as sim:
        sim.run_until_quiet()
        by_hook = {}
        for record in sim.logs:
            if record.unit == "scripted/0" and record.message.startswith("["):
                by_hook.setdefault(record.hook, []).append(json.loads(record.message))
        yield {
            "install": {tuple(a): (rc, out, err) for a, rc, out, err in by_hook["install"][0]},
            "changed": {
                tuple(a): (rc, out, err)
                for a, rc, out, err in by_hook["coordinator-relation-changed"][0]
            },
            "file": by_hook["coordinator-relation-changed"][1],
            "logs": [(r.level, r.message) for r in sim.logs if r.unit == "scripted/0"],
            "status": sim.status("scripted/0"),
        }


def test_relation_get_without_a_relation_id_outside_a_relation_hook_exits_2(results):
    rc, out, err = results["install"][("relation-get", "--format=json", "-", "scripted/1")]
    assert (rc, out, err) == (2, "", "ERROR no relation id specified\n")


def test_relation_ids_and_list_outside_their_relation(results):
    assert results["install"][("relation-ids", "--format=json", "coordinator")][:2] == (0, "[]\n")
    assert results["install"][("relation-list", "--format=json")][0] == 2


def test_status_set_rejects_an_unknown_status_with_exit_2(results):
    rc, _, err = results["install"][("status-set", "bogus", "msg")]
    assert rc == 2
    assert err == (
        'ERROR invalid status "bogus", expected one of [maintenance blocked waiting active]\n'
    )


def test_status_get_reports_what_status_set_set(results):
    rc, out, _ = results["install"][("status-get", "--format=json", "--include-data")]
    assert json.loads(out) == {"message": "ready", "status": "active", "status-data": {}}
    assert results["status"] == ("active", "ready")


def test_is_leader_prints_json_booleans_and_smart_text(results):
    json_out = results["install"][("is-leader", "--format=json")][1]
    smart_out = results["install"][("is-leader",)][1]
    assert json_out in ("true\n", "false\n")
    assert smart_out == {"true\n": "True\n", "false\n": "False\n"}[json_out]


def test_config_get_all_includes_options_without_a_value(results):
    rc, out, _ = results["install"][("config-get", "--all", "--format=json")]
    assert json.loads(out) == {"generation": 0, "name": "", "unset": None}
    assert results["install"][("config-get", "generation")][1] == "0\n"


def test_unit_get_gives_the_units_address(results):
    assert results["install"][("unit-get", "private-address")][1] == "10.1.0.2\n"


def test_an_unknown_flag_exits_2(results):
    rc, _, err = results["install"][("juju-log", "--bogus", "x")]
    assert (rc, err) == (2, "ERROR flag provided but not defined: --bogus\n")


def test_juju_log_records_level_and_message(results):
    assert ("WARNING", "two words") in results["logs"]


def test_leader_get_of_a_missing_key_prints_null(results):
    assert results["install"][("leader-get", "--format=json", "missing")][:2] == (0, "null\n")


def test_action_tools_fail_outside_an_action(results):
    assert results["install"][("action-get",)] == (1, "", "ERROR not running an action\n")


def test_relation_get_in_a_relation_hook(results):
    changed = results["changed"]
    rc, out, _ = changed[("relation-get", "--format=json", "-", "scripted/1")]
    assert json.loads(out) == {
        "egress-subnets": "10.1.0.3/32",
        "ingress-address": "10.1.0.3",
        "private-address": "10.1.0.3",
    }
    assert changed[("relation-get", "--format=json", "missing", "scripted/1")][1] == "null\n"
    assert changed[("relation-get", "private-address")][1] == "10.1.0.3\n"


def test_relation_get_of_an_unknown_unit_exits_1_with_jujus_message(results):
    rc, out, err = results["changed"][("relation-get", "--format=json", "-", "scripted/9")]
    assert rc == 1
    assert err.startswith(
        'ERROR cannot read settings for unit "scripted/9" in relation "scripted:coordinator": '
    )


def test_relation_get_of_an_unknown_relation_exits_2(results):
    rc, _, err = results["changed"][("relation-get", "-r", "coordinator:7", "-", "scripted/1")]
    assert rc == 2
    assert "relation not found" in err


def test_relation_set_help_mentions_file(results):
    rc, out, _ = results["changed"][("relation-set", "--help")]
    assert rc == 0
    assert "--file" in out


def test_relation_set_writes_deletes_and_reads_back_pending_values(results):
    changed = results["changed"]
    assert changed[("relation-set", "a=1", "b=2")][0] == 0
    assert changed[("relation-set", "novalue")][0] == 2
    own = json.loads(changed[("relation-get", "--format=json", "-", "scripted/0")][1])
    assert own["a"] == "1"
    assert "b" not in own


def test_relation_set_reads_a_yaml_file_from_stdin(results):
    rc, own = results["file"]
    assert rc == 0
    assert own["c"] == "3"
    assert "d" not in own


def test_relation_list_and_ids_in_a_relation_hook(results):
    assert results["changed"][("relation-list", "--format=json")][1] == '["scripted/1"]\n'
    assert results["changed"][("relation-ids", "--format=json")][1] == '["coordinator:0"]\n'
