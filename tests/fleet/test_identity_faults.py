#!/usr/bin/env python3
"""sealcheck-probe watch: whose VM is it? Names and UUIDs across sources, and
VMs that leave without their owner stopping them (docs/fleet.md, "Faults").

    test_identity_faults.py --probe BIN CASE      (--list: the cases)

The libvirt side is libvirt's own test driver (test:///FILE.xml, in libvirt
itself: src/test/test_driver.c): running domains defined by a node XML, with
our channel pointing at a simulated guest's socket. No libvirtd is needed for
these rules, which are the fleet's, not libvirt's; tests/vm/test-libvirt.sh
covers the real daemon.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_watch import DIGEST, Fail, Sim, Watch, check, links, run_cases  # noqa: E402

U1 = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
PORT = "org.sealcheck.attest.0"


def node_xml(path, domains):
    """A libvirt test-driver node: each (name, uuid, socket) a running domain with our channel."""
    with open(path, "w") as f:
        f.write("<node>\n")
        for name, uuid, sock in domains:
            f.write("""  <domain type='test'>
    <name>%s</name>
    <uuid>%s</uuid>
    <memory>65536</memory>
    <os><type>hvm</type></os>
    <devices>
      <channel type='unix'>
        <source mode='bind' path='%s'/>
        <target type='virtio' name='%s'/>
      </channel>
    </devices>
  </domain>
""" % (name, uuid, sock, PORT))
        f.write("</node>\n")


def lost_series(textfile):
    """{(vm, source, reason)} of sealcheck_vm_lost in the textfile."""
    out = set()
    try:
        text = open(textfile).read()
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        if line.startswith("sealcheck_vm_lost{"):
            labels = dict(kv.split("=", 1) for kv in line[len("sealcheck_vm_lost{"):line.rindex("}")].split(","))
            out.add((json.loads(labels["vm"]), json.loads(labels["source"]), json.loads(labels["reason"])))
    return out


def wait_for(what, cond, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise Fail("timed out waiting for " + what)


def case_collision(probe, tmp):
    """A socket web.sock and the libvirt domain web: neither is watched, both are lost as name-collision, said
    on stderr and in sealcheck_vm_lost; when the socket goes the domain is watched (its UUID, its socket)."""
    sockdir = Sim(os.path.join(tmp, "dir"), "honest:1")
    lv = Sim(os.path.join(tmp, "lv"), "honest:1")
    name = "honest-0000"
    xml = os.path.join(tmp, "node.xml")
    node_xml(xml, [(name, U1, os.path.join(lv.dir, name + ".sock"))])
    prom = os.path.join(tmp, "sealcheck.prom")
    w = Watch(probe, ["--socket-dir", sockdir.dir, "--libvirt=test://" + xml, "--expect-digest", DIGEST,
                      "--interval", "1", "--textfile", prom])
    try:
        w.wait("the collision said", lambda: "offered by both socket-dir and libvirt" in w.stderr())
        wait_for("both offers lost as name-collision in the textfile",
                 lambda: lost_series(prom) == {(name, "socket-dir", "name-collision"),
                                               (name, "libvirt", "name-collision")})
        time.sleep(2.5)  # two intervals: no round may have judged either
        judged = [d for d in w.snapshot() if d.get("vm") == name and d["event"] in ("change", "round")]
        check(not judged, "a colliding name was attested: %s" % judged[:1])
        # The socket goes: the domain is watched, as the domain (UUID, its own socket).
        sockdir.cmd("remove " + name)
        w.wait("the domain judged sealed", lambda: w.latest().get(name, {}).get("verdict") == "sealed")
        d = w.latest()[name]
        check(d["source"] == "libvirt" and d["uuid"] == U1, "watched as %s %s" % (d["source"], d["uuid"]))
        wait_for("only the socket's loss left", lambda: lost_series(prom) == {(name, "socket-dir", "socket-removed")})
        # The socket comes back: a collision again, and the domain's VM is removed as lost.
        sockdir.cmd("add %s honest" % name)
        w.wait("the domain lost to the collision",
               lambda: any(x["event"] == "removed" and x.get("vm") == name and x["source"] == "libvirt" and
                           x.get("lost") == "name-collision" for x in w.snapshot()))
    finally:
        rc = w.stop()
        sockdir.stop()
        lv.stop()
    check(rc == 0, "exit %s" % rc)


def case_collision_dir_gone(probe, tmp):
    """A name in collision whose socket directory goes (moved away): the socket's offer goes with it and the
    domain is watched; the socket's side stays lost as directory-removed."""
    sockdir = Sim(os.path.join(tmp, "dir"), "honest:1")
    lv = Sim(os.path.join(tmp, "lv"), "honest:1")
    name = "honest-0000"
    xml = os.path.join(tmp, "node.xml")
    node_xml(xml, [(name, U1, os.path.join(lv.dir, name + ".sock"))])
    prom = os.path.join(tmp, "sealcheck.prom")
    w = Watch(probe, ["--socket-dir", sockdir.dir, "--libvirt=test://" + xml, "--expect-digest", DIGEST,
                      "--interval", "1", "--textfile", prom])
    try:
        w.wait("the collision said", lambda: "offered by both socket-dir and libvirt" in w.stderr())
        os.rename(sockdir.dir, sockdir.dir + ".old")
        w.wait("the domain judged sealed", lambda: w.latest().get(name, {}).get("verdict") == "sealed", timeout=20)
        check(w.latest()[name]["source"] == "libvirt", "watched from %s" % w.latest()[name]["source"])
        wait_for("the socket's side lost with its directory",
                 lambda: lost_series(prom) == {(name, "socket-dir", "directory-removed")})
    finally:
        rc = w.stop()
        sockdir.stop()
        lv.stop()
    check(rc == 0, "exit %s" % rc)


