"""CSP_TRACE=file.json: the default runtime writes a Chrome/Perfetto JSON
trace at process exit (core/trace.c), which Python's json module loads.
The C suite (tests/c/test_trace.c) covers every event kind; here the
point is the default runtime's exit path and the file's validity."""

import json
import os
import subprocess
import sys

PROG = """
import csp
for _ in range(3):
    csp.timeout(2).take()
print("ok")
"""


def run_traced(tmp_path, env_value):
    env = dict(os.environ)
    env["CSP_TRACE"] = env_value
    p = subprocess.run([sys.executable, "-c", PROG], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "ok"
    return p


def test_trace_env_writes_json_at_exit(tmp_path):
    path = tmp_path / "trace.json"
    run_traced(tmp_path, str(path))
    doc = json.loads(path.read_text())
    events = doc["traceEvents"]
    timers = [e for e in events if e.get("cat") == "timer"]
    assert len(timers) >= 3
    assert all(e["ph"] == "i" and isinstance(e["ts"], float) and
               isinstance(e["args"]["chan"], int) for e in timers)
    names = {e["tid"]: e["args"]["name"] for e in events
             if e["name"] == "thread_name"}
    assert all(e["tid"] in names for e in timers)
    assert doc["otherData"]["csp_events_dropped"] == 0


def test_trace_env_unwritable_path_warns_and_runs(tmp_path):
    p = run_traced(tmp_path, str(tmp_path / "no-such-dir" / "t.json"))
    assert "csp: trace: cannot write" in p.stderr
    assert not (tmp_path / "no-such-dir").exists()
