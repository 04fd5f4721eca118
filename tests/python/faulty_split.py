"""A split bolt that speaks the multi-lang protocol by hand (JSON) and
misbehaves once, for Gale's fault tests.

argv: MODE MARKER. The first child to get a tuple while the file MARKER does
not exist creates it and misbehaves according to MODE; every other tuple is
split into words, each emitted anchored, then acked.

Modes: crash (exits 3 after writing to stderr), hang (stops reading and
answering), malformed (writes text that is not JSON), unknown (an unknown
command), undeclared (an emit to an undeclared stream), arity (an emit with
two values on the one-field stream), unknown-ack (an ack of an id Gale never
sent), error (reports an error), drop (never acks nor fails its tuple),
silent-heartbeat (never answers heartbeats, keeps working), huge (an emit
of 8 million numbers: a 16 MB message)."""
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

while True:
    msg = read()
    if msg.get("stream") == "__heartbeat":
        if MODE != "silent-heartbeat":
            send({"command": "sync"})
        continue
    if first():
        if MODE == "crash":
            sys.stderr.write("faulty_split: crashing on purpose\n")
            sys.stderr.flush()
            sys.exit(3)
        if MODE == "hang":
            time.sleep(3600)
        if MODE == "malformed":
            sys.stdout.write("{this is not json\nend\n")
        if MODE == "unknown":
            send({"command": "dance"})
        if MODE == "undeclared":
            send({"command": "emit", "stream": "nope", "tuple": ["x"], "need_task_ids": False})
        if MODE == "arity":
            send({"command": "emit", "tuple": ["x", "y"], "need_task_ids": False})
        if MODE == "unknown-ack":
            send({"command": "ack", "id": "987654321"})
        if MODE == "error":
            send({"command": "error", "msg": "something went wrong in Python"})
        if MODE == "drop":
            continue
        if MODE == "huge":
            numbers = "1," * 7_999_999 + "1"
            sys.stdout.write('{"command": "emit", "tuple": [' + numbers + "]}\nend\n")
            sys.stdout.flush()
    for word in msg["tuple"][0].split():
        send({"command": "emit", "anchors": [msg["id"]], "tuple": [word], "need_task_ids": False})
    send({"command": "ack", "id": msg["id"]})
