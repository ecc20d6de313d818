"""Processes the harness starts: journeyd instances, producers, a private
broker. Every child is registered and killed (by its own pid) on any exit
path, so a failed scenario leaves nothing running."""
import atexit
import os
import re
import signal
import subprocess
import sys
import time

_children = []
_brokers = []


def _cleanup():
    for p in _children:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(10)
            except Exception:
                pass
    for b in _brokers:
        b.down()


atexit.register(_cleanup)


def _on_signal(signum, frame):
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def spawn(cmd, log, env=None):
    f = open(log, "ab")
    p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    f.close()
    _children.append(p)
    return p


def wait_until(what, deadline_s, cond, every=0.1):
    """Polls cond() until it returns a true value; raises on the deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError("%s: not within %ss" % (what, deadline_s))
        time.sleep(every)


# The binary's refusal of a mode it does not implement (exit 2 at start).
NOT_SUPPORTED = re.compile(r"not (yet )?(supported|implemented)", re.I)


class Instance:
    """One `journeyd run` process."""

    def __init__(self, journeyd, args, log, name):
        self.name = name
        self.log = log
        self.proc = spawn([*journeyd, "run", *args], log)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def kill9(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait(30)

    def term(self, deadline_s=60):
        """SIGTERM, then wait for the exit; returns the exit status."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(deadline_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return "no exit within %ds after SIGTERM" % deadline_s

    def refused(self):
        """The log's refusal line when the process exited saying a mode is
        not supported, else None."""
        if self.alive():
            return None
        with open(self.log, "rb") as f:
            for line in f.read().decode(errors="replace").splitlines():
                if NOT_SUPPORTED.search(line):
                    return line.strip()
        return None

    def exit_reason(self):
        """The log's first error line and its last line: what an instance
        that exited by itself says about why."""
        lines = self.tail(10 ** 6)
        err = next((ln.strip() for ln in lines if " error " in ln), None)
        return " | ".join(x for x in (err, lines[-1].strip() if lines else None) if x)

    def tail(self, n=15):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace").splitlines()[-n:]


class Broker:
    """A private single-node broker run by scripts/kafka.sh (KAFKA_PORT,
    KAFKA_DIR), so crashing it disturbs nobody else's broker."""

    def __init__(self, root, port, kdir, heap="256m"):
        self.script = os.path.join(root, "scripts", "kafka.sh")
        self.env = dict(os.environ, KAFKA_PORT=str(port), KAFKA_DIR=kdir, KAFKA_HEAP=heap)
        self.bootstrap = "127.0.0.1:%d" % port
        self.kdir = kdir
        self.log = os.path.join(kdir + ".script.log")
        _brokers.append(self)

    def _run(self, cmd):
        with open(self.log, "ab") as f:
            subprocess.run(["bash", self.script, cmd], env=self.env, stdout=f,
                           stderr=subprocess.STDOUT, check=True)

    def up(self):
        self._run("up")

    def crash(self):
        self._run("kill")

    def down(self):
        try:
            self._run("down")
        except Exception:
            pass
