"""A pystorm split bolt that raises once (the first child to get a tuple
while the file argv[2] does not exist creates it and raises ValueError
before emitting anything). pystorm then fails the tuple, reports the
exception with an `error` command and exits with status 1."""
import os
import sys

from pystorm import Bolt


class RaisingBolt(Bolt):
    def process(self, tup):
        try:
            fd = os.open(sys.argv[2], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            fd = None
        if fd is not None:
            os.close(fd)
            raise ValueError("this sentence is cursed")
        for word in tup.values[0].split():
            self.emit([word])


if __name__ == "__main__":
    RaisingBolt(serializer=sys.argv[1]).run()
