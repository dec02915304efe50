"""Every config key with its default, range and allowed values (the keys and COMPAT switches).

The key names and meanings are the original code's (the authors' ``lib/core/config.py``;
docs/ORIGINAL.md, "Configs and checkpoints"), so a YAML written for the original loads here.
Keys the original accepted but never used are listed in ``DEAD_KEYS``; for the two that the
authors' own configs set (``AUTHORS_UNUSED``) the warning goes to the log file only.  New keys
are marked "new".  Reading a YAML file and ``--opts`` into these defaults, and checking them:
:mod:`lib.config.load`.

The ``COMPAT`` section holds one switch per quirk of the original code that changes what is
computed.  Each default is the original's behaviour and the other value is the fix, with one
exception: ``COMPAT.LSP_ANISOTROPIC`` defaults to the fix (see its comment).  The table:
docs/ORIGINAL.md, "Where the project differs: the ``COMPAT`` switches".
"""
import copy
import math

from easydict import EasyDict as edict


_C = edict()
config = _C

# --- top level ------------------------------------------------------------
_C.GPU = '0'                 # CUDA device index; '-1' = CPU
_C.USE_GT = True             # True: ground-truth 2D input; False: detected 2D
_C.NUM_WORKERS = 16          # accepted; the tensor data path needs no workers
_C.DEBUG = False
_C.PRINT_INFO = True
_C.PRINT_INTERVAL = 10
_C.BATCH_SIZE = 1024
_C.RANDOM_SEED = 2019
_C.OUTPUT_DIR = '../output'  # relative paths are taken from tools/ as in the original
_C.LOG_DIR = '../log'
_C.DATA_DIR = '../data'
_C.THREADS = 0               # new: CPU threads; 0 = $OMP_NUM_THREADS or 1 (--threads wins; lib/utils/runtime.py)

# --- data -----------------------------------------------------------------
_C.DATA = edict()
_C.DATA.DATASET_NAME = 'h36m'    # file stem: <name>_train_pred3.h5 or data_3d_<name>.npz; 'mpi' / 'surreal': those datasets (lib/data/formats.py)
_C.DATA.FORMAT = 'auto'          # new: 'auto' | 'h5' | 'npz' (auto: h5 if present, else npz)
_C.DATA.TRAIN_SUBJECTS = []      # new (npz): [] = archive metadata or the H36M protocol
_C.DATA.TEST_SUBJECTS = []       # new (npz): [] = archive metadata or the H36M protocol
_C.DATA.FRAME_INTERVAL = 1       # TMC neighbour offset when > 1 (else 5); mpi / surreal: always
_C.DATA.EXP_TMC = False          # random TMC offset in [START, START+INTERVAL-1]
_C.DATA.EXP_TMC_START = 0
_C.DATA.EXP_TMC_DETERMINISTIC = False
_C.DATA.EXP_TMC_INTERVAL = 5
_C.DATA.NUM_FRAMES = 1            # must be odd; no other effect, as in the original
_C.DATA.NUM_JOINTS = 17
_C.DATA.MIN_DIFF_DIST = 5        # bone-loss partner at least this many frames away
_C.DATA.SCALE_MID_MEAN = 0.714   # KL prior on scale_mid; 'auto' (new): the dataset's own (lib/data/scale_prior.py)
_C.DATA.SCALE_MID_STD = 0.051
_C.DATA.NUM_NEIGHBOUR_FRAMES = 1
_C.DATA.NUM_NEIGHBOUR_TUPLES = 0
_C.DATA.ONLINE_ROT = False       # draw a fresh rotation per sample and step (COMPAT.ONLINE_ROT_NONNEGATIVE)
_C.DATA.REDRAW_ROT_EVERY_EPOCH = False  # new: redraw the fixed rotations each epoch
_C.DATA.TRAIN_PATH = ''          # overwritten from DATA_DIR, as in the original
_C.DATA.VALID_PATH = ''
_C.DATA.USE_SAME_NORM_2D = True  # one 2D factor per split (mean head-root 0.1)
_C.DATA.USE_SAME_NORM_3D = False # constant eval factor instead of per-frame head-root
_C.DATA.DROP_NONFINITE = True    # new: drop frames with NaN/inf (counted, warned)

