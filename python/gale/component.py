"""Spouts and bolts with pystorm's and streamparse's API.

The functions at the top of this module are the whole protocol side of a
component; they are the methods of :class:`Component`, :class:`Bolt` and
:class:`Spout` here, and :func:`gale.run.adopt` installs the same functions
into pystorm's base classes so that an unmodified pystorm or streamparse
class runs over the batched protocol (with its own overrides, and
pystorm's ``BatchingBolt`` or ``ReliableSpout`` logic, kept).

Under the batched protocol a bolt's emits, acks and fails go into lists
that are written as one frame once every input of the frame it came in
has been processed; a spout's emits go out after the ``next_tuple`` calls
one request asked for. Under Storm's protocol every call is one message,
as with pystorm.
"""
import logging
import os
import re
import sys
import threading
import traceback
from collections import defaultdict, deque, namedtuple

from .channel import BATCHED, Channel, GaleWentAway

#: A tuple as a bolt receives it (pystorm's fields).
Tuple = namedtuple("Tuple", "id component stream task values")

_STORM_LOG_LEVELS = {
    "trace": 0,
    "debug": 1,
    "info": 2,
    "warn": 3,
    "warning": 3,
    "error": 4,
    "critical": 4,
}
_IDENTIFIER_RE = re.compile(r"\W|^(?=\d)")

log = logging.getLogger(__name__)


# -- the protocol side, shared with pystorm's classes (see gale.run) --------


def send_message(self, message):
    """Sends one message of Storm's protocol (under the batched protocol,
    gathers it into the next frame)."""
    channel = self._gale
    if channel.batched:
        channel.put(message)
    else:
        channel.send_message(message)


def read_message(self):
    """Reads one message of Storm's protocol."""
    return self._gale.read_message()


def _storm_emit(self, tup, tup_id, stream, anchors, direct_task, need_task_ids):
    """An emit under Storm's protocol (pystorm's message)."""
    if not isinstance(tup, (list, tuple)):
        raise TypeError("All Tuples must be either lists or tuples, received %r instead." % type(tup))
    msg = {"command": "emit", "tuple": tup}
    if anchors is not None:
        msg["anchors"] = anchors
    if tup_id is not None:
        msg["id"] = tup_id
    if stream is not None:
        msg["stream"] = stream
    if direct_task is not None:
        msg["task"] = direct_task
    if not need_task_ids:
        msg["need_task_ids"] = False
    self.send_message(msg)
    if need_task_ids:
        if direct_task is not None:
            return [direct_task]
        return self.read_task_ids()
    return None


def _gather_emit(channel, out, tup, stream, third, direct_task, need_task_ids):
    """Batched: gathers an emit (``third``: a bolt's anchors or a spout's
    message id) into ``out``; asks for the target tasks when needed."""
    if not isinstance(tup, (list, tuple)):
        raise TypeError("All Tuples must be either lists or tuples, received %r instead." % type(tup))
    if direct_task is None and not need_task_ids:
        out.append((stream, tup, third))
        return None
    ask = bool(need_task_ids) and direct_task is None
    out.append((stream, tup, third, direct_task, ask))
    if ask:
        return channel.read_task_ids()
    return [direct_task] if need_task_ids else None


def bolt_emit(self, tup, stream=None, anchors=None, direct_task=None, need_task_ids=False):
    """Emits a tuple, anchored to the current input(s) when ``auto_anchor``
    is on and ``anchors`` is not given (pystorm's ``Bolt.emit``)."""
    out = self._gale_out
    if (
        out is not None
        and anchors is None
        and direct_task is None
        and not need_task_ids
        and self._current_tups is self._gale_anchor_src
        and tup.__class__ is list
    ):
        # The common case under the batched protocol: one append.
        out.append((stream, tup, self._gale_anchor_ids))
        return None
    if anchors is None:
        current = self._current_tups
        if current is not self._gale_anchor_src:
            self._gale_anchor_src = current
            self._gale_anchor_ids = [getattr(t, "id", t) for t in current] if self.auto_anchor else []
        anchors = self._gale_anchor_ids
    else:
        anchors = [getattr(a, "id", a) for a in anchors]
    channel = self._gale
    if not channel.batched:
        return _storm_emit(self, tup, None, stream, anchors, direct_task, need_task_ids)
    return _gather_emit(channel, channel.emits, tup, stream, anchors, direct_task, need_task_ids)


