"""pytorch-fid's and torch-fidelity's metric functions, importable without torchvision.

  with torch_refs.reference_imports():
      from pytorch_fid import fid_score

Both packages import torchvision at module level (image transforms, Inception / VGG blocks), but
their metric functions (`calculate_frechet_distance`, `*_features_to_metric`,
`fid_statistics_to_metric`) only take arrays and never touch it. torchvision does not load beside
the CPU torch build this project tests with. When `import torchvision` fails, a meta-path finder
serves `torchvision` and its submodules as empty stand-in modules whose attributes are dummy
classes, so the imports succeed. On exit the finder and every module imported under it (the stubs
and both packages, which hold stub references) are removed, so nothing else sees them.
"""

import contextlib
import importlib.abc
import importlib.machinery
import sys
import types


class _StubMeta(type):
    """Metaclass of the stand-in classes: any public attribute of one is another stand-in class,
    so module-level code such as `class A(torchvision.models.inception.InceptionA)` runs."""

    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _StubMeta(name, (), {})


class _StubLoader(importlib.abc.Loader):
    def create_module(self, spec):
        module = types.ModuleType(spec.name)

        def __getattr__(name):  # noqa: N807 (module-level __getattr__, PEP 562)
            if name.startswith("__"):
                raise AttributeError(name)
            return _StubMeta(name, (), {})

        module.__getattr__ = __getattr__
        return module

    def exec_module(self, module):
        pass


class _TorchvisionStubFinder(importlib.abc.MetaPathFinder):
    """Makes `torchvision` and every `torchvision.*` importable as an empty package."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torchvision" or fullname.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(fullname, _StubLoader(), is_package=True)
        return None


def _drop_new_modules(before: set[str], prefixes: tuple[str, ...]) -> None:
    for name in [n for n in sys.modules if n not in before]:
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            del sys.modules[name]


@contextlib.contextmanager
def reference_imports():
    """Within it, pytorch_fid and torch_fidelity import (with torchvision stubbed if needed)."""
    before = set(sys.modules)
    finder = None
    try:
        import torchvision  # noqa: F401
    except Exception:  # Absent, or present but not loadable beside this torch build.
        _drop_new_modules(before, ("torchvision",))
        finder = _TorchvisionStubFinder()
        sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        if finder is not None:
            sys.meta_path.remove(finder)
            _drop_new_modules(before, ("torchvision", "pytorch_fid", "torch_fidelity"))