def case_uuid_named_socket(probe, tmp):
    """A socket named like a domain's UUID does not get the policy entry keyed by that UUID: NOT SEALED by
    policy:digest, while a VM that has that UUID (the libvirt domain) gets it."""
    sim = Sim(os.path.join(tmp, "dir"), "honest:0")
    sim.cmd("add %s honest" % U1)
    lv = Sim(os.path.join(tmp, "lv"), "honest:1")
    xml = os.path.join(tmp, "node.xml")
    node_xml(xml, [("db", U1, os.path.join(lv.dir, "honest-0000.sock"))])
    policy = os.path.join(tmp, "policy.json")
    with open(policy, "w") as f:
        json.dump({"schema": "sealcheck.policy.v1", "vms": {U1: {"digests": [DIGEST]}}}, f)
    w = Watch(probe, ["--socket-dir", sim.dir, "--libvirt=test://" + xml, "--policy", policy, "--interval", "1"])
    try:
        w.wait("both judged", lambda: U1 in w.latest() and "db" in w.latest())
        got = w.latest()
        check(got["db"]["verdict"] == "sealed", "the domain with that UUID: %s" % got["db"]["verdict"])
        check(got[U1]["verdict"] == "unsealed" and "policy:digest" in links(got[U1]),
              "the socket named like the UUID: %s %s" % (got[U1]["verdict"], links(got[U1])))
    finally:
        rc = w.stop()
        sim.stop()
        lv.stop()
    check(rc == 0, "exit %s" % rc)


def case_lost_socket(probe, tmp):
    """A socket that goes is a lost VM (the removed line says why, sealcheck_vm_lost keeps it); back, it is not."""
    sim = Sim(os.path.join(tmp, "dir"), "honest:2")
    prom = os.path.join(tmp, "sealcheck.prom")
    w = Watch(probe, ["--socket-dir", sim.dir, "--expect-digest", DIGEST, "--interval", "1", "--textfile", prom])
    try:
        w.wait("both sealed", lambda: all(w.latest().get("honest-%04d" % i, {}).get("verdict") == "sealed"
                                          for i in range(2)))
        sim.cmd("remove honest-0001")
        w.wait("the removed line says lost",
               lambda: any(d["event"] == "removed" and d.get("vm") == "honest-0001" and d.get("lost") == "socket-removed"
                           for d in w.snapshot()))
        wait_for("sealcheck_vm_lost", lambda: lost_series(prom) == {("honest-0001", "socket-dir", "socket-removed")})
        sim.cmd("add honest-0001 honest")
        w.wait("back and sealed", lambda: w.latest().get("honest-0001", {}).get("verdict") == "sealed")
        wait_for("no loss left", lambda: lost_series(prom) == set())
    finally:
        rc = w.stop()
        sim.stop()
    check(rc == 0, "exit %s" % rc)


CASES = {
    "collision": case_collision,
    "collision-dir-gone": case_collision_dir_gone,
    "uuid-named-socket": case_uuid_named_socket,
    "lost-socket": case_lost_socket,
}


if __name__ == "__main__":
    sys.exit(run_cases(CASES, "sealcheck-identity-"))
