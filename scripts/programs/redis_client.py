# Redis under swiftcr (scripts/programs-check.sh): a redis-server child of
# this script and one client connection it keeps open, in one tree. Each
# tick INCRs a counter and RPUSHes the tick's number on one connection; the
# counter must equal the tick and the list's length too, and every 10 ticks
# the whole list is read back in order. So the server's memory (its dict
# and list), its client's state and the connection, both ends in the image,
# come back whole. Over TCP on 127.0.0.1 as root; a UNIX socket as a user
# (who cannot restore TCP connections).
# usage: python3 redis_client.py tcp|unix
import os, subprocess, sys, time
import server_address

here = os.getcwd()
address, family, port = server_address.address(sys.argv[1], "redis")
where = ["--port", str(port), "--bind", "127.0.0.1"] if port else ["--port", "0", "--unixsocket", address]
server = subprocess.Popen(["redis-server", *where, "--save", "", "--appendonly", "no", "--dir", here],
                          stdout=open("redis.log", "w"), stderr=subprocess.STDOUT)
conn = server_address.connect(address, family, "redis-server")
replies = conn.makefile("rb")

def command(*words):
    """One RESP command; its reply (an integer, a string or a list of strings)."""
    out = b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in (str(w).encode() for w in words))
    conn.sendall(out)
    return reply()

def reply():
    line = replies.readline()
    kind, rest = line[:1], line[1:-2]
    if kind == b":":
        return int(rest)
    if kind == b"+":
        return rest.decode()
    if kind == b"$":
        data = replies.read(int(rest) + 2)
        return data[:-2].decode()
    if kind == b"*":
        return [reply() for _ in range(int(rest))]
    raise RuntimeError("Error: reply %r" % line)

tick = 0
while True:
    tick += 1
    counter = command("INCR", "counter")
    length = command("RPUSH", "ticks", tick)
    if counter != tick or length != tick:
        sys.exit("Error: tick %d: counter %d, list of %d" % (tick, counter, length))
    if tick % 10 == 0 and command("LRANGE", "ticks", 0, -1) != [str(k) for k in range(1, tick + 1)]:
        sys.exit("Error: tick %d: the list is not 1..%d" % (tick, tick))
    print("tick", tick, flush=True)
    time.sleep(0.1)
