"""The type of the MTurk client everywhere on the requester side.

boto3-stubs' ``MTurkClient`` (``pip install boto3-stubs[mturk]``, a development dependency)
when type-checking; at run time nothing is imported, so a no-op run never loads boto3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from mypy_boto3_mturk import MTurkClient

    Client: TypeAlias = MTurkClient
else:
    Client: TypeAlias = Any

__all__ = ["Client"]
