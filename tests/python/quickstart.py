"""streamparse components in the style of `sparse quickstart`, unchanged
streamparse code, for Gale's tests of both multi-lang protocols
(run with `python -m gale.run quickstart:NAME` or streamparse.run).

- SentenceSpout: reliable; emits the conf's `quickstart.count` sentences
  cycling through `quickstart.sentences`, each with its number as message
  id; replays failed ones; appends `ack N` / `fail N` lines to the file
  `quickstart.log` when the conf names one.
- SplitBolt: splits a sentence into words (auto-anchored, auto-acked).
- CountBolt: auto_ack off; counts words and emits (word, count) anchored
  explicitly to the input, then acks it.
- Each bolt appends its pid to the file `quickstart.pids` when the conf
  names one (so a test can kill it).
"""
import os
from collections import Counter

from streamparse import Bolt, Spout


def note_pid(conf, component):
    path = conf.get("quickstart.pids")
    if path:
        with open(path, "a") as f:
            f.write("%s %d\n" % (component, os.getpid()))


class SentenceSpout(Spout):
    outputs = ["sentence"]

    def initialize(self, stormconf, context):
        self.sentences = stormconf["quickstart.sentences"]
        self.total = stormconf["quickstart.count"]
        self.next = 0
        self.replay = []
        path = stormconf.get("quickstart.log")
        self.log_file = open(path, "a", buffering=1) if path else None

    def next_tuple(self):
        if self.replay:
            n = self.replay.pop()
        elif self.next < self.total:
            n = self.next
            self.next += 1
        else:
            return
        self.emit([self.sentences[n % len(self.sentences)]], tup_id=n)

    def ack(self, tup_id):
        if self.log_file:
            self.log_file.write("ack %d\n" % tup_id)

    def fail(self, tup_id):
        if self.log_file:
            self.log_file.write("fail %d\n" % tup_id)
        self.replay.append(tup_id)


class SplitBolt(Bolt):
    outputs = ["word"]

    def initialize(self, conf, ctx):
        note_pid(conf, "split")

    def process(self, tup):
        for word in tup.values[0].split():
            self.emit([word])


class CountBolt(Bolt):
    outputs = ["word", "count"]
    auto_ack = False

    def initialize(self, conf, ctx):
        self.counter = Counter()
        note_pid(conf, "count")

    def process(self, tup):
        word = tup.values[0]
        self.counter[word] += 1
        self.emit([word, self.counter[word]], anchors=[tup])
        self.ack(tup)
