"""A random sentence now and then, without a message id: the shell spout
of Flux's shell example (Storm's is JavaScript), written with pystorm.

Run by Gale (or Storm) as `python3 randomsentence.py`.
"""
import random
import time

from pystorm import Spout

SENTENCES = [
    "the cow jumped over the moon",
    "an apple a day keeps the doctor away",
    "four score and seven years ago",
    "snow white and the seven dwarfs",
    "i am at two with nature",
]


class RandomSentenceSpout(Spout):
    def next_tuple(self):
        time.sleep(0.01)
        self.emit([random.choice(SENTENCES)])


if __name__ == "__main__":
    RandomSentenceSpout().run()
