"""A pystorm split bolt for Gale's tests that reports metrics (Storm's
`metrics` message, pystorm's `report_metric`): the sentences it split so
far, and once a value that is not a number (which Gale must refuse)."""
import sys

from pystorm import Bolt


class MetricsSplit(Bolt):
    def initialize(self, storm_conf, context):
        self.sentences = 0
        self.report_metric("mood", "cheerful")

    def process(self, tup):
        for word in tup.values[0].split():
            self.emit([word])
        self.sentences += 1
        self.report_metric("sentences", self.sentences)


if __name__ == "__main__":
    MetricsSplit(serializer=sys.argv[1]).run()