# --- network --------------------------------------------------------------
_C.NETWORK = edict()
_C.NETWORK.DIS_USE_SPECTRAL_NORM = False
_C.NETWORK.NUM_CHANNELS = 1024
_C.NETWORK.DROPOUT = 0.25
_C.NETWORK.BN_TRACK = True
_C.NETWORK.DIS_USE_BN = False
_C.NETWORK.LIFTER_RES_BLOCKS = 4
_C.NETWORK.DIS_RES_BLOCKS = 2
_C.NETWORK.DIS_TEMP_RES_BLOCKS = 2
_C.NETWORK.DIS_NUM_CHANNELS = 0  # new: discriminator width, 0 = NUM_CHANNELS (the original)
_C.NETWORK.SCALER_INPUT_SIZE = 37
_C.NETWORK.SCALER_RES_BLOCKS = 1

# --- training -------------------------------------------------------------
_C.TRAIN = edict()
_C.TRAIN.SCHEDULER_STEP_SIZE = 1
_C.TRAIN.SCHEDULER_GAMMA = 0.95
_C.TRAIN.SCALE_ON_3D = False
_C.TRAIN.GENERIC_BASELINE = False
_C.TRAIN.USE_BONE_NOSCALE = False
_C.TRAIN.USE_CYCLE = False        # alternating subnet (scaler) / mainnet (lifter) steps
_C.TRAIN.USE_SCALER = False
_C.TRAIN.LEARN_SYMMETRY = True    # scaler predicts scale_mid; scale = 2*scale_mid - hws
_C.TRAIN.SCALER_MEAN_ONLY = False
_C.TRAIN.USE_TEMP = False         # temporal discriminator
_C.TRAIN.USE_NEW_TEMP = False     # TMC loss
_C.TRAIN.USE_DIS = True
_C.TRAIN.CAT_CURRENT = False
_C.TRAIN.PRETRAIN_LIFTER = False  # the original defaults to True, with a file that does not exist
_C.TRAIN.LIFTER_PRETRAIN_PATH = ''
_C.TRAIN.CAMERA_SKELETON_DISTANCE = 10.0
_C.TRAIN.USE_NEW_ROT = True       # azimuth about the tilted axis
_C.TRAIN.SUBNET_CRITICS = 1
_C.TRAIN.MAINNET_CRITICS = 1
_C.TRAIN.SCALE_LOSS_WEIGHTS = [1.0, 1.0]      # KL, bone
_C.TRAIN.LOSS_WEIGHTS = [1.0, 1.0, 1.0, 1.0]  # 3D, 2D, GAN, temporal (the original's default had a 5th, never read)
_C.TRAIN.POSE_LR = 2e-4
_C.TRAIN.DIS_LR = 2e-4
_C.TRAIN.TEMP_LR = 2e-4
_C.TRAIN.NUM_CRITICS = 3
_C.TRAIN.NUM_CRITICS_TEMP = 3
_C.TRAIN.NUM_EPOCHS = 200
_C.TRAIN.OPTIMIZER = 'adam'
_C.TRAIN.BOUND_AZIM = 3.1415926
_C.TRAIN.BOUND_ELEV = 3.1415926 / 9
_C.TRAIN.SUPERVISED = False       # new: L2 on 3D (a ceiling for the unsupervised variants), no cycle / GAN
_C.TRAIN.EMA_DECAY = 0.0          # new: EMA of the pose model's weights, 0 = off
_C.TRAIN.NONFINITE = 'stop'       # new: 'stop' (save last good state, exit) | 'skip' the batch
_C.TRAIN.AMP = False              # new: bf16 autocast of the training forwards (CUDA or CPU)
_C.TRAIN.COMPILE = False          # new: torch.compile the pose model and discriminators (in place)
_C.TRAIN.DIS_REAL_SCALED = False  # new: D's real samples are the scaled 2D the lifter sees
_C.TRAIN.MAX_STEPS_PER_EPOCH = 0  # new: cap the steps of an epoch (0 = a full pass)
_C.TRAIN.CHECKPOINT_EVERY = 0     # new: also save checkpoint.pth.tar every N steps (0 = per epoch)
_C.TRAIN.WARM_START_EPOCHS = 0    # new: first N epochs train the adv baseline (s = 1), then the method
_C.TRAIN.SCALER_INIT_PRIOR = False  # new: a scaler that starts from scratch predicts about the prior's
                                    # mean scale_mid for every pose (output weights x 0.01, bias the mean)
