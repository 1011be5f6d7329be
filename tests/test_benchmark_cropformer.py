# Copyright (c) mmaims contributors. All rights reserved.
"""tools/analysis_tools/benchmark_cropformer.py on the CPU CropFormer
(configs/cropformer/cropformer_r18_synthetic.py) and a tiny image: the
table has every Table 7 variant with its ratio to Image-O, and each timed
function predicts with its variant. No timing is asserted."""
import os.path as osp
import re
import subprocess
import sys

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = 'analysis_tools/benchmark_cropformer.py'


def test_benchmark_prints_every_variant_and_the_ratio():
    cmd = [
        sys.executable,
        osp.join('tools', TOOL), '--size', '48', '--repeat', '1', '--warmup',
        '0', '--device', 'cpu'
    ]
    out = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert 'full view (48, 64) + 4 crops' in out, out
    for row in ('| Image-O (image, full): single-view Mask2Former | ',
                '| Batch-O (batch, full) | ', '| Batch-C (batch, crops) | ',
                '| Batch-OC (batch, full+crops): crop ensemble | '):
        assert row in out, out
    reference = re.search(r'\| Image-O [^|]* \| ([\d.]+) \| 1\.00x \|', out)
    ensemble = re.search(
        r'\| Batch-OC [^|]* \| ([\d.]+) \| ([\d.]+)x \| 1545, 2\.43x \| '
        r'<= 2\.40x \|', out)
    assert reference and ensemble, out
    assert float(reference.group(1)) > 0 and float(ensemble.group(2)) > 0
    summary = re.search(r'crop ensemble / single-view Mask2Former: ([\d.]+)x',
                        out)
    assert summary and summary.group(1) == ensemble.group(2), out


def test_each_timed_function_runs_its_variant(load_tool, monkeypatch):
    tool = load_tool(TOOL)
    args = tool.parse_args(
        ['--size', '40', '--aspect', '1', '--device', 'cpu'])
    model, _ = tool.benchmark.build_models(args, with_m2f=False)
    inputs, samples = tool.make_cropformer_batch(
        model, tool.benchmark.load_config(args), args.size, args.aspect)
    assert inputs.shape[0] == 5  # the full view and 4 corner crops
    assert tuple(samples[0].img_shape[:2]) == (40, 40)

    encoded = []
    extract = model.extract_feat
    monkeypatch.setattr(
        model, 'extract_feat',
        lambda views: encoded.append(views.shape[0]) or extract(views))
    fns = tool.variant_fns(model, inputs, samples, list(tool.VARIANTS))
    assert list(fns) == ['Image-O', 'Batch-O', 'Batch-C', 'Batch-OC']
    for name, fn in fns.items():
        encoded.clear()
        with torch.no_grad():
            fn()
        decoder, views = tool.VARIANTS[name]
        assert model.ensemble_variant == (decoder, views)
        assert (model.test_cfg['decoder'],
                model.test_cfg['views']) == (decoder, views)
        # Image-O encodes the full view only, as Mask2Former does
        assert encoded == [1 if name == 'Image-O' else 5], name
    # the timed runs predict on copies: the batch stays as it was
    assert 'pred_instances' not in samples[0]
