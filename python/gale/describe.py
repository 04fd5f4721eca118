"""Describes a streamparse topology class as a Gale topology file:

    python -m gale.describe PROJECT/topologies/NAME.py

prints the topology (JSON, which Gale reads as YAML): one ``python:``
component per spec, with its class, ``par``, declared ``outputs``,
inputs and groupings, and per-component ``config``; the topology's
``config`` becomes the Storm conf of every component. Each component runs
with this interpreter, from the project directory (``PROJECT``, with its
``src`` on the path, as ``sparse`` lays projects out), under Gale's
batched protocol — or Storm's when ``GALE_PROTOCOL=storm`` is set.

``gale run PROJECT/topologies/NAME.py`` (and ``gale validate``,
``gale node``) runs this with the project's interpreter: ``$GALE_PYTHON``,
else the project's ``.venv`` or ``venv``, else streamparse's virtualenv
from ``config.json`` (``virtualenv_root/NAME``), else ``python3``
(docs/python.md).
"""
import importlib.util
import json
import os
import sys


class DescribeError(Exception):
    """The file does not hold exactly one streamparse topology."""


def _grouping(grouping):
    """A streamparse (Thrift) grouping as a Gale topology-file grouping."""
    for kind in ("shuffle", "all", "none", "direct", "local_or_shuffle"):
        if getattr(grouping, kind, None) is not None:
            return kind
    fields = getattr(grouping, "fields", None)
    if fields is not None:
        return {"type": "fields", "fields": list(fields)} if fields else "global"
    raise DescribeError("unsupported grouping %r (custom groupings are Java classes)" % (grouping,))


def _load(path):
    path = os.path.abspath(path)
    project = os.path.dirname(os.path.dirname(path))
    for extra in (os.path.join(project, "src"), project):
        if os.path.isdir(extra) and extra not in sys.path:
            sys.path.insert(0, extra)
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location("gale_topology_" + name, path)
    if spec is None or spec.loader is None:
        raise DescribeError("%s is not a Python file" % path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from streamparse import Topology

    found = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, Topology) and v is not Topology and v.__module__ == module.__name__
    ]
    if len(found) != 1:
        raise DescribeError(
            "%s defines %d streamparse Topology classes (%s); expected one"
            % (path, len(found), ", ".join(c.__name__ for c in found) or "none")
        )
    return project, name, found[0]


def describe(path, protocol=None):
    """The Gale topology file (a dict) of the streamparse topology in ``path``."""
    from streamparse.dsl.bolt import ShellBoltSpec
    from streamparse.dsl.spout import ShellSpoutSpec

    project, name, topology = _load(path)
    protocol = protocol or os.environ.get("GALE_PROTOCOL") or "batched"
    gale_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [gale_dir] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != gale_dir]
    env = {"PYTHONPATH": os.pathsep.join(paths)}
    out = {"name": name, "spouts": [], "bolts": [], "streams": []}
    conf = dict(topology.config or {})
    if conf:
        out["config"] = {"conf": conf}
    for spec in topology.specs:
        if not isinstance(spec, (ShellSpoutSpec, ShellBoltSpec)):
            raise DescribeError("component `%s` is not a Python component (Java is not supported)" % spec.name)
        cls = spec.component_cls
        if cls is None:
            raise DescribeError("component `%s` has no Python class (a plain shell spec)" % spec.name)
        component = {
            "id": spec.name,
            "parallelism": spec.par,
            "python": {
                "class": "%s:%s" % (cls.__module__, cls.__qualname__),
                "interpreter": sys.executable,
                "cwd": project,
                "env": env,
                "protocol": protocol,
            },
        }
        config = spec.config
        if isinstance(config, str):
            config = json.loads(config)
        if config:
            component["python"]["conf"] = dict(config)
        streams = {}
        for stream, info in (spec.outputs or {}).items():
            streams[stream] = {"fields": list(info.output_fields), "direct": bool(info.direct)}
        if streams:
            component["streams"] = streams
        if isinstance(spec, ShellSpoutSpec):
            out["spouts"].append(component)
        else:
            out["bolts"].append(component)
            for source, grouping in spec.inputs.items():
                out["streams"].append(
                    {
                        "from": source.componentId,
                        "to": spec.name,
                        "stream": source.streamId,
                        "grouping": _grouping(grouping),
                    }
                )
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: python -m gale.describe PROJECT/topologies/NAME.py\n")
        return 2
    try:
        described = describe(argv[0])
    except DescribeError as e:
        sys.stderr.write("gale.describe: %s\n" % e)
        return 1
    json.dump(described, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
