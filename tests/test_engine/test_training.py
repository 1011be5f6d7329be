# Copyright (c) mmaims contributors. All rights reserved.
"""The main job's mechanics on a tiny model: training saves and resumes,
distributed training and testing run on CPU (gloo), and evaluation under two
processes equals evaluation under one."""
import glob
import json
import os
import os.path as osp
import re
import socket
import subprocess
import sys
import tempfile

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CONFIG = osp.join(REPO, 'tests', 'data', 'configs', 'aims_tiny.py')
PY = sys.executable


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory):
    """The tiny model on a small synthetic dataset, with a short schedule
    and a hook that records the samples of every training iteration."""
    from mmaims.datasets.synthetic import make_synthetic_dataset
    tmp = tmp_path_factory.mktemp('synthetic')
    root = str(tmp / 'data')
    make_synthetic_dataset(root, num_images=24, num_val=6, seed=3, size=64)
    cfg_file = tmp / 'tiny_train.py'
    cfg_file.write_text(f"""
_base_ = {TINY_CONFIG!r}
root = {root + '/'!r}
train_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(datasets=[
        dict(type='HierarchicalCocoDataset', data_root=root,
             ann_file='annotations/train.json',
             data_prefix=dict(img='images/'), pipeline=[])
    ]))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadHierarchicalAnnotations'),
    dict(type='HierarchicalRandomFlip', prob=0.5),
    dict(type='SampleTaskPrompt', supervise_all_levels=True),
    dict(type='PackAIMSInputs'),
]
val_dataloader = dict(dataset=dict(data_root=root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=root + 'annotations/val.json')
test_evaluator = val_evaluator
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=4,
                 val_interval=1000)
param_scheduler = [dict(type='MultiStepLR', by_epoch=False,
                        milestones=[3], gamma=0.1)]
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(by_epoch=False, interval=2))
custom_imports = dict(
    imports=['tests.test_engine.record_samples_hook'],
    allow_failed_imports=False)
custom_hooks = [dict(type='RecordSamplesHook')]
# a fixed seed makes separate runs comparable (resuming with no seed is
# tested on its own)
randomness = dict(seed=0)
""")
    return str(cfg_file)


def options(max_iters):
    return ['--cfg-options', f'train_cfg.max_iters={max_iters}']


def run(cmd, env_extra=None, timeout=600, returncode=0):
    env = dict(os.environ, PYTHONPATH=REPO, CUDA_VISIBLE_DEVICES='')
    env.update(env_extra or {})
    # output goes to files, not pipes: the dataloader workers of a killed
    # run keep inherited pipes open until they notice their parent is gone
    # (which they only can once it has been waited for)
    with tempfile.TemporaryFile('w+') as stdout, \
            tempfile.TemporaryFile('w+') as stderr:
        proc = subprocess.run(
            cmd, cwd=REPO, env=env, stdout=stdout, stderr=stderr,
            text=True, timeout=timeout)
        stdout.seek(0)
        stderr.seek(0)
        out = subprocess.CompletedProcess(proc.args, proc.returncode,
                                          stdout.read(), stderr.read())
    assert out.returncode == returncode, \
        out.stdout[-3000:] + out.stderr[-5000:]
    return out


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def recorded(work_dir):
    with open(osp.join(work_dir, 'samples.jsonl')) as f:
        return [json.loads(line) for line in f]


def sampler_stream(records):
    """Per iteration, the sampler's draws: ``[sample_index, sample_type]``
    of each sample. A resumed run continues this stream exactly; the image
    served can still differ when the drawn one is rejected after a random
    augmentation (the workers' augmentation RNG restarts on resume, as in
    mmdet) and another image of its pool replaces it."""
    return [[[index, sample[1]]
             for index, sample in zip(r['stream'], r['samples'])]
            for r in records]


