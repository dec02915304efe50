"""The bad-input catalogues of the entry points, taken together: every entry point has one, of
at least 8 cases."""
from . import (test_eval_lsp_bad_inputs, test_export_model_bad_inputs, test_inference_bad_inputs,
               test_main_path_bad_inputs, test_prepare_data_bad_inputs, test_vis_sequences_bad_inputs)

PARTS = (test_inference_bad_inputs, test_main_path_bad_inputs, test_export_model_bad_inputs,
         test_prepare_data_bad_inputs, test_vis_sequences_bad_inputs, test_eval_lsp_bad_inputs)


def test_catalogue_covers_every_entry_point():
    counts = {}
    for part in PARTS:
        for case, (script, _, _, _) in part.CATALOGUE.items():
            counts[script] = counts.get(script, 0) + 1
    assert set(counts) == {'scripts/inference.py', 'tools/main.py', 'tools/export_model.py',
                           'tools/prepare_data.py', 'tools/vis_sequences.py', 'tools/eval_lsp.py'}
    assert min(counts.values()) >= 8, counts
