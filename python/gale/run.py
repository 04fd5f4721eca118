"""Runs a spout or bolt class as a child of Gale (or Storm):

    python -m gale.run MODULE:CLASS      # or MODULE.CLASS, as streamparse
    gale-run MODULE:CLASS

The class may be a :mod:`gale` class or an unmodified pystorm or
streamparse class. When the parent offers Gale's batched protocol in the
handshake the child asks for it; otherwise (Storm, or Gale with
``protocol: storm``) it speaks Storm's multi-lang protocol, with the
serializer the handshake came in. ``GALE_PROTOCOL=storm`` in the
environment declines the offer.

The current directory (and its ``src``, ``resources`` and ``topologies``
folders, as streamparse projects lay them out) is put on ``sys.path``
first, so a project's modules import as under streamparse.
"""
import argparse
import importlib
import os
import sys

from . import component as _core


def adopt(cls):
    """Makes a pystorm (or streamparse) class speak through gale: installs
    gale's protocol functions into pystorm's base classes, below every
    subclass, so overrides and pystorm's own subclasses (``BatchingBolt``,
    ``ReliableSpout``) keep their behaviour. Only this process is
    affected. A :mod:`gale` class is returned as it is."""
    if issubclass(cls, _core.Component):
        return cls
    try:
        from pystorm import bolt as ps_bolt
        from pystorm import component as ps_component
        from pystorm import spout as ps_spout
    except ImportError:
        raise TypeError("%r is neither a gale nor a pystorm component class" % (cls,))
    if not issubclass(cls, ps_component.Component):
        raise TypeError("%r is neither a gale nor a pystorm component class" % (cls,))
    base = ps_component.Component
    if getattr(base, "_gale_adopted", False):
        return cls
    base._gale_adopted = True
    base._gale = None
    base._gale_out = None
    base._gale_tuple = ps_component.Tuple
    base.send_message = _core.send_message
    base.read_message = _core.read_message
    base.run = _core.run
    base.emit_many = _core.emit_many
    base._exit = _core.exit_process
    bolt = ps_bolt.Bolt
    bolt._gale_anchor_src = None
    bolt._gale_anchor_ids = ()
    bolt.emit = _core.bolt_emit
    bolt.ack = _core.bolt_ack
    bolt.fail = _core.bolt_fail
    bolt.read_tuple = _core.read_tuple
    bolt._gale_bolt_step = _core.bolt_step
    _core._PLAIN_RUNS.add(bolt._run)
    spout = ps_spout.Spout
    spout.emit = _core.spout_emit
    spout._gale_spout_step = _core.spout_step

    # pystorm's Component.read_task_ids reads Storm messages; under the
    # batched protocol the answer comes in a frame.
    storm_read_task_ids = base.read_task_ids

    def read_task_ids(self):
        if self._gale is not None and self._gale.batched:
            return self._gale.read_task_ids()
        return storm_read_task_ids(self)

    base.read_task_ids = read_task_ids
    return cls


def load(target):
    """The class named by ``MODULE:CLASS`` or ``MODULE.CLASS``."""
    if ":" in target:
        module, name = target.split(":", 1)
    else:
        module, _, name = target.rpartition(".")
    if not module or not name:
        raise SystemExit("gale.run: expected MODULE:CLASS, got %r" % target)
    here = os.getcwd()
    for path in (here, os.path.join(here, "src"), os.path.join(here, "resources"), os.path.join(here, "topologies")):
        if os.path.isdir(path) and path not in sys.path:
            sys.path.insert(0, path)
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gale.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="the component class, MODULE:CLASS or MODULE.CLASS")
    parser.add_argument(
        "-s",
        "--serializer",
        choices=["json", "msgpack"],
        help="ignored: the serializer is read from the handshake (accepted for streamparse's command lines)",
    )
    args = parser.parse_args(argv)
    cls = adopt(load(args.target))
    cls().run()


if __name__ == "__main__":
    main()