def test_interrupted_training_resumes_where_it_stopped(tiny_config,
                                                       tmp_path):
    straight = str(tmp_path / 'straight')
    run([PY, 'tools/train.py', tiny_config, '--work-dir', straight] +
        options(4))

    # the same job killed after 2 iterations, then rerun with --resume
    resumed = str(tmp_path / 'resumed')
    kill = ['custom_hooks.0.kill_after=2']
    run([PY, 'tools/train.py', tiny_config, '--work-dir', resumed] +
        options(4) + kill, returncode=3)
    assert osp.isfile(osp.join(resumed, 'iter_2.pth'))
    assert not osp.exists(osp.join(resumed, 'iter_4.pth'))
    run([PY, 'tools/train.py', tiny_config, '--work-dir', resumed,
         '--resume'] + options(4) + kill)

    from mmaims.utils import load_checkpoint_weights_only
    ckpt = load_checkpoint_weights_only(osp.join(resumed, 'iter_4.pth'))
    reference = load_checkpoint_weights_only(osp.join(straight, 'iter_4.pth'))
    # iteration counter, optimizer and scheduler continued: the state after
    # 2 + 2 iterations is the state after 4 uninterrupted ones
    assert ckpt['meta']['iter'] == 4
    steps = {int(s['step']) for s in ckpt['optimizer']['state'].values()}
    assert steps == {4}
    assert ckpt['param_schedulers'] == reference['param_schedulers']
    assert ckpt['param_schedulers'][0]['_global_step'] == 4
    # the sampler continued: iterations 3 and 4 saw the same samples as the
    # uninterrupted run, and the resumed run did not repeat iterations 1-2
    straight_rec, resumed_rec = recorded(straight), recorded(resumed)
    assert [r['iter'] for r in resumed_rec] == [0, 1, 2, 3]
    assert sampler_stream(resumed_rec) == sampler_stream(straight_rec)


def test_resume_without_a_seed_continues_the_sampler_stream(
        tiny_config, tmp_path):
    # randomness.seed unset: the killed run and the resumed run each draw
    # their own seed when the dataloader is built; the resumed run must
    # still continue the killed run's sample stream
    # with worker processes, which prefetch from the stream as soon as the
    # loop is built, i.e. before the checkpoint is loaded
    no_seed = ['randomness.seed=None', 'train_dataloader.num_workers=2',
               'train_dataloader.persistent_workers=True']
    resumed = str(tmp_path / 'resumed')
    kill = ['custom_hooks.0.kill_after=2']
    run([PY, 'tools/train.py', tiny_config, '--work-dir', resumed] +
        options(4) + kill + no_seed, returncode=3)
    out = run([PY, 'tools/train.py', tiny_config, '--work-dir', resumed,
               '--resume'] + options(4) + kill + no_seed)
    assert 'Resuming the sampler stream of seed' in out.stdout + out.stderr

    from mmaims.utils import load_checkpoint_weights_only
    seed = load_checkpoint_weights_only(osp.join(
        resumed, 'iter_2.pth'))['meta']['sampler_seed']
    # the reference: an uninterrupted run on the killed run's seed
    straight = str(tmp_path / 'straight')
    run([PY, 'tools/train.py', tiny_config, '--work-dir', straight] +
        options(4) + [f'randomness.seed={seed}'])
    resumed_rec = recorded(resumed)
    assert [r['iter'] for r in resumed_rec] == [0, 1, 2, 3]
    assert sampler_stream(resumed_rec) == sampler_stream(recorded(straight))


def test_training_logs_association_and_stops_without_weights(
        tiny_config, tmp_path):
    work_dir = str(tmp_path / 'logged')
    out = run([PY, 'tools/train.py', tiny_config, '--work-dir', work_dir] +
              options(2))
    log = out.stdout + out.stderr
    assert 'Initial weights: random weights (model.from_scratch=True)' in log
    # the association loss and its diagnostic are logged every iteration
    assert 'entity_part.loss_assoc' in log
    assert 'link_recall' in log

    # the same model without from_scratch and without any weights
    stopped = str(tmp_path / 'stopped')
    out = run([PY, 'tools/train.py', tiny_config, '--work-dir', stopped] +
              options(2) +
              ['model.from_scratch=False', 'model.backbone.init_cfg=None'],
              returncode=1)
    log = out.stdout + out.stderr
    assert 'would train from random weights' in log
    assert 'model.from_scratch=True' in log
    assert not glob.glob(osp.join(stopped, '*.pth'))


