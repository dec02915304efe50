"""What ``scripts/inference.py`` does with its inputs: list them, load the model, lift, write, report.

:func:`run_demo` takes the parsed options of the script.  The inputs are listed
(:func:`input_jobs`) and the model is chosen and its config checked before torch
loads; each input is then read or detected, lifted (:func:`lift_inputs`) and
written (:func:`write_all`, :mod:`lib.inference.one_input`); the closing lines say what
was lifted, skipped and failed (:func:`report`).  A file that cannot be used gets
its one ``error:`` line and the others still run.
"""
import os
import sys

from tqdm import tqdm

from lib.inference import one_input
from lib.inference.detector import require_detector
from lib.inference.keypoints import INPUT_SUFFIXES, list_inputs, read_input
from lib.inference.model_choice import check_model_file, choose_model, model_config
from lib.inference.outputs import output_stems
from lib.utils.created import created_mark, discard_created
from lib.utils.errors import UserError, is_disk_error
from lib.utils.media_io import list_images
from lib.utils.outputs import check_output_dir, create_output_dir
from lib.utils.runtime import apply_threads, cli_path, one_line_warnings, resolve_threads, select_device
from lib.utils.safe_io import all_or_nothing
from lib.vis.plot import contact_sheet


def input_jobs(args, detector, show):
    """[(path, stem, loader)] for the chosen input, and the files skipped as documentation.
    ``detector()`` builds (once) the person detector that images and videos need."""
    if args.indir:
        paths, docs = list_inputs(cli_path(args.indir))
        if not paths:
            raise UserError('no input files in the input folder', cli_path(args.indir),
                            'put keypoint files (%s) into it' % ', '.join(INPUT_SUFFIXES))
        return [(p, s, lambda p=p: read_input(p, args.joint_order, args.min_confidence))
                for p, s in zip(paths, output_stems(paths))], docs
    require_detector('--images' if args.images else '--video')
    if args.images:
        paths = list_images(cli_path(args.images))
        if not paths:
            raise UserError('no images in the folder', cli_path(args.images), 'put .jpg / .png images into it')
        return [(p, s, lambda p=p: one_input.detect_image(detector(), p))
                for p, s in zip(paths, output_stems(paths))], []
    path = cli_path(args.video)
    if not os.path.isfile(path):
        raise UserError('video not found', path, 'check the --video path')
    bar = (lambda it: tqdm(it, desc='detect', unit='frame', disable=not show))
    return [(path, os.path.splitext(os.path.basename(path))[0],
             lambda: one_input.detect_video(detector, path, args.smooth, args.step, args.max_frames, bar))], []


def lift_inputs(model, cfg, todo, show):
    """Read (or detect) and lift every input -> (lifted [(inp, stem, pose, scale, factor, depth)],
    failed paths, skipped descriptions, notes on the frames skipped inside inputs)."""
    lifted, failed, skipped, notes = [], [], [], []
    for path, stem, load in tqdm(todo, desc='lift', unit='file', disable=not show or len(todo) < 2):
        try:
            inp = load()
            pose, scale, factor, depth = one_input.lift_input(model, inp, cfg)
        except one_input.Skip as e:
            skipped.append('%s (%s)' % (os.path.basename(path), e))
            continue
        except UserError as e:
            tqdm.write(e.line(), file=sys.stderr)
            failed.append(path)
            continue
        if inp.warning:
            tqdm.write(inp.warning, file=sys.stderr)
        if inp.skipped:
            notes.append('%s: %d of %d frames skipped (%s)' % (inp.name, len(inp.skipped), len(pose),
                                                          ', '.join(sorted(set(inp.skipped.values())))))
        lifted.append((inp, stem, pose, scale, factor, depth))
    return lifted, failed, skipped, notes


def write_all(lifted, out_dir, args, show, failed):
    """The outputs of every lifted input; one that cannot be written (or whose picture cannot be
    read) is added to ``failed`` and the others still run.  Returns how many were written."""
    done = 0
    for inp, stem, pose, scale, factor, depth in tqdm(lifted, desc='draw', unit='file', disable=not show):
        try:
            with all_or_nothing():     # an input that fails leaves none of its files
                one_input.write_outputs(inp, stem, out_dir, pose, scale, factor, args, depth, show)
        except UserError as e:
            tqdm.write(e.line(), file=sys.stderr)
            failed.append(inp.path)
            continue
        except OSError as e:
            if is_disk_error(e):       # a full or failing disk fails every input: one line for the run
                raise
            print(UserError('cannot write the outputs (%s)' % (e.strerror or e), inp.path,
                            'check the free space and permissions of --outdir').line(), file=sys.stderr)
            failed.append(inp.path)
            continue
        done += 1
    return done


