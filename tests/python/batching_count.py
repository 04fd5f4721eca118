"""A streamparse BatchingBolt, unchanged streamparse code, for Gale's tests
of the batched protocol: groups words by word between tick tuples and
emits (word, n) per batch; its inputs are acked after their batch."""
from streamparse import BatchingBolt, TicklessBatchingBolt


class BatchCount(BatchingBolt):
    outputs = ["word", "n"]
    ticks_between_batches = 1

    def group_key(self, tup):
        return tup.values[0]

    def process_batch(self, key, tups):
        self.emit([key, len(tups)])


class TicklessCount(TicklessBatchingBolt):
    """The same with streamparse's TicklessBatchingBolt: batches are
    processed (emitted and acked) by a timer thread every 0.1 s."""

    outputs = ["word", "n"]
    secs_between_batches = 0.1

    def group_key(self, tup):
        return tup.values[0]

    def process_batch(self, key, tups):
        self.emit([key, len(tups)])
