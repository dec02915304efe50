"""The import graph of lib/, tools/ and scripts/: no cycles, models free of data, layers that only
point down, and no unexplained function-level import.

Every ``.py`` file is parsed (``ast``, nothing is imported) and every ``lib.*`` import is collected,
at module level and inside functions alike: ``import lib.a.b`` and ``from lib.a import b`` name the
module ``lib.a.b`` when ``lib/a/b.py`` (or the package ``lib/a/``) exists, else ``lib.a`` (``b`` is
a name defined there).

The layers (a package may import its own modules and any lower layer, never a higher one):

====  =====================  ==================================================================
0     utils                  errors, safe I/O, runtime, distributed, media I/O
1     config                 the defaults and the loader (paths from lib.utils.runtime)
2     data, models           numpy data (skeleton, formats, readers, normalisation) and the torch
                             networks; the two do not import each other (models get the
                             dataset-dependent numbers from their caller)
3     prep, vis, eval        data preparation, figures, metrics and evaluation (on data + models)
4     train, inference       the training run (evaluates) and the demo / LSP (lift, draw)
5     bench, parity          benchmarks and parity checks (run training and evaluation)
6     tools/, scripts/       the command-line entry points
====  =====================  ==================================================================

``lib.vis`` sits beside ``lib.eval`` rather than above it: the figures read prediction files and
data, not the evaluation code; ``lib.inference`` sits above both because the demo lifts (eval's
batch lifting) and draws (vis).
"""
import ast
import io
import os
import tokenize

import pytest

from helpers import REPO

ROOTS = ('lib', 'tools', 'scripts')

LAYERS = {'utils': 0, 'config': 1, 'data': 2, 'models': 2, 'prep': 3, 'vis': 3, 'eval': 3,
          'train': 4, 'inference': 4, 'bench': 5, 'parity': 5}
TOP = 6                                     # tools/ and scripts/
MODELS_MAY_IMPORT = ('models', 'utils')


# --- collecting the graph ---------------------------------------------------------

def module_name(rel_path):
    """'lib/data/dataset.py' -> 'lib.data.dataset'; a package's __init__.py -> the package."""
    parts = rel_path[:-3].split('/')
    if parts[-1] == '__init__':
        parts = parts[:-1]
    return '.'.join(parts)


def python_files(repo=REPO):
    out = []
    for root in ROOTS:
        for d, dirs, files in os.walk(os.path.join(repo, root)):
            dirs[:] = sorted(x for x in dirs if x not in ('__pycache__',) and not x.startswith('.'))
            out += [os.path.relpath(os.path.join(d, f), repo).replace(os.sep, '/')
                    for f in sorted(files) if f.endswith('.py')]
    return out


def _comment_lines(source):
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            lines.add(tok.start[0])
    return lines


def lib_imports(source, is_module):
    """[(target module, line, function_level, commented)] of every lib.* import in ``source``.
    ``is_module(name)``: whether ``name`` is a module or package of the repository."""
    tree = ast.parse(source)
    comments = _comment_lines(source)
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            targets = []
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names if a.name == 'lib' or a.name.startswith('lib.')]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module and \
                    (child.module == 'lib' or child.module.startswith('lib.')):
                for a in child.names:
                    sub = child.module + '.' + a.name
                    targets.append(sub if is_module(sub) else child.module)
            for t in targets:
                commented = any(n in comments for n in range(child.lineno - 1, child.end_lineno + 1))
                found.append((t, child.lineno, in_function, commented))
            visit(child, inner)

    visit(tree, False)
    return found


def collect(repo=REPO):
    """{module: [(target, line, function_level, commented)]} and {module: file} for the repository."""
    files = python_files(repo)
    modules = {module_name(f): f for f in files}

    def is_module(name):
        return name in modules

    graph = {}
    for mod, f in modules.items():
        with open(os.path.join(repo, f), encoding='utf-8') as fh:
            graph[mod] = lib_imports(fh.read(), is_module)
    return graph, modules


# --- the checks (pure functions of a graph, unit-tested below on made-up graphs) ----

