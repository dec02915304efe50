"""The bad-input catalogue of tools/benchmark_accuracy.py (the contract is in bad_input_catalogue.py):
every option is checked before the motion capture is converted or a run trained."""
import pytest

from .bad_input_catalogue import check_case, entry


def bench_args(*extra):
    def build(tmp, ctx):
        return ['--out', tmp / 'bench'] + [e(tmp) if callable(e) else e for e in extra]
    return build


def _out_is_file(tmp):
    (tmp / 'table.txt').write_text('an earlier table\n')
    return tmp / 'table.txt'


def _entry(build, *needles):
    return entry('tools/benchmark_accuracy.py', build, *needles)


CATALOGUE = {
    'bench/curves_negative': _entry(bench_args('--curves', '-1'), '--curves'),
    'bench/threads_zero': _entry(bench_args('--threads', '0'), '--threads'),
    'bench/opts_unknown_key': _entry(bench_args('--opts', 'TRAIN.NUM_EPOCS', '1'), 'TRAIN.NUM_EPOCS', '--opts'),
    'bench/opts_odd_count': _entry(bench_args('--opts', 'BATCH_SIZE'), 'KEY VALUE', '--opts'),
    'bench/opts_out_of_range': _entry(bench_args('--opts', 'NETWORK.DROPOUT', '2'), 'NETWORK.DROPOUT'),
    'bench/out_is_a_file': _entry(lambda t, c: ['--out', _out_is_file(t)], 'is a file', 'table.txt'),
    'bench/seeds_not_a_number': _entry(bench_args('--seeds', 'x'), '--seeds'),
    'bench/unknown_variant': _entry(bench_args('--variants', 'nope'), '--variants'),
    'bench/fps_zero': _entry(bench_args('--fps', '0'), '--fps'),
}


@pytest.mark.parametrize('case', sorted(CATALOGUE))
def test_bad_input(case, ctx_base, tmp_path, capsys, monkeypatch):
    check_case(CATALOGUE[case], ctx_base, tmp_path, capsys, monkeypatch)