_C.TRAIN.FREEZE_LIFTER = False    # new: the 'scale_fit' scheme: only the scaler trains (KL + bone), on a
                                  # frozen lifter in eval mode (lib/train/step.py; cfg/scale_after*.yaml)
_C.TRAIN.SYMMETRY_WEIGHT = 0.0    # new: weight of the lift's left/right bone-length symmetry term, the mean
                                  # |log len_right - log len_left| over 6 bone pairs (scale-free; adv, mainnet
                                  # and joint steps; lib/train/losses.py:loss_symmetry); 0 = off (the original)
_C.TRAIN.PROPORTION_WEIGHT = 0.0  # new: weight of the lift's bone-proportion consistency over the batch, the
                                  # mean |log share - batch mean log share| of each bone in its pose's total
                                  # (scale-free; adv, mainnet and joint steps; lib/train/losses.py:
                                  # loss_proportions); 0 = off (the original)
_C.TRAIN.FLOW_WEIGHT = 0.0        # new: weight of a learned 2D pose prior's NLL of the rotated projections (adv,
                                  # mainnet, joint steps), beside the discriminator or (USE_DIS false) instead;
                                  # a normalizing flow fitted before training on the training split's 2D poses
                                  # (lib/train/flow_prior.py; needs requirements-flow.txt); 0 = off (the original)
_C.TRAIN.FLOW_PCA_DIMS = 26       # new: the prior models this many leading principal components of the 32
                                  # root-relative 2D coordinates (whitened), as ElePose
_C.TRAIN.FLOW_TRANSFORMS = 3      # new: the prior's autoregressive transforms (zuko MAF)
_C.TRAIN.FLOW_HIDDEN = 128        # new: width of the two hidden layers of each transform's network
_C.TRAIN.FLOW_FIT_STEPS = 1000    # new: fitting steps of 512 poses (Adam, cosine decay); 11-40 s on one CPU
                                  # thread with the defaults (measured on 35k-39k poses)
_C.TRAIN.FLOW_FIT_LR = 0.001      # new: the fit's initial learning rate
_C.TRAIN.ELEV_SAMPLING = 'uniform'  # new: the rotation cycle's elevation: 'uniform' in +-BOUND_ELEV relative to
                                  # the view (the original) | 'learned': the rotated view's absolute elevation drawn
                                  # from N(mean, std) of the lifts' own elevations, running statistics
                                  # (lib/train/elevation.py)
_C.TRAIN.ELEV_MOMENTUM = 0.01     # new ('learned'): weight of each step's batch in the running mean and variance
_C.TRAIN.ELEV_CLIP = 1.0472       # new ('learned'): drawn elevations are clipped to +- this (radians; 60 degrees)

# --- evaluation -----------------------------------------------------------
_C.EVAL = edict()
_C.EVAL.STRIDE = 1                # new: evaluate every k-th test frame
_C.EVAL.BATCH_SIZE = 1024         # batch of the original's mean-of-batch-means
_C.EVAL.EVERY_EPOCH = True        # new: validate after every epoch
_C.EVAL.CURVE_EVERY = 0          # new: every N epochs record the test metrics in curve.json (recorded
                                  # only: never used to pick a model); 0 = off