def spout_emit(self, tup, tup_id=None, stream=None, direct_task=None, need_task_ids=False):
    """Emits a tuple, reliable when ``tup_id`` is given (pystorm's
    ``Spout.emit``)."""
    out = self._gale_out
    if out is not None and direct_task is None and not need_task_ids and tup.__class__ is list:
        out.append((stream, tup, tup_id))
        return None
    channel = self._gale
    if not channel.batched:
        return _storm_emit(self, tup, tup_id, stream, None, direct_task, need_task_ids)
    return _gather_emit(channel, channel.spout_emits, tup, stream, tup_id, direct_task, need_task_ids)


def emit_many(self, tuples, **kwargs):
    """Emits each of ``tuples`` with the same options (``stream=``,
    ``anchors=``, ``direct_task=``; spouts: no ``tup_id``); returns the
    task-id lists when ``need_task_ids=True``, else ``None``."""
    emit = self.emit
    if kwargs.get("need_task_ids"):
        return [emit(t, **kwargs) for t in tuples]
    for t in tuples:
        emit(t, **kwargs)
    return None


def bolt_ack(self, tup):
    """Acks an input (a tuple or its id)."""
    channel = self._gale
    if channel.batched:
        channel.acks.append(getattr(tup, "id", tup))
    else:
        channel.send_message({"command": "ack", "id": getattr(tup, "id", tup)})


def bolt_fail(self, tup):
    """Fails an input (a tuple or its id): its spout replays it."""
    channel = self._gale
    if channel.batched:
        channel.fails.append(getattr(tup, "id", tup))
    else:
        channel.send_message({"command": "fail", "id": getattr(tup, "id", tup)})


def read_tuple(self):
    """The next input: from the current frame (batched) or the pipe."""
    if self._gale.batched:
        tup_id, source, stream, task, values = self._gale_queue.popleft()
    else:
        cmd = self.read_command()
        tup_id, source, stream, task, values = cmd["id"], cmd["comp"], cmd["stream"], cmd["task"], cmd["tuple"]
    val_type = self._source_tuple_types[source].get(stream)
    values = tuple(values) if val_type is None else val_type(*values)
    return self._gale_tuple(tup_id, source, stream, task, values)


def bolt_step(self):
    """Batched: processes the inputs left of the current frame, or sends
    what was gathered and reads the next frame."""
    queue = self._gale_queue
    channel = self._gale
    if not queue:
        channel.flush()
        frame = channel.read_frame()
        tuples = frame.get("t")
        if tuples:
            queue.extend(tuples)
        if frame.get("hb"):
            channel.sync = True
        return
    if type(self)._run not in _PLAIN_RUNS:
        # The class has its own loop (a BatchingBolt, an override):
        # it reads its inputs with read_tuple.
        while queue:
            self._run()
        return
    # pystorm's Bolt._run, without the per-tuple reads and writes.
    make = self._gale_tuple
    types = self._source_tuple_types
    process = self.process
    auto_ack = self.auto_ack
    auto_anchor = self.auto_anchor
    ack = channel.acks.append
    popleft = queue.popleft
    while queue:
        tup_id, source, stream, task, values = popleft()
        val_type = types[source].get(stream)
        tup = make(tup_id, source, stream, task, tuple(values) if val_type is None else val_type(*values))
        # What bolt_emit would work out from _current_tups, done once.
        self._current_tups = self._gale_anchor_src = current = [tup]
        self._gale_anchor_ids = [tup_id] if auto_anchor else []
        if stream == "__tick" and source == "__system":
            self.process_tick(tup)
        else:
            process(tup)
        if auto_ack:
            ack(tup_id)
        if self._current_tups is current:
            self._current_tups = []


def spout_step(self):
    """Batched: answers one request: acks, fails, (de)activation, then up
    to ``next`` calls of ``next_tuple`` (until one emits nothing)."""
    channel = self._gale
    channel.flush()
    frame = channel.read_frame()
    for msg_id in frame.get("a") or ():
        self.ack(msg_id)
    for msg_id in frame.get("f") or ():
        self.fail(msg_id)
    if frame.get("activate"):
        self.activate()
    if frame.get("deactivate"):
        self.deactivate()
    next_tuple = self.next_tuple
    for _ in range(frame.get("next") or 0):
        before = len(channel.spout_emits)
        next_tuple()
        if len(channel.spout_emits) <= before:
            break
    channel.sync = True


