"""docs/ORIGINAL.md, which code comments cite, lists every COMPAT switch of lib/config/defaults.py
with its default, and every section a comment cites exists."""
import os
import re
import subprocess

from helpers import REPO
from lib.config.defaults import get_default

DOC = os.path.join(REPO, 'docs', 'ORIGINAL.md')


def _table_rows():
    """{switch name: default cell} of the COMPAT table."""
    rows = {}
    for line in open(DOC, encoding='utf-8'):
        m = re.match(r'\| `COMPAT\.([A-Z0-9_]+)` \| `([^`]+)`', line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def _yaml_word(v):
    return str(v).lower() if isinstance(v, bool) else str(v)


def test_every_compat_switch_is_in_the_table_with_its_default():
    compat = get_default().COMPAT
    rows = _table_rows()
    assert set(rows) == set(compat), 'docs/ORIGINAL.md COMPAT table: missing %s, unknown %s' % (
        sorted(set(compat) - set(rows)), sorted(set(rows) - set(compat)))
    for key, value in compat.items():
        assert rows[key] == _yaml_word(value), 'COMPAT.%s: the table says %s, the default is %r' % (
            key, rows[key], value)


def test_sections_cited_in_comments_exist():
    headings = {line[3:].strip() for line in open(DOC, encoding='utf-8') if line.startswith('## ')}
    files = subprocess.run(['git', 'ls-files', '*.py', '*.yaml', '*.sh'], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    cited = set()
    for f in files:
        text = open(os.path.join(REPO, f), encoding='utf-8').read()
        for m in re.finditer(r'docs/ORIGINAL\.md,\s+"([^"]+)"', text):
            cited.add((f, ' '.join(m.group(1).replace('``', '`').split())))
    assert cited, 'no comment cites a section of docs/ORIGINAL.md'
    missing = sorted((f, s) for f, s in cited if s not in headings)
    assert not missing, 'cited sections that docs/ORIGINAL.md lacks: %s' % missing
