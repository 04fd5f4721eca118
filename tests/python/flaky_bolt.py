"""A pystorm bolt for Gale's tests that fails the first attempt it sees of
every number divisible by 4 and acks everything else."""
import sys

from pystorm import Bolt


class FlakyBolt(Bolt):
    auto_ack = False

    def initialize(self, storm_conf, context):
        self.seen = set()

    def process(self, tup):
        n = tup.values[0]
        if n % 4 == 0 and n not in self.seen:
            self.seen.add(n)
            self.fail(tup)
        else:
            self.ack(tup)


if __name__ == "__main__":
    FlakyBolt(serializer=sys.argv[1]).run()