_C.EVAL.PRECISION = 'fp32'        # new: 'fp32' | 'bf16' (residual blocks in bf16, lib/models/precision.py)
_C.EVAL.CRITERIA = False          # new: also record label-free structure criteria in curve.json (lib/eval/criteria.py)
_C.EVAL.SELECT_BY = ''            # new: '' | 'train_<criterion>': keep model_selected.pth.tar, the curve point with
                                  # the lowest value of that criterion on the training 2D poses (no labels)

# --- the original's quirks, as switches (table: docs/ORIGINAL.md) ------------
_C.COMPAT = edict()
_C.COMPAT.INVERSE_ROT_TILTED_AXIS = False   # False = inverse about camera y (original); True = the true inverse
_C.COMPAT.TMC_FRAME = 'as_written'          # 'as_written' | 'rotate_motion' (R*M) | 'recovered' (FIX_TRAJ_BY_ROT) | 'magnitude_first3'
_C.COMPAT.ALTERNATE_OFF_BY_ONE = True       # True = rem > S (original); False = rem >= S
_C.COMPAT.KL_ON_DIFF2 = 'by_scheme'         # 'by_scheme' (joint: B values, alternating: 2B) | 'always' | 'never'
_C.COMPAT.BONE_LOSS = 'vectors'             # 'vectors' (original) | 'lengths' | 'log_lengths' (scale-free, new)
_C.COMPAT.L2D_TARGET_UNSCALED = True        # l2d target is the unscaled input (original) | the scaled one
_C.COMPAT.SCHEDULER_STEP_FIRST = True       # lr*0.95 already in epoch 0 (original)
_C.COMPAT.TILTED_AXIS_UNNORMALISED = True   # use the axis numbers as given (|a| = 0.99902)
_C.COMPAT.MPI_TMC_FLAT_INDEX = True         # MPI only: TMC neighbour tested with the flat index (original) | the index in the sequence
_C.COMPAT.FROZEN_KEEP_MOMENTUM = True       # frozen params keep zero grads, so Adam still moves them (old PyTorch)
_C.COMPAT.ONLINE_ROT_NONNEGATIVE = True     # DATA.ONLINE_ROT draws each angle in [0, bound) (original) | in (-bound, bound)
_C.COMPAT.BEST_BY_BATCHMEAN = True          # model_best.pth.tar: lowest P-MPJPE_batchmean, the mean of 1024-frame
                                            # batch means the original printed and selected on | the per-frame mean
_C.COMPAT.EPOCH_END_FORWARD = True          # after each epoch one more training-mode forward on a random batch (the
                                            # original's training figure), which moves the BatchNorm statistics | none
_C.COMPAT.JOINT_BONE_ON_NEIGHBOUR = True    # joint scheme with a scaler and a temporal term: the bone loss compares
                                            # with the temporal neighbour's lift, whose variable overwrote the bone
                                            # partner's in the original | with the bone partner's lift
# The one default that is NOT the original's, a deliberate project decision: LSP
# keypoints are normalised with one isotropic factor; true gives the original's x/55, y/90.
_C.COMPAT.LSP_ANISOTROPIC = False           # LSP x/55, y/90 (original) instead of one factor

# --- FIX section of the original (kept for YAML compatibility) ---------------
_C.FIX = edict()
_C.FIX.FIX_BONE_LOSS = False
_C.FIX.FIX_TRAJ = False
_C.FIX.FIX_TRAJ_BY_ROT = False

_C.VIS = edict()
_C.VIS.SCALE_MID_NUM_SEQ = 3

_C.CUDNN = edict()
_C.CUDNN.BENCHMARK = True
_C.CUDNN.DETERMINISTIC = False   # on CUDA also torch.use_deterministic_algorithms (docs/RELIABILITY.md)
_C.CUDNN.ENABLED = True

