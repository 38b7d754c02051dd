"""Build and keep an OpenAPI document from a stream of http-types exchanges."""

from spec_from_stream.builder import Limits, SpecBuilder
from spec_from_stream.exchange import BadMessage, decode, validate

__all__ = ["BadMessage", "Limits", "SpecBuilder", "decode", "validate"]
