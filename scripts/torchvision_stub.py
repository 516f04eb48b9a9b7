"""An empty torchvision for scripts that import timm where torchvision is not installed.

timm imports torchvision at import time, but its ConvNeXt, its parameter groups and its
checkpoint filter use none of it. `install()` puts a finder on sys.meta_path that answers every
`torchvision…` import with a module whose attributes are inert placeholders; it does nothing
when a real torchvision imports. (scripts/tv_shim.py is for the other case: a torchvision that
is installed but built for another torch.)

    import torchvision_stub  # scripts/ on sys.path, as when running scripts/NAME.py
    torchvision_stub.install()
    import timm
"""

import importlib.abc
import importlib.machinery
import sys
import types


def install():
    """Makes `import torchvision` succeed with inert placeholders when no torchvision is installed."""
    try:
        import torchvision  # noqa: F401
        return
    except ImportError:
        pass

    class Meta(type):
        def __getattr__(cls, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return cls.__name__ + "." + name

    class Dummy(metaclass=Meta):
        def __init__(self, *a, **k):
            pass

    class Module(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return Dummy

    class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, fullname, path, target=None):
            if fullname == "torchvision" or fullname.startswith("torchvision."):
                return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
            return None

        def create_module(self, spec):
            m = Module(spec.name)
            m.__path__ = []
            return m

        def exec_module(self, module):
            pass

    sys.meta_path.insert(0, Finder())
