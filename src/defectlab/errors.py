"""One exception hierarchy for everything defectlab raises on purpose."""


class DefectLabError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero."""


class DataError(DefectLabError):
    """A dataset, image or mask is missing, unreadable or inconsistent."""


class ImageTooLargeError(DataError):
    """An image has more pixels than the configured limit (a guard against decompression bombs)."""


class ConfigError(DefectLabError):
    """An option, config file or name is invalid."""


class ModelError(DefectLabError):
    """A model bundle or weights file is missing, corrupt or incompatible."""


class NotFittedError(DefectLabError):
    """A detector or classifier was used before `fit`."""
