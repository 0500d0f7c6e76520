"""The local filesystem backend: :class:`LocalStorage` (blocking) and :class:`AsyncLocalStorage`.

See :mod:`flext_api.storage._async.local` for how objects are laid out and written.
"""

from __future__ import annotations

from flext_api.storage._async.local import AsyncLocalStorage
from flext_api.storage._sync.local import LocalStorage

__all__ = ["AsyncLocalStorage", "LocalStorage"]
