"""Emits words forever, unreliably: a pystorm spout, for the multi-lang
benchmark's spout case (`cargo bench --bench multilang`).

Run by Gale under the batched protocol: `python -m gale.run word_spout:WordSpout`.
"""
import itertools

from pystorm import Spout

WORDS = "the cow jumped over the moon an apple a day keeps the doctor away".split()


class WordSpout(Spout):
    def initialize(self, storm_conf, context):
        self.words = itertools.cycle(WORDS)

    def next_tuple(self):
        self.emit([next(self.words)])
