# memcached under swiftcr (scripts/programs-check.sh): a memcached child of
# this script (four worker threads on libevent, its slab memory) and one
# client connection it keeps open, in one tree. Each tick stores a key whose
# value is made from the tick's number, then reads back twenty of the keys
# stored before, each of which must hold its own value. Over TCP on
# 127.0.0.1 as root; a UNIX socket as a user (who cannot restore TCP
# connections).
# usage: python3 memcached_client.py tcp|unix
import os, subprocess, sys, time
import server_address

address, family, port = server_address.address(sys.argv[1], "memcached")
where = ["-l", "127.0.0.1", "-p", str(port)] if port else ["-s", address]
user = ["-u", "nobody"] if os.getuid() == 0 else []
server = subprocess.Popen(["memcached", *user, *where, "-t", "4", "-m", "64"],
                          stdout=open("memcached.log", "w"), stderr=subprocess.STDOUT)
conn = server_address.connect(address, family, "memcached")
stream = conn.makefile("rwb")

def value(n):
    return (b"v%d-" % n) * (1 + n % 50)

def send(line, data=None):
    stream.write(line.encode() + b"\r\n" + (data + b"\r\n" if data is not None else b""))
    stream.flush()

tick = 0
while True:
    send("set k%d 0 0 %d" % (tick, len(value(tick))), value(tick))
    if stream.readline() != b"STORED\r\n":
        sys.exit("Error: key %d was not stored" % tick)
    for n in range(0, tick + 1, max(1, tick // 20)):
        send("get k%d" % n)
        header = stream.readline().split()
        want = value(n)
        if header[:2] != [b"VALUE", b"k%d" % n] or int(header[3]) != len(want):
            sys.exit("Error: key %d came back as %r" % (n, header))
        if stream.read(len(want) + 2) != want + b"\r\n" or stream.readline() != b"END\r\n":
            sys.exit("Error: key %d holds another value" % n)
    print("tick", tick, "ok", flush=True)
    tick += 1
    time.sleep(0.1)
