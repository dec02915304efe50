"""TRAIN.COMPILE: ``torch.compile`` of the training modules, where it can run."""
import importlib.util
import os
import shutil
import warnings


COMPILE_BACKEND = 'inductor'     # torch.compile's backend for TRAIN.COMPILE (tests use 'aot_eager')


def compile_unavailable(device):
    """Why ``torch.compile`` (inductor) cannot run on ``device`` here, or None when it can."""
    if device.type == 'cuda':
        if importlib.util.find_spec('triton') is None:
            return 'the triton package is not installed'
        return None
    cxx = os.environ.get('CXX') or shutil.which('g++') or shutil.which('c++') or shutil.which('clang++')
    if not cxx:
        return 'no C++ compiler (g++, c++ or clang++ on PATH, or $CXX) for its CPU code'
    return None


def compile_models(device, *modules):
    """TRAIN.COMPILE: compile each module's forward in place (``nn.Module.compile``).

    In place, so state-dict keys, attribute access (``model.scaler``) and
    checkpoints are unchanged, and DistributedDataParallel wraps the compiled
    modules; the inference path
    (``PoseModel.lift``) stays eager.  Where inductor cannot run (no C++ compiler
    on a CPU machine, no triton on CUDA) it warns once and trains without it.
    Returns whether the modules were compiled.
    """
    why = compile_unavailable(device) if COMPILE_BACKEND == 'inductor' else None
    if why:
        warnings.warn('TRAIN.COMPILE: torch.compile cannot run here (%s); training without it' % why)
        return False
    for m in modules:
        m.compile(backend=COMPILE_BACKEND)
    return True
