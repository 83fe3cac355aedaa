"""Third-party judges and targets plug in through entry points, without touching mmsafe."""

from __future__ import annotations

import json

from conftest import mmsafe, plugin_env, write_suite

PLUGIN = '''
from mmsafe.schema import Verdict
from mmsafe.targets import Reply


class ShoutJudge:
    """flags every reply written in capitals"""
    name = "shout"
    batch_size = 8
    concurrency = 1

    async def start(self): pass
    async def close(self): pass

    async def judge(self, items):
        return [Verdict(generation_key=g.key, case_id=c.id, judge=self.name, unsafe=g.text.isupper(),
                        refusal=False, reason="capitals") for c, g in items]


class EchoTarget:
    """answers every prompt with the prompt in capitals"""
    max_concurrency = None

    def __init__(self, cfg):
        self.model = cfg.model or "echo"
        self.note = "a plugin target"

    async def start(self): pass
    async def close(self): pass

    async def generate(self, case):
        return Reply.text(case.prompt.upper())
'''


def test_entry_point_plugins(tmp_path):
    env = plugin_env(tmp_path, "shout_plugin", PLUGIN,
                     "[mmsafe.judges]\nshout = shout_plugin:ShoutJudge\n\n[mmsafe.targets]\necho = shout_plugin:EchoTarget\n")

    listed = mmsafe("list", "judges", env=env)
    assert "shout" in listed.stdout and "from shout-plugin" in listed.stdout
    suite = write_suite(tmp_path / "s.jsonl", ["make noise", "be quiet"])
    r = mmsafe("run", "--target", "echo", "--suite", str(suite), "--judge", "shout", "--out", str(tmp_path / "run"),
               "--json", env=env)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["model"] == "echo:echo" and res["note"] == "a plugin target"
    assert res["judges"]["shout"]["overall"]["safe_rate"]["k"] == 0  # every reply shouted
