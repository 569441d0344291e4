"""What every endpoint is given: the provider, its records, its keys and its clock."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._keys import KeyRing
from ._state import ProviderState

if TYPE_CHECKING:
    from .server import TestProvider
    from .settings import ProviderSettings


@dataclass(frozen=True)
class Context:
    """The provider as its endpoints see it."""

    provider: TestProvider
    state: ProviderState
    keys: KeyRing
    stopping: threading.Event
    """Set while the provider stops: a delayed answer stops waiting."""

    @property
    def settings(self) -> ProviderSettings:
        """The provider's live settings."""
        return self.provider.settings

    def now(self) -> float:
        """The provider's clock: the time plus `ProviderSettings.clock_skew`."""
        return time.time() + self.settings.clock_skew

    def wait(self, seconds: float) -> None:
        """Sleep `seconds` when positive, or until the provider stops."""
        if seconds > 0:
            self.stopping.wait(seconds)
