#!/usr/bin/env python
# Copyright (c) mmaims contributors. All rights reserved.
import os
import os.path as osp
import platform
import shutil
import sys
import warnings

from setuptools import find_packages, setup

version_file = 'mmaims/version.py'


def readme():
    with open('README.md', encoding='utf-8') as f:
        return f.read()


def get_version():
    namespace = {}
    with open(version_file) as f:
        exec(compile(f.read(), version_file, 'exec'), namespace)
    return namespace['__version__']


def parse_requirements(fname):
    """Read requirement lines, following ``-r`` includes; skip comments."""
    requirements = []
    with open(fname) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if not line:
                continue
            if line.startswith('-r '):
                requirements += parse_requirements(
                    osp.join(osp.dirname(fname), line.split(' ', 1)[1]))
            else:
                requirements.append(line)
    return requirements


def add_mim_extension():
    """Ship ``configs/``, ``tools/`` and ``demo/`` inside the package.

    As in mmdet and mmyolo, they are placed under ``mmaims/.mim`` so that
    ``mmaims::aims/aims_swin-t.py`` config references and ``mim`` commands
    work after installation: symlinks for an editable install, copies for
    a wheel or sdist.
    """
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        # installed by `pip install -e .`
        mode = 'symlink' if platform.system() != 'Windows' else 'copy'
    elif any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel')) or \
            platform.system() == 'Windows':
        mode = 'copy'
    else:
        return

    filenames = ['tools', 'configs', 'demo', 'model-index.yml']
    repo_path = osp.dirname(__file__)
    mim_path = osp.join(repo_path, 'mmaims', '.mim')
    os.makedirs(mim_path, exist_ok=True)

    for filename in filenames:
        if not osp.exists(filename):
            continue
        src_path = osp.join(repo_path, filename)
        tar_path = osp.join(mim_path, filename)
        if osp.isfile(tar_path) or osp.islink(tar_path):
            os.remove(tar_path)
        elif osp.isdir(tar_path):
            shutil.rmtree(tar_path)

        if mode == 'symlink':
            src_relpath = osp.relpath(src_path, osp.dirname(tar_path))
            os.symlink(src_relpath, tar_path)
        elif mode == 'copy':
            if osp.isfile(src_path):
                shutil.copyfile(src_path, tar_path)
            elif osp.isdir(src_path):
                shutil.copytree(src_path, tar_path)
            else:
                warnings.warn(f'Cannot copy file {src_path}.')
        else:
            raise ValueError(f'Invalid mode {mode}')


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmaims',
        version=get_version(),
        description='AIMS: All-Inclusive Multi-Level Segmentation '
        '(part, entity, relation) for MMDetection 3.x',
        long_description=readme(),
        long_description_content_type='text/markdown',
        keywords='computer vision, segmentation, entity segmentation, '
        'part segmentation, mmdetection',
        packages=find_packages(exclude=('configs', 'tools', 'demo', 'tests',
                                        'projects')),
        include_package_data=True,
        package_data={'mmaims': ['.mim/**/*']},
        classifiers=[
            'Operating System :: OS Independent',
            'License :: OSI Approved :: Apache Software License',
            'Programming Language :: Python :: 3',
            'Programming Language :: Python :: 3.11',
        ],
        license='Apache License 2.0',
        python_requires='>=3.8',
        install_requires=parse_requirements('requirements/runtime.txt'),
        extras_require={
            'all': parse_requirements('requirements.txt'),
            'tests': parse_requirements('requirements/tests.txt'),
            'build': parse_requirements('requirements/build.txt'),
            'mim': parse_requirements('requirements/mminstall.txt'),
            'demo': parse_requirements('requirements/demo.txt'),
            'deploy': parse_requirements('requirements/deploy.txt'),
        },
        zip_safe=False)
