"""Emits sentences forever, reliably (each with a message id), and replays
the ones that fail: a pystorm spout.

Run by Gale as a shell spout: `python sentence_spout.py [json|msgpack]`.
"""
import itertools
import sys

from pystorm import Spout

SENTENCES = [
    "the cow jumped over the moon",
    "an apple a day keeps the doctor away",
    "four score and seven years ago",
    "snow white and the seven dwarfs",
    "i am at two with nature",
]


class SentenceSpout(Spout):
    def initialize(self, storm_conf, context):
        self.ids = itertools.count()
        self.pending = {}
        self.replay = []

    def next_tuple(self):
        if self.replay:
            msg_id = self.replay.pop()
        else:
            msg_id = next(self.ids)
            self.pending[msg_id] = SENTENCES[msg_id % len(SENTENCES)]
        self.emit([self.pending[msg_id]], tup_id=msg_id)

    def ack(self, tup_id):
        self.pending.pop(tup_id, None)

    def fail(self, tup_id):
        if tup_id in self.pending:
            self.replay.append(tup_id)


if __name__ == "__main__":
    SentenceSpout(serializer=sys.argv[1] if len(sys.argv) > 1 else "json").run()
