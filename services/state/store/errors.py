"""Why a store operation refused: plain exceptions with structured fields, no status codes.

The store raises these; :class:`services.state.services.StateServices` turns each into the
RPC error with its status code and typed detail, in one place.
"""

from __future__ import annotations


class StoreError(Exception):
    """A store operation refused; the subclass names the condition."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or type(self).__name__).strip())
        self.message: str = self.args[0]


class NotFound(StoreError):
    """The named resource does not exist."""

    def __init__(self, resource_type: str, resource_id: str) -> None:
        super().__init__(f"{resource_type} {resource_id!r} not found")
        self.resource_type = resource_type
        self.resource_id = resource_id


class AlreadyExists(StoreError):
    """The resource exists already."""

    def __init__(
        self, resource_type: str, resource_id: str, *, existing_request_id: str = ""
    ) -> None:
        super().__init__(f"{resource_type} {resource_id!r} already exists")
        self.resource_type = resource_type
        self.resource_id = resource_id
        self.existing_request_id = existing_request_id


class Refused(StoreError):
    """What is stored does not allow the operation now (a precondition failed)."""


class LeaseLost(StoreError):
    """The caller's lease has expired or belongs to someone else."""

    def __init__(
        self, resource_type: str, resource_id: str, *, presented_owner: str, current_owner: str = ""
    ) -> None:
        holder = f"held by {current_owner!r}" if current_owner else "not held by anyone"
        super().__init__(
            f"lease on {resource_type} {resource_id!r} is lost: it is {holder}, "
            f"not by {presented_owner!r}; stop working on it"
        )
        self.resource_type = resource_type
        self.resource_id = resource_id
        self.presented_owner = presented_owner
        self.current_owner = current_owner


class Forbidden(StoreError):
    """The caller may not do this."""


class InvalidInput(StoreError):
    """A value given to the store is malformed."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"invalid {field}: {description}")
        self.field = field
        self.description = description
