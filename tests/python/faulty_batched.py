"""A split bolt (a gale.Bolt) that misbehaves once under the batched
protocol, for Gale's fault tests: the first child to get a tuple while
the file MARKER (argv[2], or $FAULTY_MARKER) does not exist creates it and
then, by MODE (argv[1] or $FAULTY_MODE):

- garbage: writes bytes that are not a frame to the protocol's stdout
- oversized: writes a frame header announcing 64 MiB
- kill: kills itself with SIGKILL
- hang: stops answering (sleeps)

Every other tuple is split into words, emitted anchored, and acked.
Run as `python -m gale.run faulty_batched:FaultySplit`.
"""
import os
import signal
import struct
import time

from gale import Bolt

MODE = os.environ.get("FAULTY_MODE", "garbage")
MARKER = os.environ.get("FAULTY_MARKER", "/nonexistent/marker")


def first():
    try:
        fd = os.open(MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except OSError:
        return False
    os.close(fd)
    return True


class FaultySplit(Bolt):
    outputs = ["word"]

    def process(self, tup):
        if first():
            out = self._gale.out_fd
            if MODE == "garbage":
                os.write(out, b"this is not a frame\n" * 4)
            elif MODE == "oversized":
                os.write(out, struct.pack(">I", 64 << 20) + b"\x80" * 64)
            elif MODE == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            elif MODE == "hang":
                time.sleep(3600)
        for word in tup.values[0].split():
            self.emit([word])
