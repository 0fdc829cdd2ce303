#!/usr/bin/env python3
"""sealcheck-probe watch --socket-dir under faults of its directory, one case a run.

    test_sockdir_faults.py --probe BIN CASE      (--list: the cases)

A VM is a UNIX socket that is an entry of DIR itself: a symlink, a file or a
FIFO renamed over its socket removes it (never attests what the link points
to under its name), another socket renamed over it is a new VM; DIR removed
and made again is watched again; nested socket directories keep each its own
VMs. No sleeps as assertions: each case waits for a condition on the probe's
JSON lines or stderr with a deadline (test_watch.py's Watch and Sim).
"""
import os
import shutil
import signal
import socket
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_watch import DIGEST, Sim, Watch, check, run_cases  # noqa: E402


class Decoy:
    """A listening socket elsewhere that counts the connections it is offered: the probe must make none."""

    def __init__(self, path):
        self.path = path
        self.accepts = 0
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.bind(path)
        self.s.listen(64)
        self.s.settimeout(0.1)
        self.stopping = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stopping:
            try:
                c, _ = self.s.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepts += 1
            c.close()

    def stop(self):
        self.stopping = True
        self.t.join(5)
        self.s.close()


def since(w, mark):
    return w.snapshot()[mark:]


def events(w, mark, vm, kind):
    return [d for d in since(w, mark) if d["vm"] == vm and d["event"] == kind]


def rounds_of(w, mark, vm):
    return [d for d in since(w, mark) if d["vm"] == vm and d["event"] in ("change", "round")]


def base_args(sim_dir):
    return ["--socket-dir", sim_dir, "--expect-digest", DIGEST, "--interval", "1", "--timeout", "1",
            "--events", "all"]


def case_symlink_over(probe, tmp):
    """A symlink to another socket renamed over a VM's socket (ln -s; mv -T): the VM is removed, the socket
    the link points to is never connected to, and nothing is attested under the VM's name after it."""
    sim = Sim(tmp, "honest:2")
    elsewhere = os.path.join(tmp, "elsewhere")
    os.makedirs(elsewhere)
    decoy = Decoy(os.path.join(elsewhere, "other.sock"))
    w = Watch(probe, base_args(sim.dir))
    try:
        w.wait("both sealed", lambda: all(w.latest().get("honest-%04d" % i, {}).get("verdict") == "sealed"
                                          for i in range(2)))
        mark = len(w.snapshot())
        link = os.path.join(sim.dir, ".t")
        os.symlink(decoy.path, link)
        os.rename(link, os.path.join(sim.dir, "honest-0000.sock"))  # mv -T: one rename(2) over the socket
        # The old guest cuts its connection: a probe that kept the VM would connect again, through the link.
        sim.cmd("close honest-0000")
        # Rounds go on: three more of the other VM (a probe still holding honest-0000 has reconnected by
        # then), and the decoy never saw a connection.
        w.wait("three more rounds of honest-0001", lambda: len(rounds_of(w, mark, "honest-0001")) >= 3)
        check(decoy.accepts == 0, "the probe connected %d time(s) to the socket the symlink points to" %
              decoy.accepts)
        w.wait("honest-0000 removed", lambda: events(w, mark, "honest-0000", "removed"))
        removed_at = next(i for i, d in enumerate(since(w, mark)) if d["vm"] == "honest-0000" and
                          d["event"] == "removed")
        after = [d for d in since(w, mark)[removed_at + 1:] if d["vm"] == "honest-0000"]
        check(not after, "honest-0000 (now a symlink) came back: %s" % after[:2])
        check("replaced by a symlink" in w.stderr(), "the replacement is not logged: %s" % w.stderr())
        check(w.p.poll() is None, "the probe died")
    finally:
        rc = w.stop()
        sim.stop()
        decoy.stop()
    check(rc == 0, "exit %s" % rc)


