"""A reliable pystorm spout that emits 0, 1, 2, ... for ever, each with
its number as message id (run by `python -m gale.run
endless_spout:Numbers`)."""
from pystorm import Spout


class Numbers(Spout):
    def initialize(self, storm_conf, context):
        self.n = 0

    def next_tuple(self):
        self.emit([self.n], tup_id=self.n)
        self.n += 1
