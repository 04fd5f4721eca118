"""A streamparse bolt run on windows (a `window:` block in the topology
file): each window arrives as one tuple (tuples, new, expired, start, end);
it emits one word per window naming the window's size and how many of its
tuples are new, e.g. ``size10new10``. Acked and anchored automatically, as
any streamparse bolt's input."""
from streamparse import Bolt


class WindowSize(Bolt):
    outputs = ["word"]

    def process(self, tup):
        tuples, new, expired, start, end = tup.values
        assert tup.stream == "__window", tup.stream
        assert all(isinstance(t, list) and len(t) == 1 for t in tuples), tuples
        self.emit(["size%dnew%d" % (len(tuples), len(new))])
