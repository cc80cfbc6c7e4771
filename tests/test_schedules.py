"""Each learning-rate schedule's sequence of rates against a hand computation."""

# Authors: The skann developers
# SPDX-License-Identifier: BSD-3-Clause

import itertools
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skann._core.schedules import SCHEDULES, Schedule


def rates(schedule, n_epochs, samples_per_epoch=100):
    """The rate of each of ``n_epochs`` epochs, as the training loop asks."""
    out = []
    for epoch in range(n_epochs):
        out.append(schedule.rate(epoch * samples_per_epoch))
        schedule.end_epoch()
    return np.array(out)


def test_registry_holds_the_public_names():
    assert set(SCHEDULES) == {
        "constant", "invscaling", "adaptive", "cosine", "step", "exponential",
        "coslog",
    }  # fmt: skip


def test_constant_keeps_the_rate():
    assert_allclose(rates(Schedule("constant", 0.1), 5), [0.1] * 5, rtol=0)


def test_invscaling_divides_by_samples_seen():
    """scikit-learn's: learning_rate / (t + 1) ** power_t, t samples seen."""
    got = rates(Schedule("invscaling", 0.1, power_t=0.5), 4)
    expected = [0.1 / (t + 1) ** 0.5 for t in (0, 100, 200, 300)]
    assert_allclose(got, expected, rtol=1e-15)


def test_cosine_falls_to_the_floor_over_max_iter():
    schedule = Schedule("cosine", 0.1, max_iter=4, min_learning_rate=0.01)
    expected = [0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(6)]
    # After max_iter epochs (a warm start, partial_fit) the floor holds.
    expected[4:] = [0.01, 0.01]
    assert_allclose(rates(schedule, 6), expected, rtol=1e-15)


def test_step_multiplies_by_lr_decay_every_lr_step_epochs():
    schedule = Schedule("step", 1.0, lr_decay=0.5, lr_step=2, min_learning_rate=0.2)
    assert_allclose(rates(schedule, 7), [1, 1, 0.5, 0.5, 0.25, 0.25, 0.2], rtol=0)


def test_exponential_spreads_the_decay_evenly():
    schedule = Schedule("exponential", 1.0, lr_decay=0.5, lr_step=2)
    expected = [0.5 ** (e / 2) for e in range(5)]
    assert_allclose(rates(schedule, 5), expected, rtol=1e-15)


def test_coslog_against_a_hand_computation():
    """RealMLP's coslog with 2 cycles over 6 epochs, at each epoch's middle.

    With K = 2 cycles the curve is 0.5 (1 - cos(2 pi log2(1 + 3 t))); the
    epochs' midpoints are t = 1/12, 3/12, ..., 11/12, and the first cycle
    ends at t = 1/3, where 1 + 3 t = 2.
    """
    schedule = Schedule("coslog", 0.1, max_iter=6, lr_cycles=2)
    expected = []
    for t in (1 / 12, 3 / 12, 5 / 12, 7 / 12, 9 / 12, 11 / 12):
        phase = math.log2(1 + 3 * t)
        expected.append(0.1 * 0.5 * (1 - math.cos(2 * math.pi * phase)))
    # Past max_iter (a warm start, partial_fit) the rate stays at the floor.
    expected += [0.0, 0.0]
    got = rates(schedule, 8)
    assert_allclose(got, expected, rtol=1e-14, atol=1e-17)
    # By hand: t = 1/4 gives log2(1.75) = 0.807..., t = 3/4 log2(3.25) = 1.700...
    assert_allclose(got[1], 0.1 * 0.5 * (1 - math.cos(2 * math.pi * 0.80735492)))
    assert_allclose(got[4], 0.1 * 0.5 * (1 - math.cos(2 * math.pi * 1.70043972)))


def test_coslog_cycles_between_the_floor_and_the_rate():
    """K cycles, each twice as long as the one before, from the floor and back."""
    floor, top, max_iter = 0.01, 0.1, 1500
    schedule = Schedule(
        "coslog", top, max_iter=max_iter, lr_cycles=4, min_learning_rate=floor
    )
    got = rates(schedule, max_iter)
    assert np.all(got >= floor) and np.all(got <= top)
    # Cycle boundaries at t = 1/15, 3/15, 7/15: epochs 100, 300, 700.
    lows = [0, 100, 300, 700, 1500]
    for start, stop in itertools.pairwise(lows):
        cycle = got[start:stop]
        peak = start + int(np.argmax(cycle))
        assert cycle.max() == pytest.approx(top, rel=1e-3)
        assert min(cycle[0], cycle[-1]) == pytest.approx(floor, abs=1e-3 * top)
        # The rate rises to the peak, then falls.
        assert np.all(np.diff(got[start : peak + 1]) > 0)
        assert np.all(np.diff(got[peak:stop]) < 0)


def test_coslog_with_one_cycle_is_a_full_cosine_in_log_time():
    schedule = Schedule("coslog", 1.0, max_iter=4, lr_cycles=1)
    t = (np.arange(4) + 0.5) / 4
    expected = 0.5 * (1 - np.cos(2 * np.pi * np.log2(1 + t)))
    assert_allclose(rates(schedule, 4), expected, rtol=1e-14)


@pytest.mark.parametrize(
    "name", ["constant", "cosine", "step", "exponential", "coslog"]
)
def test_warmup_ramps_linearly_then_starts_the_schedule(name):
    warm = Schedule(name, 0.1, warmup_epochs=3, max_iter=10, lr_step=2)
    plain = Schedule(name, 0.1, max_iter=7, lr_step=2)
    got = rates(warm, 8)
    assert_allclose(got[:3], [0.025, 0.05, 0.075], rtol=1e-15)
    # The schedule proper starts after the warm-up, over the epochs left.
    assert_allclose(got[3:], rates(plain, 5), rtol=1e-15)


def test_adaptive_divides_by_five_on_plateaus_then_gives_up():
    schedule = Schedule("adaptive", 1e-3)
    seen = [schedule.rate()]
    while not schedule.on_plateau():
        seen.append(schedule.rate())
    assert_allclose(seen, 1e-3 / 5.0 ** np.arange(6), rtol=1e-15)
    assert schedule.rate() <= 1e-6


@pytest.mark.parametrize("name", ["constant", "invscaling", "cosine", "step"])
def test_plateau_stops_other_schedules_without_changing_the_rate(name):
    schedule = Schedule(name, 0.1)
    assert schedule.on_plateau() is True
    assert schedule.rate() == 0.1


def test_state_dict_round_trip():
    schedule = Schedule("adaptive", 0.1)
    schedule.on_plateau()
    schedule.end_epoch()
    copy = Schedule("adaptive", 0.1)
    copy.load_state_dict(schedule.state_dict())
    assert copy.rate() == schedule.rate() == pytest.approx(0.02)
    assert copy.epoch == 1
