"""Splits each sentence into words; words of six letters or more also go
out on the stream `long`: a shell bolt with a named stream (pystorm).
"""
from pystorm import Bolt


class SplitLongBolt(Bolt):
    def process(self, tup):
        for word in tup.values[0].split():
            self.emit([word])
            if len(word) >= 6:
                self.emit([word], stream="long")


if __name__ == "__main__":
    SplitLongBolt().run()
