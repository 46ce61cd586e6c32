"""The shared conformance cases (protocol/testdata/conformance/*.json), run
through keyward.Client against a real agent, one fresh agent per file. The
Go and JavaScript clients run the same files; see the README there for
the format."""

from __future__ import annotations

import base64
import glob
import hashlib
import hmac
import json
import os
import re
import unittest
import urllib.parse
from typing import Any, List

import keyward
from tests.harness import CONFORMANCE_DIR, Agent

_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_MISSING = object()


def match(tmpl: Any, got: Any, path: str = "$") -> List[str]:
    """The differences between a reply and a template, as readable lines."""
    if isinstance(tmpl, str) and tmpl.startswith("$"):
        return _match_special(tmpl, got, path)
    if got is _MISSING:
        return ["%s: missing, want %r" % (path, tmpl)]
    if isinstance(tmpl, dict):
        if set(tmpl) == {"$all"}:
            return [d for t in tmpl["$all"] for d in match(t, got, path)]
        if set(tmpl) == {"$some"}:
            if not isinstance(got, list):
                return ["%s: want an array, got %r" % (path, got)]
            if any(not match(tmpl["$some"], g, path + "[*]") for g in got):
                return []
            return ["%s: no element matches %r" % (path, tmpl["$some"])]
        if not isinstance(got, dict):
            return ["%s: want an object, got %r" % (path, got)]
        out: List[str] = []
        for k, v in tmpl.items():
            out += match(v, got.get(k, _MISSING) if got.get(k) is not None else _MISSING, "%s.%s" % (path, k))
        return out
    if isinstance(tmpl, list):
        if not isinstance(got, list) or len(got) != len(tmpl):
            return ["%s: want %d elements, got %r" % (path, len(tmpl), got)]
        out = []
        for i, (t, g) in enumerate(zip(tmpl, got)):
            out += match(t, g, "%s[%d]" % (path, i))
        return out
    if isinstance(tmpl, bool) or isinstance(got, bool):
        return [] if tmpl is got else ["%s: want %r, got %r" % (path, tmpl, got)]
    return [] if tmpl == got else ["%s: want %r, got %r" % (path, tmpl, got)]


def _match_special(tmpl: str, got: Any, path: str) -> List[str]:
    bad = ["%s: want %s, got %r" % (path, tmpl, None if got is _MISSING else got)]
    if tmpl == "$absent":
        return [] if got is _MISSING else bad
    if got is _MISSING:
        return bad
    if tmpl == "$any":
        return []
    if tmpl == "$string":
        return [] if isinstance(got, str) else bad
    if tmpl == "$nonempty":
        return [] if isinstance(got, str) and got else bad
    if tmpl == "$number":
        return [] if isinstance(got, (int, float)) and not isinstance(got, bool) else bad
    if tmpl == "$bool":
        return [] if isinstance(got, bool) else bad
    if tmpl == "$time":
        return [] if isinstance(got, str) and _TIME.match(got) else bad
    if tmpl.startswith("$prefix:"):
        return [] if isinstance(got, str) and got.startswith(tmpl[len("$prefix:"):]) else bad
    if tmpl.startswith("$contains:"):
        want = tmpl[len("$contains:"):]
        return [] if isinstance(got, (str, list)) and want in got else bad
    if tmpl.startswith("$regexp:"):
        return [] if isinstance(got, str) and re.search(tmpl[len("$regexp:"):], got) else bad
    raise ValueError("unknown template matcher %s at %s" % (tmpl, path))


def substitute(v: Any, i: int) -> Any:
    if isinstance(v, str):
        return v.replace("{i}", str(i))
    if isinstance(v, list):
        return [substitute(x, i) for x in v]
    if isinstance(v, dict):
        return {k: substitute(x, i) for k, x in v.items()}
    return v


def verify_binance(secret: str, api_key: str, r: dict) -> List[str]:
    """Checks a Binance signature with this test's own HMAC: the last
    parameter of query + body is signature=<hex HMAC-SHA256 of the rest>."""
    query = urllib.parse.urlsplit(r["url"]).query
    payload = query + (r.get("body") or "")
    i = payload.rfind("&signature=")
    if i < 0:
        return ["no signature parameter in %r" % payload]
    want = hmac.new(secret.encode(), payload[:i].encode(), hashlib.sha256).hexdigest()
    out = []
    if not hmac.compare_digest(payload[i + len("&signature="):], want):
        out.append("signature does not verify over %r" % payload[:i])
    if (r.get("headers") or {}).get("X-MBX-APIKEY") != api_key:
        out.append("X-MBX-APIKEY is %r" % (r.get("headers") or {}).get("X-MBX-APIKEY"))
    return out


def load_cases() -> List[str]:
    files = sorted(glob.glob(os.path.join(CONFORMANCE_DIR, "*.json")))
    if not files:
        raise RuntimeError("no conformance cases in %s" % CONFORMANCE_DIR)
    return files


class ConformanceTest(unittest.TestCase):
    def test_cases(self) -> None:
        steps_run = 0
        for path in load_cases():
            with open(path) as f:
                story = json.load(f)
            with self.subTest(file=os.path.basename(path)):
                steps_run += self.run_story(story)
        # A runner that skipped everything would prove nothing.
        self.assertGreater(steps_run, 40)

    def run_story(self, story: dict) -> int:
        agent = Agent(story["passphrase"])
        self.addCleanup(agent.stop)
        kw = keyward.Client(agent.sock)
        self.addCleanup(kw.close)
        ops = kw.hello("conformance")["operations"]
        secrets = story.get("secrets", [])
        run = 0
        for step in story["steps"]:
            when = step.get("when", {})
            if when.get("lacks_operation") in ops:
                continue
            n = step.get("pipeline", 1)
            copies = [(substitute(step.get("args"), i), substitute(step["expect"], i)) for i in range(n)]
            # Every copy goes on the wire before any reply is read.
            futures = [kw.submit(step["op"], args) for args, _ in copies]
            for fut, (_, expect) in zip(futures, copies):
                try:
                    result, err = kw.wait(fut), None
                except keyward.KeywardError as e:
                    result, err = None, e
                self.check(step, expect, result, err, secrets)
            run += 1
        return run

    def check(self, step: dict, expect: dict, result: Any, err: Any, secrets: List[str]) -> None:
        name = step["name"]
        text = json.dumps(result) if err is None else str(err)
        for s in secrets:
            self.assertNotIn(s, text, "%s: a reply carries a secret" % name)
            self.assertNotIn(base64.b64encode(s.encode()).decode(), text, "%s: a reply carries a secret" % name)
        if "error" in expect:
            self.assertIsNotNone(err, "%s: want error %s, got %r" % (name, expect["error"], result))
            self.assertEqual(expect["error"], err.code, "%s: %s" % (name, err))
            self.assertIsInstance(err, keyward.CODES[expect["error"]], name)
            if "message" in expect:
                self.assertEqual(expect["message"], err.message, name)
            return
        self.assertIsNone(err, "%s: %r" % (name, err))
        diffs = match(expect["result"], result)
        self.assertEqual([], diffs, name)
        sig = expect.get("binance_signature")
        if sig:
            self.assertEqual([], verify_binance(sig["secret"], sig["api_key"], result), name)


if __name__ == "__main__":
    unittest.main()
