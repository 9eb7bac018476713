"""Hook runner of the `scripted` test charm: calls plan.<hook>(h) if it exists."""

import json
import os
import subprocess
import sys


class Hook(object):
    """What a plan function gets: the hook's identity and one-line tool helpers."""

    def __init__(self):
        self.env = os.environ
        self.unit = os.environ["JUJU_UNIT_NAME"]
        self.name = (
            os.environ.get("JUJU_HOOK_NAME")
            or os.environ.get("JUJU_ACTION_NAME")
            or os.path.basename(sys.argv[0])
        )
        self.remote = os.environ.get("JUJU_REMOTE_UNIT")

    def run(self, *argv, stdin=None):
        """Run a tool; return (rc, stdout, stderr) as text."""
        p = subprocess.run(
            list(argv),
            input=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
        )
        return p.returncode, p.stdout, p.stderr

    def tool(self, *argv):
        """Run a tool that must succeed; return its stdout."""
        return subprocess.check_output(list(argv), universal_newlines=True)

    def json(self, *argv):
        return json.loads(self.tool(*(list(argv) + ["--format=json"])))

    def rget(self, key="-", unit=None, rid=None):
        argv = ["relation-get"] + (["-r", rid] if rid else []) + [key]
        return self.json(*(argv + ([unit] if unit else [])))

    def rset(self, rid=None, **kv):
        argv = ["relation-set"] + (["-r", rid] if rid else [])
        self.tool(*(argv + ["%s=%s" % (k, v) for k, v in sorted(kv.items())]))

    def rids(self, name="coordinator"):
        return self.json("relation-ids", name)

    def rlist(self, rid=None):
        return self.json(*(["relation-list"] + (["-r", rid] if rid else [])))

    def lget(self, key="-"):
        return self.json("leader-get", key)

    def lset(self, **kv):
        self.tool(*(["leader-set"] + ["%s=%s" % (k, v) for k, v in sorted(kv.items())]))

    def is_leader(self):
        return self.json("is-leader")

    def log(self, message):
        self.tool("juju-log", message)

    def journal(self, event, lock, duration=None):
        self.tool(
            *(
                ["sim-journal", event, lock]
                + (["--duration", str(duration)] if duration is not None else [])
            )
        )


def main():
    charm_dir = os.environ["CHARM_DIR"]
    plan_path = os.path.join(charm_dir, "plan.py")
    if not os.path.exists(plan_path):
        return
    namespace = {"__name__": "plan", "__file__": plan_path}
    with open(plan_path) as f:
        exec(compile(f.read(), plan_path, "exec"), namespace)
    h = Hook()
    if "any_hook" in namespace:
        namespace["any_hook"](h)
    func = namespace.get(h.name.replace("-", "_"))
    if func is not None:
        func(h)
