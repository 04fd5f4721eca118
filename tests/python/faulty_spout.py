"""A spout that speaks the multi-lang protocol by hand (JSON) and
misbehaves once, for Gale's fault tests.

argv: MODE MARKER. It emits one sentence per `next` (with a message id).
The first child to get a `next` while the file MARKER does not exist
creates it and misbehaves according to MODE: crash (exits 4 after writing
to stderr) or hang (stops answering)."""
import json
import os
import sys
import time

MODE, MARKER = sys.argv[1], sys.argv[2]


def read():
    lines = []
    while True:
        line = sys.stdin.readline()
        if not line:
            sys.exit(0)
        if line == "end\n":
            return json.loads("".join(lines))
        lines.append(line)


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\nend\n")
    sys.stdout.flush()


def first():
    try:
        fd = os.open(MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


hello = read()
pid = os.getpid()
open(os.path.join(hello["pidDir"], str(pid)), "w").close()
send({"pid": pid})

n = 0
while True:
    msg = read()
    if msg["command"] == "next":
        if first():
            if MODE == "crash":
                sys.stderr.write("faulty_spout: crashing on purpose\n")
                sys.stderr.flush()
                sys.exit(4)
            if MODE == "hang":
                time.sleep(3600)
        send({"command": "emit", "id": n, "tuple": ["the cow jumped over the moon"],
              "need_task_ids": False})
        n += 1
    send({"command": "sync"})
