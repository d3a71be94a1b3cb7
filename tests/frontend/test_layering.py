"""The packages' layering, read from their import statements.

``eucad.clc`` and ``eucad.walrus`` import nothing of each other nor of the
front end above them; no daemon (the modules each twistd plugin names, and
everything they import from eucad) imports a command-line module (the
console scripts of setup.cfg).  Imports are read with ``ast``, inside
functions too, without importing anything.
"""

import ast
import configparser
import os

from twisted.trial import unittest

import eucad

PACKAGE_ROOT = os.path.dirname(os.path.abspath(eucad.__file__))
PROJECT_ROOT = os.path.dirname(PACKAGE_ROOT)
DAEMON_TAPS = ("eucad.frontend.tap", "eucad.clc.tap", "eucad.walrus.tap",
               "eucad.cc.tap", "eucad.nc.tap")


def moduleFile(name):
    """The source file of eucad module ``name``, or None if it is not one."""
    parts = name.split(".")
    if parts[0] != "eucad":
        return None
    base = os.path.join(PROJECT_ROOT, *parts)
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def moduleName(path):
    relative = os.path.relpath(path, PROJECT_ROOT)[:-len(".py")]
    parts = relative.split(os.sep)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def importsOf(path):
    """Every module name ``path`` imports (``from a import b`` counts a and a.b)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = moduleName(path)
    if not path.endswith("__init__.py"):
        package = package.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(base + "." + alias.name for alias in node.names)
    return found


def packageFiles(package):
    directory = os.path.join(PROJECT_ROOT, *package.split("."))
    for folder, _, names in os.walk(directory):
        for name in sorted(names):
            if name.endswith(".py"):
                yield os.path.join(folder, name)


def importClosure(start):
    """Every eucad module ``start`` imports, directly or not (itself included)."""
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        path = moduleFile(name)
        if path is None or name in seen:
            continue
        seen.add(name)
        for imported in importsOf(path):
            # ``from a import b`` may name a module or a name in a.
            todo.append(imported)
            parent = imported.rpartition(".")[0]
            while parent:
                todo.append(parent)
                parent = parent.rpartition(".")[0]
    return seen


def commandLineModules():
    """The modules setup.cfg's console scripts run."""
    config = configparser.ConfigParser()
    config.read(os.path.join(PROJECT_ROOT, "setup.cfg"))
    scripts = config["options.entry_points"]["console_scripts"]
    return {line.split("=", 1)[1].strip().split(":")[0]
            for line in scripts.strip().splitlines() if "=" in line}


def crossImports(package, forbidden):
    """``(file, module)`` for each import in ``package`` of a ``forbidden`` package."""
    found = []
    for path in packageFiles(package):
        for name in importsOf(path):
            if any(name == other or name.startswith(other + ".") for other in forbidden):
                found.append((os.path.relpath(path, PROJECT_ROOT), name))
    return sorted(found)


class LayeringTests(unittest.TestCase):

    def test_clcImportsNoWalrus(self):
        """No module of eucad.clc imports eucad.walrus or the front end above it."""
        self.assertEqual(crossImports("eucad.clc", ["eucad.walrus", "eucad.frontend"]), [])

    def test_walrusImportsNoClc(self):
        """No module of eucad.walrus imports eucad.clc or the front end above it."""
        self.assertEqual(crossImports("eucad.walrus", ["eucad.clc", "eucad.frontend"]), [])

    def test_frontendComposesBoth(self):
        """The front end is where the two meet: the scan sees its imports of both."""
        seen = crossImports("eucad.frontend", ["eucad.clc", "eucad.walrus"])
        self.assertTrue(any(name.startswith("eucad.clc") for _, name in seen))
        self.assertTrue(any(name.startswith("eucad.walrus") for _, name in seen))

    def test_noDaemonImportsACommandLineModule(self):
        """Nothing a twistd plugin's tap imports, directly or not, is a console script's module."""
        commands = commandLineModules()
        self.assertIn("eucad.common.control", commands)
        for tap in DAEMON_TAPS:
            closure = importClosure(tap)
            self.assertIn(tap, closure)
            self.assertEqual(sorted(closure & commands), [], tap)

    def test_pluginsNameTheTaps(self):
        """Every daemon's plugin names one of the taps checked here."""
        with open(os.path.join(PROJECT_ROOT, "twisted", "plugins", "eucad_plugins.py")) as f:
            text = f.read()
        for tap in ("eucad.frontend.tap", "eucad.walrus.tap", "eucad.cc.tap", "eucad.nc.tap"):
            self.assertIn('"%s"' % (tap,), text)
