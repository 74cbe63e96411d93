"""Errors the local marketplace answers with, shaped as MTurk's (reference/mturk-api.md §3).

The wire layer turns them into AWS JSON 1.1 error bodies: ``__type`` is the error name,
``Message`` ends in `` (<epoch-ms>)``, and ``TurkErrorCode`` is set where MTurk sets it.
"""

from __future__ import annotations


class MarketplaceError(Exception):
    """Base of every error the marketplace returns over the wire.

    :param message: the human message, without the `` (<epoch-ms>)`` suffix (the wire adds it).
    :param turk_error_code: MTurk's ``TurkErrorCode`` (e.g. ``AWS.MechanicalTurk.HITDoesNotExist``).
    """

    error_type = "ServiceFault"
    status = 500
    #: The TurkErrorCode when the raiser names none: MTurk's RequestError and ServiceFault
    #: bodies always carry one (tools such as the CLT samples' scripts branch on it).
    default_code: str | None = "AWS.MechanicalTurk.ServiceFault"

    def __init__(self, message: str, turk_error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.turk_error_code = turk_error_code or self.default_code


class RequestError(MarketplaceError):
    """The request was invalid (HTTP 400, ``RequestError``)."""

    error_type = "RequestError"
    status = 400
    default_code = "AWS.MechanicalTurk.InvalidParameterValue"


class ServiceFault(MarketplaceError):
    """The service failed (HTTP 500, ``ServiceFault``); injected faults use it."""

    error_type = "ServiceFault"
    status = 500


class Throttled(MarketplaceError):
    """Too many requests (HTTP 400, ``ThrottlingException``, "Rate exceeded")."""

    error_type = "ThrottlingException"
    status = 400
    default_code = None  # AWS's front end answers throttling, without MTurk's fields

    def __init__(self, message: str = "Rate exceeded", turk_error_code: str | None = None) -> None:
        super().__init__(message, turk_error_code)