class _SerializerShim(object):
    """What pystorm's logging handler writes through (``self.serializer``)."""

    output_stream = None

    def __init__(self, component):
        self._component = component

    def send_message(self, msg):
        self._component.send_message(msg)


def run(self):
    """The component's life: handshake (asking for the batched protocol
    when offered), ``initialize``, then inputs until the parent goes away.
    An exception is reported (and the input failed) as pystorm does; with
    ``exit_on_exception`` (the default) the process then exits."""
    channel = self._gale = Channel()
    try:
        msg = channel.read_handshake()
    except GaleWentAway:
        self._exit(2)
    conf, context = msg["conf"], msg["context"]
    open(os.path.join(msg["pidDir"], str(self.pid)), "w").close()
    offer = msg.get("gale") or {}
    batched = BATCHED in (offer.get("protocols") or ()) and os.environ.get("GALE_PROTOCOL") != "storm"
    answer = {"pid": self.pid}
    if batched:
        answer["protocol"] = BATCHED
        channel.max_frame = int(offer.get("max_frame") or channel.max_frame)
    channel.send_message(answer)
    if batched:
        channel.switch_to_frames()
    is_spout = hasattr(self, "next_tuple")
    channel.spout = is_spout
    if batched:
        # The lists bolt_emit and spout_emit append to in the common case
        # (the channel empties them in place when it writes a frame).
        self._gale_out = channel.spout_emits if is_spout else channel.emits
    self._gale_queue = deque()
    self.serializer = _SerializerShim(self)
    self._setup_component(conf, context)
    self.initialize(conf, context)
    if not batched:
        step = self._run
    elif is_spout:
        step = self._gale_spout_step
    else:
        step = self._gale_bolt_step
    while True:
        try:
            step()
        except GaleWentAway:
            log.info("Exiting because the parent process went away.")
            self._exit(2)
        except Exception as e:  # noqa: BLE001 - pystorm's behaviour
            try:
                log.error("Exception in %s.run()", self.__class__.__name__, exc_info=True)
                self._handle_run_exception(e)
                if channel.batched:
                    channel.flush()
            except GaleWentAway:
                self._exit(2)
            except Exception:  # noqa: BLE001
                log.error("While trying to handle the previous exception...", exc_info=True)
            if self.exit_on_exception:
                self._exit(1)


def exit_process(self, status):
    """Ends the process (pystorm's ``_exit``), after sending what is gathered."""
    channel = self._gale
    if channel is not None and channel.batched:
        try:
            channel.flush()
        except OSError:
            pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


#: The plain bolt loops that bolt_step runs inline.
_PLAIN_RUNS = set()


# -- gale's own base classes ---------------------------------------------


class StormHandler(logging.Handler):
    """Sends log records to the parent as ``log`` messages."""

    def __init__(self, component):
        logging.Handler.__init__(self)
        self.component = component

    def emit(self, record):
        try:
            level = _STORM_LOG_LEVELS.get(record.levelname.lower(), 2)
            self.component.send_message({"command": "log", "msg": self.format(record), "level": level})
        except Exception:  # noqa: BLE001
            self.handleError(record)


