"""defectlab: visual defect inspection that stays trustworthy under domain shift."""

__version__ = "0.1.0"
