# Copyright (c) mmaims contributors. All rights reserved.
from mmaims.registry import MODELS
from .aims_data_preprocessor import AIMSDataPreprocessor


@MODELS.register_module()
class CropFormerDataPreprocessor(AIMSDataPreprocessor):
    """Data preprocessor of CropFormer: every view of a sample through
    :class:`AIMSDataPreprocessor` in one batch.

    Samples packed by :class:`~mmaims.datasets.transforms.
    PackCropFormerInputs` carry their crop views (``crop_inputs``,
    ``crop_samples``). The views of all samples are normalised, padded and
    batched together, sample by sample (full view, then its crops), so they
    share one ``batch_input_shape``. Samples without crop views are
    processed as by :class:`AIMSDataPreprocessor`.

    Returns ``inputs`` (Tensor, ``B * V x 3 x H_pad x W_pad``, the V views
    of sample 0, then those of sample 1, ...) and ``data_samples`` (the B
    full views, each with ``crop_samples`` replaced by its processed crop
    samples and ``crop_inputs`` removed). Every sample of a batch must have
    the same number of views.

    Args:
        **kwargs: The arguments of :class:`AIMSDataPreprocessor`.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        """Process the views of every sample together.

        Args:
            data (dict): Data sampled from the dataloader.
            training (bool): See :class:`AIMSDataPreprocessor`.

        Returns:
            dict: ``inputs`` and ``data_samples`` (see the class).
        """
        samples = data.get('data_samples')
        if not samples or 'crop_inputs' not in samples[0]:
            return super().forward(data, training)
        num_views = None
        inputs, views = [], []
        for img, sample in zip(data['inputs'], samples):
            if 'crop_inputs' not in sample:
                raise ValueError(
                    f'CropFormerDataPreprocessor: image '
                    f'{sample.metainfo.get("img_id", "?")} has no crop '
                    'views while others of the batch have')
            crop_inputs = sample.pop('crop_inputs')
            crop_samples = sample.pop('crop_samples')
            if num_views is None:
                num_views = 1 + len(crop_inputs)
            if 1 + len(crop_inputs) != num_views or \
                    len(crop_samples) != len(crop_inputs):
                raise ValueError(
                    f'CropFormerDataPreprocessor: image '
                    f'{sample.metainfo.get("img_id", "?")} has '
                    f'{len(crop_inputs)} crop inputs and {len(crop_samples)}'
                    f' crop samples; the batch has {num_views - 1} crops')
            inputs += [img, *crop_inputs]
            views += [sample, *crop_samples]
        out = super().forward(
            dict(inputs=inputs, data_samples=views), training)
        processed = out['data_samples']
        full = processed[::num_views]
        for i, sample in enumerate(full):
            sample.crop_samples = processed[i * num_views + 1:(i + 1) *
                                            num_views]
        return dict(inputs=out['inputs'], data_samples=full)