def test_resume_with_nothing_to_resume_stops(tiny_config, tmp_path):
    work_dir = str(tmp_path / 'empty')
    out = run([PY, 'tools/train.py', tiny_config, '--work-dir', work_dir,
               '--resume'] + options(2), returncode=1)
    assert 'nothing to resume in' in out.stderr
    assert '--allow-fresh-start' in out.stderr
    assert not glob.glob(osp.join(work_dir, '*.pth'))
    out = run([PY, 'tools/train.py', tiny_config, '--work-dir', work_dir,
               '--resume', '--allow-fresh-start'] + options(2))
    assert 'starting from the beginning' in out.stdout
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))


def test_loss_shares_tool(tiny_config, capsys):
    """tools/analysis_tools/loss_shares.py groups the loss keys and prints
    each group's share of the total the optimizer sees."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'loss_shares',
        osp.join(REPO, 'tools', 'analysis_tools', 'loss_shares.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    import torch
    groups = tool.group_losses({
        'part.loss_mask': torch.tensor(2.), 'part.d0.loss_mask':
        torch.tensor(1.), 'entity_part.loss_assoc': torch.tensor(3.),
        'entity_part.link_recall': torch.tensor(0.5)})
    assert groups == {'total': 6.0, 'part all blocks': 3.0,
                      'part last block': 2.0,
                      'entity_part.loss_assoc': 3.0}
    means = tool.main([tiny_config, '--num-batches', '2'])
    out = capsys.readouterr().out
    assert '2 training batches, init' in out
    assert 'entity_part.loss_assoc' in out and '100.0%' in out
    assert means['total'] == pytest.approx(
        sum(v for k, v in means.items() if 'all blocks' in k or 'assoc' in k))


@pytest.mark.slow
def test_distributed_train_and_test_on_cpu(tiny_config, tmp_path):
    work_dir = str(tmp_path / 'dist')
    run(['bash', 'tools/dist_train.sh', tiny_config, '2', '--work-dir',
         work_dir] + options(2),
        env_extra=dict(PORT=free_port(), PYTHON=PY))
    ckpt = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(ckpt)
    # both ranks trained: each recorded its own, different samples
    rec = recorded(work_dir)
    assert sorted({r['rank'] for r in rec}) == [0, 1]
    by_rank = {rank: [s for r in rec if r['rank'] == rank
                      for s in r['samples']] for rank in (0, 1)}
    assert by_rank[0] != by_rank[1]

    single_dir, dist_dir = str(tmp_path / 'test1'), str(tmp_path / 'test2')
    run([PY, 'tools/test.py', tiny_config, ckpt, '--work-dir', single_dir])
    run(['bash', 'tools/dist_test.sh', tiny_config, ckpt, '2', '--work-dir',
         dist_dir],
        env_extra=dict(PORT=free_port(), PYTHON=PY))
    single, dist = test_metrics(single_dir), test_metrics(dist_dir)
    assert 'aims/entity_mAP' in single
    assert single == dist


def test_metrics(work_dir):
    """The metrics mmengine's LoggerHook dumped after testing."""
    files = glob.glob(osp.join(work_dir, '*', '*.json'))
    assert len(files) == 1, files
    with open(files[0]) as f:
        metrics = json.load(f)
    return {k: v for k, v in metrics.items() if k.startswith('aims/')}


test_metrics.__test__ = False  # a helper, not a test


def test_test_tool_drill_down_keys_equal_the_offline_tool(
        tiny_config, tiny_checkpoint, tmp_path, load_tool):
    """tools/test.py on the synthetic config reports the drill-down keys;
    the offline tool gives every key the same value from the written
    prediction file."""
    work_dir = str(tmp_path / 'test')
    pred_file = str(tmp_path / 'pred.json')
    out = run([
        PY, 'tools/test.py', tiny_config, tiny_checkpoint, '--work-dir',
        work_dir, '--out', pred_file
    ])
    assert 'drill-down (all images)' in out.stdout + out.stderr
    online = test_metrics(work_dir)
    assert online['aims/drill_part_prompts'] > 0
    assert online['aims/drill_entity_prompts'] > 0
    assert online['aims/drill_part_mAP'] >= 0
    with open(pred_file) as f:
        assert len(json.load(f)['prompts']) == (
            online['aims/drill_part_prompts'] +
            online['aims/drill_entity_prompts'])
    from mmengine.config import Config
    ann_file = Config.fromfile(tiny_config).test_evaluator.ann_file
    offline = load_tool('analysis_tools/eval_predictions.py').evaluate_files(
        ann_file, pred_file, show_progress=False)
    assert set(offline) == set(online)
    for key, value in online.items():
        # the work dir's json rounds to 4 decimals
        assert offline[key] == pytest.approx(value, abs=6e-5), key