def case_nonsocket_over(probe, tmp):
    """A regular file and a FIFO renamed over two VMs' sockets: both VMs are removed, neither comes back
    while its name is no socket, and the third VM beside them stays SEALED."""
    sim = Sim(tmp, "honest:3")
    w = Watch(probe, base_args(sim.dir))
    try:
        w.wait("three sealed", lambda: all(w.latest().get("honest-%04d" % i, {}).get("verdict") == "sealed"
                                           for i in range(3)))
        mark = len(w.snapshot())
        f = os.path.join(sim.dir, ".f")
        with open(f, "w") as fh:
            fh.write("not a socket\n")
        os.rename(f, os.path.join(sim.dir, "honest-0000.sock"))
        fifo = os.path.join(sim.dir, ".p")
        os.mkfifo(fifo)
        os.rename(fifo, os.path.join(sim.dir, "honest-0001.sock"))
        sim.cmd("close honest-0000")
        sim.cmd("close honest-0001")
        w.wait("both removed", lambda: events(w, mark, "honest-0000", "removed") and
               events(w, mark, "honest-0001", "removed"))
        w.wait("three more rounds of honest-0002", lambda: len(rounds_of(w, mark, "honest-0002")) >= 3)
        check(set(w.latest()) == {"honest-0002"}, "VMs now: %s" % sorted(w.latest()))
        check(all(d["verdict"] == "sealed" for d in rounds_of(w, mark, "honest-0002")), "honest-0002 not sealed")
        check(w.stderr().count("replaced by something that is not a socket") == 2, "stderr: %s" % w.stderr())
    finally:
        rc = w.stop()
        sim.stop()
    check(rc == 0, "exit %s" % rc)


def case_socket_over(probe, tmp):
    """Another socket renamed over a VM's socket (an atomic re-creation): the VM is removed and added anew,
    its first round on the new socket counts from 1 (nothing carried over), and it is SEALED there."""
    sim = Sim(tmp, "honest:2")
    other = Sim(os.path.join(tmp, "other"), "honest:1")  # its honest-0000.sock, listening, moved over ours
    w = Watch(probe, base_args(sim.dir))
    try:
        w.wait("two rounds of honest-0000", lambda: len(rounds_of(w, 0, "honest-0000")) >= 2)
        mark = len(w.snapshot())
        tmpname = os.path.join(sim.dir, ".new")
        os.rename(os.path.join(other.dir, "honest-0000.sock"), tmpname)
        os.rename(tmpname, os.path.join(sim.dir, "honest-0000.sock"))
        w.wait("honest-0000 removed, added and sealed", lambda: events(w, mark, "honest-0000", "removed") and
               events(w, mark, "honest-0000", "added") and any(
                   d["verdict"] == "sealed" for d in rounds_of(w, mark, "honest-0000")))
        seq = [d["event"] for d in since(w, mark) if d["vm"] == "honest-0000"]
        check(seq.index("removed") < seq.index("added"), "not removed before added: %s" % seq)
        first = rounds_of(w, mark, "honest-0000")[0]
        check(first["rounds"] == 1, "the new socket's first round is round %s (counters carried over)" %
              first["rounds"])
        check("replaced by another socket" in w.stderr(), "stderr: %s" % w.stderr())
    finally:
        rc = w.stop()
        sim.stop()
        other.stop()
    check(rc == 0, "exit %s" % rc)


