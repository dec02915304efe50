"""The user documentation: a short README whose commands name files that exist, the quick start
that .ci/run runs, the paper's commands, the licence and the citation file."""
import os
import re

import yaml

from helpers import REPO

README = os.path.join(REPO, 'README.md')
MAX_README_LINES = 250
# paths written in the docs that are made by runs or downloaded by the user, not shipped
RUNTIME = ('output/', 'models/', 'data/', 'log/', 'vis/', 'out/', 'scripts/demo_output')
PATH = re.compile(r'(?<![\w./-])((?:cfg|tools|scripts|docs|lib|datasets|tests|requirements)[\w./*<>-]*)')


def text(path):
    with open(os.path.join(REPO, path)) as f:
        return f.read()


def sections(md):
    """{heading: body} of the '## ' sections of a markdown text."""
    parts = re.split(r'^## (.+)$', md, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def mentioned_paths(md):
    """Repository paths in code spans, code blocks and links of ``md``."""
    blocks = re.findall(r'^```\w*\n(.*?)^```', md, re.S | re.M)
    rest = re.sub(r'^```\w*\n.*?^```', ' ', md, flags=re.S | re.M)
    code = ' '.join(blocks + re.findall(r'`([^`]+)`', rest) + re.findall(r'\]\(([^)#]+)', rest))
    found = set()
    for p in PATH.findall(code):
        p = p.rstrip('.,;:)')
        if '/' not in p and not p.startswith('requirements'):
            continue
        if any(ch in p for ch in '*<>') or p.endswith('/X.yaml') or 'CFG' in p:
            continue
        found.add(p)
    return found


def test_readme_is_short_and_has_the_user_sections_in_order():
    md = text('README.md')
    assert len(md.splitlines()) <= MAX_README_LINES
    heads = list(sections(md))
    want = ['Quick start', 'Install', 'Demo', 'Photos and video', 'Commands', 'Reproduce the paper', 'Results',
            'Data', 'Licence and citation']
    assert [h for h in heads if h in want] == want, heads
    for name in ('Quick start', 'Install', 'Demo', 'Photos and video', 'Commands', 'Reproduce the paper'):
        first_screen = '\n'.join(sections(md)[name].strip().splitlines()[:25])
        assert re.search(r'(python|pip|sh) ', first_screen), '%s: no command in its first screenful' % name


def test_paths_the_docs_name_exist():
    for doc in ('README.md', 'docs/USAGE.md', 'docs/RESULTS.md'):
        md = text(doc)
        missing = sorted(p for p in mentioned_paths(md)
                         if not p.startswith(RUNTIME) and not os.path.exists(os.path.join(REPO, p))
                         and not os.path.exists(os.path.join(REPO, 'docs', p)))
        assert not missing, '%s names files that do not exist: %s' % (doc, missing)
    assert 'cfg/quickstart.yaml' in mentioned_paths(text('README.md'))


def test_quick_start_and_ci_run_the_same_test_command():
    block = re.search(r'## Quick start\n+```\n(.*?)```', text('README.md'), re.S).group(1).strip().splitlines()
    assert block == ['pip install -r requirements.txt && python tools/main.py --cfg cfg/quickstart.yaml --gpu -1',
                     'pip install -r requirements-dev.txt && python -m pytest -q']
    ci = [ln for ln in text('.ci/run').splitlines() if ln.strip() and not ln.startswith(('#', 'set ', 'cd '))]
    assert ci == [block[1]]


def test_reproduce_the_paper_has_every_row_with_its_commands_and_number():
    sec = sections(text('README.md'))['Reproduce the paper']
    rows = {'h36m_gt_adv': ('adv.pth.tar', '105.0', '46.0'), 'h36m_gt_scale': ('tmc_klbone.pth.tar', '87.85', '42.0'),
            'pre_adv': ('pre_adv.pth.tar', '113.3', '54.9'), 'pre_tmc_klbone': ('pre_tmc_klbone.pth.tar', '93.1', '52.3')}
    for cfg, (ckpt, mpjpe, pmpjpe) in rows.items():
        line = [ln for ln in sec.splitlines() if ('--cfg cfg/%s.yaml --gpu 0`' % cfg) in ln]
        assert len(line) == 1, cfg
        assert '--eval --pretrain models/%s' % ckpt in line[0] and ('| %s | %s |' % (mpjpe, pmpjpe)) in line[0]
    for cfg in ('mpi_gt_adv', 'mpi_gt_scale'):
        assert 'python tools/main.py --cfg cfg/%s.yaml --gpu 0`' % cfg in sec
    for word in ('head-root length', 'test set', 'Compute'):
        assert word in sec


def test_licence_and_citation_file():
    lic = text('LICENSE')
    assert lic.startswith('MIT License') and 'Permission is hereby granted' in lic
    cff = yaml.safe_load(text('CITATION.cff'))
    assert cff['cff-version'] == '1.2.0' and cff['license'] == 'MIT' and cff['title'] and cff['authors']
    paper = cff['preferred-citation']
    assert paper['title'] == ('Towards Alleviating the Modeling Ambiguity of Unsupervised Monocular 3D Human '
                              'Pose Estimation')
    assert [a['family-names'] for a in paper['authors']] == ['Yu', 'Ni', 'Xu', 'Wang', 'Zhao', 'Zhang']
    assert paper['year'] == 2021 and 'ICCV' in paper['collection-title']