def test_benchmark_drill_down_runs(tiny_config, tiny_checkpoint):
    out = run([
        PY, 'tools/analysis_tools/benchmark_drill_down.py', tiny_config,
        tiny_checkpoint
    ])
    assert 'ratio with drill-down / one-step' in out.stdout
    assert 'drill-down prompts scored' in out.stdout


def test_benchmark_runs_and_prints_every_ratio(tiny_config):
    """tools/analysis_tools/benchmark.py on the tiny config: the four
    ratios of issue 14 are printed (no timing is asserted)."""
    out = run([
        PY, 'tools/analysis_tools/benchmark.py', tiny_config, '--shape', '48',
        '64', '--repeat', '1', '--warmup', '0', '--num-prompts', '4',
        '--subsets', 'all', 'own', '--device', 'cpu'
    ]).stdout
    for row in ('| AIMS one-step / Mask2Former',
                '| one cached prompt / one-step, subset all',
                '| per prompt of 4 batched / one-step, subset own',
                '| peak memory, session with 4 prompts / one-step'):
        assert row in out, out
    peaks = re.search(r'\(([\d.]+) MiB / ([\d.]+) MiB', out)
    assert peaks and float(peaks.group(2)) > 0, out


def test_drill_down_robustness_cut_to_truth(tiny_config, tiny_checkpoint,
                                            load_tool):
    """The diagnostics through the tool (the tiny random model finds
    entities only): cut to the true prompt, exact prompts give what the
    hard clip gives; cut to the region of the true entities without a
    margin, what the hard clip gives too (an exact prompt is the union of
    true entities); an eroded prompt cut to the truth gives more than the
    hard clip of it."""
    tool = load_tool('analysis_tools/drill_down_robustness.py')

    def recall(*args):
        table = tool.main([tiny_config, tiny_checkpoint, *args])
        return [
            [cell.strip() for cell in line.split('|')[2:-1]]
            for line in table.splitlines()[2:]
        ]

    def r75(rows):
        return [[row[0], row[4]] for row in rows]  # parts, entities R@0.75

    hard = recall('--perturbations', 'exact', 'erode:1', '--cfg-options',
                  'model.test_cfg.prompt_clip=hard')
    truth = recall('--perturbations', 'exact', 'erode:1', '--cut-to-truth',
                   'prompt')
    entities = recall('--perturbations', 'exact', '--cut-to-truth',
                      'entities', '--cfg-options',
                      'model.test_cfg.prompt_clip_margin=0')
    assert r75(truth)[0] == r75(hard)[0] == r75(entities)[0]
    assert r75(truth)[1] != r75(hard)[1]


def test_drill_down_robustness_tells_the_model_which_prompts_are_rough(
        tiny_config, flag_checkpoint, load_tool):
    """``--rough-flag``: by default a perturbed prompt is given as rough
    and an exact one as exact; ``rough`` / ``exact`` give every prompt
    that flag (the tiny model with the flag's vector set, so that it
    changes the children)."""
    from tests.conftest import ROUGH_FLAG_OPTION
    tool = load_tool('analysis_tools/drill_down_robustness.py')
    options = [f'{key}={value}' for key, value in ROUGH_FLAG_OPTION.items()]

    def rows(*args):
        table = tool.main([
            tiny_config, flag_checkpoint, '--perturbations', 'exact',
            'dilate:1', '--cfg-options', *options, *args
        ])
        return [line.split('|')[2:-1] for line in table.splitlines()[2:]]

    auto, rough, exact = (rows('--rough-flag', flag)
                          for flag in ('auto', 'rough', 'exact'))
    assert auto[0] == exact[0] and auto[1] == rough[1]
    assert auto[0] != rough[0] and auto[1] != exact[1]