def sheet_with_reference(out_dir, ref_dir, stems):
    """contact_sheet.png: each ``<stem>_out.jpg`` beside the reference figure of the same name."""
    pairs = []
    for s in stems:
        mine, ref = os.path.join(out_dir, s + '_out.jpg'), os.path.join(ref_dir, s + '_out.jpg')
        if os.path.isfile(mine) and os.path.isfile(ref):
            pairs += [ref, mine]
    if pairs:
        contact_sheet(pairs, os.path.join(out_dir, 'contact_sheet.png'), cols=4, thumb=360,
                      caption_fn=lambda p: ('reference ' if p.startswith(ref_dir) else 'this project ')
                      + os.path.basename(p))


def report(done, docs, skipped, notes, failed, out_dir):
    """The closing lines: the frames skipped inside inputs, then one summary line."""
    for line in notes:
        print(line)
    why = ['%s: not keypoints' % ', '.join(os.path.basename(d) for d in docs)] if docs else []
    why += skipped
    print('lifted %d, skipped %d%s, failed %d (%s)' % (done, len(docs) + len(skipped),
                                                       ' (%s)' % '; '.join(why) if why else '', len(failed), out_dir))


def load_demo_model(args):
    """The model chosen by lib/inference/model_choice.py and its config, checked before torch loads."""
    one_line_warnings(args.verbose)
    said = []                          # printed once the config and the thread count are known good
    ckpt, cfg_file, _ = choose_model(cli_path(args.pretrain), cli_path(args.cfg), log=said.append)
    cfg = model_config(ckpt, cfg_file)
    resolve_threads(args.threads, cfg.THREADS)
    check_model_file(ckpt)
    print('\n'.join(said))
    threads = apply_threads(args.threads, cfg.THREADS)
    if args.verbose:
        print('threads: %d (%s)' % threads)
    from lib.eval.load_model import load_pose_model  # loads torch
    model = load_pose_model(cfg, ckpt, select_device(args.gpu), log=lambda m: print(m, file=sys.stderr))
    return model, cfg


def input_paths(args):
    """The input folder or file the command line names (an output must be none of them)."""
    return [cli_path(p) for p in (args.indir, args.images, args.video, args.reference) if p]


def run_demo(args):
    """The whole of scripts/inference.py after its arguments; returns the exit status (2 if any
    file failed or nothing was lifted, else 0).  Partial results: the inputs that lift are
    written, each that fails gets its ``error:`` line and is counted in the summary."""
    one_line_warnings(args.verbose)
    show = not args.quiet and sys.stderr.isatty()
    holder = []

    def detector():
        if not holder:
            from lib.inference.detector import PoseDetector  # loads MediaPipe
            holder.append(PoseDetector())
        return holder[0]

    # every path first: nothing is printed, loaded or created for a bad one
    todo, docs = input_jobs(args, detector, show)
    if args.reference and not os.path.isdir(cli_path(args.reference)):
        raise UserError('reference folder not found', cli_path(args.reference),
                        'pass --reference with a folder of <stem>_out.jpg figures, or omit it')
    out_dir = check_output_dir(cli_path(args.outdir), '--outdir', inputs=input_paths(args), force=args.force,
                               empty=True)
    model, cfg = load_demo_model(args)
    try:
        lifted, failed, skipped, notes = lift_inputs(model, cfg, todo, show)
    finally:
        for h in holder:
            h.close()
    done = 0
    if lifted:                         # the folder is made only when there is something to write
        mark = created_mark()
        create_output_dir(out_dir, '--outdir')
        done = write_all(lifted, out_dir, args, show, failed)
        if not done:                   # (and kept only when something was written into it)
            discard_created(mark)
    if args.reference and done:
        sheet_with_reference(out_dir, cli_path(args.reference), [item[1] for item in lifted])
    report(done, docs, skipped, notes, failed, out_dir if done else
           ('%s: nothing written' if os.path.isdir(out_dir) else '%s not created') % out_dir)
    return 2 if failed or not done else 0
