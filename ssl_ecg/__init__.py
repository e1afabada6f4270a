"""ssl-ecg: pluggable self-supervised pretraining for ECG encoders.

What a plugin needs is importable from here: ``hookimpl``, ``Spec``, ``Config`` and the
component base classes and contexts.
"""

from ssl_ecg.hookspecs import hookimpl
from ssl_ecg.specs import Config, Spec

__version__ = "0.1.0"
__all__ = ["Config", "Spec", "__version__", "hookimpl"]
