"""Window maths: where windows start and end, the partial tail, and frame times."""

import numpy as np
import pytest

from emoannotate.constants import FRAMES_PER_WINDOW, MIN_WINDOW_SECONDS, WINDOW_SECONDS
from emoannotate.errors import InputError
from emoannotate.records import Window
from emoannotate.windows import frame_times, is_too_short, plan_windows


def spans(windows):
    return [(w.index, w.start_s, w.end_s, w.partial) for w in windows]


def test_full_windows_then_partial_tail():
    windows = plan_windows(8.0)
    assert spans(windows) == [(0, 0.0, 3.6, False), (1, 3.6, 7.2, False), (2, 7.2, 8.0, True)]
    assert windows[-1].duration_s == pytest.approx(0.8)
    assert is_too_short(windows[-1])  # 0.8 s < 1.0 s
    assert not any(is_too_short(w) for w in windows[:-1])


def test_a_last_partial_window_reads_the_files_last_window_and_its_row_keeps_the_tail():
    windows = plan_windows(9.5)
    tail = windows[-1]
    assert (tail.start_s, tail.end_s, tail.partial) == (7.2, 9.5, True)  # the row: what no full window covered
    assert tail.input_start_s == pytest.approx(9.5 - WINDOW_SECONDS)  # the inputs: the last 3.6 s, real
    times = frame_times(tail)
    assert times[0] > tail.input_start_s and times[-1] < tail.end_s
    np.testing.assert_allclose(np.diff(times), WINDOW_SECONDS / FRAMES_PER_WINDOW)  # spaced as a full window
    assert all(w.input_start_s == w.start_s for w in windows[:-1])
    (short,) = plan_windows(3.1)  # no full window before it: padded, as the training clips are
    assert short.reads_from_s is None and short.input_start_s == 0.0
    assert plan_windows(10.0, hop_s=1.8)[-1].input_start_s == pytest.approx(10.0 - WINDOW_SECONDS)


def test_exact_multiples_have_no_partial_window():
    for n in (1, 2, 5, 10):
        windows = plan_windows(n * WINDOW_SECONDS)
        assert len(windows) == n
        assert not any(w.partial for w in windows)
        assert windows[-1].end_s == pytest.approx(n * WINDOW_SECONDS)
    # float noise just above a multiple does not make a sliver window
    assert len(plan_windows(3 * WINDOW_SECONDS + 1e-9)) == 3


def test_file_shorter_than_a_window_is_one_partial_window():
    (w,) = plan_windows(3.1)
    assert (w.index, w.start_s, w.end_s, w.partial) == (0, 0.0, 3.1, True)
    assert not is_too_short(w)


def test_file_shorter_than_the_minimum_is_too_short():
    (w,) = plan_windows(0.5)
    assert w.partial and w.end_s == 0.5
    assert is_too_short(w)
    assert not is_too_short(w, min_s=0.4)


def test_empty_duration_gives_no_window():
    assert plan_windows(0.0) == []


def test_overlapping_hop():
    windows = plan_windows(10.0, hop_s=1.8)
    starts = [w.start_s for w in windows]
    assert starts == pytest.approx([0.0, 1.8, 3.6, 5.4, 7.2])
    assert all(w.end_s - w.start_s == pytest.approx(WINDOW_SECONDS) for w in windows[:-1])
    # the tail [9.0, 10.0) that no full window reaches is covered by one partial window
    assert windows[-1].partial and windows[-1].end_s == 10.0
    assert windows[-1].duration_s == pytest.approx(2.8)
    assert [w.index for w in windows] == list(range(len(windows)))


def test_overlapping_hop_covers_exactly_to_the_end():
    windows = plan_windows(9.0, hop_s=1.8)  # 0, 1.8, 3.6, 5.4 -> last ends at 9.0
    assert len(windows) == 4 and not any(w.partial for w in windows)
    assert windows[-1].end_s == pytest.approx(9.0)


def test_every_instant_is_covered_and_windows_stay_inside_the_file():
    for duration in (0.3, 3.59, 3.61, 7.0, 12.345):
        for hop in (1.0, 1.8, WINDOW_SECONDS):
            windows = plan_windows(duration, hop_s=hop)
            assert windows[0].start_s == 0.0
            assert max(w.end_s for w in windows) == pytest.approx(duration)
            assert all(w.end_s <= duration + 1e-6 for w in windows)
            for a, b in zip(windows, windows[1:]):
                assert b.start_s <= a.end_s + 1e-6, (duration, hop)


@pytest.mark.parametrize("kwargs", [{"duration_s": -1.0}, {"duration_s": float("nan")},
                                    {"duration_s": float("inf")}, {"duration_s": 5.0, "hop_s": 0.0},
                                    {"duration_s": 5.0, "window_s": -3.6}])
def test_bad_arguments_raise_input_error(kwargs):
    with pytest.raises(InputError):
        plan_windows(**kwargs)


def test_frame_times_are_slice_centres():
    times = frame_times(Window(0, 0.0, WINDOW_SECONDS))
    assert times.shape == (FRAMES_PER_WINDOW,)
    assert times[0] == pytest.approx(0.12)
    assert times[-1] == pytest.approx(3.48)
    assert np.diff(times) == pytest.approx(np.full(FRAMES_PER_WINDOW - 1, 0.24))
    later = frame_times(Window(3, 10.8, 14.4))
    assert later == pytest.approx(times + 10.8)


def test_frame_times_of_a_partial_window_spread_over_its_span():
    w = Window(1, 3.6, 4.8, partial=True)  # 1.2 s
    times = frame_times(w)
    step = 1.2 / FRAMES_PER_WINDOW
    assert times == pytest.approx(3.6 + step * (np.arange(FRAMES_PER_WINDOW) + 0.5))
    assert w.start_s < times.min() and times.max() < w.end_s


def test_is_too_short_threshold():
    assert is_too_short(Window(0, 0.0, MIN_WINDOW_SECONDS - 0.01))
    assert not is_too_short(Window(0, 0.0, MIN_WINDOW_SECONDS))
    assert not is_too_short(Window(0, 5.0, 5.0 + MIN_WINDOW_SECONDS - 1e-9))  # float noise
