# SPDX-License-Identifier: MIT
"""./dev up supervises its daemons as systemd's Restart=on-failure does: a
runner or pool master killed with SIGKILL is started again after a short
backoff, the output says which one died, how, and when it is back, jobs keep
running (an exit that happened while the runner was down is recorded with its
code), and SIGTERM to ./dev still stops everything."""

import json
import os
import signal
import subprocess
import time

import archives as A
import helpers
from helpers import wait_for


class DevUp:
    def __init__(self, tmp_path):
        self.http, self.https = helpers.free_ports(2)
        self.data = tmp_path / "data"
        self.out_path = tmp_path / "dev.out"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTAGENT_")}
        env.update(HOSTAGENT_HTTP_PORT=str(self.http), HOSTAGENT_HTTPS_PORT=str(self.https),
                   HOSTAGENT_DATA_DIR=str(self.data))
        self.out = open(self.out_path, "wb")
        self.dev = subprocess.Popen([str(helpers.ROOT / "dev"), "up"], cwd=str(helpers.ROOT),
                                    env=env, stdin=subprocess.DEVNULL, stdout=self.out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._ready, 600, "./dev up to answer on its HTTP port")
        wait_for(lambda: "Ctrl-C stops everything" in self.log(), 30, "the banner")
        env = dict(line.split("=", 1) for line in
                   (self.data / "dev.env").read_text().splitlines() if "=" in line)
        self.auth = {"Authorization": "Bearer " + env["HOSTAGENT_TOKEN"]}

    def log(self):
        return self.out_path.read_text(errors="replace")

    def _ready(self):
        if self.dev.poll() is not None:
            raise AssertionError(f"./dev up exited {self.dev.returncode}:\n{self.log()[-4000:]}")
        try:
            return helpers.http_request(self.http, "GET", "/ready", timeout=5)[0] == 200
        except OSError:
            return False

    def req(self, method, path, body=None, headers=None):
        return helpers.http_request(self.http, method, path, body=body,
                                    headers={**self.auth, **(headers or {})})

    def daemon(self, name):
        """The pid of the dev stack's daemon name (runner, fcgi), the newest one."""
        binary = f"hostagent-{name}"
        pids = [p for p in helpers.children(self.dev.pid)
                if helpers.proc_cmdline(p).split(" ")[0].endswith(binary)]
        return max(pids) if pids else None

    def stop(self):
        if self.dev.poll() is None:
            self.dev.send_signal(signal.SIGTERM)
        try:
            rc = self.dev.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.dev.pid, signal.SIGKILL)
            raise AssertionError(f"./dev up did not stop on SIGTERM:\n{self.log()[-4000:]}")
        self.out.close()
        d = str(self.data)
        wait_for(lambda: not [p for p in helpers.all_pids()
                              if helpers.proc_alive(p) and d in helpers.proc_cmdline(p)],
                 15, "./dev up's processes to be gone")
        return rc


def _deploy(dev, sha, name, mode, marker, **fields):
    spec = {"name": name, "artifact": sha, "command": ["./bin/svc.sh", mode, marker], **fields}
    st, _, body = dev.req("POST", "/api/v1/projects", spec)
    assert st == 202, body
    return body["result"]["task"]["id"]


def _project(dev, name):
    st, _, body = dev.req("GET", f"/api/v1/projects/{name}")
    assert st == 200, body
    return body["result"]


def test_dev_up_restarts_a_killed_runner_and_pool(tmp_path):
    dev = DevUp(tmp_path)
    try:
        st, _, body = dev.req("POST", "/api/v1/artifacts",
                              A.project_archive("tar.gz", version="devup"),
                              {"Content-Type": "application/octet-stream"})
        assert st in (200, 201), body
        sha = body["result"]["sha256"]
        ta = _deploy(dev, sha, "devup-a", "idle", "devup-mark-a")
        tc = _deploy(dev, sha, "devup-c", "waitfile", "devup-mark-c", restart="no")
        for name, task in (("devup-a", ta), ("devup-c", tc)):
            wait_for(lambda: (lambda p: p["state"] == "running" and p["task_id"] == task)(
                _project(dev, name)), 30, f"{name} running")
        pid_a = _project(dev, "devup-a")["pid"]

        # the runner dies while ./dev cannot restart it yet (stopped): job c exits meanwhile
        runner = dev.daemon("runner")
        os.kill(dev.dev.pid, signal.SIGSTOP)
        os.kill(runner, signal.SIGKILL)
        out = dev.data / "jobs" / tc / "output"
        (out / "exit-code.tmp").write_text("7\n")
        os.rename(out / "exit-code.tmp", out / "exit-code")
        wait_for(lambda: (dev.data / "jobs" / tc / "exit.json").exists(), 10, "c's exit.json")
        t_killed = time.monotonic()
        os.kill(dev.dev.pid, signal.SIGCONT)
        wait_for(lambda: "runner is back" in dev.log(), 5, "the runner to be started again")
        assert time.monotonic() - t_killed < 2, "the runner was not back within 2 s"
        assert "runner (%d) was killed by SIGKILL" % runner in dev.log(), dev.log()[-2000:]
        assert dev.daemon("runner") not in (None, runner)
        c = wait_for(lambda: (lambda p: p if p["state"] == "failed" else None)(
            _project(dev, "devup-c")), 20, "c recorded as ended")
        assert c["state_reason"] == "exited with code 7", c
        a = _project(dev, "devup-a")
        assert a["state"] == "running" and a["pid"] == pid_a, a  # the same process, supervised

        # the pool master dies: the API is back within 5 s, nginx answers 502 only meanwhile
        master = dev.daemon("fcgi")
        os.kill(master, signal.SIGKILL)
        t0, seen = time.monotonic(), set()
        while True:
            try:
                st = helpers.http_request(dev.http, "GET", "/ping", timeout=2)[0]
            except OSError:
                st = None
            seen.add(st)
            if st == 200 and dev.daemon("fcgi") not in (None, master):
                break
            assert time.monotonic() - t0 < 5, f"the API did not answer within 5 s: {seen}"
            time.sleep(0.02)
        assert seen <= {200, 502}, seen
        assert "fcgi (%d) was killed by SIGKILL" % master in dev.log()
        a = _project(dev, "devup-a")
        assert a["state"] == "running" and a["pid"] == pid_a, a
    finally:
        rc = dev.stop()
    assert rc == 0, dev.log()[-4000:]
