"""Runtime choices (lib/utils/runtime.py): the device for --gpu, and the thread count's precedence."""
import pytest
import torch

from lib.utils.errors import UserError


def test_gpu_index_beyond_the_machine(monkeypatch):
    from lib.utils.runtime import select_device
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    with pytest.raises(UserError) as e:
        select_device('3')
    assert e.value.line().startswith('error: --gpu 3 but this machine has 1 GPU(s) (--gpu): ')


def test_no_cuda_falls_back_to_cpu_with_one_warning(monkeypatch, capsys):
    from lib.utils.runtime import select_device
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert select_device('0') == torch.device('cpu')
    assert capsys.readouterr().err.strip() == 'warning: CUDA is not available, running on CPU'


def test_threads_precedence_and_bad_values(monkeypatch):
    from lib.utils.errors import UserError
    from lib.utils.runtime import resolve_threads
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    assert resolve_threads(None, 0)[0] == 1
    monkeypatch.setenv('OMP_NUM_THREADS', '2')
    assert resolve_threads(None, 0) == (2, '$OMP_NUM_THREADS')
    assert resolve_threads(None, 4) == (4, 'THREADS in the config')
    assert resolve_threads(3, 4) == (3, '--threads')
    with pytest.raises(UserError, match='positive integer'):
        resolve_threads(0, 0)
