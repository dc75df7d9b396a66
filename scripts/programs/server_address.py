# A server of the real-programs check (scripts/programs-check.sh), started as
# a child of the script that uses it: where it listens (TCP on 127.0.0.1 as
# root, a UNIX socket as a user, who cannot restore TCP connections), and one
# connection to it once it answers.
import os, socket, sys, time

def address(kind, name):
    """(address, family, port or None) for `tcp` or `unix`; a socket file NAME.sock in the work directory."""
    if kind == "tcp":
        port = 20000 + os.getpid() % 20000
        return ("127.0.0.1", port), socket.AF_INET, port
    return os.path.join(os.getcwd(), name + ".sock"), socket.AF_UNIX, None

def connect(where, family, server):
    """A connection to the server, retried for 10 s while it starts."""
    for _ in range(100):
        conn = socket.socket(family, socket.SOCK_STREAM)
        try:
            conn.connect(where)
            return conn
        except OSError:
            conn.close()
            time.sleep(0.1)
    sys.exit("Error: %s did not answer" % server)
