# Copyright (c) mmaims contributors. All rights reserved.
"""mmaims: All-Inclusive Multi-Level Segmentation for MMDetection 3.x."""
import mmcv
import mmdet
import mmengine
from mmengine.config import utils as _config_utils
from mmengine.utils import digit_version

from .version import __version__, version_info

# The exact stack mmaims is built and tested on (requirements/mminstall.txt).
# mmdet 3.3.0 itself refuses mmcv >= 2.2.0, so the ranges stay narrow.
_REQUIREMENTS = {
    'mmcv': (mmcv, '2.1.0', '2.2.0'),
    'mmengine': (mmengine, '0.10.7', '1.0.0'),
    'mmdet': (mmdet, '3.3.0', '3.4.0'),
}


def _check_versions() -> None:
    for name, (module, minimum, maximum) in _REQUIREMENTS.items():
        installed = digit_version(module.__version__)
        if not digit_version(minimum) <= installed < digit_version(maximum):
            raise ImportError(
                f'mmaims requires {name}>={minimum},<{maximum}, but '
                f'{name}=={module.__version__} is installed. Run '
                '`bash tools/install.sh` or '
                f'`pip install "{name}=={minimum}"`.')


_check_versions()

# mmengine resolves ``package::path`` config references only for packages in
# its MODULE2PACKAGE table. Adding our own name (never changing an existing
# entry) is what lets ``_base_ = 'mmaims::aims/aims_swin-t.py'`` resolve
# after ``import mmaims``, the way ``mmdet::`` references do.
_config_utils.MODULE2PACKAGE.setdefault('mmaims', 'mmaims')

__all__ = ['__version__', 'version_info']
