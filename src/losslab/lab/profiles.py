"""How much work a lab run does: the smoke, quick and full profiles.

Claims read the shared knobs (seeds, epochs, datasets) and pick their own
sizes with :meth:`Profile.pick`, so one number per profile sits in one place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypeVar

__all__ = ["PROFILES", "Profile", "get_profile"]

T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """The size of a lab run.

    ``seeds``: independent replications per experiment cell, each resampling the data split
    and the initialisation (the t-intervals need at least 5 outside smoke, and Holm's
    correction across some 60 tests needs more); ``epochs``: the base training length; ``datasets``: the
    classification datasets of the multi-dataset claims (``--dataset`` overrides);
    ``n_bootstrap``: resamples of every bootstrap interval.
    """

    name: str
    seeds: int
    epochs: int
    datasets: tuple[str, ...]
    n_bootstrap: int

    def pick(self, smoke: T, quick: T, full: T) -> T:
        """The value for this profile.

        >>> PROFILES["quick"].pick(1, 2, 3)
        2
        """
        return {"smoke": smoke, "quick": quick, "full": full}[self.name]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    # Seconds: what the test suite runs end to end. Two seeds, so intervals exist but are wide.
    "smoke": Profile("smoke", seeds=2, epochs=3, datasets=("digits",), n_bootstrap=200),
    # The default: at most 5 minutes on 2 CPU cores (BENCHMARKS.md). 6 seeds, not 5: a t-interval over 5 is 1.25
    # times as wide, and few effects survive Holm's correction over the run; 8 seeds took 4 min 13 s to 5 min 10 s
    # on the same machine, too close to the budget.
    "quick": Profile("quick", seeds=6, epochs=30, datasets=("digits", "breast_cancer", "mnist1d"), n_bootstrap=2000),
    # More seeds, epochs and datasets.
    "full": Profile(
        "full", seeds=12, epochs=100, datasets=("digits", "breast_cancer", "wine", "iris", "mnist1d"),
        n_bootstrap=10000,
    ),
}


def get_profile(name: str) -> Profile:
    """The profile called ``name``.

    >>> get_profile("smoke").seeds
    2
    """
    if name not in PROFILES:
        raise ValueError(f"`profile` must be one of {sorted(PROFILES)}; got {name!r}")
    return PROFILES[name]
