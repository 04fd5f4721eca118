"""Splits each sentence into words: a plain pystorm bolt.

Run by Gale as a shell bolt: `python split_bolt.py [json|msgpack]`.
pystorm anchors each emit to the input and acks the input after process().
"""
import sys

from pystorm import Bolt


class SplitBolt(Bolt):
    def process(self, tup):
        for word in tup.values[0].split():
            self.emit([word])


if __name__ == "__main__":
    SplitBolt(serializer=sys.argv[1] if len(sys.argv) > 1 else "json").run()
