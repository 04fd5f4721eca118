"""A pystorm split bolt that takes MS milliseconds per sentence before it
emits and acks: its execute latency under Gale is at least that.

argv: MS"""
import sys
import time

from pystorm import Bolt


class SlowSplit(Bolt):
    def process(self, tup):
        time.sleep(float(sys.argv[1]) / 1000)
        for word in tup.values[0].split():
            self.emit([word])


if __name__ == "__main__":
    SlowSplit().run()
