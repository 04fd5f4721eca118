"""A reliable pystorm spout for Gale's tests: emits ids 0..N-1 (N = argv[2])
with message ids, replays failed ones, and appends `ack ID` / `fail ID`
lines to the file argv[3] as Storm tells it."""
import sys

from pystorm import Spout


class NumberSpout(Spout):
    def initialize(self, storm_conf, context):
        self.total = int(sys.argv[2])
        self.next = 0
        self.replay = []
        self.log_file = open(sys.argv[3], "a", buffering=1)

    def next_tuple(self):
        if self.replay:
            n = self.replay.pop(0)
        elif self.next < self.total:
            n = self.next
            self.next += 1
        else:
            return
        self.emit([n], tup_id=n)

    def ack(self, tup_id):
        self.log_file.write("ack %d\n" % tup_id)

    def fail(self, tup_id):
        self.log_file.write("fail %d\n" % tup_id)
        self.replay.append(tup_id)


if __name__ == "__main__":
    NumberSpout(serializer=sys.argv[1]).run()
