"""One way to plug things in: backbones, dataset adapters, face detectors and aggregation rules.

A ``Registry`` maps names to entries. Registering a name twice is a programming error; looking up an
unknown name is a user error that lists the known names and says where they are chosen. Registries hold
light entries (specs and functions that import heavy libraries only when called), so the names are known
without loading TensorFlow: stage 04's ``--help`` lists the backbones in a second.

Where each registry lives: ``common.models.backbones.BACKBONES``, ``common.data.adapters.ADAPTERS``,
``common.faces.detection.DETECTORS``, ``common.evaluation.aggregate.RULES``.
"""

from common.core.errors import UserError


class Registry:
    """Entries of one kind (``kind``: "backbone"), chosen by the user with ``option`` ("--model"), kept in
    the module attribute ``home`` ("common.models.backbones.BACKBONES") that error messages point to."""

    def __init__(self, kind, option, home):
        self.kind, self.option, self.home = kind, option, home
        self._entries = {}

    def register(self, name, entry=None):
        """Add ``entry`` under ``name``; without ``entry``, a decorator that adds what it decorates."""
        if entry is None:
            return lambda decorated: self.register(name, decorated)
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = entry
        return entry

    def get(self, name):
        """The entry called ``name``; ``UserError`` naming the known ones when there is none."""
        try:
            return self._entries[name]
        except KeyError:
            raise UserError(
                f"unknown {self.kind} '{name}' for {self.option}; known: {', '.join(self.names())} "
                f"(a new {self.kind} is added with {self.home}.register)"
            ) from None

    def names(self):
        """The registered names, sorted."""
        return tuple(sorted(self._entries))

    def __contains__(self, name):
        return name in self._entries

    def __iter__(self):
        return iter(self.names())

    def __len__(self):
        return len(self._entries)
