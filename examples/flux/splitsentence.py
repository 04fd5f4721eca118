"""Splits each sentence on spaces, one tuple per word: the shell bolt of
Flux's shell example, written with pystorm (which anchors each emit to
the input and acks the input after process()).

Run by Gale (or Storm) as `python3 splitsentence.py`.
"""
from pystorm import Bolt


class SplitSentenceBolt(Bolt):
    def process(self, tup):
        for word in tup.values[0].split(" "):
            self.emit([word])


if __name__ == "__main__":
    SplitSentenceBolt().run()
