"""The split bolt written with streamparse's Bolt class.

Run by Gale as `python -m streamparse.run streamparse_split.SplitBolt`
(streamparse's own launcher) from this directory.
"""
from streamparse import Bolt


class SplitBolt(Bolt):
    outputs = ["word"]

    def process(self, tup):
        for word in tup.values[0].split():
            self.emit([word])