def find_cycle(edges):
    """A list of modules [a, b, ..., a] forming a cycle in ``edges`` ({module: iterable of
    modules}), or None.  Self-imports are ignored."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {n: WHITE for n in edges}
    stack = []

    def dfs(n):
        colour[n] = GREY
        stack.append(n)
        for m in sorted(set(edges.get(n, ()))):
            if m == n or m not in colour:
                continue
            if colour[m] == GREY:
                return stack[stack.index(m):] + [m]
            if colour[m] == WHITE:
                cyc = dfs(m)
                if cyc:
                    return cyc
        stack.pop()
        colour[n] = BLACK
        return None

    for n in sorted(edges):
        if colour[n] == WHITE:
            cyc = dfs(n)
            if cyc:
                return cyc
    return None


def package_of(module):
    """'lib.data.dataset' -> 'data'; tools/scripts modules -> their root folder."""
    parts = module.split('.')
    if parts[0] == 'lib':
        return parts[1] if len(parts) > 1 else None
    return parts[0]


def layer_of(module):
    pkg = package_of(module)
    if module.split('.')[0] in ('tools', 'scripts'):
        return TOP
    return LAYERS.get(pkg)


def layer_violations(edges):
    """['a -> b (layer x -> y)'] for every import of a higher layer, or of another package of
    the same layer.  Unknown lib packages are violations too (give them a layer)."""
    bad = []
    for a in sorted(edges):
        for b in sorted(set(edges[a])):
            la, lb = layer_of(a), layer_of(b)
            if package_of(b) is None or package_of(a) is None:
                continue                              # lib/__init__.py: nothing to place
            if la is None or lb is None:
                bad.append('%s -> %s (no layer for %s)' % (a, b, a if la is None else b))
            elif package_of(a) != package_of(b) and lb >= la:
                bad.append('%s -> %s (layer %d -> %d)' % (a, b, la, lb))
    return bad


def models_violations(edges):
    """Imports of lib.models modules that leave lib.models and lib.utils."""
    return ['%s -> %s' % (a, b) for a in sorted(edges) if package_of(a) == 'models' and a.startswith('lib.')
            for b in sorted(set(edges[a])) if package_of(b) not in MODELS_MAY_IMPORT]


def uncommented_function_imports(graph):
    """['module:line imports target'] for function-level lib imports without a comment on the
    line (or lines) of the import or on the line above."""
    bad = ['%s:%d imports %s' % (m, line, t) for m in sorted(graph)
           for t, line, in_function, commented in graph[m] if in_function and not commented]
    return list(dict.fromkeys(bad))                   # one line for `from lib.x import a, b`


def edges_of(graph):
    return {m: [t for t, *_ in imps] for m, imps in graph.items()}


@pytest.fixture(scope='module')
def repo_graph():
    graph, modules = collect()
    assert 'lib.data.dataset' in modules and 'tools.main' in modules and 'scripts.inference' in modules
    # every target is a file of the repository (a misspelt import is caught too)
    missing = sorted({t for imps in graph.values() for t, *_ in imps if t not in modules})
    assert not missing, 'imports of modules that do not exist: %s' % missing
    return graph


# --- the repository ------------------------------------------------------------------

def test_no_import_cycle(repo_graph):
    cyc = find_cycle(edges_of(repo_graph))
    assert cyc is None, 'import cycle: %s' % ' -> '.join(cyc)


def test_models_import_only_models_and_utils(repo_graph):
    bad = models_violations(edges_of(repo_graph))
    assert not bad, 'lib.models must not import %s' % bad


def test_layers_point_down(repo_graph):
    bad = layer_violations(edges_of(repo_graph))
    assert not bad, 'imports against the layers:\n' + '\n'.join(bad)


def test_function_level_imports_say_what_they_defer(repo_graph):
    bad = uncommented_function_imports(repo_graph)
    assert not bad, ('function-level lib imports without a comment (move them to the top, or say '
                     'what heavy dependency they defer, e.g. "# loads torch"):\n' + '\n'.join(bad))


def test_graph_sees_function_level_imports(repo_graph):
    """The collector does read imports inside functions (a deferred import that must stay)."""
    fn = [(m, t) for m, imps in repo_graph.items() for t, _, in_function, _ in imps if in_function]
    assert ('lib.inference.detector_eval', 'lib.inference.detector') in fn


# --- the checks can fail ---------------------------------------------------------------

def test_find_cycle_on_made_up_graphs():
    assert find_cycle({'a': ['b'], 'b': ['c'], 'c': []}) is None
    assert find_cycle({'a': ['a']}) is None                       # a self-import is not a cycle
    assert find_cycle({'a': ['b'], 'b': ['c'], 'c': ['a']}) == ['a', 'b', 'c', 'a']
    cyc = find_cycle({'x': ['y'], 'y': ['z'], 'z': ['y'], 'w': []})
    assert cyc == ['y', 'z', 'y']


def test_collector_resolves_modules_and_function_level_imports():
    src = ('from lib.data import skeleton as sk\n'
           'from lib.data.formats import get_spec\n'
           'import lib.utils.errors\n'
           'import numpy\n'
           'def f():\n'
           '    from lib.eval.lifting import lift_in_batches  # loads torch\n'
           '    # loads matplotlib\n'
           '    from lib.vis import plot\n'
           '    from lib.train.state import seed_everything\n'
           '    return lambda: None\n')
    mods = {'lib.data.skeleton', 'lib.data.formats', 'lib.utils.errors', 'lib.eval.lifting', 'lib.vis.plot',
            'lib.train.state', 'lib.data', 'lib.vis'}
    got = lib_imports(src, mods.__contains__)
    assert got == [('lib.data.skeleton', 1, False, False), ('lib.data.formats', 2, False, False),
                   ('lib.utils.errors', 3, False, False), ('lib.eval.lifting', 6, True, True),
                   ('lib.vis.plot', 8, True, True), ('lib.train.state', 9, True, False)]
    assert uncommented_function_imports({'m': got}) == ['m:9 imports lib.train.state']


def test_layer_and_models_checks_on_made_up_graphs():
    edges = {'lib.data.a': ['lib.models.b', 'lib.utils.c', 'lib.data.d'],
             'lib.models.b': ['lib.data.skeleton', 'lib.utils.c', 'lib.models.e'],
             'lib.utils.c': ['lib.config.load'],
             'lib.eval.f': ['lib.data.a', 'lib.models.b'],
             'lib.newpkg.g': ['lib.utils.c'],
             'tools.main': ['lib.train.run']}
    assert layer_violations(edges) == ['lib.data.a -> lib.models.b (layer 2 -> 2)',
                                       'lib.models.b -> lib.data.skeleton (layer 2 -> 2)',
                                       'lib.newpkg.g -> lib.utils.c (no layer for lib.newpkg.g)',
                                       'lib.utils.c -> lib.config.load (layer 0 -> 1)']
    assert models_violations(edges) == ['lib.models.b -> lib.data.skeleton']
    assert layer_violations({'lib.train.run': ['lib.data.x'], 'tools.main': ['lib.bench.speed']}) == []
