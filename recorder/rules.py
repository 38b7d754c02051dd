"""Which requests are recorded: skip rules by path and method, and sampling."""

import random

from recorder.config import RecorderOptions
from recorder.exchange import METHODS


class SkipRules:
    """Decides cheaply, from the method and path alone, whether to record."""

    def __init__(self, options: RecorderOptions) -> None:
        self.exact = frozenset(
            path for path in options.skip_paths if not path.endswith("*")
        )
        self.prefixes = tuple(
            path[:-1] for path in options.skip_paths if path.endswith("*")
        )
        self.methods = frozenset(method.upper() for method in options.skip_methods)
        self.sample_rate = options.sample_rate

    def skip(self, method: str, path: str) -> bool:
        """True when this request is not to be recorded."""
        if method not in METHODS or method in self.methods:
            # http-types has no way to write other methods down
            return True
        if path in self.exact or (self.prefixes and path.startswith(self.prefixes)):
            return True
        return self.sample_rate < 1.0 and random.random() >= self.sample_rate