def case_dir_recreated(probe, tmp):
    """DIR removed (rm -rf) and made again with new sockets: its VMs go, and the new ones are found
    within a bound; then DIR moved away and made again: the same. Both are logged, going and coming."""
    first = Sim(tmp, "honest:2")
    w = Watch(probe, base_args(first.dir))
    sims = [first]
    try:
        w.wait("two sealed", lambda: len([d for d in w.latest().values() if d["verdict"] == "sealed"]) == 2)
        mark = len(w.snapshot())
        shutil.rmtree(first.dir)
        w.wait("both removed", lambda: all(events(w, mark, "honest-%04d" % i, "removed") for i in range(2)))
        w.wait("the going logged", lambda: "went away" in w.stderr())
        again = Sim(tmp, "honest:3")  # the same path, a new directory
        sims.append(again)
        w.wait("three found again and sealed", lambda: all(
            any(d["verdict"] == "sealed" for d in rounds_of(w, mark, "honest-%04d" % i)) for i in range(3)),
            timeout=15)
        check("is back" in w.stderr(), "the return is not logged: %s" % w.stderr())
        # Moved away (mv DIR DIR.old; mkdir DIR): its VMs go with it, the new DIR's come.
        mark = len(w.snapshot())
        os.rename(again.dir, again.dir + ".old")
        w.wait("three removed", lambda: all(events(w, mark, "honest-%04d" % i, "removed") for i in range(3)))
        w.wait("the move logged", lambda: "went away (moved away)" in w.stderr())
        third = Sim(tmp, "liar:1")
        sims.append(third)
        w.wait("liar-0000 found in the new DIR", lambda: any(
            d["verdict"] == "unsealed" for d in rounds_of(w, mark, "liar-0000")), timeout=15)
        check(set(w.latest()) == {"liar-0000"}, "VMs now: %s" % sorted(w.latest()))
    finally:
        rc = w.stop()
        for s in sims:
            s.stop()
    check(rc == 0, "exit %s" % rc)


def case_nested(probe, tmp):
    """--socket-dir DIR/sub and --socket-dir DIR: each directory's VMs stay across the other's scans and
    events (the parent's start, sockets made and removed in it, SIGHUP); a name in both is the first's,
    the second refused and logged."""
    parent = Sim(tmp, "honest:2")
    child = Sim(os.path.join(tmp, "sockets"), "liar:1")  # tmp/sockets/sockets: inside the parent
    child.cmd("add child-one honest")
    w = Watch(probe, ["--socket-dir", child.dir] + base_args(parent.dir))
    try:
        want = {"honest-0000", "honest-0001", "liar-0000", "child-one"}
        w.wait("both directories' VMs judged", lambda: set(w.latest()) == want)
        parent.cmd("add p-new honest")
        parent.cmd("remove honest-0001")
        w.wait("p-new judged", lambda: "p-new" in w.latest())
        w.wait("honest-0001 removed", lambda: "honest-0001" not in w.latest())
        mark = len(w.snapshot())
        w.p.send_signal(signal.SIGHUP)  # rescans every socket directory
        w.wait("the rescan", lambda: "rescanned" in w.stderr())
        parent.cmd("add p-later honest")
        w.wait("p-later judged", lambda: "p-later" in w.latest())
        w.wait("two more rounds of the child's", lambda: len(rounds_of(w, mark, "child-one")) >= 2)
        removed = [d["vm"] for d in w.snapshot() if d["event"] == "removed"]
        check(removed == ["honest-0001"], "removed: %s" % removed)
        check(set(w.latest()) == {"honest-0000", "p-new", "p-later", "liar-0000", "child-one"},
              "VMs now: %s" % sorted(w.latest()))
        # One name in both: the child's (given first) keeps it, the parent's is refused, said once.
        child.cmd("add dup liar")
        w.wait("dup judged", lambda: w.latest().get("dup", {}).get("verdict") == "unsealed")
        parent.cmd("add dup honest")
        w.wait("the refusal", lambda: "dup.sock: a VM of that name is watched in another directory" in w.stderr())
        parent.cmd("add p-last honest")
        w.wait("p-last judged", lambda: "p-last" in w.latest())
        check(all(d["verdict"] == "unsealed" for d in w.snapshot() if d["vm"] == "dup" and "verdict" in d and
                  d["verdict"]), "the parent's dup was attested under the child's name")
    finally:
        rc = w.stop()
        child.stop()
        parent.stop()
    check(rc == 0, "exit %s" % rc)


CASES = {
    "symlink-over": case_symlink_over,
    "nonsocket-over": case_nonsocket_over,
    "socket-over": case_socket_over,
    "dir-recreated": case_dir_recreated,
    "nested": case_nested,
}


if __name__ == "__main__":
    sys.exit(run_cases(CASES, "sockdir-"))
