"""The installed Tradewind release."""

from importlib import metadata


def tradewind_version() -> str:
    """The installed Tradewind release, or "0+unknown" when run from a bare source tree."""
    try:
        return metadata.version("tradewind")
    except metadata.PackageNotFoundError:
        return "0+unknown"
