"""`llmsim validate RUN_DIR`: replay a real serving run through llmsim and compare, metric by metric."""

from llmsim.validate.driver import ValidationReport, validate

__all__ = ["ValidationReport", "validate"]
