"""The bad-input catalogue of tools/export_model.py (the contract is in bad_input_catalogue.py)."""
import pytest
import torch

from helpers import make_state_checkpoint, write_cfg
from .bad_input_catalogue import check_case, disk_full, entry


def export_case(kind):
    def build(tmp, ctx):
        ck = tmp / 'ck.pth.tar'
        make_state_checkpoint(write_cfg(tmp, ctx['data']), ck)
        if kind == 'same':
            return ['--pretrain', ck, '--out', ck]
        if kind == 'same_other_spelling':
            return ['--pretrain', ck, '--out', tmp / '.' / 'ck.pth.tar']
        if kind == 'exists':
            (tmp / 'old.pth.tar').write_bytes(b'an earlier export')
            return ['--pretrain', ck, '--out', tmp / 'old.pth.tar']
        if kind == 'folder':
            (tmp / 'dir').mkdir()
            return ['--pretrain', ck, '--out', tmp / 'dir']
        if kind == 'under_file':
            return ['--pretrain', ck, '--out', ck / 'small.pth.tar']
        if kind == 'missing':
            return ['--pretrain', tmp / 'none.pth.tar', '--out', tmp / 'small.pth.tar']
        if kind == 'text':
            (tmp / 'notes.txt').write_text('hello\n')
            return ['--pretrain', tmp / 'notes.txt', '--out', tmp / 'small.pth.tar']
        if kind == 'nan':
            st = make_state_checkpoint(write_cfg(tmp, ctx['data']), ck)
            sd = st.model.state_dict()
            sd['lifter_after.0.w1.weight' if 'lifter_after.0.w1.weight' in sd else next(iter(sd))].fill_(float('inf'))
            torch.save({'pose_model_state_dict': sd}, str(ck))
            return ['--pretrain', ck, '--out', tmp / 'small.pth.tar']
        if kind == 'string_weight':
            st = make_state_checkpoint(write_cfg(tmp, ctx['data']), ck)
            sd = dict(st.model.state_dict())
            sd[next(iter(sd))] = 'a string'
            torch.save({'pose_model_state_dict': sd}, str(ck))
            return ['--pretrain', ck, '--out', tmp / 'small.pth.tar']
        if kind == 'good':
            return ['--pretrain', ck, '--out', tmp / 'small.pth.tar']
        raise AssertionError(kind)
    return build



CATALOGUE = {
    # tools/export_model.py -------------------------------------------------------------
    'export/out_is_pretrain': entry('tools/export_model.py', export_case('same'), 'input file', '--out'),
    'export/out_is_pretrain_other_spelling': entry('tools/export_model.py', export_case('same_other_spelling'),
                                                   'input file'),
    'export/out_exists': entry('tools/export_model.py', export_case('exists'), 'exists', '--force'),
    'export/out_is_folder': entry('tools/export_model.py', export_case('folder'), 'is a folder'),
    'export/out_under_file': entry('tools/export_model.py', export_case('under_file'), 'not writable'),
    'export/missing_pretrain': entry('tools/export_model.py', export_case('missing'), 'checkpoint not found'),
    'export/text_pretrain': entry('tools/export_model.py', export_case('text'), 'not a PyTorch checkpoint'),
    'export/inf_weights': entry('tools/export_model.py', export_case('nan'), 'not finite'),
    'export/no_out': entry('tools/export_model.py', lambda t, c: ['--pretrain', t / 'x'], '--out'),
    'export/string_weight': entry('tools/export_model.py', export_case('string_weight'), 'not a tensor',
                                  quiet=False),
    'export/out_under_proc': entry('tools/export_model.py', lambda t, c: export_case('good')(t, c)[:3] +
                                   ['/proc/x.pth.tar'], 'not writable', '/proc'),
    'export/disk_full': entry('tools/export_model.py', disk_full(export_case('good')), 'no space left',
                              'small.pth.tar', quiet=False),
}


@pytest.mark.parametrize('case', sorted(CATALOGUE))
def test_bad_input(case, ctx_base, tmp_path, capsys, monkeypatch):
    check_case(CATALOGUE[case], ctx_base, tmp_path, capsys, monkeypatch)
