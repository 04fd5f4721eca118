"""Python spouts and bolts for Gale, with pystorm's and streamparse's API,
over Gale's batched multi-lang protocol (or Storm's, when the parent does
not offer batching).

Write components as with streamparse (only the import changes), or keep
existing pystorm/streamparse classes unchanged and run them with
``python -m gale.run MODULE:CLASS``.
"""
from .component import BatchingBolt, Bolt, Component, Spout, Tuple

__all__ = ["BatchingBolt", "Bolt", "Component", "Spout", "Tuple"]
__version__ = "0.1.0"