# --- the range of every number above: '[lo, hi]' with ( ) for an open end, inf allowed as an
# end; a value outside its range (or NaN / inf) is refused by validate(), naming the key
INF = math.inf
RANGES = {
    'PRINT_INTERVAL': '[0, inf)', 'NUM_WORKERS': '[0, inf)', 'BATCH_SIZE': '[1, 10000000]',
    'RANDOM_SEED': '[0, 4294967295]',            # what NumPy's and torch's seeds accept
    'THREADS': '[0, 1024]',
    'DATA.FRAME_INTERVAL': '[0, 100000]', 'DATA.EXP_TMC_START': '[0, 100000]',
    'DATA.EXP_TMC_INTERVAL': '[1, 100000]', 'DATA.NUM_FRAMES': '[1, 100001]', 'DATA.NUM_JOINTS': '[17, 17]',
    'DATA.MIN_DIFF_DIST': '[1, 100000]', 'DATA.SCALE_MID_MEAN': '(0, 10]', 'DATA.SCALE_MID_STD': '[0.0001, 10]',
    'DATA.NUM_NEIGHBOUR_FRAMES': '[0, 100000]', 'DATA.NUM_NEIGHBOUR_TUPLES': '[0, 100000]',
    'NETWORK.NUM_CHANNELS': '[1, 65536]', 'NETWORK.DROPOUT': '[0, 1)', 'NETWORK.LIFTER_RES_BLOCKS': '[0, 64]',
    'NETWORK.DIS_RES_BLOCKS': '[0, 64]', 'NETWORK.DIS_TEMP_RES_BLOCKS': '[0, 64]',
    'NETWORK.DIS_NUM_CHANNELS': '[0, 65536]', 'NETWORK.SCALER_INPUT_SIZE': '[1, 37]',
    'NETWORK.SCALER_RES_BLOCKS': '[0, 64]',
    'TRAIN.SCHEDULER_STEP_SIZE': '[1, 1000000]', 'TRAIN.SCHEDULER_GAMMA': '(0, 1]',
    'TRAIN.CAMERA_SKELETON_DISTANCE': '(0, 10000]', 'TRAIN.SUBNET_CRITICS': '[1, 10000]',
    'TRAIN.MAINNET_CRITICS': '[1, 10000]', 'TRAIN.POSE_LR': '(0, inf)', 'TRAIN.DIS_LR': '(0, inf)',
    'TRAIN.TEMP_LR': '(0, inf)', 'TRAIN.NUM_CRITICS': '[1, 10000]', 'TRAIN.NUM_CRITICS_TEMP': '[1, 10000]',
    'TRAIN.NUM_EPOCHS': '[0, 1000000]', 'TRAIN.BOUND_AZIM': '[0, 3.1416]', 'TRAIN.BOUND_ELEV': '[0, 3.1416]',
    'TRAIN.EMA_DECAY': '[0, 1)', 'TRAIN.MAX_STEPS_PER_EPOCH': '[0, inf)', 'TRAIN.CHECKPOINT_EVERY': '[0, inf)',
    'TRAIN.WARM_START_EPOCHS': '[0, 1000000]', 'TRAIN.SYMMETRY_WEIGHT': '[0, inf)',
    'TRAIN.PROPORTION_WEIGHT': '[0, inf)',
    'TRAIN.FLOW_WEIGHT': '[0, inf)', 'TRAIN.FLOW_PCA_DIMS': '[1, 32]', 'TRAIN.FLOW_TRANSFORMS': '[1, 64]',
    'TRAIN.FLOW_HIDDEN': '[1, 65536]', 'TRAIN.FLOW_FIT_STEPS': '[1, 10000000]', 'TRAIN.FLOW_FIT_LR': '(0, 1]',
    'TRAIN.ELEV_MOMENTUM': '(0, 1]', 'TRAIN.ELEV_CLIP': '[0, 1.5708]',
    'TRAIN.SCALE_LOSS_WEIGHTS': '[0, inf)', 'TRAIN.LOSS_WEIGHTS': '[0, inf)',   # each element; huge ones provoke a non-finite loss on purpose
    'EVAL.STRIDE': '[1, inf)', 'EVAL.BATCH_SIZE': '[1, 10000000]', 'EVAL.CURVE_EVERY': '[0, 100000]',
    'VIS.SCALE_MID_NUM_SEQ': '[0, 100000]',
}