def test_benchmark_metric_runs_and_checks_equality():
    out = run([
        PY, 'tools/analysis_tools/benchmark_metric.py', '--num-images', '6',
        '--masks-per-level', '6', '--size', '48'
    ])
    assert 'ratio mmaims / faster-coco-eval' in out.stdout
    assert 'MISMATCH' not in out.stdout + out.stderr


def test_drill_down_robustness_table(tiny_config, tiny_checkpoint, tmp_path):
    out_file = str(tmp_path / 'table.md')
    out = run([
        PY, 'tools/analysis_tools/drill_down_robustness.py', tiny_config,
        tiny_checkpoint, '--perturbations', 'exact', 'dilate:1', '--out',
        out_file
    ])
    with open(out_file) as f:
        table = f.read()
    assert table in out.stdout
    lines = table.splitlines()
    assert lines[0].startswith('| prompt | parts R@0.75 |')
    assert [line.split('|')[1].strip() for line in lines[2:]] == [
        'exact', 'dilate1'
    ]
    # two checkpoints (here the same one twice): mean ± spread per cell
    two = run([
        PY, 'tools/analysis_tools/drill_down_robustness.py', tiny_config,
        tiny_checkpoint, tiny_checkpoint, '--perturbations', 'exact'
    ]).stdout
    assert two.count(f'exact [{tiny_checkpoint}]:') == 2
    one_cells = lines[2].split('|')[2:-1]
    two_cells = two.strip().splitlines()[-1].split('|')[2:-1]
    assert len(two_cells) == len(one_cells) == 8
    for single, pair in zip(one_cells, two_cells):
        single, pair = single.strip(), pair.strip()
        assert pair == (single if single == '-' else f'{single} ± 0.000')


def test_cut_to_truth_on_a_hand_made_case(load_tool):
    """A relation of a table (top and a 3 px leg) and a floor, prompted
    eroded by 3 px: children predicted whole (one reaching beyond the
    relation) are cut to the true relation (``'prompt'``), or to the
    eroded prompt grown by 3 px with the true entities at least half
    inside it (``'entities'``: the table, with its leg, and the floor,
    which the erosion kept a band of)."""
    import numpy as np
    import torch
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    from mmaims.structures import encode_mask
    from mmaims.structures.prompt_perturbation import perturb_prompt
    tool = load_tool('analysis_tools/drill_down_robustness.py')
    table = np.zeros((24, 24), dtype=bool)
    table[2:10, 4:20] = True
    table[10:17, 6:9] = True
    floor = np.zeros_like(table)
    floor[17:, :] = True
    info = dict(
        levels=['entity', 'relation'],
        instances=[
            dict(level='entity', ann_id=1, ignore_flag=0,
                 mask=encode_mask(table)),
            dict(level='entity', ann_id=2, ignore_flag=0,
                 mask=encode_mask(floor)),
            dict(level='relation', ann_id=3, ignore_flag=0,
                 entity_ids=[1, 2], mask=encode_mask(table | floor)),
        ])
    eroded = perturb_prompt(table | floor, dict(type='erode', k=3))
    assert not eroded[10:17].any()  # the leg is gone from the prompt
    whole = np.ones_like(table)  # a child reaching over the whole image

    def outputs():
        sample = DetDataSample(metainfo=dict(drill_down_prompts=[
            dict(type='relation-entity', ann_id=3, mask=encode_mask(eroded))
        ]))
        sample.pred_prompted_instances = InstanceData(
            masks=torch.from_numpy(np.stack([table, whole])),
            scores=torch.tensor([0.9, 0.8]),
            prompt_index=torch.tensor([0, 0]))
        return [sample]

    class Dataset:

        def get_data_info(self, index):
            assert index == 5
            return info

    cut = tool.cut_to_truth(outputs(), [5], Dataset(), 'prompt', 3)
    masks = cut[0].pred_prompted_instances.masks.numpy()
    np.testing.assert_array_equal(masks[0], table)
    np.testing.assert_array_equal(masks[1], table | floor)
    cut = tool.cut_to_truth(outputs(), [5], Dataset(), 'entities', 3)
    masks = cut[0].pred_prompted_instances.masks.numpy()
    np.testing.assert_array_equal(masks[0], table)
    grown = perturb_prompt(eroded, dict(type='dilate', k=3))
    np.testing.assert_array_equal(masks[1], table | floor | grown)


