"""The pipes to Gale (or Storm): the handshake, Storm's multi-lang messages
(JSON or msgpack, detected from the handshake), and Gale's batched frames.

A frame is a 4-byte big-endian length and one msgpack map (see Gale's
``multilang/src/frame.rs`` for the keys). The channel gathers a component's
output (emits, acks, fails, logs, errors, metrics) in lists and writes them
as one frame in :meth:`Channel.flush`.
"""
import json
import os
import struct

import msgpack

#: The batched protocol's name in the handshake.
BATCHED = "gale-batched-1"

_LEN = struct.Struct(">I")
#: The frame keys of the output lists, in Channel._parts order.
_KEYS = ("e", "s", "a", "f", "log", "err", "m")
_READ = 1 << 20


class GaleWentAway(Exception):
    """stdin closed: the parent (Gale or Storm) is gone."""


class ProtocolError(Exception):
    """The parent sent something this side cannot read."""


class Channel(object):
    """stdin/stdout of a multi-lang child.

    stdout is kept for the protocol alone: the original descriptor 1 is
    duplicated for the channel and descriptor 1 then points at stderr, so
    a stray ``print`` (or a C library writing to stdout) cannot corrupt
    the stream.
    """

    def __init__(self, in_fd=0, out_fd=1, protect_stdout=True):
        self.in_fd = in_fd
        if protect_stdout and out_fd == 1:
            self.out_fd = os.dup(1)
            os.dup2(2, 1)
        else:
            self.out_fd = out_fd
        self.buf = bytearray()
        self.serializer = None  # "json" or "msgpack" once the handshake is read
        self.batched = False
        self.max_frame = 16 << 20
        self._unpacker = None
        self._deferred = []
        self.reset()

    def reset(self):
        """Empties the output gathered for the next frame, in place (the
        components keep references to these lists)."""
        if not hasattr(self, "emits"):
            self.emits = []  # bolt emits: (stream, values, anchors[, task, need_ids])
            self.spout_emits = []  # spout emits: (stream, values, msg_id[, task, need_ids])
            self.acks = []
            self.fails = []
            self.logs = []
            self.errors = []
            self.metrics = []
        for part in self._parts():
            del part[:]
        self.sync = False

    def _parts(self):
        return (self.emits, self.spout_emits, self.acks, self.fails, self.logs, self.errors, self.metrics)

    # -- reading -------------------------------------------------------

    def _fill(self):
        chunk = os.read(self.in_fd, _READ)
        if not chunk:
            raise GaleWentAway()
        self.buf += chunk

    def read_handshake(self):
        """Reads the first message, detecting its serializer (JSON text
        starts with ``{``; anything else is msgpack)."""
        while not self.buf.strip():
            self._fill()
        self.serializer = "json" if self.buf.lstrip()[:1] == b"{" else "msgpack"
        msg = self.read_message()
        if not isinstance(msg, dict) or "pidDir" not in msg:
            raise ProtocolError("the handshake is not a map with pidDir: %r" % (msg,))
        return msg

    def read_message(self):
        """Reads one message of Storm's protocol."""
        if self.serializer == "json":
            while True:
                end = self.buf.find(b"\nend\n")
                if end >= 0:
                    text = bytes(self.buf[:end])
                    del self.buf[: end + 5]
                    if text.strip():
                        return json.loads(text)
                    continue
                self._fill()
        if self._unpacker is None:
            self._unpacker = msgpack.Unpacker(raw=False)
            self._unpacker.feed(bytes(self.buf))
            del self.buf[:]
        while True:
            try:
                return next(self._unpacker)
            except StopIteration:
                chunk = os.read(self.in_fd, _READ)
                if not chunk:
                    raise GaleWentAway()
                self._unpacker.feed(chunk)

    def switch_to_frames(self):
        """After the handshake's answer: frames from now on."""
        self.batched = True
        if self._unpacker is not None:
            # Bytes the unpacker holds past the handshake (none in
            # practice: the parent sends nothing before the answer).
            self.buf[:0] = self._unpacker.read_bytes(1 << 30)
            self._unpacker = None

    def read_frame(self):
        """Reads one frame (a dict): first any put aside while waiting for
        task ids, then from the pipe."""
        if self._deferred:
            return self._deferred.pop(0)
        return self._read_frame()

    def _read_frame(self):
        buf = self.buf
        while len(buf) < 4:
            self._fill()
        (length,) = _LEN.unpack_from(buf)
        # The parent is trusted by its child: any length but 0 (the limit
        # in the handshake bounds what the child writes).
        if length == 0:
            raise ProtocolError("an empty frame from the parent")
        while len(buf) < 4 + length:
            self._fill()
        frame = msgpack.unpackb(memoryview(buf)[4 : 4 + length], raw=False)
        del buf[: 4 + length]
        if not isinstance(frame, dict):
            raise ProtocolError("a frame that is not a map: %r" % (frame,))
        return frame

    def read_task_ids(self):
        """Batched: sends what was gathered and waits for the answer to
        the emit that asked for its target tasks; frames that come first
        are kept for :meth:`read_frame`."""
        self.flush()
        held = []
        while True:
            frame = self._read_frame()
            ids = frame.get("task_ids")
            if ids is not None:
                self._deferred.extend(held)
                return ids
            held.append(frame)

    # -- writing -------------------------------------------------------

    def _write(self, data):
        view = memoryview(data)
        while view:
            n = os.write(self.out_fd, view)
            view = view[n:]

    def send_message(self, msg):
        """Writes one message of Storm's protocol (the handshake's answer,
        or anything before batching)."""
        if self.serializer == "json":
            self._write(json.dumps(msg).encode("utf-8") + b"\nend\n")
        else:
            self._write(msgpack.packb(msg, use_bin_type=True))

    def flush(self):
        """Writes what was gathered as one frame (nothing if empty). Each
        list is taken by copy and then emptied of what was copied, so
        what another thread (TicklessBatchingBolt's timer) appends
        meanwhile goes in the next frame, once."""
        frame = {}
        for key, part in zip(_KEYS, self._parts()):
            if part:
                taken = part[:]
                del part[: len(taken)]
                frame[key] = taken
        if self.sync:
            frame["sync"] = True
            self.sync = False
        if not frame:
            return
        body = msgpack.packb(frame, use_bin_type=True)
        self._write(_LEN.pack(len(body)) + body)

    def put(self, msg):
        """Batched: gathers one message of Storm's protocol (a dict with
        ``command``) into the next frame."""
        command = msg.get("command")
        if command == "emit":
            task = msg.get("task")
            need = bool(msg.get("need_task_ids", False))
            if "anchors" in msg or "id" not in msg and not self.spout:
                entry = (msg.get("stream"), msg["tuple"], msg.get("anchors"), task, need)
                self.emits.append(entry)
            else:
                entry = (msg.get("stream"), msg["tuple"], msg.get("id"), task, need)
                self.spout_emits.append(entry)
        elif command == "ack":
            self.acks.append(msg["id"])
        elif command == "fail":
            self.fails.append(msg["id"])
        elif command == "log":
            self.logs.append((int(msg.get("level", 2)), str(msg.get("msg", ""))))
        elif command == "error":
            self.errors.append(str(msg.get("msg", "")))
        elif command == "metrics":
            self.metrics.append((str(msg.get("name", "")), msg.get("params")))
        elif command == "sync":
            self.sync = True
        else:
            raise ProtocolError("cannot send %r over the batched protocol" % (msg,))

    spout = False
