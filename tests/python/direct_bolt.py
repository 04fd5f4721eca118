"""A pystorm bolt for Gale's tests of direct emits and task-id replies.

For each word it emits [word] on the default stream asking for the task ids
(need_task_ids), then emits [word, ids] on the direct stream "direct" to the
highest task of the component that subscribes to "direct" (found in the
handshake context's Storm keys "stream->target->grouping", which also must
show its input: "split"'s default stream with a shuffle grouping)."""
import json
import sys

from pystorm import Bolt


class DirectBolt(Bolt):
    def initialize(self, storm_conf, context):
        sources = context["source->stream->grouping"]
        if sources != {"split": {"default": {"type": "SHUFFLE"}}}:
            raise ValueError("unexpected source->stream->grouping: %r" % (sources,))
        targets = context["stream->target->grouping"]
        if targets["default"] != {"sink": {"type": "FIELDS", "fields": ["word"]}}:
            raise ValueError("unexpected stream->target->grouping: %r" % (targets,))
        (sink, grouping), = targets["direct"].items()
        if grouping != {"type": "DIRECT"}:
            raise ValueError("unexpected grouping of %s: %r" % (sink, grouping))
        tasks = context["task->component"]
        self.sink = max(int(t) for t, c in tasks.items() if c == sink)

    def process(self, tup):
        word = tup.values[0]
        ids = self.emit([word], need_task_ids=True)
        self.emit([word, json.dumps(ids)], stream="direct", direct_task=self.sink)


if __name__ == "__main__":
    DirectBolt(serializer=sys.argv[1]).run()