class Component(object):
    """What spouts and bolts share (pystorm's ``Component``): the
    handshake's ``storm_conf`` and ``context``, ``topology_name``,
    ``task_id``, ``component_name``, ``debug``, ``pid``, ``logger``,
    ``log``, ``raise_exception``, ``report_metric`` and ``run``."""

    exit_on_exception = True
    _gale = None
    _gale_out = None
    _gale_tuple = Tuple

    def __init__(self, input_stream=None, output_stream=None, rdb_signal=None, serializer=None):
        # The arguments are pystorm's; the protocol and its serializer
        # are chosen in the handshake.
        self.topology_name = None
        self.task_id = None
        self.component_name = None
        self.debug = None
        self.storm_conf = None
        self.context = None
        self.pid = os.getpid()
        self.logger = None
        self._pending_commands = deque()
        self._pending_task_ids = deque()
        self._reader_lock = threading.RLock()
        self._writer_lock = threading.RLock()

    send_message = send_message
    read_message = read_message
    emit_many = emit_many
    run = run
    _exit = exit_process

    @staticmethod
    def is_heartbeat(tup):
        """Whether ``tup`` is a heartbeat (Storm's protocol)."""
        return tup.task == -1 and tup.stream == "__heartbeat"

    def _setup_component(self, storm_conf, context):
        self.topology_name = storm_conf.get("topology.name", "")
        self.task_id = context.get("taskid", "")
        self.component_name = context.get("componentid") or context.get("task->component", {}).get(str(self.task_id), "")
        self.debug = storm_conf.get("topology.debug", False)
        self.storm_conf = storm_conf
        self.context = context
        self.logger = logging.getLogger("gale." + str(self.component_name))
        level_name = str(storm_conf.get("pystorm.log.level", "info")).lower()
        level = logging.DEBUG if self.debug else getattr(logging, level_name.upper(), logging.INFO)
        handler = StormHandler(self)
        handler.setLevel(level)
        handler.setFormatter(logging.Formatter(storm_conf.get("pystorm.log.format", "%(name)s - %(message)s")))
        logging.getLogger().addHandler(handler)
        self.logger.setLevel(level)

    def initialize(self, storm_conf, context):
        """Called after the handshake, before the first input."""

    def read_command(self):
        """The next command of Storm's protocol (task-id lists kept apart)."""
        if self._pending_commands:
            return self._pending_commands.popleft()
        msg = self.read_message()
        while isinstance(msg, list):
            self._pending_task_ids.append(msg)
            msg = self.read_message()
        return msg

    def read_task_ids(self):
        """The answer to an emit that asked for its target tasks."""
        if self._gale.batched:
            return self._gale.read_task_ids()
        if self._pending_task_ids:
            return self._pending_task_ids.popleft()
        msg = self.read_message()
        while not isinstance(msg, list):
            self._pending_commands.append(msg)
            msg = self.read_message()
        return msg

    def log(self, message, level=None):
        """Logs ``message`` in Gale's log (``level``: trace, debug, info,
        warn or error)."""
        self.send_message({"command": "log", "msg": str(message), "level": _STORM_LOG_LEVELS.get(level, 2)})

    def raise_exception(self, exception, tup=None):
        """Reports an exception (with its traceback) as the component's error."""
        if tup:
            message = "Python %s raised while processing Tuple %r\n%s" % (
                exception.__class__.__name__,
                tup,
                traceback.format_exc(),
            )
        else:
            message = "Python %s raised\n%s" % (exception.__class__.__name__, traceback.format_exc())
        self.send_message({"command": "error", "msg": str(message)})
        self.send_message({"command": "sync"})

    def report_metric(self, name, value):
        """Reports a metric (a gauge in Gale's metrics)."""
        self.send_message({"command": "metrics", "name": name, "params": value})

    def _handle_run_exception(self, exc):
        self.raise_exception(exc)


class Bolt(Component):
    """A bolt (pystorm's and streamparse's ``Bolt``): implement
    ``process(tup)`` (and optionally ``process_tick(tup)``); emit with
    ``emit(values, stream=, anchors=, direct_task=, need_task_ids=)``.
    ``auto_anchor``, ``auto_ack`` and ``auto_fail`` default to on."""

    auto_anchor = True
    auto_ack = True
    auto_fail = True
    _current_tups = []
    _gale_anchor_src = None
    _gale_anchor_ids = ()

    def __init__(self, *args, **kwargs):
        Component.__init__(self, *args, **kwargs)
        self._source_tuple_types = defaultdict(dict)

    def _setup_component(self, storm_conf, context):
        Component._setup_component(self, storm_conf, context)
        for source, stream_fields in (context.get("source->stream->fields") or {}).items():
            for stream, fields in stream_fields.items():
                name = _IDENTIFIER_RE.sub("_", source.title()) + _IDENTIFIER_RE.sub("_", stream.title()) + "Tuple"
                self._source_tuple_types[source][stream] = namedtuple(name, fields)

    @staticmethod
    def is_tick(tup):
        """Whether ``tup`` is a tick tuple."""
        return tup.component == "__system" and tup.stream == "__tick"

    emit = bolt_emit
    ack = bolt_ack
    fail = bolt_fail
    read_tuple = read_tuple
    _gale_bolt_step = bolt_step

    def process(self, tup):
        """Processes one input; override it."""
        raise NotImplementedError()

    def process_tick(self, tup):
        """Processes a tick tuple (default: nothing)."""

    def _run(self):
        tup = self.read_tuple()
        self._current_tups = [tup]
        if self.is_heartbeat(tup):
            self.send_message({"command": "sync"})
        elif self.is_tick(tup):
            self.process_tick(tup)
            if self.auto_ack:
                self.ack(tup)
        else:
            self.process(tup)
            if self.auto_ack:
                self.ack(tup)
        self._current_tups = []

    def _handle_run_exception(self, exc):
        if len(self._current_tups) == 1:
            tup = self._current_tups[0]
            self.raise_exception(exc, tup)
            if self.auto_fail:
                self.fail(tup)
        else:
            self.raise_exception(exc)


