"""Data layer: Sample records, image I/O, dataset readers, seeded splits, synthetic data.

Modules: ``sample`` (the record), ``imageio`` (images and masks in, PNG out), ``files`` (folder
and mask discovery), one reader per format (``mvtec``, ``folder``, ``neu``, ``severstal`` with
``rle``, ``elpv``), ``formats`` (dispatch by name), ``splits`` (JSON splits) and ``synth``
(synthetic MVTec-layout data, drawn by ``synth_normals`` and ``synth_defects``). Import from
those modules directly; this package re-exports nothing, to keep imports cheap.
"""
