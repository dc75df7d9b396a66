# nginx under swiftcr (scripts/programs-check.sh): a master (a child of this
# script) with two workers sharing a limit_req zone (shared memory), and
# this script as its client, in one tree. Each tick is a GET answered by a
# worker ("hello PID", one of the master's children), and every 8 ticks a
# SIGHUP to the master must bring new workers within 5 s that answer in
# turn: after a restart the master must still take signals, fork workers
# and reap the old ones, and the workers accept on the inherited listener.
# usage: python3 nginx_reload.py
import http.client, os, re, signal, subprocess, sys, time

here = os.getcwd()
port = 20000 + os.getpid() % 20000
temp = "".join("%s_temp_path %s/%s;\n" % (kind, here, kind) for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
with open("nginx.conf", "w") as conf:
    conf.write("""worker_processes 2;
daemon off;
pid %(here)s/nginx.pid;
error_log %(here)s/nginx.error.log;
events { worker_connections 64; }
http {
  access_log off;
  %(temp)s
  limit_req_zone $binary_remote_addr zone=one:1m rate=1000r/s;
  server { listen 127.0.0.1:%(port)d; location / { limit_req zone=one burst=100; return 200 "hello $pid\\n"; } }
}
""" % {"here": here, "temp": temp, "port": port})
master = subprocess.Popen(["nginx", "-p", here, "-c", os.path.join(here, "nginx.conf")],
                          stdout=open("nginx.out", "w"), stderr=subprocess.STDOUT)

def workers():
    try:
        with open("/proc/%d/task/%d/children" % (master.pid, master.pid)) as f:
            return {int(p) for p in f.read().split()}
    except OSError:
        return set()

def hello():
    """The worker that answered a GET, or None if none did."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        c.request("GET", "/")
        body = c.getresponse().read().decode()
        c.close()
    except OSError:
        return None
    m = re.fullmatch(r"hello (\d+)\n", body)
    if not m:
        sys.exit("Error: answer %r" % body)
    return int(m.group(1))

for _ in range(100):
    if hello() is not None and len(workers()) == 2:
        break
    time.sleep(0.1)
else:
    sys.exit("Error: nginx did not start: " + open("nginx.error.log").read())
tick = 0
while True:
    tick += 1
    pid = hello()
    if pid not in workers():
        sys.exit("Error: tick %d: answered by %r, not one of the workers %s" % (tick, pid, sorted(workers())))
    if tick % 8 == 0:
        old = workers()
        os.kill(master.pid, signal.SIGHUP)
        deadline = time.time() + 5
        while time.time() < deadline and (len(workers()) != 2 or workers() & old):
            time.sleep(0.05)
        if len(workers()) != 2 or workers() & old or hello() not in workers():
            sys.exit("Error: tick %d: after SIGHUP the workers are %s (before %s)" % (tick, sorted(workers()), sorted(old)))
    print("tick", tick, flush=True)
    time.sleep(0.1)
