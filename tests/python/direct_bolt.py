"""A pystorm bolt for Gale's tests of direct emits and task-id replies.

For each word it emits [word] on the default stream asking for the task ids
(need_task_ids), then emits [word, ids] on the direct stream "direct" to the
highest task of component "sink"."""
import json
import sys

from pystorm import Bolt


class DirectBolt(Bolt):
    def initialize(self, storm_conf, context):
        tasks = context["task->component"]
        self.sink = max(int(t) for t, c in tasks.items() if c == "sink")

    def process(self, tup):
        word = tup.values[0]
        ids = self.emit([word], need_task_ids=True)
        self.emit([word, json.dumps(ids)], stream="direct", direct_task=self.sink)


if __name__ == "__main__":
    DirectBolt(serializer=sys.argv[1]).run()
