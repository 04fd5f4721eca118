"""A split bolt written with gale's own Bolt class (no pystorm), emitting
each sentence's words with emit_many; for Gale's tests of both protocols."""
from gale import Bolt


class GaleSplit(Bolt):
    outputs = ["word"]

    def process(self, tup):
        self.emit_many([[word] for word in tup.values[0].split()])
