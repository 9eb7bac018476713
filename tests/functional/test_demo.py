"""`make demo` (tests/functional/demo.py), one of the README's two commands.

The demo runs the rolling-restart fixture on each Juju the README's table
names and prints a timeline; it exits 0 only when its invariants held.
"""

import re

import pytest

import demo


@pytest.mark.charms("rolling-restart")
@pytest.mark.parametrize("juju", ["4", "3.6", "2.9"])
def test_the_demo_rolls_every_unit_once_one_at_a_time_and_says_so(built_charms, capsys, juju):
    rc = demo.main(
        ["--units", "3", "--juju", juju, "--charm", str(built_charms["rolling-restart"])]
    )

    out = capsys.readouterr().out
    assert rc == 0, out
    assert "most units in guarded work at once: 1" in out
    assert re.search(r"leader \S+/\d+ \(\*\)", out), out
    # Timeline rows: "  31.6             GRANT", the leader's lane marked "  0.7*GRANT".
    rows = [re.match(r"\s+\d+\.\d(\*?)\s*(\S+)\s*$", line) for line in out.splitlines()]
    rows = [(m.group(1) == "*", m.group(2)) for m in rows if m]
    labels = [label for _, label in rows]
    for label in ("req", "GRANT", "work", "done", "rel"):
        assert labels.count(label) == 3, (label, out)  # each of the 3 units once
    leaders = [label for leader, label in rows if leader]
    # The leader's lane: granted, then at work, then released.
    assert leaders.index("GRANT") < leaders.index("work") < leaders.index("rel"), out


def test_the_demo_refuses_a_juju_it_cannot_simulate(capsys):
    with pytest.raises(SystemExit) as exc:
        demo.main(["--juju", "5"])

    assert exc.value.code == 2
    assert "no Juju profile '5': use one of 2.9, 3.6, 4" in capsys.readouterr().err