_PLAIN_RUNS.add(Bolt._run)


class BatchingBolt(Bolt):
    """A bolt that groups inputs between tick tuples (pystorm's and
    streamparse's ``BatchingBolt``): implement ``process_batch(key, tups)``
    and optionally ``group_key(tup)``; a batch is processed every
    ``ticks_between_batches`` ticks and its inputs are acked after it."""

    ticks_between_batches = 1

    def __init__(self, *args, **kwargs):
        Bolt.__init__(self, *args, **kwargs)
        self._batches = defaultdict(list)
        self._tick_counter = 0
        self._current_key = None

    def group_key(self, tup):
        """The batch of ``tup`` (default: one batch)."""
        return None

    def process_batch(self, key, tups):
        """Processes one batch; override it."""
        raise NotImplementedError()

    def emit(self, tup, **kwargs):
        kwargs["need_task_ids"] = False
        return bolt_emit(self, tup, **kwargs)

    def process_tick(self, tick_tup):
        self._tick_counter += 1
        self.ack(tick_tup)
        if self._tick_counter > self.ticks_between_batches and self._batches:
            self.process_batches()
            self._tick_counter = 0

    def process_batches(self):
        """Processes and acks every batch."""
        for key, batch in self._batches.items():
            self._current_tups = batch
            self._current_key = key
            self.process_batch(key, batch)
            if self.auto_ack:
                for tup in batch:
                    self.ack(tup)
            self._current_key = None
            self._batches[key] = []
        self._batches = defaultdict(list)

    def process(self, tup):
        self._batches[self.group_key(tup)].append(tup)

    def _run(self):
        self._current_tups = [self.read_tuple()]
        tup = self._current_tups[0]
        if self.is_heartbeat(tup):
            self.send_message({"command": "sync"})
        elif self.is_tick(tup):
            self.process_tick(tup)
        else:
            self.process(tup)
        self._current_tups = []

    def _handle_run_exception(self, exc):
        self.raise_exception(exc, self._current_tups)
        if self.auto_fail:
            failed = set()
            for key, batch in self._batches.items():
                if self.exit_on_exception or key == self._current_key:
                    for tup in batch:
                        self.fail(tup)
                        failed.add(tup.id)
            for tup in self._current_tups:
                if tup.id not in failed:
                    self.fail(tup)


class Spout(Component):
    """A spout (pystorm's and streamparse's ``Spout``): implement
    ``next_tuple()`` and, for reliable emits (``emit(values,
    tup_id=...)``), ``ack(tup_id)`` and ``fail(tup_id)``."""

    emit = spout_emit
    _gale_spout_step = spout_step

    def ack(self, tup_id):
        """The tree of ``tup_id`` was fully processed."""

    def fail(self, tup_id):
        """The tree of ``tup_id`` failed or timed out: replay it if you like."""

    def next_tuple(self):
        """Emits zero or more tuples; override it. Must not block."""
        raise NotImplementedError()

    def activate(self):
        """The topology was activated."""

    def deactivate(self):
        """The topology was deactivated."""

    def _run(self):
        cmd = self.read_command()
        command = cmd.get("command")
        if command == "next":
            self.next_tuple()
        elif command == "ack":
            self.ack(cmd["id"])
        elif command == "fail":
            self.fail(cmd["id"])
        elif command == "activate":
            self.activate()
        elif command == "deactivate":
            self.deactivate()
        else:
            log.error("Received an unknown command: %r", cmd)
        self.send_message({"command": "sync"})