def _parse_range(text):
    lo, hi = text[1:-1].split(',')
    return float(lo), float(hi), text[0] == '(', text[-1] == ')'


def in_range(value, text):
    """Whether the number ``value`` lies in the range ``text`` ('[0, 1)' ...); NaN and inf never do."""
    lo, hi, lo_open, hi_open = _parse_range(text)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return False
    return (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)


# keys the original accepted and never used: accepted, ignored
DEAD_KEYS = {
    'DATA.DIFF_SUFFIX', 'DATA.USE_EXTRA_DATA', 'DATA.USE_RANDOM_DIFF', 'DATA.USE_IDEAL_SCALE',
    'DATA.NEIGHBOUR_FRAME_INTERVAL', 'DATA.USE_2D_GT_SUPERVISION',
    'NETWORK.USE_BASELINE', 'NETWORK.DEPTH_ESTIMATOR_RES_BLOCKS', 'NETWORK.ROTATER_RES_BLOCKS',
    'NETWORK.ROTATER_PRE_EULER',
    'TRAIN.LOSS_TYPE', 'TRAIN.SCALE_MID_PER_SEQ_OPT', 'TRAIN.SCALE_MID_ACC_STEPS',
    'TRAIN.USE_LSTM', 'TRAIN.MULTI_NEW_TEMP', 'TRAIN.RESUME_TRAIN', 'TRAIN.ROTATENET_CRITICS',
    'TRAIN.ROTATE_LOSS_WEIGHTS', 'TRAIN.PRETRAINED', 'TRAIN.WD', 'TRAIN.MODEL_PATH',
}

# the unused keys the authors' own configs set, with their value there (every YAML of their
# release sets these two): said in the log file (and with --verbose), not on the console, since
# every run of a shipped config would repeat them; any other unused key, or one of these with
# another value, is a warning on the console
AUTHORS_UNUSED = {'DATA.USE_RANDOM_DIFF': True, 'TRAIN.LOSS_TYPE': 'ss_adv'}

# keys the original reads and acts on when true (another lifter, a rotation network, a missing
# training file, ground-truth scales from a pickle), which this project does not reproduce:
# accepted at the original's default value only
UNSUPPORTED = {'NETWORK.USE_SIMPLE_MODEL': False, 'TRAIN.USE_ROTATER': False,
               'TRAIN.FINETUNE_ROTATER': False, 'TRAIN.USE_GT_SCALE': False}

CHOICES = {
    'COMPAT.TMC_FRAME': ('as_written', 'rotate_motion', 'recovered', 'magnitude_first3'),
    'COMPAT.KL_ON_DIFF2': ('by_scheme', 'always', 'never'),
    'COMPAT.BONE_LOSS': ('vectors', 'lengths', 'log_lengths'),
    'TRAIN.NONFINITE': ('stop', 'skip'),
    'TRAIN.ELEV_SAMPLING': ('uniform', 'learned'),
    'EVAL.PRECISION': ('fp32', 'bf16'),
    'EVAL.SELECT_BY': ('', 'train_bone_spread', 'train_symmetry', 'train_cycle_3d', 'train_cycle_2d'),
    'DATA.FORMAT': ('auto', 'h5', 'npz'),
    'TRAIN.OPTIMIZER': ('adam',),
}


def get_default():
    return copy.deepcopy(_C)



# float keys that also take 'auto': the value is then found at run time (lib/data/scale_prior.py)
AUTO_KEYS = ('DATA.SCALE_MID_MEAN', 'DATA.SCALE_MID_STD')

