"""A pystorm bolt for Gale's tests that appends a line to argv[2] for each
heartbeat tuple it answers (pystorm answers them with `sync`) and for each
tick tuple it gets (pystorm acks those)."""
import sys

from pystorm import Bolt


class HeartbeatBolt(Bolt):
    def initialize(self, storm_conf, context):
        self.log_file = open(sys.argv[2], "a", buffering=1)

    def read_tuple(self):
        tup = super(HeartbeatBolt, self).read_tuple()
        if self.is_heartbeat(tup):
            self.log_file.write("heartbeat\n")
        return tup

    def process_tick(self, tup):
        self.log_file.write("tick\n")

    def process(self, tup):
        pass


if __name__ == "__main__":
    HeartbeatBolt(serializer=sys.argv[1]).run()
