# A sandboxed server as `unshare -Urnu` makes one: root in a user namespace
# of its own, with network and UTS namespaces that belong to it. One thread:
# each round it connects to its own listener, takes the connection, echoes
# and checks, and sets its host name again (CAP_SYS_ADMIN over its UTS
# namespace). Any broken expectation raises (a Traceback fails the check).
import fcntl, os, socket, struct, time

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
n = 0
while True:
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
