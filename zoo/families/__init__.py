"""Built-in model families, one module each; importing this package registers them all.

Every public module here is imported (none imports TensorFlow at module level), so a new
family is a new file: no list to edit.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
