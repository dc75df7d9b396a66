# A bubblewrap sandbox as root makes one (bwrap --unshare-user --uid 0
# --ro-bind / / --tmpfs /tmp --proc /proc --dev /dev): root in a user
# namespace of its own, in a mount namespace that belongs to it, read-only
# binds of ours, a tmpfs /tmp, a proc mounted again on /proc, a /dev of its
# own. Each round it finds the same mounts with the same options as at the
# start, its mount namespace still its user namespace's, and the round it
# wrote last in a file on its /tmp. Any broken expectation raises (a
# Traceback fails the check).
import fcntl, os, time

def mounts():
    # (mount point, per-mount options, type) in order: mount IDs change with a restart, these must not.
    with open("/proc/self/mountinfo") as f:
        return [(fields[4], fields[5], line.split(" - ")[1].split()[0]) for line in f for fields in [line.split()]]

def namespace_is_ours():
    mnt = os.open("/proc/self/ns/mnt", os.O_RDONLY)
    owner = fcntl.ioctl(mnt, 0xb701)  # NS_GET_USERNS
    same = os.fstat(owner).st_ino == os.stat("/proc/self/ns/user").st_ino
    os.close(owner)
    os.close(mnt)
    return same

first = mounts()
first_map = open("/proc/self/uid_map").read().split()
assert ("/proc", "rw,nosuid,nodev,relatime", "proc") in first, "no proc of its own on /proc: %s" % first
n = 0
while True:
    assert os.getuid() == 0, "not root inside: %d" % os.getuid()
    assert open("/proc/self/uid_map").read().split() == first_map, "uid_map"
    assert namespace_is_ours(), "its mount namespace is not its user namespace's"
    now = mounts()
    assert now == first, "mounts now %s, were %s" % (now, first)
    state = "/tmp/round"
    assert n == 0 or open(state).read() == str(n - 1), "the round file on /tmp"
    with open(state, "w") as f:
        f.write(str(n))
    print("round", n, "mounts", len(now), flush=True)
    n += 1
    time.sleep(0.2)
