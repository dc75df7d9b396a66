# A sandboxed server as `unshare -Urnum` makes one: root in a user namespace
# of its own, with network, UTS and mount namespaces that belong to it. One
# thread: each round it connects to its own listener, takes the connection,
# echoes and checks, sets its host name again (CAP_SYS_ADMIN over its UTS
# namespace), finds the round it wrote last in a file of the tmpfs it
# mounted at the start, and mounts and unmounts a tmpfs on it (CAP_SYS_ADMIN
# over its mount namespace). Any broken expectation raises (a Traceback
# fails the check).
import ctypes, fcntl, os, socket, struct, time

libc = ctypes.CDLL(None, use_errno=True)

def mount_tmpfs(target):
    if libc.mount(b"sandbox", target.encode(), b"tmpfs", 0, b"size=64k") != 0:
        raise OSError(ctypes.get_errno(), "mount " + target)

def unmount(target):
    if libc.umount2(target.encode(), 0) != 0:
        raise OSError(ctypes.get_errno(), "umount " + target)

def loopback_up():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0)))[1]  # SIOCGIFFLAGS
    fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 1))  # SIOCSIFFLAGS, IFF_UP
    s.close()

def inside_map():
    with open("/proc/self/uid_map") as f:
        return f.read().split()

socket.sethostname("sandbox")
loopback_up()
listener = socket.socket()
listener.bind(("127.0.0.1", 18555))
listener.listen(4)
first_map = inside_map()
os.makedirs("sandbox-mnt", exist_ok=True)
mount_tmpfs("sandbox-mnt")
os.mkdir("sandbox-mnt/inner")
n = 0
while True:
    state = "sandbox-mnt/round"
    assert n == 0 or open(state).read() == str(n - 1), "the tmpfs's round file: %r" % (os.path.exists(state) and open(state).read())
    with open(state, "w") as f:
        f.write(str(n))
    mount_tmpfs("sandbox-mnt/inner")
    unmount("sandbox-mnt/inner")
    assert os.getuid() == 0 and os.geteuid() == 0, "not root inside: %d" % os.getuid()
    assert inside_map() == first_map, "uid_map %s, was %s" % (inside_map(), first_map)
    assert socket.gethostname() == "sandbox", "host name " + socket.gethostname()
    socket.sethostname("sandbox")
    c = socket.create_connection(("127.0.0.1", 18555), timeout=5)
    s, _ = listener.accept()
    c.sendall(b"round %d" % n)
    s.sendall(s.recv(100))
    assert c.recv(100) == b"round %d" % n, "echo"
    c.close()
    s.close()
    print("round", n, "uid", os.getuid(), "map", " ".join(first_map), flush=True)
    n += 1
    time.sleep(0.2)