def test_clip_ceiling_on_a_hand_made_case(load_tool):
    """A table (a 10 x 8 px top and a long 3 px leg) on a 3 px floor, a
    relation prompt eroded by 3 px: the leg and the floor are gone from
    the prompt, 8 pixels of the top are left. The
    true children cut by each clip are scored as drill-down output: an
    entity is found iff the cut keeps at least 3/4 of it (the IoU of a
    sub-mask with its mask)."""
    import numpy as np

    from mmaims.evaluation.functional import FederatedGroundTruth
    from mmaims.evaluation.functional.drill_down import drill_key
    from mmaims.structures import encode_mask
    from mmaims.structures.prompt_perturbation import perturb_prompt
    tool = load_tool('analysis_tools/drill_down_robustness.py')
    table = np.zeros((40, 24), dtype=bool)
    table[2:10, 4:14] = True
    table[10:34, 6:9] = True
    floor = np.zeros_like(table)
    floor[34:37, :] = True
    gt = FederatedGroundTruth(
        dict(
            images=[
                dict(id=1, height=40, width=24, levels=['entity', 'relation'])
            ],
            annotations=[
                dict(id=i, image_id=1, level='entity', iscrowd=0,
                     segmentation=encode_mask(m))
                for i, m in ((1, table), (2, floor))
            ] + [
                dict(id=3, image_id=1, level='relation', iscrowd=0,
                     entity_ids=[1, 2], segmentation=encode_mask(table
                                                                 | floor))
            ]))
    erode = dict(type='erode', k=3)
    eroded = perturb_prompt(table | floor, erode)
    assert eroded.sum() == 8 and not eroded[10:].any()

    def ceiling(clip, spec=erode, margin=3):
        metrics = tool.clip_ceiling(gt, spec, 0, clip, margin)
        key = drill_key('drill', 'entity', 'R@0.75',
                        tool.perturbation_tag(spec))
        return metrics[key], metrics['entity_missing']

    def found(region):
        return np.mean([(m & region).sum() >= 0.75 * m.sum()
                        for m in (table, floor)])

    grown = perturb_prompt(eroded, dict(type='dilate', k=3))
    # the top grown back is 80 of the table's 152 pixels: not found
    assert found(eroded) == found(grown) == 0
    assert ceiling('hard') == (0.0, 0.5)  # no pixel of the floor left
    assert ceiling('margin') == (0.0, 0.5)
    # with the true entities the region takes the table back (more than
    # half of it lies in the grown prompt), not the floor; 'inside' keeps
    # neither whole (8 of 152 pixels in the prompt)
    assert ceiling('entities') == (0.5, 0.5)
    assert ceiling('inside') == (0.0, 0.5)
    assert ceiling('none') == (1.0, 0.5)
    assert ceiling('hard', dict(type='exact')) == (1.0, 0.0)
    # the image has no part prompt
    metrics = tool.clip_ceiling(gt, erode, 0, 'hard', 3)
    assert metrics['part_missing'] == -1.0
    # through the command line: no model, the config's clip
    with pytest.raises(SystemExit):
        tool.parse_args([TINY_CONFIG, 'x.pth', '--ceiling'])
    with pytest.raises(SystemExit):
        tool.parse_args([TINY_CONFIG])


def test_clip_ceiling_table(tiny_config, load_tool):
    """``--ceiling`` on the tiny split: exact prompts are met in full
    whatever the clip; a prompt eroded by 1 px cut by the hard clip loses
    children that the unclipped truth keeps."""
    tool = load_tool('analysis_tools/drill_down_robustness.py')

    def rows(clip):
        table = tool.main([
            tiny_config, '--ceiling', '--perturbations', 'exact', 'erode:1',
            '--cfg-options', f'model.test_cfg.prompt_clip={clip}'
        ])
        lines = table.splitlines()
        assert f'R@0.75 ceiling ({clip})' in lines[0]
        return [[c.strip() for c in line.split('|')[1:-1]]
                for line in lines[2:]]

    hard, none = rows('hard'), rows('none')
    assert hard[0] == none[0] == ['exact', '1.000', '1.000', '0.000', '0.000']
    assert none[1][1:3] == ['1.000', '1.000']
    assert float(hard[1][1]) < 1.0
