# Copyright (c) mmaims contributors. All rights reserved.
from typing import Optional

from mmengine.hooks import DistSamplerSeedHook

from mmaims.registry import HOOKS


@HOOKS.register_module()
class TaskSamplerSeedHook(DistSamplerSeedHook):
    """:class:`DistSamplerSeedHook` that also resumes the sampler's stream.

    mmengine builds the training dataloader, and with it the sampler and
    its seed, before it loads the checkpoint of a resumed run; the seed it
    restores from the checkpoint therefore reaches the global random state
    but not the sampler. With ``randomness.seed`` unset the resumed run
    would draw a new sample stream and skip into it, so the samples after
    the interruption would not be the ones the run would have seen.

    This hook writes the sampler's seed into the checkpoint's ``meta``
    (``sampler_seed``) and, when a run resumes from such a checkpoint with
    another sampler seed, gives the sampler the saved seed (through its
    ``set_seed``) and restarts the loop's dataloader iterator before the
    loop skips the iterations already trained. A checkpoint used with
    ``load_from`` (iteration 0) changes nothing.
    """

    def __init__(self) -> None:
        self._resumed_seed: Optional[int] = None

    @staticmethod
    def _sampler(runner):
        loop = getattr(runner, '_train_loop', None)
        dataloader = getattr(loop, 'dataloader', None)
        sampler = getattr(dataloader, 'sampler', None)
        if sampler is None or not hasattr(sampler, 'set_seed'):
            return None
        return sampler

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        sampler = self._sampler(runner)
        if sampler is not None:
            checkpoint.setdefault('meta', dict())['sampler_seed'] = \
                int(sampler.seed)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._resumed_seed = checkpoint.get('meta', dict()).get(
            'sampler_seed')

    def before_train(self, runner) -> None:
        seed, self._resumed_seed = self._resumed_seed, None
        sampler = self._sampler(runner)
        if seed is None or sampler is None or runner.iter == 0 \
                or sampler.seed == seed:
            return
        runner.logger.info(f'Resuming the sampler stream of seed {seed} '
                           f'(the new run drew {sampler.seed}).')
        sampler.set_seed(seed)
        loop = runner.train_loop
        iterator = getattr(loop, 'dataloader_iterator', None)
        if iterator is not None:
            # the iterator was created (and, with workers, has prefetched)
            # from the old stream; a new one starts from the new seed
            loop.dataloader_iterator = type(iterator)(loop.dataloader)
